// FIFO sizing (sim/hw/fifo_sizing.hpp): sized designs reach the bottleneck,
// no sized stream can be made one smaller, and the depths hold on images
// other than the ones sized with. The full-width CNV runs are in
// test_fifo_sizing_full (label e2e); these use the 1/4-width CNV.
#include <gtest/gtest.h>

#include <string>

#include "config.hpp"
#include "dataflow.hpp"
#include "fifo_sizing.hpp"
#include "hw_test_util.hpp"
#include "model.hpp"

using namespace fatsim;
using fatsim::hw_testing::random_images;

namespace {

const std::string kModels = std::string(FATSIM_SOURCE_DIR) + "/models";

struct Design {
    Topology topo;
    AccelConfig accel;
    QnnModel model;
};

// An accelerator of models/accel bound to its topology at `width` (0 = the file's).
Design load_design(const std::string& accel_file, double width = 0) {
    Design d;
    d.accel = load_accel(kModels + "/accel/" + accel_file, &d.topo);
    if (width > 0) {
        d.topo = load_topology(d.accel.topology_path, width);
        bind_folding(d.accel, d.topo);
    }
    d.model = random_model(d.topo, 7);
    return d;
}

}  // namespace

TEST(FifoSizing, QuarterWidthReachesItsBottleneckAndNoStreamCanShrink) {
    const Design d = load_design("cnv_w1a1_quarter.yaml", 0.25);
    const int n = 4;
    const auto images = random_images(d.topo, n, 1);
    const hw::FifoSizing r = hw::size_fifos(d.model, d.accel, images.data(), n);
    EXPECT_EQ(r.bottleneck, 32400u);
    EXPECT_EQ(r.bottleneck_layer, "conv0");
    // As shipped, the SWG of conv0 stalls its MVTU for a few cycles per image.
    EXPECT_GT(r.interval_before, 32400);
    EXPECT_EQ(r.target, 32400);
    EXPECT_EQ(r.interval_sized, 32400);
    EXPECT_EQ(hw::measure_interval(d.model, r.sized, images.data(), n), 32400);
    // fifo[0..L] and one SWG output stream per conv layer, in pipeline order
    ASSERT_EQ(r.fifos.size(), 10u + 6u);
    EXPECT_EQ(r.fifos[0].name, "fifo[0]");
    EXPECT_EQ(r.fifos[1].name, "conv0.swg");
    int64_t bits_before = 0, bits = 0;
    int checked = 0;
    for (const auto& f : r.fifos) {
        bits_before += f.bits_before();
        bits += f.bits();
        EXPECT_EQ(hw::configured_depth(r.sized, f.name), f.depth) << f.name;
        if (f.depth == f.min_depth) continue;
        // one smaller loses throughput
        AccelConfig smaller = r.sized;
        hw::set_depth(smaller, f.name, f.depth - 1);
        const int64_t iv = hw::measure_interval(d.model, smaller, images.data(), n);
        EXPECT_TRUE(iv < 0 || iv > r.target) << f.name << " at depth " << f.depth - 1 << ": " << iv;
        ++checked;
    }
    EXPECT_GE(checked, 2);  // conv0.swg and fifo[1] need more than the minimum
    EXPECT_LT(bits, bits_before);
    EXPECT_GT(r.sized.dataflow.stream_depths.at("conv0.swg"), 2);
}

TEST(FifoSizing, DepthsHoldOnHeldOutImages) {
    const Design d = load_design("cnv_w1a1_quarter.yaml", 0.25);
    const auto sizing = random_images(d.topo, 4, 11);
    const hw::FifoSizing r = hw::size_fifos(d.model, d.accel, sizing.data(), 4);
    for (unsigned seed : {12u, 13u}) {
        const auto held_out = random_images(d.topo, 6, seed);
        EXPECT_EQ(hw::measure_interval(d.model, r.sized, held_out.data(), 6), r.target) << "seed " << seed;
    }
}

TEST(FifoSizing, StreamDepthsNameStreamsInsideLayers) {
    Design d = load_design("cnv_w1a1_quarter.yaml", 0.25);
    d.accel.dataflow.stream_depths["conv0.swg"] = 9;
    const hw::DataflowModel ok(d.model, d.accel);
    EXPECT_EQ(ok.find_stream("conv0.swg")->depth(), 9);
    EXPECT_EQ(ok.find_stream("conv1.swg")->depth(), 2);
    for (const char* bad : {"conv0.nope", "fifo[1]"}) {
        AccelConfig a = d.accel;
        a.dataflow.stream_depths[bad] = 4;
        try {
            hw::DataflowModel m(d.model, a);
            ADD_FAILURE() << bad << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("stream_depths.") + bad), std::string::npos) << e.what();
        }
    }
}

TEST(FifoSizing, RejectsTooFewImagesAndLoopback) {
    const Design d = load_design("cnv_w1a1_quarter.yaml", 0.25);
    const auto images = random_images(d.topo, 2, 1);
    EXPECT_THROW(hw::size_fifos(d.model, d.accel, images.data(), 2), std::invalid_argument);
    AccelConfig loop = d.accel;
    loop.architecture = Architecture::Loopback;
    EXPECT_THROW(hw::size_fifos(d.model, loop, images.data(), 3), std::invalid_argument);
}
