// Data-width converter (sim/hw/units.cpp Dwc), least significant first both
// ways: a register of IW+OW bits. Per cycle it emits one OW-bit word when it
// holds enough bits and the output is ready, then accepts one IW-bit word
// when the bits left after the emission leave room for it.
module dwc #(
    parameter int IW = 8,
    parameter int OW = 8
) (
    input  logic          clk,
    input  logic          rst,
    input  logic          in_valid,
    input  logic [IW-1:0] in_data,
    output logic          in_pop,
    output logic          out_push,
    output logic [OW-1:0] out_data,
    input  logic          out_ready
);
  localparam int CAP = IW + OW;
  localparam int BW = $clog2(CAP + 1);

  logic [CAP-1:0] buffer;
  logic [BW-1:0] bits;

  logic [BW-1:0] left;  // bits held after this cycle's emission
  logic [CAP-1:0] kept;
  assign out_push = bits >= BW'(OW) && out_ready;
  assign out_data = buffer[OW-1:0];
  assign left = out_push ? bits - BW'(OW) : bits;
  assign kept = out_push ? buffer >> OW : buffer;
  assign in_pop = 32'(left) + IW <= CAP && in_valid;

  always_ff @(posedge clk) begin
    if (rst) begin
      buffer <= '0;
      bits   <= '0;
    end else begin
      buffer <= in_pop ? kept | ({{OW{1'b0}}, in_data} << left) : kept;
      bits   <= in_pop ? left + BW'(IW) : left;
    end
  end
endmodule
