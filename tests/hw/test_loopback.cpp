// Loopback accelerator model (sim/hw/loopback) against the golden engine:
// every layer bit for bit on engine sizes that divide the layers and sizes
// that do not, for every schedule; the cycle formula; the outputs a PE fault
// can touch per schedule and architecture; its fault sites; config errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "config.hpp"
#include "dataflow.hpp"
#include "engine.hpp"
#include "fault_site.hpp"
#include "hw_test_util.hpp"
#include "loopback.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using fatsim::testing::small_topology;
using namespace fatsim::hw_testing;

namespace {

std::vector<int32_t> widen(const std::vector<int8_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// Every layer's pre-pool map, output map and the class scores equal the golden engine's.
void expect_matches_golden(const LoopbackModel& hw, const QnnModel& m, const std::vector<int8_t>& images, int n) {
    const Engine engine(m);
    auto ws = engine.make_workspace();
    const int L = int(m.topology.layers.size());
    for (int i = 0; i < n; ++i) {
        Trace tr;
        const int pred = engine.classify(*ws, images.data() + i * engine.input_size(), {}, &tr);
        EXPECT_EQ(hw.prediction(i), pred) << "image " << i;
        for (int l = 0; l < L; ++l) {
            SCOPED_TRACE("image " + std::to_string(i) + " layer " + m.topology.layers[size_t(l)].name);
            if (l == L - 1) {
                ASSERT_EQ(hw.captured_mvtu(l, i), tr.layers[size_t(l)].acc);
                ASSERT_EQ(hw.scores(i), tr.layers[size_t(l)].acc);
            } else {
                ASSERT_EQ(hw.captured_mvtu(l, i), widen(tr.layers[size_t(l)].act));
                ASSERT_EQ(hw.captured_output(l, i), widen(tr.layers[size_t(l)].out));
            }
        }
    }
}

struct Case {
    int w, a, pe, simd;
    Schedule schedule;
    bool deep;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    const Case& c = i.param;
    return "W" + std::to_string(c.w) + "A" + std::to_string(c.a) + "_pe" + std::to_string(c.pe) + "_simd" +
           std::to_string(c.simd) + "_" + schedule_name(c.schedule) + (c.deep ? "_deep" : "");
}
std::vector<Case> all_cases() {
    // Layers: c0 27x8, c1 72x70, c2 280x16, f0 144x20, f1 20x10 (MW x MH).
    // 1x1 and 2x9 divide some; 3x5, 7x16 and 32x64 divide none (partial folds;
    // 32x64 is wider than most layers).
    const int wa[][2] = {{1, 1}, {1, 2}, {2, 2}, {1, 4}};
    const int engines[][2] = {{1, 1}, {2, 9}, {3, 5}, {7, 16}, {32, 64}};
    std::vector<Case> c;
    for (auto& x : wa)
        for (auto& e : engines)
            for (Schedule s : {Schedule::Interleaved, Schedule::Blocked, Schedule::Pixel})
                c.push_back({x[0], x[1], e[0], e[1], s, false});
    c.push_back({1, 1, 5, 12, Schedule::Interleaved, true});
    c.push_back({2, 2, 6, 7, Schedule::Pixel, true});
    return c;
}

class LoopbackVsGolden : public ::testing::TestWithParam<Case> {};

TEST_P(LoopbackVsGolden, EveryLayerBitExact) {
    const Case c = GetParam();
    const Topology topo = small_topology(c.w, c.a, c.deep);
    const QnnModel m = random_model(topo, 17 + c.pe);
    DataflowOptions opt;
    opt.capture = true;
    LoopbackModel hw(m, make_loopback(topo, c.pe, c.simd, c.schedule), opt);
    const int n = 2;
    const auto images = random_images(topo, n, 5 + c.w * 10 + c.a);
    hw.load_images(images.data(), n);
    hw.run();
    ASSERT_TRUE(hw.done());
    expect_matches_golden(hw, m, images, n);
}
INSTANTIATE_TEST_SUITE_P(Engines, LoopbackVsGolden, ::testing::ValuesIn(all_cases()), case_name);

// The README's cycle formula, written out here independently of the model.
TEST(LoopbackCycles, ModelMatchesTheFormulaOnSeveralEngines) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 3);
    const int n = 3;
    const auto images = random_images(topo, n, 9);
    struct Eng {
        int pe, simd;
        Schedule s;
        bool dbuf;
        int width, latency;
    };
    const Eng engines[] = {{1, 1, Schedule::Interleaved, false, 4, 10}, {4, 8, Schedule::Blocked, false, 8, 32},
                           {3, 5, Schedule::Interleaved, true, 2, 7},   {32, 64, Schedule::Pixel, false, 16, 100},
                           {7, 16, Schedule::Pixel, true, 1, 0},        {16, 32, Schedule::Interleaved, true, 64, 200}};
    for (const Eng& e : engines) {
        SCOPED_TRACE("engine " + std::to_string(e.pe) + "x" + std::to_string(e.simd) + " " + schedule_name(e.s) +
                     (e.dbuf ? " double-buffered" : ""));
        AccelConfig acc = make_loopback(topo, e.pe, e.simd, e.s, e.dbuf);
        acc.loopback.mem_bytes_per_cycle = e.width;
        acc.loopback.mem_latency = e.latency;
        LoopbackModel hw(m, acc);
        hw.load_images(images.data(), n);
        hw.run();
        ASSERT_TRUE(hw.done());
        const auto cdiv = [](uint64_t a, uint64_t b) { return (a + b - 1) / b; };
        const auto mem = [&](uint64_t bytes) { return bytes ? e.latency + cdiv(bytes, uint64_t(e.width)) : 0; };
        const int L = int(topo.layers.size());
        const size_t nl = size_t(L);
        std::vector<uint64_t> W(nl + 1, 0), I(nl, 0), C(nl, 0), O(nl, 0);
        for (int l = 0; l < L; ++l) {
            const LayerSpec& s = topo.layers[size_t(l)];
            const LayerGeometry g = layer_geometry(topo, l);
            const uint64_t nf = cdiv(s.mh(), e.pe), sf = cdiv(s.mw(), e.simd), px = uint64_t(s.out_dim) * s.out_dim;
            C[size_t(l)] = e.s == Schedule::Pixel ? cdiv(px, e.pe) * s.mh() * sf : px * nf * sf;
            W[size_t(l)] = mem(cdiv(e.pe * nf * sf * e.simd * g.weight_bits, 8)) +
                           mem(cdiv(e.pe * nf * g.thresholds * (g.has_act ? g.thr_bits : 0), 8));
            I[size_t(l)] = mem(cdiv(uint64_t(s.in_dim) * s.in_dim * s.in_channels * g.in_bits, 8));
            O[size_t(l)] = mem(cdiv(uint64_t(s.pooled_dim) * s.pooled_dim * s.mh() * g.out_bits, 8));
        }
        const LoopbackReport r = hw.loopback_report();
        uint64_t per_image = 0;
        for (int l = 0; l < L; ++l) {
            const size_t i = size_t(l);
            const uint64_t T =
                e.dbuf ? (l == 0 ? W[0] : 0) + I[i] + std::max(C[i], W[i + 1]) + O[i] : W[i] + I[i] + C[i] + O[i];
            per_image += T;
            EXPECT_EQ(r.measured[i].total, n * T) << topo.layers[i].name;
            EXPECT_EQ(r.measured[i].compute, n * C[i]) << topo.layers[i].name;
            EXPECT_EQ(r.measured[i].ifm_load, n * I[i]) << topo.layers[i].name;
            EXPECT_EQ(r.measured[i].ofm_store, n * O[i]) << topo.layers[i].name;
            if (!e.dbuf) {
                EXPECT_EQ(r.measured[i].weight_load, n * W[i]) << topo.layers[i].name;
            }
            EXPECT_EQ(r.formula[i].total, T);
        }
        EXPECT_EQ(r.cycles_per_image, per_image);
        EXPECT_EQ(hw.cycle(), int64_t(n * per_image));
        EXPECT_EQ(hw.report().steady_interval, int64_t(per_image));
        EXPECT_NEAR(r.fps(), 100e6 / double(per_image), 1e-6);
    }
}

// Double buffering hides weight loads behind compute: never slower, and
// faster when the parameter loads are long.
TEST(LoopbackCycles, DoubleBufferingHidesWeightLoads) {
    const Topology topo = small_topology(2, 2);
    const LoopbackConfig base = make_loopback(topo, 4, 8).loopback;
    LoopbackConfig db = base;
    db.double_buffer = true;
    uint64_t single = 0, dbl = 0;
    for (const auto& t : loopback_timing(topo, base)) single += t.total;
    for (const auto& t : loopback_timing(topo, db)) dbl += t.total;
    EXPECT_LT(dbl, single);
}

// Outputs that differ between a faulty run and the golden engine run on the
// same (faulty) layer inputs, per layer: only those a PE fault can reach.
std::vector<std::set<OutputPos>> changed_outputs(const QnnModel& m, const Accelerator& hw,
                                                 std::vector<int32_t> (*pre_pool)(const Accelerator&, int, int),
                                                 const std::vector<int8_t>& image) {
    const Engine engine(m);
    auto ws = engine.make_workspace();
    const int L = int(m.topology.layers.size());
    std::vector<std::set<OutputPos>> changed(static_cast<size_t>(L));
    for (int l = 0; l < L; ++l) {
        std::vector<int8_t> in = image;
        if (l > 0) {
            const auto prev = hw.captured_output(l - 1, 0);
            in.assign(prev.begin(), prev.end());
        }
        Trace tr;
        engine.classify_from(*ws, l, in.data(), {}, &tr);
        const auto& t = tr.layers[size_t(l)];
        const std::vector<int32_t> golden = l == L - 1 ? t.acc : widen(t.act);
        const std::vector<int32_t> got = pre_pool(hw, l, 0);
        const int mh = m.topology.layers[size_t(l)].mh();
        EXPECT_EQ(got.size(), golden.size());
        for (size_t k = 0; k < std::min(got.size(), golden.size()); ++k)
            if (got[k] != golden[k]) changed[size_t(l)].insert({int(k % size_t(mh)), int(k / size_t(mh))});
    }
    return changed;
}
std::vector<int32_t> loopback_pre_pool(const Accelerator& a, int l, int i) {
    return dynamic_cast<const LoopbackModel&>(a).captured_mvtu(l, i);
}
std::vector<int32_t> dataflow_pre_pool(const Accelerator& a, int l, int i) {
    return dynamic_cast<const DataflowModel&>(a).captured_mvtu(l, i);
}

// Loopback: an accumulator stuck bit in engine PE p changes, in every layer,
// only the outputs outputs_of_pe(layer, p) names (channels for interleaved
// and blocked, pixels for pixel), and changes some.
TEST(PeFaultReach, LoopbackEveryLayerFollowsTheSchedule) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 23);
    std::mt19937 rng(4);
    const auto image = fatsim::testing::random_input(topo, rng);
    for (Schedule s : {Schedule::Interleaved, Schedule::Blocked, Schedule::Pixel}) {
        SCOPED_TRACE(schedule_name(s));
        DataflowOptions opt;
        opt.capture = true;
        LoopbackModel hw(m, make_loopback(topo, 3, 8, s), opt);
        int min_acc = 64;
        for (int l = 0; l < hw.num_layers(); ++l) min_acc = std::min(min_acc, hw.program(l).geom.acc_bits);
        const int p = 1;
        hw.arm_fault("engine.pe[" + std::to_string(p) + "].acc.bit[" + std::to_string(min_acc - 2) + "]:sa1");
        hw.load_images(image.data(), 1);
        hw.run();
        const auto changed = changed_outputs(m, hw, loopback_pre_pool, image);
        size_t layers_hit = 0;
        for (int l = 0; l < hw.num_layers(); ++l) {
            const auto reach = hw.outputs_of_pe(l, p);
            const std::set<OutputPos> allowed(reach.begin(), reach.end());
            if (s != Schedule::Pixel) {
                EXPECT_FALSE(reach.empty());  // pixel: an FC layer has one pixel
            }
            for (const OutputPos& o : changed[size_t(l)])
                EXPECT_TRUE(allowed.count(o))
                    << topo.layers[size_t(l)].name << " channel " << o.channel << " pixel " << o.pixel;
            layers_hit += !changed[size_t(l)].empty();
        }
        EXPECT_GE(layers_hit, 2u) << "one engine PE fault should show in several layers";
    }
}

// Dataflow: a PE fault of one layer changes only that layer's outputs of that
// PE; the layers before it are untouched.
TEST(PeFaultReach, DataflowOneLayerFollowsTheSchedule) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 23);
    std::mt19937 rng(4);
    const auto image = fatsim::testing::random_input(topo, rng);
    for (int fi : {2, 4, 5}) {  // "mixed" (interleaved), "mixed_blocked", "mixed_pixel": c1 PE 7
        SCOPED_TRACE(kFoldings[fi].name);
        DataflowOptions opt;
        opt.capture = true;
        DataflowModel hw(m, make_accel(topo, kFoldings[fi]), opt);
        const int p = 3, l1 = 1;
        hw.arm_fault("c1.pe[3].acc.bit[" + std::to_string(hw.mvtu(l1).acc_bits() - 2) + "]:sa1");
        hw.load_images(image.data(), 1);
        hw.run();
        const auto changed = changed_outputs(m, hw, dataflow_pre_pool, image);
        EXPECT_TRUE(changed[0].empty());
        const auto& prog = hw.mvtu(l1).program();
        const auto reach = outputs_of_pe(prog.fold, prog.reps, p);
        const std::set<OutputPos> allowed(reach.begin(), reach.end());
        EXPECT_FALSE(changed[size_t(l1)].empty());
        for (const OutputPos& o : changed[size_t(l1)]) EXPECT_TRUE(allowed.count(o)) << o.channel << "," << o.pixel;
        for (size_t l = 2; l < changed.size(); ++l) EXPECT_TRUE(changed[l].empty()) << "layer " << l;
    }
}

TEST(OutputsOfPe, SchedulesPartitionTheOutputs) {
    for (Schedule s : {Schedule::Interleaved, Schedule::Blocked, Schedule::Pixel}) {
        const FoldingMap f = FoldingMap::with_partial_folds(10, 27, 4, 8, s);
        std::vector<int> seen(10 * 9, 0);
        for (int p = 0; p < 4; ++p)
            for (const OutputPos& o : outputs_of_pe(f, 9, p)) ++seen[size_t(o.pixel * 10 + o.channel)];
        for (int k : seen) EXPECT_EQ(k, 1) << schedule_name(s);  // every output on exactly one PE
    }
    const FoldingMap px = FoldingMap::with_partial_folds(10, 27, 4, 8, Schedule::Pixel);
    const auto o = outputs_of_pe(px, 9, 1);  // pixels 1 and 5, all 10 channels
    ASSERT_EQ(o.size(), 20u);
    EXPECT_EQ(o.front().pixel, 1);
    EXPECT_EQ(o.back().pixel, 5);
    const FoldingMap il = FoldingMap::with_partial_folds(10, 27, 4, 8, Schedule::Interleaved);
    EXPECT_EQ(outputs_of_pe(il, 9, 2).size(), 2u * 9);  // channels 2, 6 (10 is padding)
    EXPECT_EQ(il.nf, 3);
    EXPECT_EQ(il.sf, 4);
    EXPECT_EQ(il.lanes_in_fold(3), 3);
    EXPECT_THROW(FoldingMap(10, 27, 4, 8), std::invalid_argument);  // dataflow still needs dividing folds
}

// Feature-map buffer faults: a stuck bit in the output buffer corrupts the one
// output (pooled pixel, channel) its word and lane hold.
TEST(LoopbackFaults, OutputBufferBitHitsOneOutput) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 5);
    std::mt19937 rng(8);
    const auto image = fatsim::testing::random_input(topo, rng);
    DataflowOptions opt;
    opt.capture = true;
    LoopbackModel hw(m, make_loopback(topo, 3, 8), opt);
    hw.load_images(image.data(), 1);
    hw.run();
    const auto clean = hw.captured_output(0, 0);
    // c0: 8 channels on 3 PEs (NF 3); word 4 = pixel 1, fold 1; lane 2 = channel 5; A2 codes: 2 bits.
    const int word = 4, lane = 2, ch = 5, q = 1;
    const int32_t code = clean[size_t(q) * 8 + ch];
    // bit 0 of the 2-bit code changes it (-1 = 11, 0 = 00, 1 = 01)
    hw.arm_fault("engine.fmbuf[1].word[" + std::to_string(word) + "].bit[" + std::to_string(lane * 16) +
                 "]:" + (code != 0 ? "sa0" : "sa1"));
    hw.reset();
    hw.run();
    const auto faulty = hw.captured_output(0, 0);
    EXPECT_EQ(hw.captured_mvtu(0, 0).size(), size_t(10 * 10 * 8));
    for (size_t k = 0; k < clean.size(); ++k) {
        if (k == size_t(q) * 8 + ch)
            EXPECT_NE(faulty[k], clean[k]);
        else
            EXPECT_EQ(faulty[k], clean[k]) << k;
    }
    hw.disarm_faults();
    hw.reset();
    hw.run();
    EXPECT_EQ(hw.captured_output(0, 0), clean);
}

// The engine lists every fault site: counts equal the enumeration, sampled
// sites arm, and sites the engine lacks are refused with the rule named.
TEST(LoopbackFaults, EnumeratesAndChecksSites) {
    const Topology topo = small_topology(2, 2);
    const QnnModel m = random_model(topo, 4);
    AccelConfig acc = make_loopback(topo, 3, 5);
    acc.loopback.weight_buffer_words = 400;
    acc.loopback.ifm_buffer_words = 400;
    acc.loopback.ofm_buffer_words = 390;
    LoopbackModel hw(m, acc);
    std::vector<uint64_t> seen(kSiteClasses, 0);
    uint64_t k = 0;
    hw.for_each_fault_site([&](const SiteLocation& w) {
        ++seen[size_t(site_class(w))];
        EXPECT_EQ(site_layer(w), "engine");
        if (k++ % 1999 == 0) {
            EXPECT_NO_THROW(hw.arm_fault(FaultSite{w, FaultKind::StuckAt1, 0})) << site_location_name(w);
            hw.disarm_faults();
        }
    });
    const FaultSiteCounts c = hw.fault_site_counts();
    for (int i = 0; i < kSiteClasses; ++i) EXPECT_EQ(c.per_class[i], seen[size_t(i)]) << site_class_name(SiteClass(i));
    EXPECT_EQ(c.per_class[int(SiteClass::FifoSlot)], 0u);
    EXPECT_EQ(c.per_class[int(SiteClass::WeightWord)], 3u * 400 * 5 * acc.loopback.weight_bits);
    EXPECT_EQ(c.per_class[int(SiteClass::FmBuf)], 400u * 5 * acc.loopback.input_bits + 390u * 3 * 16);
    const auto refused = [&](const std::string& site, const std::string& rule) {
        try {
            hw.arm_fault(site);
            ADD_FAILURE() << site << " was accepted";
        } catch (const FaultSiteError& e) {
            EXPECT_NE(std::string(e.what()).find(rule), std::string::npos) << e.what();
        }
    };
    refused("c1.pe[0].acc.bit[0]:sa1", "names its sites 'engine'");
    refused("fifo[0].slot[0].bit[0]:sa1", "no FIFOs");
    refused("engine.pe[3].acc.bit[0]:sa1", "pe 3 out of range");
    refused("engine.wmem.pe[0].word[400].bit[0]:sa0", "weight buffer word 400");
    refused("engine.fmbuf[2].word[0].bit[0]:sa0", "feature-map buffer 2");
    refused("engine.pe[0].adder.l3.n1.bit[0]:sa0", "adder node 1");  // SIMD 5: l3 has one node
}

// A transient flip in the accumulator changes at most one output; the same
// flip after the run's last cycle changes nothing.
TEST(LoopbackFaults, TransientFlipFiresOnce) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 6);
    std::mt19937 rng(2);
    const auto image = fatsim::testing::random_input(topo, rng);
    DataflowOptions opt;
    opt.capture = true;
    LoopbackModel hw(m, make_loopback(topo, 4, 8), opt);
    hw.load_images(image.data(), 1);
    hw.run();
    const int64_t end = hw.cycle();
    const auto clean = hw.captured_mvtu(0, 0);
    const uint64_t c0_start = hw.loopback_report().formula[0].weight_load + hw.loopback_report().formula[0].ifm_load;
    hw.arm_fault("engine.pe[0].acc.bit[4]:flip@" + std::to_string(c0_start + 10));
    hw.reset();
    hw.run();
    const auto flipped = hw.captured_mvtu(0, 0);
    int diffs = 0;
    for (size_t k = 0; k < clean.size(); ++k) diffs += flipped[k] != clean[k];
    EXPECT_LE(diffs, 1);
    hw.disarm_faults();
    hw.arm_fault("engine.pe[0].acc.bit[4]:flip@" + std::to_string(end + 1));
    hw.reset();
    hw.run();
    EXPECT_EQ(hw.captured_mvtu(0, 0), clean);
}

// Config errors name the rule: an engine too small for a layer's bits or
// buffers, a schedule that does not exist, pixel on a dataflow layer.
TEST(LoopbackConfig, ClearErrors) {
    const Topology topo = small_topology(2, 2);
    const auto errors_of = [&](const std::string& engine) {
        try {
            parse_accel("architecture: loopback\nengine: " + engine + "\n", "lb.yaml", topo);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_EQ(errors_of("{pe: 4, simd: 8}"), "");
    EXPECT_NE(errors_of("{pe: 4, simd: 8, weight_bits: 1}").find("layer c0 needs 2 weight bits, engine.weight_bits=1"),
              std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, input_bits: 4}").find("layer c0 needs 8 input bits, engine.input_bits=4"),
              std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, weight_buffer_words: 10}").find("layer c1 needs 162 weight buffer words"),
              std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, ifm_buffer_words: 100}").find("input feature-map buffer words"),
              std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, schedule: diagonal}").find("engine.schedule"), std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, mem_bytes_per_cycle: 0}").find("engine.mem_bytes_per_cycle=0 must be >= 1"),
              std::string::npos);
    EXPECT_NE(errors_of("{pe: 4, simd: 8, schedules: {c1: pixel, c9: blocked}}").find("engine.schedules.c9"),
              std::string::npos);
    const AccelConfig a = parse_accel(
        "architecture: loopback\nengine: {pe: 4, simd: 8, schedule: blocked, schedules: {c1: pixel}, "
        "double_buffer: true, mem_latency: 5}\n",
        "lb.yaml", topo);
    EXPECT_EQ(a.loopback.schedule_of("c0"), Schedule::Blocked);
    EXPECT_EQ(a.loopback.schedule_of("c1"), Schedule::Pixel);
    EXPECT_TRUE(a.loopback.double_buffer);
    EXPECT_EQ(a.loopback.mem_latency, 5);
    // Dataflow layers take every schedule, per layer; a misspelt one is refused.
    const auto df = [](const std::string& sched) {
        return "architecture: dataflow\nlayers:\n  - {name: c0, pe: 1, simd: 1, schedule: " + sched +
               "}\n  - {name: c1, pe: 1, simd: 1}\n  - {name: c2, pe: 1, simd: 1}\n  - {name: f0, pe: 1, simd: 1}\n"
               "  - {name: f1, pe: 1, simd: 1}\n";
    };
    EXPECT_EQ(parse_accel(df("pixel"), "df.yaml", topo).layers[0].schedule, Schedule::Pixel);
    try {
        parse_accel(df("diagonal"), "df.yaml", topo);
        ADD_FAILURE() << "schedule diagonal accepted on a dataflow layer";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("layers[0].schedule"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("pixel"), std::string::npos) << e.what();
    }
}

// The shipped loopback engines load, and run a random model of their
// network bit-exactly (the quarter engine bound to the 1/4-width CNV).
TEST(LoopbackShipped, ConfigsSimulateBitExact) {
    const std::string dir = std::string(FATSIM_SOURCE_DIR) + "/models/accel/";
    struct Shipped {
        const char* file;
        double width;
        int pe, simd;
    };
    for (const Shipped& sh :
         {Shipped{"cnv_w1a1_loopback.yaml", 1.0, 32, 64}, Shipped{"cnv_w1a1_quarter_loopback.yaml", 0.25, 16, 32}}) {
        SCOPED_TRACE(sh.file);
        Topology file_topo;
        AccelConfig acc = load_accel(dir + sh.file, &file_topo);
        EXPECT_EQ(acc.architecture, Architecture::Loopback);
        EXPECT_EQ(acc.loopback.pe, sh.pe);
        EXPECT_EQ(acc.loopback.simd, sh.simd);
        const Topology topo = load_topology(acc.topology_path, sh.width);
        bind_folding(acc, topo);
        const QnnModel m = random_model(topo, 2);
        DataflowOptions opt;
        opt.capture = true;
        LoopbackModel hw(m, acc, opt);
        const auto images = random_images(topo, 1, 3);
        hw.load_images(images.data(), 1);
        hw.run();
        expect_matches_golden(hw, m, images, 1);
    }
}

}  // namespace
