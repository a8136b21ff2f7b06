// Registered valid/ready stream (sim/hw/stream.hpp): a circular buffer of
// DEPTH words. A word pushed in one cycle is valid from the next (valid is
// registered); ready includes a pop in the same cycle, so DEPTH = 1 sustains
// one word per cycle. The slot saboteur corrupts a word as it is written into
// the faulted slot (FIFO slot site: flt.a = slot, flt.bitpos = bit).
module stream_fifo
  import fatsim_pkg::*;
#(
    parameter int W = 8,
    parameter int DEPTH = 2
) (
    input  logic         clk,
    input  logic         rst,
    input  logic [63:0]  now,
    // en only when the fault is this FIFO's; a FIFO site has no PE and no b
    /* verilator lint_off UNUSEDSIGNAL */
    input  fault_t       flt,
    /* verilator lint_on UNUSEDSIGNAL */
    // producer side
    input  logic         push,        // only when ready
    input  logic [W-1:0] push_data,
    output logic         ready,
    // consumer side
    output logic         valid,
    output logic [W-1:0] front,
    input  logic         pop          // only when valid
);
  localparam int CW = $clog2(DEPTH + 1);
  localparam int PW = DEPTH > 1 ? $clog2(DEPTH) : 1;

  logic [W-1:0] mem[DEPTH];
  logic [PW-1:0] head;
  logic [CW-1:0] count;
  logic fired;

  // the slot the next word goes to (a same-cycle pop moves head and count alike)
  logic [PW-1:0] tail;
  always_comb begin
    int unsigned t;
    t = 32'(head) + 32'(count);
    tail = PW'(t >= DEPTH ? t - DEPTH : t);
  end

  assign valid = count != 0;
  assign front = mem[head];
  assign ready = (count - CW'(pop)) < CW'(DEPTH);

  // the fault acts when it is a stuck-at, or a flip that has come and not fired
  logic hit;
  assign hit = flt.en && flt.cls == SITE_FIFO && 32'(flt.a) == 32'(tail) &&
               (flt.kind != KIND_FLIP || (!fired && now >= flt.cycle));
  logic [W-1:0] m, stored;
  assign m = W'(1) << flt.bitpos;
  assign stored = hit ? ((push_data & (flt.kind == KIND_SA0 ? ~m : '1)) | (flt.kind == KIND_SA1 ? m : '0)) ^
                            (flt.kind == KIND_FLIP ? m : '0)
                      : push_data;

  always_ff @(posedge clk) begin
    if (rst) begin
      head  <= '0;
      count <= '0;
      fired <= 1'b0;
    end else begin
      if (push) mem[tail] <= stored;
      if (pop) head <= 32'(head) + 1 == DEPTH ? '0 : head + 1'b1;
      count <= count + CW'(push) - CW'(pop);
      if (push && hit && flt.kind == KIND_FLIP) fired <= 1'b1;
    end
  end
endmodule
