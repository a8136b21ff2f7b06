// Test bench of the RTL units: every unit of tb_units_cfg, each between a
// source FIFO and a sink FIFO (a FIFO under test stands alone). `sel` picks
// the unit the ports drive; the others see no traffic, loads or faults.
module tb_units
  import fatsim_pkg::*;
  import tb_units_cfg::*;
(
    input  logic           clk,
    input  logic           rst,
    input  logic [63:0]    now,
    input  logic [15:0]    sel,
    // source -> unit
    input  logic           src_valid,
    // the bench's data ports are as wide as its widest unit: narrower units leave bits unused
    /* verilator lint_off UNUSEDSIGNAL */
    input  logic [TBW-1:0] src_data,
    output logic           src_ready,
    // unit -> sink
    input  logic           snk_ready,
    output logic           snk_valid,
    output logic [TBW-1:0] snk_data,
    // MVTU memory load port
    input  logic           ld_w_en,
    input  logic           ld_t_en,
    input  logic [15:0]    ld_pe,
    input  logic [15:0]    ld_addr,
    input  logic [LDW-1:0] ld_w_data,
    /* verilator lint_on UNUSEDSIGNAL */
    input  logic [DW-1:0]  ld_t_data,
    // the fault select registers
    input  logic           flt_en,
    input  logic [2:0]     flt_cls,
    input  logic [15:0]    flt_pe,
    input  logic [15:0]    flt_a,
    input  logic [15:0]    flt_b,
    input  logic [15:0]    flt_bit,
    input  logic [1:0]     flt_kind,
    input  logic [63:0]    flt_cycle
);
  localparam int N = N_FIFO + N_DWC + N_SWG + N_POOL + N_MVTU;
  localparam int DWC0 = N_FIFO;
  localparam int SWG0 = DWC0 + N_DWC;
  localparam int POOL0 = SWG0 + N_SWG;
  localparam int MVTU0 = POOL0 + N_POOL;

  fault_t flt, no_fault;
  assign flt = '{en: flt_en, cls: flt_cls, pe: flt_pe, a: flt_a, b: flt_b, bitpos: flt_bit, kind: flt_kind,
                 cycle: flt_cycle};
  assign no_fault = '0;

  logic [N-1:0] ready_of, valid_of;
  logic [TBW-1:0] data_of[N];
  /* verilator lint_off UNUSEDSIGNAL */
  int unsigned unit;  // fewer units than 2^32
  /* verilator lint_on UNUSEDSIGNAL */
  assign unit = 32'(sel);
  assign src_ready = ready_of[unit];
  assign snk_valid = valid_of[unit];
  assign snk_data = data_of[unit];

  // A unit between a source FIFO and a sink FIFO (every unit kind below).
  `define TB_UNIT_FIFOS(IDX, IW, OW)                                                              \
    logic on, in_valid, in_pop, out_push, out_ready;                                            \
    logic [IW-1:0] in_data;                                                                     \
    logic [OW-1:0] out_data;                                                                    \
    logic [OW-1:0] sink_front;                                                                  \
    assign on = sel == 16'(IDX);                                                                \
    stream_fifo #(.W(IW), .DEPTH(UNIT_FIFO_DEPTH)) u_src (                                      \
        .clk, .rst, .now, .flt(no_fault), .push(on && src_valid && ready_of[IDX]),              \
        .push_data(src_data[IW-1:0]), .ready(ready_of[IDX]), .valid(in_valid), .front(in_data), \
        .pop(in_pop));                                                                          \
    stream_fifo #(.W(OW), .DEPTH(UNIT_FIFO_DEPTH)) u_snk (                                      \
        .clk, .rst, .now, .flt(no_fault), .push(out_push), .push_data(out_data),                \
        .ready(out_ready), .valid(valid_of[IDX]), .front(sink_front),                           \
        .pop(on && snk_ready && valid_of[IDX]));                                                \
    assign data_of[IDX] = TBW'(sink_front);

  for (genvar i = 0; i < N_FIFO; ++i) begin : g_fifo
    logic on;
    logic [FIFO_W[i]-1:0] front;
    fault_t f;
    assign on = sel == 16'(i);
    assign f = on ? flt : no_fault;
    stream_fifo #(.W(FIFO_W[i]), .DEPTH(FIFO_D[i])) u_fifo (
        .clk, .rst, .now, .flt(f), .push(on && src_valid && ready_of[i]), .push_data(src_data[FIFO_W[i]-1:0]),
        .ready(ready_of[i]), .valid(valid_of[i]), .front(front), .pop(on && snk_ready && valid_of[i]));
    assign data_of[i] = TBW'(front);
  end

  for (genvar i = 0; i < N_DWC; ++i) begin : g_dwc
    `TB_UNIT_FIFOS(DWC0 + i, DWC_IW[i], DWC_OW[i])
    dwc #(.IW(DWC_IW[i]), .OW(DWC_OW[i])) u_dwc (
        .clk, .rst, .in_valid, .in_data, .in_pop, .out_push, .out_data, .out_ready);
  end

  for (genvar i = 0; i < N_SWG; ++i) begin : g_swg
    `TB_UNIT_FIFOS(SWG0 + i, SWG_SIMD[i] * SWG_EB[i], SWG_SIMD[i] * SWG_EB[i])
    swg #(.D(SWG_D[i]), .K(SWG_K[i]), .C(SWG_C[i]), .SIMD(SWG_SIMD[i]), .EB(SWG_EB[i])) u_swg (
        .clk, .rst, .in_valid, .in_data, .in_pop, .out_push, .out_data, .out_ready);
  end

  for (genvar i = 0; i < N_POOL; ++i) begin : g_pool
    `TB_UNIT_FIFOS(POOL0 + i, POOL_C[i] * POOL_EB[i], POOL_C[i] * POOL_EB[i])
    maxpool #(.D(POOL_D[i]), .P(POOL_P[i]), .C(POOL_C[i]), .EB(POOL_EB[i]), .SIGNED(POOL_SIGNED[i] != 0)) u_pool (
        .clk, .rst, .in_valid, .in_data, .in_pop, .out_push, .out_data, .out_ready);
  end

  for (genvar i = 0; i < N_MVTU; ++i) begin : g_mvtu
    localparam int WW = MVTU_SIMD[i] * MVTU_WB[i];
    `TB_UNIT_FIFOS(MVTU0 + i, MVTU_SIMD[i] * MVTU_IB[i], MVTU_PE[i] * MVTU_OB[i])
    mvtu #(
        .PE(MVTU_PE[i]), .SIMD(MVTU_SIMD[i]), .NF(MVTU_NF[i]), .SF(MVTU_SF[i]), .XNOR(MVTU_XNOR[i] != 0),
        .WB(MVTU_WB[i]), .IB(MVTU_IB[i]), .IN_BIPOLAR(MVTU_IN_BIPOLAR[i] != 0), .IN_SIGNED(MVTU_IN_SIGNED[i] != 0),
        .ACC_BITS(MVTU_ACC_BITS[i]), .ACC_SIGNED(MVTU_ACC_SIGNED[i] != 0), .HAS_ACT(MVTU_HAS_ACT[i] != 0),
        .T(MVTU_T[i]), .THR_BITS(MVTU_THR_BITS[i]), .ACT_LO(MVTU_ACT_LO[i]), .OB(MVTU_OB[i])
    ) u_mvtu (
        .clk, .rst, .now, .flt(on ? flt : no_fault), .ld_w_en(on && ld_w_en), .ld_t_en(on && ld_t_en), .ld_pe,
        .ld_addr, .ld_w_data(ld_w_data[WW-1:0]), .ld_t_data, .in_valid, .in_data, .in_pop, .out_push, .out_data,
        .out_ready);
  end
  `undef TB_UNIT_FIFOS
endmodule
