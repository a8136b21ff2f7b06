// The SystemC wrapper (fatsim_hw_sc): the kernel-driven run equals the plain
// loop, one elaboration runs several times, and each run follows its own clock.
#include <gtest/gtest.h>

#include <systemc>

#include "dataflow.hpp"
#include "engine.hpp"
#include "hw_test_util.hpp"
#include "sc_top.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using namespace fatsim::hw_testing;
using fatsim::testing::small_topology;

namespace {

// The smallest Accelerator: done after `n` ticks; records when each tick came.
class TickRecorder final : public Accelerator {
public:
    std::vector<double> tick_ps;
    int n = 0;
    const char* architecture() const override { return "recorder"; }
    void load_images(const int8_t*, int count) override { n = count; }
    void reset() override { tick_ps.clear(); }
    void tick() override { tick_ps.push_back(systemc_time_ps()); }
    bool done() const override { return int(tick_ps.size()) >= n; }
    int64_t cycle() const override { return int64_t(tick_ps.size()); }
    uint64_t progress() const override { return tick_ps.size(); }
    void arm_fault(const FaultSite&) override {}
    void disarm_faults() override {}
    void for_each_fault_site(const std::function<void(const SiteLocation&)>&) const override {}
    FaultSiteCounts fault_site_counts() const override { return {}; }
    int images() const override { return n; }
    std::vector<int32_t> scores(int) const override { return {}; }
    std::vector<int32_t> captured_output(int, int) const override { return {}; }
    CycleReport report() const override { return {}; }
    const Stream* find_stream(const std::string&) const override { return nullptr; }
    std::vector<std::string> stream_names() const override { return {}; }
};

// The SystemC kernel path gives the same cycles and data as the plain loop,
// and one elaboration runs several times.
TEST(HwSystemC, KernelRunEqualsPlainRunAndReruns) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 2);
    const AccelConfig acc = make_accel(topo, kFoldings[2]);
    DataflowOptions opt;
    opt.capture = true;
    DataflowModel hw(m, acc, opt);
    const auto images = random_images(topo, 2, 3);
    hw.load_images(images.data(), 2);
    const int64_t plain = hw.run();
    std::vector<std::vector<int32_t>> golden;
    for (int i = 0; i < 2; ++i) golden.push_back(hw.captured_mvtu(1, i));
    for (int k = 0; k < 2; ++k) {
        hw.reset();
        EXPECT_EQ(run_systemc(hw, 100.0), plain);
        for (int i = 0; i < 2; ++i) EXPECT_EQ(hw.captured_mvtu(1, i), golden[size_t(i)]);
        const Engine engine(m);
        auto ws = engine.make_workspace();
        for (int i = 0; i < 2; ++i) {
            Trace tr;
            engine.classify(*ws, images.data() + i * engine.input_size(), {}, &tr);
            EXPECT_EQ(hw.scores(i), tr.layers.back().acc);
        }
    }

    // The kernel lets the fast path advance a quantum of cycles per
    // activation, and ticks the reference path on every edge: the same
    // cycles, cycle report, streams and kernel time.
    CycleReport report[2];
    double elapsed_ps[2];
    for (int k = 0; k < 2; ++k) {
        hw.set_fast_path(k == 1);
        hw.reset();
        const double t0 = systemc_time_ps();
        EXPECT_EQ(run_systemc(hw, 100.0, k == 0), plain);
        elapsed_ps[k] = systemc_time_ps() - t0;
        report[k] = hw.report();
        for (int i = 0; i < 2; ++i) EXPECT_EQ(hw.captured_mvtu(1, i), golden[size_t(i)]);
    }
    EXPECT_TRUE(report[0] == report[1]) << format_report(report[0]) << format_report(report[1]);
    EXPECT_NEAR(elapsed_ps[0], elapsed_ps[1], 1.0);
    EXPECT_GE(elapsed_ps[1], double(plain) * 1e4);  // cycles x 10 ns at least

    // Each run ticks at its own clock: 100 MHz = 10 ns, then 250 MHz = 4 ns.
    TickRecorder rec;
    for (double mhz : {100.0, 250.0, 100.0}) {
        rec.load_images(nullptr, 5);
        rec.reset();
        EXPECT_EQ(run_systemc(rec, mhz), 5);
        ASSERT_EQ(rec.tick_ps.size(), 5u);
        for (size_t k = 1; k < rec.tick_ps.size(); ++k)
            EXPECT_NEAR(rec.tick_ps[k] - rec.tick_ps[k - 1], 1e6 / mhz, 0.5) << mhz << " MHz, tick " << k;
    }
}

}  // namespace

int sc_main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
