// The dataflow model's fast path (event-driven run: sleeping units, MVTU
// folds added up at once, skipped idle cycles) against its reference path
// (every unit ticked every cycle, every MVTU step in its own cycle): the same
// words in every stream, the same cycle report (per-layer busy and stall
// cycles, SWG cycles, FIFO peaks, latency, interval), the same cycle count
// and class scores, compared at many points during the run as well as at the
// end; with back-pressure, every schedule, and faults armed (stuck-at and
// transient flips at a cycle).
#include <gtest/gtest.h>

#include "dataflow.hpp"
#include "hw_test_util.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using fatsim::testing::small_topology;
using namespace fatsim::hw_testing;

namespace {

// One model with every stream tapped.
struct Tapped {
    DataflowModel hw;
    std::vector<std::vector<uint64_t>> taps;
    Tapped(const QnnModel& m, const AccelConfig& acc, const DataflowOptions& opt, bool fast) : hw(m, acc, opt) {
        hw.set_fast_path(fast);
        const auto names = hw.stream_names();
        taps.resize(names.size());
        for (size_t s = 0; s < names.size(); ++s) hw.set_stream_tap(names[s], &taps[s]);
    }
};

// Everything observable of the two models is equal (at any cycle).
void expect_same_state(Tapped& ref, Tapped& fast, const std::string& where) {
    SCOPED_TRACE(where);
    ASSERT_EQ(ref.hw.cycle(), fast.hw.cycle());
    ASSERT_EQ(ref.hw.done(), fast.hw.done());
    ASSERT_EQ(ref.hw.progress(), fast.hw.progress());
    const CycleReport a = ref.hw.report(), b = fast.hw.report();
    ASSERT_TRUE(a == b) << "reference:\n" << format_report(a) << "fast path:\n" << format_report(b);
    const auto names = ref.hw.stream_names();
    for (size_t s = 0; s < names.size(); ++s) {
        ASSERT_EQ(ref.taps[s], fast.taps[s]) << "stream " << names[s];
        const Stream* x = ref.hw.find_stream(names[s]);
        const Stream* y = fast.hw.find_stream(names[s]);
        ASSERT_EQ(x->occupancy(), y->occupancy()) << "stream " << names[s];
        ASSERT_EQ(x->peak(), y->peak()) << "stream " << names[s];
    }
}

// Runs both to the end: the reference one cycle at a time, the fast path in
// run(k) / advance(k) slices of varying length, comparing after each slice.
void expect_same_run(Tapped& ref, Tapped& fast, int images) {
    int64_t slice = 1;
    int k = 0;
    while (!ref.hw.done() || !fast.hw.done()) {
        ASSERT_LT(ref.hw.cycle(), int64_t(1) << 24) << "no end";
        ASSERT_FALSE(ref.hw.done() && !fast.hw.done()) << "the fast path runs past the reference's end";
        for (int64_t i = 0; i < slice && !ref.hw.done(); ++i) ref.hw.tick();
        const int64_t want = ref.hw.cycle() - fast.hw.cycle();
        const int64_t got = (k & 1) ? fast.hw.run(want) : [&] {
            int64_t c = 0;
            while (c < want && !fast.hw.done()) c += fast.hw.advance(want - c);
            return c;
        }();
        ASSERT_EQ(got, want);
        expect_same_state(ref, fast, "after cycle " + std::to_string(ref.hw.cycle()));
        slice = slice * 3 % 997 + 1;  // 1, 4, 13, 40, ... pseudo-random lengths
        ++k;
    }
    for (int i = 0; i < images; ++i) EXPECT_EQ(ref.hw.scores(i), fast.hw.scores(i)) << "image " << i;
}

struct Case {
    int w, a, folding, depth;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a) + "_" + kFoldings[i.param.folding].name +
           "_depth" + std::to_string(i.param.depth);
}
std::vector<Case> all_cases() {
    std::vector<Case> c;
    for (int f = 0; f < int(std::size(kFoldings)); ++f)
        for (int depth : {1, 2, 16}) c.push_back({f % 2 ? 2 : 1, f % 3 ? 2 : 1, f, depth});
    return c;
}

class FastPath : public ::testing::TestWithParam<Case> {};

TEST_P(FastPath, SameStreamsReportsAndCyclesAsEveryCycle) {
    const Case c = GetParam();
    const Topology topo = small_topology(c.w, c.a);
    const QnnModel m = random_model(topo, 17 + c.folding);
    const AccelConfig acc = make_accel(topo, kFoldings[c.folding], c.depth);
    DataflowOptions opt;
    opt.internal_depth = c.depth == 1 ? 1 : 2;  // depth 1: back-pressure inside the layers too
    const int n = 3;
    const auto images = random_images(topo, n, 23 + c.folding);
    Tapped ref(m, acc, opt, false), fast(m, acc, opt, true);
    for (Tapped* t : {&ref, &fast}) t->hw.load_images(images.data(), n);
    expect_same_run(ref, fast, n);
    // A reset model runs again the same way, in one run() this time.
    for (Tapped* t : {&ref, &fast}) {
        for (auto& v : t->taps) v.clear();
        t->hw.reset();
        t->hw.run();
    }
    expect_same_state(ref, fast, "second run");
}
INSTANTIATE_TEST_SUITE_P(Foldings, FastPath, ::testing::ValuesIn(all_cases()), case_name);

// Faults armed: stuck-at sites of every class and transient flips at a cycle
// (PE datapath and FIFO slots) fire at the same cycles on both paths.
TEST(FastPathFaults, SameUnderStuckAtAndFlips) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 5);
    const int n = 2;
    const auto images = random_images(topo, n, 9);
    const std::vector<std::vector<std::string>> sets = {
        {"c1.pe[2].acc.bit[4]:sa1"},
        {"c0.wmem.pe[1].word[0].bit[2]:sa0", "f0.pe[3].thr[1].bit[3]:sa1"},
        {"c1.pe[0].adder.l0.n1.bit[0]:sa1", "fifo[1].slot[0].bit[1]:sa1"},
        {"c1.pe[2].acc.bit[5]:flip@700", "fifo[2].slot[1].bit[0]:flip@1500"},
        {"c0.pe[1].acc.bit[2]:flip@40", "f0.pe[0].cmp[0]:flip@3000", "fifo[0].slot[0].bit[3]:flip@90"},
    };
    for (int fi : {2, 4, 5}) {
        const AccelConfig acc = make_accel(topo, kFoldings[fi], 2);
        for (const auto& faults : sets) {
            SCOPED_TRACE(std::string(kFoldings[fi].name) + ": " + faults[0]);
            Tapped ref(m, acc, {}, false), fast(m, acc, {}, true);
            for (Tapped* t : {&ref, &fast}) {
                for (const auto& f : faults) t->hw.arm_fault(f);
                t->hw.load_images(images.data(), n);
            }
            expect_same_run(ref, fast, n);
        }
    }
}

// The fast path must not be the reference path by accident: it skips work.
TEST(FastPathFaults, ArmedFlipChangesTheResult) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 5);
    const auto images = random_images(topo, 1, 9);
    const AccelConfig acc = make_accel(topo, kFoldings[2], 2);
    Tapped clean(m, acc, {}, true), flipped(m, acc, {}, true);
    flipped.hw.arm_fault("c1.pe[0].acc.bit[6]:flip@1200");
    for (Tapped* t : {&clean, &flipped}) {
        t->hw.load_images(images.data(), 1);
        t->hw.run();
    }
    EXPECT_NE(clean.taps, flipped.taps) << "a flip in a busy accumulator should change some word";
}

}  // namespace
