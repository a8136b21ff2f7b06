// Sliding-window generator (sim/hw/units.cpp Swg): stride 1, no padding,
// windows in the order oy, ox, ky, kx, channel fold. A line buffer of K+1
// rows; per image an initial fill of K rows, then per output row a block of
// max(O*K*K*MULT, D*MULT) cycles that writes the row's windows while reading
// the next input row (the last block reads nothing).
module swg #(
    parameter int D = 4,     // input feature map dimension
    parameter int K = 2,     // kernel
    parameter int C = 2,     // channels
    parameter int SIMD = 1,  // channels per word
    parameter int EB = 1     // bits per channel
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    input  logic [W-1:0]    in_data,
    output logic            in_pop,
    output logic            out_push,
    output logic [W-1:0]    out_data,
    input  logic            out_ready
);
  localparam int W = SIMD * EB;
  localparam int MULT = C / SIMD;
  localparam int O = D - K + 1;
  localparam int ROWS = K + 1;
  localparam int INIT = D * K * MULT;
  localparam int WBLOCK = O * K * K * MULT;
  localparam int RBLOCK = D * MULT;
  localparam int MAXC = WBLOCK > RBLOCK ? WBLOCK : RBLOCK;
  localparam int DEPTH = ROWS * D * MULT;

  logic [W-1:0] mem[DEPTH];
  logic phase;        // 0: initial fill, 1: blocks
  int unsigned cnt;   // iteration within the fill / block
  int unsigned block; // output row
  // fill and block-read position: input row, pixel, channel fold
  int unsigned f_row, f_px, f_cf;
  // block-write position: window ox, ky, kx, channel fold
  int unsigned w_ox, w_ky, w_kx, w_cf;

  function automatic int unsigned addr(int unsigned row, int unsigned px, int unsigned cf);
    return ((row % ROWS) * D + px) * MULT + cf;
  endfunction

  logic w, r, fire;
  assign w = phase && cnt < WBLOCK;
  assign r = phase && cnt < RBLOCK && block + K < D;
  assign fire = phase ? (!w || out_ready) && (!r || in_valid) : in_valid;
  assign in_pop = phase ? fire && r : in_valid;
  assign out_push = fire && w;
  assign out_data = mem[addr(block + w_ky, w_ox + w_kx, w_cf)];

  // next fill / read position (channel fold fastest)
  task automatic step_fill();
    if (f_cf + 1 < MULT) f_cf <= f_cf + 1;
    else begin
      f_cf <= 0;
      if (f_px + 1 < D) f_px <= f_px + 1;
      else begin
        f_px  <= 0;
        f_row <= f_row + 1;
      end
    end
  endtask

  always_ff @(posedge clk) begin
    if (rst) begin
      phase <= 1'b0;
      cnt <= 0;
      block <= 0;
      {f_row, f_px, f_cf} <= '0;
      {w_ox, w_ky, w_kx, w_cf} <= '0;
    end else if (!phase) begin
      if (in_valid) begin
        mem[addr(f_row, f_px, f_cf)] <= in_data;
        if (cnt + 1 == INIT) begin
          phase <= 1'b1;
          cnt <= 0;
          block <= 0;
          {f_row, f_px, f_cf} <= '0;
          {w_ox, w_ky, w_kx, w_cf} <= '0;
        end else begin
          cnt <= cnt + 1;
          step_fill();
        end
      end
    end else if (fire) begin
      if (r) begin
        mem[addr(block + K, f_px, f_cf)] <= in_data;
        step_fill();
      end
      if (w) begin
        if (w_cf + 1 < MULT) w_cf <= w_cf + 1;
        else begin
          w_cf <= 0;
          if (w_kx + 1 < K) w_kx <= w_kx + 1;
          else begin
            w_kx <= 0;
            if (w_ky + 1 < K) w_ky <= w_ky + 1;
            else begin
              w_ky <= 0;
              w_ox <= w_ox + 1;
            end
          end
        end
      end
      if (cnt + 1 == MAXC) begin
        cnt <= 0;
        {f_row, f_px, f_cf} <= '0;
        {w_ox, w_ky, w_kx, w_cf} <= '0;
        if (block + 1 == O) phase <= 1'b0;
        block <= block + 1 == O ? 0 : block + 1;
      end else begin
        cnt <= cnt + 1;
      end
    end
  end
endmodule
