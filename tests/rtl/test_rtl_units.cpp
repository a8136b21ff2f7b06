// Every RTL unit against its C++ cycle model (sim/hw/units.cpp, stream.hpp):
// the same words into both, under the same source gaps and sink stalls, and
// every output beat must match in data AND in the cycle it appears at, with
// no fault and with faults of every class set at run time.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>

#include "Vtb_units.h"
#include "fault.hpp"
#include "model.hpp"
#include "pe_array.hpp"
#include "unit_configs.hpp"
#include "units.hpp"
#include "verilated.h"
#include "verilated_ports.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using namespace fatsim::rtl_testing;

namespace {

using Word = std::vector<uint64_t>;
struct Beat {
    int64_t cycle;
    Word data;
    bool operator==(const Beat& o) const { return cycle == o.cycle && data == o.data; }
};
std::string describe(const Beat& b) {
    std::ostringstream o;
    o << "cycle " << b.cycle << " data";
    for (auto it = b.data.rbegin(); it != b.data.rend(); ++it) o << " " << std::hex << *it;
    return o.str();
}
// The first difference of two beat sequences ("" when equal).
std::string first_mismatch(const std::vector<Beat>& cpp, const std::vector<Beat>& rtl) {
    for (size_t i = 0; i < std::max(cpp.size(), rtl.size()); ++i) {
        if (i < cpp.size() && i < rtl.size() && cpp[i] == rtl[i]) continue;
        return "beat " + std::to_string(i) + ": C++ " + (i < cpp.size() ? describe(cpp[i]) : "none") + ", RTL " +
               (i < rtl.size() ? describe(rtl[i]) : "none");
    }
    return "";
}

// Whether the source offers a word / the sink takes one in cycle c:
// always, or with pseudo-random gaps and stalls (the same for both models).
struct Traffic {
    bool bursty = false;
    static bool coin(int64_t c, uint64_t salt, int percent) {
        uint64_t h = uint64_t(c) * 0x9E3779B97F4A7C15ull ^ salt;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        return int(h % 100) < percent;
    }
    bool offers(int64_t c) const { return !bursty || coin(c, 0x51, 70); }
    bool accepts(int64_t c) const { return !bursty || coin(c, 0xA7, 60); }
};

std::vector<Word> random_words(int n, int width, std::mt19937_64& rng) {
    std::vector<Word> v(size_t(n), Word(size_t(limbs_for(width)), 0));
    for (Word& w : v) {
        for (uint64_t& l : w) l = rng();
        if (width & 63) w.back() &= (uint64_t(1) << (width & 63)) - 1;
    }
    return v;
}

// ------------------------------------------------------------ C++ side
// Per cycle: the sink pops, the unit ticks, the source pushes, streams commit
// (the dataflow model's consumer-before-producer order). in == out: a FIFO alone.
template <class TickFn>
std::vector<Beat> run_cpp(Stream& in, Stream& out, TickFn tick_unit, const std::vector<Word>& words, size_t expect,
                          Traffic t, int64_t cycles, int64_t& clock) {
    std::vector<Beat> got;
    size_t next = 0;
    for (clock = 0; clock < cycles; ++clock) {
        if (t.accepts(clock) && out.can_pop()) {
            got.push_back({clock, Word(out.front(), out.front() + out.limbs())});
            out.pop();
        }
        tick_unit();
        if (next < words.size() && t.offers(clock) && in.can_push()) in.push_word(words[next++].data());
        in.commit();
        if (&out != &in) out.commit();
    }
    EXPECT_EQ(got.size(), expect) << "C++ model: beats after " << cycles << " cycles";
    return got;
}

// ------------------------------------------------------------ RTL side
class Bench {
public:
    Bench() : ctx_(std::make_unique<VerilatedContext>()), top_(std::make_unique<Vtb_units>(ctx_.get())) {}

    void select(int unit) { top_->sel = uint16_t(unit); }
    void load_weight(int pe, int addr, uint64_t data) {
        top_->ld_w_en = 1;
        load(pe, addr);
        top_->ld_w_data = data;
        clock();
        top_->ld_w_en = 0;
    }
    void load_threshold(int pe, int addr, int32_t v) {
        top_->ld_t_en = 1;
        load(pe, addr);
        top_->ld_t_data = uint32_t(v);
        clock();
        top_->ld_t_en = 0;
    }
    void set_fault(const ArmedFault* f) {
        top_->flt_en = f != nullptr;
        if (!f) return;
        top_->flt_cls = uint8_t(f->type);
        top_->flt_pe = uint16_t(f->pe);
        top_->flt_a = uint16_t(f->a);
        top_->flt_b = uint16_t(f->b);
        top_->flt_bit = uint16_t(f->bit);
        top_->flt_kind = uint8_t(f->kind);
        top_->flt_cycle = uint64_t(f->cycle);
    }
    // Resets the selected unit, then runs `cycles` cycles from cycle 0.
    std::vector<Beat> run(const std::vector<Word>& words, int out_width, Traffic t, int64_t cycles) {
        top_->src_valid = 0;
        top_->snk_ready = 0;
        top_->rst = 1;
        top_->now = 0;
        clock();
        top_->rst = 0;
        std::vector<Beat> got;
        size_t next = 0;
        for (int64_t c = 0; c < cycles; ++c) {
            top_->now = uint64_t(c);
            const bool offer = next < words.size() && t.offers(c);
            top_->src_valid = offer;
            if (offer) rtl::set_port(top_->src_data, words[next].data(), int(words[next].size()));
            top_->snk_ready = t.accepts(c);
            top_->clk = 0;
            top_->eval();
            if (top_->snk_ready && top_->snk_valid) got.push_back({c, rtl::get_port(top_->snk_data, out_width)});
            if (offer && top_->src_ready) ++next;
            top_->clk = 1;
            top_->eval();
        }
        return got;
    }

private:
    void load(int pe, int addr) {
        top_->ld_pe = uint16_t(pe);
        top_->ld_addr = uint16_t(addr);
    }
    void clock() {
        top_->clk = 0;
        top_->eval();
        top_->clk = 1;
        top_->eval();
    }
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Vtb_units> top_;
};

Bench& bench() {
    static Bench b;
    return b;
}

// Runs the C++ side until `expect` beats plus a margin, then the RTL unit
// for as many cycles, and requires identical beat lists.
template <class MakeUnit>
void expect_same(int unit, Stream& in, Stream& out, MakeUnit make_unit, const std::vector<Word>& words,
                 size_t expect, Traffic t, const ArmedFault* fault = nullptr, std::vector<Beat>* result = nullptr) {
    int64_t clock = 0;
    auto tick = make_unit(&clock);
    // length: long enough for every beat under the traffic pattern, plus a tail
    int64_t cycles = int64_t(words.size() + expect) * 8 + 64;
    const std::vector<Beat> cpp = run_cpp(in, out, tick, words, expect, t, cycles, clock);
    Bench& b = bench();
    b.select(unit);
    b.set_fault(fault);
    const std::vector<Beat> rtl = b.run(words, out.width(), t, cycles);
    b.set_fault(nullptr);
    EXPECT_EQ(first_mismatch(cpp, rtl), "") << "unit " << unit;
    if (result) *result = cpp;
}

// ------------------------------------------------------------ FIFO
TEST(RtlUnits, FifoMatchesStreamBeatForBeat) {
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < fifo_configs().size(); ++i)
        for (bool bursty : {false, true}) {
            const FifoCfg c = fifo_configs()[i];
            SCOPED_TRACE("fifo W=" + std::to_string(c.width) + " depth=" + std::to_string(c.depth));
            Stream s("fifo", c.width, c.depth);
            const auto words = random_words(40, c.width, rng);
            expect_same(bench_index(UnitKind::Fifo, int(i)), s, s, [](int64_t*) { return [] {}; }, words,
                        words.size(), Traffic{bursty});
        }
}

TEST(RtlUnits, FifoSlotFaultsMatchStream) {
    std::mt19937_64 rng(2);
    int changed = 0;
    for (size_t i = 0; i < fifo_configs().size(); ++i) {
        const FifoCfg c = fifo_configs()[i];
        const auto words = random_words(30, c.width, rng);
        std::vector<Beat> clean;
        {
            Stream s("fifo", c.width, c.depth);
            expect_same(bench_index(UnitKind::Fifo, int(i)), s, s, [](int64_t*) { return [] {}; }, words,
                        words.size(), Traffic{true}, nullptr, &clean);
        }
        for (int k = 0; k < 12; ++k) {
            FaultSite site{FifoBit{0, int(rng() % c.depth), int(rng() % c.width)},
                           FaultKind(k % 3), int64_t(rng() % 60)};
            SCOPED_TRACE(fault_site_name(site));
            Stream s("fifo", c.width, c.depth);
            const ArmedFault f = armed_fault(site);
            std::vector<Beat> got;
            expect_same(bench_index(UnitKind::Fifo, int(i)), s, s,
                        [&](int64_t* clock) {
                            s.hook.arm(f, clock);
                            return [] {};
                        },
                        words, words.size(), Traffic{true}, &f, &got);
            changed += got != clean;
        }
    }
    EXPECT_GT(changed, 10) << "the faults must change some outputs";
}

// ------------------------------------------------------------ DWC
TEST(RtlUnits, WidthConverterMatchesCppBeatForBeat) {
    std::mt19937_64 rng(3);
    for (size_t i = 0; i < dwc_configs().size(); ++i)
        for (bool bursty : {false, true}) {
            const DwcCfg c = dwc_configs()[i];
            SCOPED_TRACE("dwc " + std::to_string(c.in_width) + " -> " + std::to_string(c.out_width));
            const int l = std::lcm(c.in_width, c.out_width);
            const int n_in = 3 * l / c.in_width;
            Stream in("in", c.in_width, kUnitFifoDepth), out("out", c.out_width, kUnitFifoDepth);
            Dwc dwc("dwc", &in, &out);
            expect_same(bench_index(UnitKind::Dwc, int(i)), in, out, [&](int64_t*) { return [&] { dwc.tick(); }; },
                        random_words(n_in, c.in_width, rng), size_t(3 * l / c.out_width), Traffic{bursty});
        }
}

// ------------------------------------------------------------ SWG
TEST(RtlUnits, SlidingWindowMatchesCppBeatForBeat) {
    std::mt19937_64 rng(4);
    for (size_t i = 0; i < swg_configs().size(); ++i)
        for (bool bursty : {false, true}) {
            const SwgCfg c = swg_configs()[i];
            SCOPED_TRACE("swg D=" + std::to_string(c.dim) + " K=" + std::to_string(c.kernel) +
                         " C=" + std::to_string(c.channels) + " SIMD=" + std::to_string(c.simd));
            const int images = 2, w = c.simd * c.bits, mult = c.channels / c.simd, o = c.dim - c.kernel + 1;
            Stream in("in", w, kUnitFifoDepth), out("out", w, kUnitFifoDepth);
            Swg swg("swg", c.dim, c.kernel, c.channels, c.simd, &in, &out, images);
            expect_same(bench_index(UnitKind::Swg, int(i)), in, out, [&](int64_t*) { return [&] { swg.tick(); }; },
                        random_words(images * c.dim * c.dim * mult, w, rng),
                        size_t(images * o * o * c.kernel * c.kernel * mult), Traffic{bursty});
        }
}

// ------------------------------------------------------------ max pool
TEST(RtlUnits, MaxPoolMatchesCppBeatForBeat) {
    std::mt19937_64 rng(5);
    for (size_t i = 0; i < pool_configs().size(); ++i)
        for (bool bursty : {false, true}) {
            const PoolCfg c = pool_configs()[i];
            SCOPED_TRACE("pool D=" + std::to_string(c.dim) + " P=" + std::to_string(c.pool) +
                         " bits=" + std::to_string(c.bits));
            const int images = 2, w = c.channels * c.bits, q = c.dim / c.pool;
            Stream in("in", w, kUnitFifoDepth), out("out", w, kUnitFifoDepth);
            MaxPool pool("pool", c.dim, c.pool, c.channels, c.bits, c.is_signed, &in, &out, images);
            expect_same(bench_index(UnitKind::Pool, int(i)), in, out, [&](int64_t*) { return [&] { pool.tick(); }; },
                        random_words(images * q * c.pool * c.dim, w, rng), size_t(images * q * q), Traffic{bursty});
        }
}

// ------------------------------------------------------------ MVTU
constexpr int kVectors = 3;

LayerProgram mvtu_program(const MvtuCfg& c) {
    const Topology& topo = mvtu_topology(c.precision);
    static std::map<std::string, QnnModel> models;
    auto it = models.find(c.precision);
    if (it == models.end()) it = models.emplace(c.precision, random_model(topo, 7)).first;
    const LayerSpec& s = topo.layers.at(size_t(c.layer));
    std::vector<int> colmap(size_t(s.mw()));
    std::iota(colmap.begin(), colmap.end(), 0);
    return LayerProgram(s.name, mvtu_geometry(c), mvtu_folding(c), kVectors, it->second.layers.at(size_t(c.layer)),
                        colmap);
}

// Writes a program's weight and threshold memories through the load port.
void load_program(Bench& b, const LayerProgram& p) {
    for (int pe = 0; pe < p.fold.pe; ++pe) {
        for (int w = 0; w < p.fold.weight_words(); ++w) {
            uint64_t word = 0;
            for (int e = 0; e < p.fold.simd; ++e)
                word |= p.weight_field(p.weight(pe, w, e)) << (e * p.geom.weight_bits);
            b.load_weight(pe, w, word);
        }
        if (p.geom.has_act)
            for (int t = 0; t < p.fold.nf * p.geom.thresholds; ++t)
                b.load_threshold(pe, t, p.thr[size_t(pe) * p.fold.nf * p.geom.thresholds + t]);
    }
}

struct MvtuRun {
    const MvtuCfg& cfg;
    int index;
    LayerProgram prog;
    std::vector<Word> words;
    int in_w, out_w;
    MvtuRun(const MvtuCfg& c, int i, std::mt19937_64& rng)
        : cfg(c), index(i), prog(mvtu_program(c)) {
        in_w = prog.fold.simd * prog.geom.in_bits;
        out_w = prog.fold.pe * prog.geom.out_bits;
        words = random_words(kVectors * prog.fold.sf, in_w, rng);
        b_select_and_load();
    }
    void b_select_and_load() {
        bench().select(bench_index(UnitKind::Mvtu, index));
        load_program(bench(), prog);
    }
    std::vector<Beat> run(Traffic t, const FaultSite* site = nullptr) {
        Stream in("in", in_w, kUnitFifoDepth), out("out", out_w, kUnitFifoDepth);
        Mvtu mvtu(prog, &in, &out, 1);
        ArmedFault f;
        if (site) f = armed_fault(*site);
        std::vector<Beat> got;
        expect_same(bench_index(UnitKind::Mvtu, index), in, out,
                    [&](int64_t* clock) {
                        if (site) mvtu.arm(*site, clock);
                        return [&] { mvtu.tick(); };
                    },
                    words, size_t(kVectors * prog.fold.nf), t, site ? &f : nullptr, &got);
        return got;
    }
};

std::string cfg_name(const MvtuCfg& c) {
    return c.precision + " layer " + std::to_string(c.layer) + " PE=" + std::to_string(c.pe) +
           " SIMD=" + std::to_string(c.simd) + " " + schedule_name(c.schedule);
}

TEST(RtlUnits, MvtuMatchesCppBeatForBeat) {
    std::mt19937_64 rng(6);
    for (size_t i = 0; i < mvtu_configs().size(); ++i) {
        SCOPED_TRACE(cfg_name(mvtu_configs()[i]));
        MvtuRun r(mvtu_configs()[i], int(i), rng);
        for (bool bursty : {false, true}) r.run(Traffic{bursty});
    }
}

// A sample of every fault class on every configuration, drawn from the
// C++ model's own site list.
TEST(RtlUnits, MvtuFaultsOfEveryClassMatchCpp) {
    std::mt19937_64 rng(8);
    int per_class_runs[kSiteClasses] = {}, per_class_changed[kSiteClasses] = {};
    for (size_t i = 0; i < mvtu_configs().size(); ++i) {
        SCOPED_TRACE(cfg_name(mvtu_configs()[i]));
        MvtuRun r(mvtu_configs()[i], int(i), rng);
        const std::vector<Beat> clean = r.run(Traffic{true});
        std::vector<std::vector<SiteLocation>> by_class(kSiteClasses);
        PeArray(r.prog.fold.pe, r.prog.fold.simd).for_each_site(r.prog, [&](const SiteLocation& s) {
            by_class[size_t(site_class(s))].push_back(s);
        });
        const int64_t last = clean.empty() ? 0 : clean.back().cycle;
        for (int cls = 0; cls < kSiteClasses; ++cls) {
            const auto& sites = by_class[size_t(cls)];
            for (int k = 0; k < 6 && !sites.empty(); ++k) {
                const FaultSite site{sites[rng() % sites.size()], FaultKind(k % 3), int64_t(rng() % (last + 1))};
                SCOPED_TRACE(fault_site_name(site));
                const std::vector<Beat> got = r.run(Traffic{true}, &site);
                ++per_class_runs[cls];
                per_class_changed[cls] += got != clean;
            }
        }
    }
    for (SiteClass c : {SiteClass::Acc, SiteClass::AdderNode, SiteClass::WeightWord, SiteClass::Threshold,
                        SiteClass::Comparator}) {
        EXPECT_GT(per_class_runs[int(c)], 20) << site_class_name(c);
        EXPECT_GT(per_class_changed[int(c)], 0) << site_class_name(c) << ": no fault changed an output";
    }
}

}  // namespace
