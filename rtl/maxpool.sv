// Streaming max pool (sim/hw/units.cpp MaxPool): one word carries a pixel's
// C channels of EB bits. Per output row it reads P*D words (pixels past
// Q*P in a row are dropped), then writes Q = D/P words. EB = 1: bitwise OR.
module maxpool #(
    parameter int D = 4,
    parameter int P = 2,
    parameter int C = 2,
    parameter int EB = 1,
    parameter bit SIGNED = 1'b0
) (
    input  logic         clk,
    input  logic         rst,
    input  logic         in_valid,
    input  logic [W-1:0] in_data,
    output logic         in_pop,
    output logic         out_push,
    output logic [W-1:0] out_data,
    input  logic         out_ready
);
  localparam int W = C * EB;
  localparam int Q = D / P;

  // every field at the smallest code (binary: all zero)
  function automatic logic [W-1:0] lowest();
    logic [W-1:0] v;
    for (int c = 0; c < C; ++c) v[c*EB+:EB] = SIGNED && EB > 1 ? {1'b1, {(EB - 1) {1'b0}}} : '0;
    return v;
  endfunction

  function automatic logic [W-1:0] merge(logic [W-1:0] a, logic [W-1:0] b);
    logic [W-1:0] v;
    if (EB == 1) return a | b;
    for (int c = 0; c < C; ++c) begin
      if (SIGNED) v[c*EB+:EB] = $signed(b[c*EB+:EB]) > $signed(a[c*EB+:EB]) ? b[c*EB+:EB] : a[c*EB+:EB];
      else v[c*EB+:EB] = b[c*EB+:EB] > a[c*EB+:EB] ? b[c*EB+:EB] : a[c*EB+:EB];
    end
    return v;
  endfunction

  logic [W-1:0] pooled[Q];
  logic phase;              // 0: read P rows, 1: write Q words
  int unsigned x, y, qx, px;  // read position: pixel x of pool row y, x = qx*P + px
  int unsigned oq;          // write position

  assign in_pop = !phase && in_valid;
  assign out_push = phase && out_ready;
  assign out_data = pooled[oq];

  logic first;  // first word of an output row: the buffer starts over
  logic [W-1:0] cur;
  assign first = x == 0 && y == 0;
  assign cur = first ? lowest() : pooled[qx];

  always_ff @(posedge clk) begin
    if (rst) begin
      phase <= 1'b0;
      {x, y, qx, px, oq} <= '0;
    end else if (!phase) begin
      if (in_valid) begin
        if (first) for (int q = 0; q < Q; ++q) pooled[q] <= lowest();
        if (x < Q * P) pooled[qx] <= merge(cur, in_data);
        if (x + 1 < D) begin
          x <= x + 1;
          if (px + 1 < P) px <= px + 1;
          else begin
            px <= 0;
            qx <= qx + 1;
          end
        end else begin
          {x, px, qx} <= '0;
          if (y + 1 < P) y <= y + 1;
          else begin
            y <= 0;
            phase <= 1'b1;
          end
        end
      end
    end else if (out_ready) begin
      if (oq + 1 < Q) oq <= oq + 1;
      else begin
        oq <= 0;
        phase <= 1'b0;
      end
    end
  end
endmodule
