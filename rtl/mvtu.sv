// Matrix-Vector-Threshold Unit (sim/hw/units.cpp Mvtu on the PE array of
// sim/hw/pe_array.cpp): PE x SIMD lanes, one flat loop NF x SF per input
// vector at one iteration per cycle. Input words are read while nf == 0 and
// replayed from the input buffer for nf > 0; at sf == SF-1 every PE's
// accumulator goes through its thresholds and one word of PE lanes is pushed.
// An iteration that needs an input word that is not valid, or output space
// that is not ready, stalls as a whole.
//
// Weight and threshold memories are written at run time through the load
// port, so one build serves every model of this folding. Saboteurs on the
// weight-memory read, every adder-tree node (level 0 = the SIMD products),
// the accumulator, the threshold read and the comparator outputs act as the
// C++ FaultHook does for the fault in `flt` (flt.en set only for this layer).
module mvtu
  import fatsim_pkg::*;
#(
    parameter int PE = 1,
    parameter int SIMD = 1,
    parameter int NF = 1,
    parameter int SF = 1,
    parameter bit XNOR = 1'b1,         // XNOR-popcount (else signed MAC)
    parameter int WB = 1,              // weight bits (1 = bipolar)
    parameter int IB = 1,              // input element bits
    parameter bit IN_BIPOLAR = 1'b1,   // input bit 0/1 = -1/+1
    parameter bit IN_SIGNED = 1'b0,
    parameter int ACC_BITS = 8,        // accumulator / adder node register width
    parameter bit ACC_SIGNED = 1'b0,
    parameter bit HAS_ACT = 1'b1,
    parameter int T = 1,               // thresholds per channel
    parameter int THR_BITS = 9,
    parameter int ACT_LO = 0,          // code of level 0
    parameter int OB = 1               // output field bits
) (
    input  logic              clk,
    input  logic              rst,
    input  logic [63:0]       now,
    input  fault_t            flt,
    // memory load port: weight word / threshold word `ld_addr` of PE `ld_pe`
    input  logic              ld_w_en,
    input  logic              ld_t_en,
    input  logic [15:0]       ld_pe,
    input  logic [15:0]       ld_addr,
    input  logic [WW-1:0]     ld_w_data,
    input  logic [DW-1:0]     ld_t_data,
    // streams
    input  logic              in_valid,
    input  logic [IW-1:0]     in_data,
    output logic              in_pop,
    output logic              out_push,
    output logic [PE*OB-1:0]  out_data,
    input  logic              out_ready
);
  localparam int WW = SIMD * WB;
  localparam int IW = SIMD * IB;
  localparam int WORDS = NF * SF;
  localparam int TWORDS = HAS_ACT ? NF * T : 1;
  localparam int LEVELS = 1 + $clog2(SIMD);

  logic [WW-1:0] wmem[PE][WORDS];
  // Threshold words hold the model's int32 values (the C++ model compares
  // those); a faulted word is cut to THR_BITS by its saboteur, as the C++
  // hook does. A layer without activation has no thresholds: its (1-word)
  // memory stays unused.
  /* verilator lint_off UNUSEDSIGNAL */
  logic signed [DW-1:0] tmem[PE][TWORDS];
  /* verilator lint_on UNUSEDSIGNAL */
  logic [IW-1:0] ibuf[SF];
  logic signed [DW-1:0] acc[PE];
  int unsigned nf, sf;
  logic fired;  // the armed flip has fired
  // load addresses as plain indices (memories smaller than 2^16 leave high bits unused)
  /* verilator lint_off UNUSEDSIGNAL */
  int unsigned ld_pe_i, ld_addr_i;
  /* verilator lint_on UNUSEDSIGNAL */
  assign ld_pe_i = 32'(ld_pe);
  assign ld_addr_i = 32'(ld_addr);

  // ------------------------------------------------------------ control
  logic need_in, need_out, fire;
  assign need_in = nf == 0;
  assign need_out = sf == SF - 1;
  assign fire = (!need_in || in_valid) && (!need_out || out_ready);
  assign in_pop = fire && need_in;
  assign out_push = fire && need_out;

  logic [IW-1:0] x;
  int unsigned widx;
  assign x = need_in ? in_data : ibuf[sf];
  assign widx = nf * SF + sf;

  // ------------------------------------------------------------ saboteurs
  // The armed fault acts in this cycle when it is a stuck-at, or a flip whose
  // cycle has come and that has not fired yet; its bit becomes AND/OR/XOR
  // masks once here, so a site costs a compare and a select.
  logic flip_fires, acts;
  assign flip_fires = flt.kind == KIND_FLIP && !fired && now >= flt.cycle;
  assign acts = flt.en && (flt.kind != KIND_FLIP || flip_fires);
  logic is_adder, is_acc, is_wmem;
  assign is_adder = acts && flt.cls == SITE_ADDER;
  assign is_acc = acts && flt.cls == SITE_ACC;
  assign is_wmem = acts && flt.cls == SITE_WMEM && 32'(flt.a) == widx;
  logic [DW-1:0] m_and, m_or, m_xor;
  logic [WW-1:0] w_and, w_or, w_xor;
  always_comb begin
    logic [DW-1:0] m;
    logic [WW-1:0] wm;
    m = DW'(1) << flt.bitpos;
    wm = WW'(1) << flt.bitpos;
    m_and = flt.kind == KIND_SA0 ? ~m : '1;
    m_or = flt.kind == KIND_SA1 ? m : '0;
    m_xor = flt.kind == KIND_FLIP ? m : '0;
    w_and = flt.kind == KIND_SA0 ? ~wm : '1;
    w_or = flt.kind == KIND_SA1 ? wm : '0;
    w_xor = flt.kind == KIND_FLIP ? wm : '0;
  end
  // FaultHook::force on a register of `width` bits: the bit forced, the
  // value cut to the width (sign-extended when is_signed).
  function automatic logic signed [DW-1:0] forced(logic signed [DW-1:0] v, int width, logic is_signed);
    logic [DW-1:0] u;
    logic [DW-1:0] keep;
    u = ((v & m_and) | m_or) ^ m_xor;
    if (width >= DW) return u;
    keep = (DW'(1) << width) - 1;
    u = u & keep;
    if (is_signed && u[width-1]) u = u | ~keep;
    return u;
  endfunction

  // an input field as an arithmetic value (MAC)
  function automatic logic signed [DW-1:0] input_value(logic [IB-1:0] f);
    if (IN_BIPOLAR) return f[0] ? 1 : -1;
    if (IN_SIGNED) return DW'($signed(f));
    return DW'(f);
  endfunction
  // a weight field as an arithmetic value (MAC)
  function automatic logic signed [DW-1:0] weight_value(logic [WB-1:0] f);
    if (WB == 1) return f[0] ? 1 : -1;
    return DW'($signed(f));
  endfunction

  logic [PE-1:0] hits;  // a site of this PE is passed this cycle and matches flt
  logic signed [DW-1:0] acc_next[PE];
  logic [OB-1:0] code[PE];

  for (genvar p = 0; p < PE; ++p) begin : g_pe
    // weight memory read, through the weight-word saboteur
    logic w_hit;
    logic [WW-1:0] w;
    assign w_hit = is_wmem && 32'(flt.pe) == p;
    assign w = w_hit ? ((wmem[p][widx] & w_and) | w_or) ^ w_xor : wmem[p][widx];

    // adder tree: level 0 = products, level l node k = sum of level l-1
    // nodes 2k and 2k+1 (an odd last node passes through)
    logic [LEVELS-1:0] lvl_hit;
    for (genvar l = 0; l < LEVELS; ++l) begin : g_lvl
      localparam int N = (SIMD + (1 << l) - 1) >> l;
      logic signed [DW-1:0] v[N];
      logic [N-1:0] hit;
      for (genvar k = 0; k < N; ++k) begin : g_node
        logic signed [DW-1:0] raw;
        if (l == 0) begin : g_product
          if (XNOR) assign raw = DW'(w[k] == x[k]);
          else assign raw = weight_value(w[k*WB+:WB]) * input_value(x[k*IB+:IB]);
        end else if (2 * k + 1 < (SIMD + (1 << (l - 1)) - 1) >> (l - 1)) begin : g_sum
          assign raw = g_lvl[l-1].v[2*k] + g_lvl[l-1].v[2*k+1];
        end else begin : g_pass
          assign raw = g_lvl[l-1].v[2*k];
        end
        assign hit[k] = is_adder && 32'(flt.pe) == p && 32'(flt.a) == l && 32'(flt.b) == k;
        assign v[k] = hit[k] ? forced(raw, ACC_BITS, ACC_SIGNED) : raw;
      end
      assign lvl_hit[l] = |hit;
    end

    logic a_hit;
    logic signed [DW-1:0] sum;
    assign a_hit = is_acc && 32'(flt.pe) == p;
    assign sum = (sf == 0 ? '0 : acc[p]) + g_lvl[LEVELS-1].v[0];
    assign acc_next[p] = a_hit ? forced(sum, ACC_BITS, ACC_SIGNED) : sum;

    // threshold compare of the updated accumulator
    logic [T-1:0] t_hit, c_hit;
    if (HAS_ACT) begin : g_act
      always_comb begin
        int level;
        level = 0;
        for (int k = 0; k < T; ++k) begin
          logic signed [DW-1:0] th;
          logic c;
          t_hit[k] = acts && need_out && flt.cls == SITE_THR && 32'(flt.pe) == p && 32'(flt.a) == nf * T + k;
          th = t_hit[k] ? forced(tmem[p][nf*T+k], THR_BITS, 1'b1) : tmem[p][nf*T+k];
          c_hit[k] = acts && need_out && flt.cls == SITE_CMP && 32'(flt.pe) == p && 32'(flt.a) == k;
          // the comparator output: a 1-bit register, bit 0
          c = th <= acc_next[p];
          if (c_hit[k]) c = flt.kind == KIND_SA0 ? 1'b0 : flt.kind == KIND_SA1 ? 1'b1 : !c;
          level = level + int'(c);
        end
        code[p] = OB'(ACT_LO + level);
      end
    end else begin : g_raw
      assign t_hit = '0;
      assign c_hit = '0;
      assign code[p] = acc_next[p][OB-1:0];
    end
    assign hits[p] = w_hit || (|lvl_hit) || a_hit || (|t_hit) || (|c_hit);
    assign out_data[p*OB+:OB] = code[p];
  end

  // ------------------------------------------------------------ state
  always_ff @(posedge clk) begin
    if (ld_w_en) wmem[ld_pe_i][ld_addr_i] <= ld_w_data;
    if (ld_t_en) tmem[ld_pe_i][ld_addr_i] <= ld_t_data;
    if (rst) begin
      nf <= 0;
      sf <= 0;
      fired <= 1'b0;
      for (int p = 0; p < PE; ++p) acc[p] <= '0;
    end else if (fire) begin
      if (need_in) ibuf[sf] <= in_data;
      for (int p = 0; p < PE; ++p) acc[p] <= acc_next[p];
      if (flt.kind == KIND_FLIP && (|hits)) fired <= 1'b1;  // hits of a flip: it fired
      if (sf + 1 == SF) begin
        sf <= 0;
        nf <= nf + 1 == NF ? 0 : nf + 1;
      end else begin
        sf <= sf + 1;
      end
    end
  end
endmodule
