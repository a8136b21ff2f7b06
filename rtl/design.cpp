#include "design.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace fatsim::rtl {

namespace {

int find(const hw::DataflowModel& m, DataflowDesign& d, const std::string& name) {
    for (size_t i = 0; i < d.streams.size(); ++i)
        if (d.streams[i].name == name) return int(i);
    const hw::Stream* s = m.find_stream(name);
    if (!s) return -1;
    StreamDesc sd{name, s->width(), s->depth(), -1};
    if (name.rfind("fifo[", 0) == 0) sd.fifo = std::stoi(name.substr(5));
    d.streams.push_back(sd);
    return int(d.streams.size()) - 1;
}

int need(const hw::DataflowModel& m, DataflowDesign& d, const std::string& name) {
    const int i = find(m, d, name);
    if (i < 0) throw std::logic_error("RTL design: the C++ model has no stream '" + name + "'");
    return i;
}

UnitDesc dwc(const std::string& name, int layer, int in, int out) {
    UnitDesc u;
    u.type = UnitType::Dwc;
    u.name = name;
    u.layer = layer;
    u.in = in;
    u.out = out;
    return u;
}

}  // namespace

DataflowDesign describe_dataflow(const hw::DataflowModel& m, const std::string& top) {
    DataflowDesign d;
    d.top = top;
    const Topology& topo = m.topology();
    const int L = int(topo.layers.size());
    auto fifo = [](int i) { return "fifo[" + std::to_string(i) + "]"; };
    // the source writes "input" when its pixel word is not the first FIFO's width
    int prev = find(m, d, "input");
    if (prev < 0) prev = need(m, d, fifo(0));
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo.layers[size_t(l)];
        const std::string& N = s.name;
        const int f = need(m, d, fifo(l));
        if (prev != f) d.units.push_back(dwc(N + ".dwc_in", l, prev, f));
        int cur = f;
        if (s.kind == LayerKind::Conv) {
            UnitDesc u;
            u.type = UnitType::Swg;
            u.name = N + ".swg";
            u.layer = l;
            u.in = cur;
            u.out = need(m, d, N + ".swg");
            u.dim = s.in_dim;
            u.kernel = s.kernel;
            u.channels = s.in_channels;
            u.bits = s.in_bits;
            u.simd = d.streams[size_t(cur)].width / s.in_bits;
            d.units.push_back(u);
            cur = u.out;
            const int ds = find(m, d, N + ".dwc_swg");
            if (ds >= 0) {
                d.units.push_back(dwc(N + ".dwc_swg", l, cur, ds));
                cur = ds;
            }
        }
        const hw::Mvtu& mv = m.mvtu(l);
        if (mv.program().fold.schedule == Schedule::Pixel)
            throw std::invalid_argument("RTL design: layer " + N +
                                        ": schedule pixel has no RTL MVTU (the C++ cycle model runs it)");
        // a layer's output: its own ".out" stream when the next layer converts it
        int out = find(m, d, N + ".out");
        if (out < 0) out = need(m, d, fifo(l + 1));
        UnitDesc u;
        u.type = UnitType::Mvtu;
        u.name = N;
        u.layer = l;
        u.in = cur;
        u.out = s.pool > 1 ? need(m, d, N + ".mvtu_out") : out;
        u.geom = mv.program().geom;
        u.fold = mv.program().fold;
        d.mvtu_unit.push_back(int(d.units.size()));
        d.units.push_back(u);
        d.load_width = std::max(d.load_width, u.fold.simd * u.geom.weight_bits);
        if (s.pool > 1) {
            cur = u.out;
            const int dp = find(m, d, N + ".dwc_pool");
            if (dp >= 0) {
                d.units.push_back(dwc(N + ".dwc_pool", l, cur, dp));
                cur = dp;
            }
            UnitDesc p;
            p.type = UnitType::Pool;
            p.name = N + ".pool";
            p.layer = l;
            p.in = cur;
            p.out = out;
            p.dim = s.out_dim;
            p.pool = s.pool;
            p.channels = mv.rows();
            p.bits = mv.out_bits();
            p.is_signed = u.geom.out_signed;
            d.units.push_back(p);
        }
        prev = out;
    }
    if (d.streams.back().name != fifo(L)) throw std::logic_error("RTL design: the last stream is not " + fifo(L));
    return d;
}

namespace {

std::string body(const DataflowDesign& d) {
    std::ostringstream o;
    const StreamDesc& src = d.streams.front();
    const StreamDesc& snk = d.streams.back();
    const int S = int(d.streams.size());
    int obs_w = 0;
    for (const StreamDesc& s : d.streams) obs_w += s.width;
    o << "module " << d.top << "\n  import fatsim_pkg::*;\n(\n"
      << "    input  logic clk,\n    input  logic rst,\n"
      << "    output logic [63:0] cycle,        // cycles since reset (flip faults fire by it)\n"
      << "    output logic [63:0] design_hash,  // identifies this design (rtl/design.hpp)\n"
      << "    input  logic src_valid,\n    input  logic [" << src.width - 1 << ":0] src_data,\n"
      << "    output logic src_ready,\n"
      << "    // the sink takes every score word (no back-pressure: nothing waits on an input)\n"
      << "    output logic snk_valid,\n    output logic [" << snk.width - 1
      << ":0] snk_data,\n"
      << "    // memory load port of layer ld_layer's MVTU\n"
      << "    input  logic [15:0] ld_layer,\n    input  logic ld_w_en,\n    input  logic ld_t_en,\n"
      << "    input  logic [15:0] ld_pe,\n    input  logic [15:0] ld_addr,\n"
      << "    /* verilator lint_off UNUSEDSIGNAL */  // narrower weight words use the low bits\n"
      << "    input  logic [" << d.load_width - 1 << ":0] ld_w_data,\n"
      << "    /* verilator lint_on UNUSEDSIGNAL */\n"
      << "    input  logic [DW-1:0] ld_t_data,\n"
      << "    // the fault select registers: MVTU sites of layer flt_layer, FIFO sites of fifo[flt_fifo]\n"
      << "    input  logic flt_en,\n    input  logic [2:0] flt_cls,\n    input  logic [15:0] flt_layer,\n"
      << "    input  logic [15:0] flt_fifo,\n    input  logic [15:0] flt_pe,\n    input  logic [15:0] flt_a,\n"
      << "    input  logic [15:0] flt_b,\n    input  logic [15:0] flt_bit,\n    input  logic [1:0] flt_kind,\n"
      << "    input  logic [63:0] flt_cycle,\n"
      << "    // every stream's pushes: bit i / the slice of stream i (streams in order)\n"
      << "    output logic [" << S - 1 << ":0] obs_push,\n    output logic [" << obs_w - 1 << ":0] obs_data\n);\n";
    o << "  // the fault select registers (a fault set on the ports acts from the next cycle)\n"
      << "  fault_t flt, no_fault;\n  logic [15:0] flt_layer_q, flt_fifo_q;\n"
      << "  always_ff @(posedge clk) begin\n    flt <= '{en: flt_en, cls: flt_cls, pe: flt_pe, a: flt_a, b: flt_b, bitpos: flt_bit, kind: flt_kind,"
         " cycle: flt_cycle};\n"
      << "    flt_layer_q <= flt_layer;\n    flt_fifo_q <= flt_fifo;\n  end\n"
      << "  assign no_fault = '0;\n\n"
      << "  always_ff @(posedge clk) cycle <= rst ? 64'd0 : cycle + 64'd1;\n\n";
    for (int i = 0; i < S; ++i) {
        const StreamDesc& s = d.streams[size_t(i)];
        const std::string p = "s" + std::to_string(i);
        o << "  // " << s.name << "\n"
          << "  logic " << p << "_push, " << p << "_ready, " << p << "_valid, " << p << "_pop;\n"
          << "  logic [" << s.width - 1 << ":0] " << p << "_data, " << p << "_front;\n"
          << "  stream_fifo #(.W(" << s.width << "), .DEPTH(" << s.depth << ")) u_" << p << " (.clk, .rst, .now(cycle), "
          << ".flt(" << (s.fifo >= 0 ? "flt_fifo_q == 16'd" + std::to_string(s.fifo) + " ? flt : no_fault" : "no_fault")
          << "), .push(" << p << "_push), .push_data(" << p << "_data), .ready(" << p << "_ready), .valid(" << p
          << "_valid), .front(" << p << "_front), .pop(" << p << "_pop));\n";
    }
    o << "\n  assign s0_push = src_valid && s0_ready;\n  assign s0_data = src_data;\n  assign src_ready = s0_ready;\n";
    const std::string last = "s" + std::to_string(S - 1);
    o << "  assign snk_valid = " << last << "_valid;\n  assign snk_data = " << last << "_front;\n  assign " << last
      << "_pop = " << last << "_valid;\n\n";
    for (const UnitDesc& u : d.units) {
        const std::string in = "s" + std::to_string(u.in), out = "s" + std::to_string(u.out);
        const std::string ports = ".clk, .rst, .in_valid(" + in + "_valid), .in_data(" + in + "_front), .in_pop(" + in +
                                  "_pop), .out_push(" + out + "_push), .out_data(" + out + "_data), .out_ready(" + out +
                                  "_ready)";
        std::string id = u.name;
        for (char& c : id)
            if (c == '.') c = '_';
        o << "  // " << u.name << "\n";
        switch (u.type) {
            case UnitType::Dwc:
                o << "  dwc #(.IW(" << d.streams[size_t(u.in)].width << "), .OW(" << d.streams[size_t(u.out)].width
                  << ")) u_" << id << " (" << ports << ");\n";
                break;
            case UnitType::Swg:
                o << "  swg #(.D(" << u.dim << "), .K(" << u.kernel << "), .C(" << u.channels << "), .SIMD(" << u.simd
                  << "), .EB(" << u.bits << ")) u_" << id << " (" << ports << ");\n";
                break;
            case UnitType::Pool:
                o << "  maxpool #(.D(" << u.dim << "), .P(" << u.pool << "), .C(" << u.channels << "), .EB(" << u.bits
                  << "), .SIGNED(1'b" << int(u.is_signed) << ")) u_" << id << " (" << ports << ");\n";
                break;
            case UnitType::Mvtu: {
                const LayerGeometry& g = u.geom;
                const std::string on = "ld_layer == 16'd" + std::to_string(u.layer);
                o << "  mvtu #(.PE(" << u.fold.pe << "), .SIMD(" << u.fold.simd << "), .NF(" << u.fold.nf << "), .SF("
                  << u.fold.sf << "), .XNOR(1'b" << int(g.xnor) << "), .WB(" << g.weight_bits << "), .IB(" << g.in_bits
                  << "), .IN_BIPOLAR(1'b" << int(g.in_bipolar) << "), .IN_SIGNED(1'b" << int(g.in_signed)
                  << "), .ACC_BITS(" << g.acc_bits << "), .ACC_SIGNED(1'b" << int(g.acc_signed) << "), .HAS_ACT(1'b"
                  << int(g.has_act) << "), .T(" << std::max(1, g.thresholds) << "), .THR_BITS(" << g.thr_bits
                  << "), .ACT_LO(" << g.act.lo << "), .OB(" << g.out_bits << ")) u_" << id << " (\n      .now(cycle), "
                  << ".flt(flt_layer_q == 16'd" << u.layer << " ? flt : no_fault), .ld_w_en(" << on
                  << " && ld_w_en), .ld_t_en(" << on << " && ld_t_en), .ld_pe, .ld_addr, .ld_w_data(ld_w_data["
                  << u.fold.simd * g.weight_bits - 1 << ":0]), .ld_t_data,\n      " << ports << ");\n";
                break;
            }
        }
    }
    o << "\n  assign obs_push = {";
    for (int i = S - 1; i >= 0; --i) o << "s" << i << "_push" << (i ? ", " : "");
    o << "};\n  assign obs_data = {";
    for (int i = S - 1; i >= 0; --i) o << "s" << i << "_data" << (i ? ", " : "");
    o << "};\n";
    return o.str();
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

}  // namespace

uint64_t design_hash(const DataflowDesign& d) { return fnv1a(body(d)); }

std::string emit_top(const DataflowDesign& d) {
    const std::string b = body(d);
    char hash[40];
    std::snprintf(hash, sizeof hash, "64'h%016llx", (unsigned long long)fnv1a(b));
    return "// Generated by fatsim_rtl_gen: do not edit. The dataflow accelerator's top:\n"
           "// streams (stream_fifo) and units in the C++ DataflowModel's structure.\n" +
           b + "  assign design_hash = " + hash + ";\nendmodule\n";
}

}  // namespace fatsim::rtl
