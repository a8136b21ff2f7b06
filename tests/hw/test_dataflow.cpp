// Dataflow accelerator model (sim/hw) against the golden engine: every layer's
// stream bit for bit, on random models of every W/A combination and several
// foldings; cycle counts against FINN's formulas; back-pressure; fault hooks.
#include <gtest/gtest.h>

#include <random>

#include "config.hpp"
#include "dataflow.hpp"
#include "engine.hpp"
#include "fault_site.hpp"
#include "hw_test_util.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using fatsim::testing::small_topology;
using namespace fatsim::hw_testing;

namespace {

std::vector<int32_t> widen(const std::vector<int8_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// Runs the model and checks every layer against the golden engine's trace.
void expect_matches_golden(DataflowModel& hw, const QnnModel& m, const std::vector<int8_t>& images, int n) {
    const Engine engine(m);
    auto ws = engine.make_workspace();
    const size_t isz = engine.input_size();
    const int L = int(m.topology.layers.size());
    for (int i = 0; i < n; ++i) {
        Trace tr;
        const int pred = engine.classify(*ws, images.data() + i * isz, {}, &tr);
        EXPECT_EQ(hw.prediction(i), pred) << "image " << i;
        for (int l = 0; l < L; ++l) {
            SCOPED_TRACE("image " + std::to_string(i) + " layer " + m.topology.layers[l].name);
            if (l == L - 1) {
                ASSERT_EQ(hw.captured_mvtu(l, i), tr.layers[l].acc);
                ASSERT_EQ(hw.scores(i), tr.layers[l].acc);
            } else {
                ASSERT_EQ(hw.captured_mvtu(l, i), widen(tr.layers[l].act));
                ASSERT_EQ(hw.captured_output(l, i), widen(tr.layers[l].out));
            }
        }
    }
}

struct Case {
    int w, a, folding;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a) + "_" + kFoldings[i.param.folding].name;
}
std::vector<Case> all_cases() {
    const int wa[][2] = {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 2}};
    std::vector<Case> c;
    for (auto& x : wa)
        for (int f = 0; f < int(std::size(kFoldings)); ++f) c.push_back({x[0], x[1], f});
    return c;
}

class HwVsGolden : public ::testing::TestWithParam<Case> {};

// Every layer's MVTU output stream and layer output stream equal the golden
// activations bit for bit; MVTU busy cycles = OFM^2*NF*SF per image; SWG
// cycles = the FINN formula.
TEST_P(HwVsGolden, EveryLayerBitExactAndCyclesAsFinn) {
    const Case c = GetParam();
    const Topology topo = small_topology(c.w, c.a);
    const QnnModel m = random_model(topo, 7 + c.folding);
    const AccelConfig acc = make_accel(topo, kFoldings[c.folding]);
    DataflowOptions opt;
    opt.capture = true;
    DataflowModel hw(m, acc, opt);
    const int n = 3;
    const auto images = random_images(topo, n, 11 + c.w * 10 + c.a);
    hw.load_images(images.data(), n);
    hw.run();
    ASSERT_TRUE(hw.done());
    expect_matches_golden(hw, m, images, n);
    const CycleReport r = hw.report();
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        const auto& lc = r.layers[l];
        const int nf = s.mh() / lc.pe, sf = s.mw() / lc.simd, px = s.out_dim * s.out_dim;
        // Pixel: groups of PE pixels (the last one partial), MH*SF cycles each.
        const uint64_t want = kFoldings[c.folding].schedule == Schedule::Pixel
                                  ? uint64_t((px + lc.pe - 1) / lc.pe) * s.mh() * sf
                                  : uint64_t(px) * nf * sf;
        EXPECT_EQ(lc.expected, want) << s.name;
        EXPECT_EQ(lc.busy, uint64_t(n) * lc.expected) << s.name;
        if (s.kind == LayerKind::Conv) {
            const uint64_t D = s.in_dim, K = s.kernel, C = s.in_channels, S = lc.swg_simd, O = s.out_dim;
            const uint64_t finn = D * K * C / S + O * std::max(O * K * K * C / S, 1 * D * C / S);
            EXPECT_EQ(lc.swg_expected, finn) << s.name;
            EXPECT_EQ(lc.swg_busy, uint64_t(n) * finn) << s.name;
        }
    }
    EXPECT_GT(r.first_latency, 0);
    EXPECT_GT(r.steady_interval, 0);
}
INSTANTIATE_TEST_SUITE_P(AllWA, HwVsGolden, ::testing::ValuesIn(all_cases()), case_name);

// A tiny FIFO everywhere changes timing, never data (interleaved, and pixel:
// its gather / compute / drain stages stall on their own).
TEST(HwBackPressure, TinyFifosChangeTimingNotData) {
    for (int fi : {2, 5}) {
        SCOPED_TRACE(kFoldings[fi].name);
        const Topology topo = small_topology(1, 2);
        const QnnModel m = random_model(topo, 3);
        const int n = 3;
        const auto images = random_images(topo, n, 5);
        int64_t cycles[2];
        for (int k = 0; k < 2; ++k) {
            const AccelConfig acc = make_accel(topo, kFoldings[fi], k == 0 ? 64 : 1);
            DataflowOptions opt;
            opt.capture = true;
            opt.internal_depth = k == 0 ? 4 : 1;
            DataflowModel hw(m, acc, opt);
            hw.load_images(images.data(), n);
            hw.run();
            ASSERT_TRUE(hw.done());
            expect_matches_golden(hw, m, images, n);
            cycles[k] = hw.cycle();
            const auto r = hw.report();
            uint64_t stalls = 0;
            for (auto& l : r.layers) stalls += l.stall_out;
            if (k == 1) {
                EXPECT_GT(stalls, 0u) << "depth-1 FIFOs should back-pressure some MVTU";
            }
        }
        // (Pixel: its own input and output buffers absorb the tiny FIFOs here.)
        if (kFoldings[fi].schedule != Schedule::Pixel) {
            EXPECT_NE(cycles[0], cycles[1]);
        }
    }
}

// One elaborated model, reset and re-run with different faults armed: an
// accumulator stuck bit in PE p changes only channels c with c mod PE == p of
// that layer (interleaved schedule), and disarming restores the golden result.
TEST(HwFaults, AccStuckBitTouchesOnlyThatPesChannels) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 9);
    const AccelConfig acc = make_accel(topo, kFoldings[2]);  // c1: PE 7
    DataflowOptions opt;
    opt.capture = true;
    DataflowModel hw(m, acc, opt);
    const int n = 2;
    const auto images = random_images(topo, n, 21);
    hw.load_images(images.data(), n);
    hw.run();
    const auto golden = hw.captured_mvtu(1, 0);
    const auto golden_c0 = hw.captured_output(0, 0);
    const int PE = 7, MH = 70;
    for (int p : {0, 3, 6}) {
        hw.disarm_faults();
        hw.arm_fault("c1.pe[" + std::to_string(p) + "].acc.bit[6]:sa1");
        hw.reset();
        hw.run();
        ASSERT_TRUE(hw.done());
        const auto faulty = hw.captured_mvtu(1, 0);
        int changed = 0;
        for (size_t i = 0; i < faulty.size(); ++i) {
            const int ch = int(i % MH);
            if (faulty[i] != golden[i]) {
                ++changed;
                EXPECT_EQ(ch % PE, p) << "channel " << ch << " changed, not on PE " << p;
            }
        }
        EXPECT_GT(changed, 0) << "acc bit 6 stuck at 1 should change some outputs of PE " << p;
        // layers before c1 untouched
        EXPECT_EQ(hw.captured_output(0, 0), golden_c0);
    }
    hw.disarm_faults();
    hw.reset();
    hw.run();
    expect_matches_golden(hw, m, images, n);
}

// Every fault kind goes through the hook: arming changes something downstream
// (or at least runs), and the model comes back golden after disarm.
TEST(HwFaults, EverySiteKindArmsAndRuns) {
    const Topology topo = small_topology(2, 2);
    const QnnModel m = random_model(topo, 4);
    const AccelConfig acc = make_accel(topo, kFoldings[2]);
    DataflowOptions opt;
    opt.capture = true;
    DataflowModel hw(m, acc, opt);
    const auto images = random_images(topo, 2, 8);
    hw.load_images(images.data(), 2);
    hw.run();
    const auto golden0 = hw.captured_mvtu(0, 0);
    const char* sites[] = {"c0.pe[1].acc.bit[3]:sa1",
                           "c0.pe[1].adder.l1.n0.bit[2]:sa1",
                           "c0.wmem.pe[1].word[2].bit[1]:sa1",
                           "c0.pe[1].thr[1].bit[4]:sa1",
                           "c0.pe[1].cmp[0]:sa0",
                           "c0.pe[1].acc.bit[5]:flip@100",
                           "fifo[1].slot[0].bit[0]:sa1"};
    for (const char* s : sites) {
        SCOPED_TRACE(s);
        const FaultSite fs = parse_fault_site(s);
        EXPECT_EQ(fault_site_name(fs), s);
        hw.disarm_faults();
        hw.arm_fault(fs);
        hw.reset();
        hw.run();
        ASSERT_TRUE(hw.done());
        if (site_class(fs.where) != SiteClass::FifoSlot) {
            const auto f = hw.captured_mvtu(0, 0);
            int changed = 0;
            for (size_t i = 0; i < f.size(); ++i)
                if (f[i] != golden0[i]) {
                    ++changed;
                    EXPECT_EQ(int(i % 8) % 4, 1);  // PE 1 of 4 -> channels 1, 5
                }
            if (fs.kind != FaultKind::Flip) {
                EXPECT_GT(changed, 0);
            }
        }
    }
    EXPECT_THROW(hw.arm_fault("c0.pe[9].acc.bit[3]:sa1"), FaultSiteError);
    EXPECT_THROW(hw.arm_fault("nope.pe[0].acc.bit[3]:sa1"), FaultSiteError);
    EXPECT_THROW(parse_fault_site("c0.pe[0].acc.bit[3]:sa2"), FaultSiteError);
    EXPECT_THROW(parse_fault_site("garbage"), FaultSiteError);
    hw.disarm_faults();
    hw.reset();
    hw.run();
    expect_matches_golden(hw, m, images, 2);
}

#ifdef FATSIM_SOURCE_DIR
// Per-layer cycles as FINN's table with the shipped config; output equal to
// the golden engine on every image. The steady state reaches the bottleneck
// once the inter-layer FIFOs can hold a consumer's input vector: the shipped
// depths (BNN-PYNQ's numbers mapped onto layer inputs, 1 in front of fc0) are
// too shallow for that, so the throughput check raises every FIFO to 1024.
void check_bnnpynq(const std::string& accel_file, const std::vector<uint64_t>& table, uint64_t bottleneck, double fps,
                   int n) {
    Topology topo;
    const AccelConfig acc = load_accel(std::string(FATSIM_SOURCE_DIR) + "/models/accel/" + accel_file, &topo);
    const QnnModel m = random_model(topo, 1);
    const auto images = random_images(topo, n, 1);
    for (int deep = 0; deep < 2; ++deep) {
        DataflowOptions opt;
        opt.capture = deep == 0;
        opt.fifo_depth_min = deep ? 1024 : 0;
        DataflowModel hw(m, acc, opt);
        hw.load_images(images.data(), deep ? n : 2);
        hw.run();
        ASSERT_TRUE(hw.done());
        const auto r = hw.report();
        ASSERT_EQ(r.layers.size(), table.size());
        for (size_t l = 0; l < table.size(); ++l) {
            EXPECT_EQ(r.layers[l].expected, table[l]) << r.layers[l].name;
            EXPECT_EQ(r.layers[l].busy, hw.images() * table[l]) << r.layers[l].name;
        }
        EXPECT_EQ(r.bottleneck, bottleneck);
        if (deep) {
            EXPECT_EQ(uint64_t(r.steady_interval), bottleneck) << format_report(r);
            EXPECT_NEAR(r.fps(), fps, 1.0);
            const Engine engine(m);
            auto ws = engine.make_workspace();
            for (int i = 0; i < n; ++i) {
                Trace tr;
                EXPECT_EQ(hw.prediction(i), engine.classify(*ws, images.data() + i * engine.input_size(), {}, &tr));
                EXPECT_EQ(hw.scores(i), tr.layers.back().acc) << "image " << i;
            }
        } else {
            EXPECT_GE(uint64_t(r.steady_interval), bottleneck);
            expect_matches_golden(hw, m, images, 2);
        }
    }
}

TEST(HwCnv, W1A1BnnPynqFoldingMatchesFinnTable) {
    check_bnnpynq("cnv_w1a1_bnnpynq.yaml", {32400, 28224, 20736, 28800, 20736, 18432, 32768, 32768, 8192}, 32768,
                  9155.27, 6);
}
TEST(HwCnv, W2A2BnnPynqFoldingMatchesFinnTable) {
    check_bnnpynq("cnv_w2a2_bnnpynq.yaml", {64800, 112896, 82944, 115200, 82944, 73728, 65536, 65536, 8192}, 115200,
                  2604.17, 5);
}
#endif

}  // namespace
