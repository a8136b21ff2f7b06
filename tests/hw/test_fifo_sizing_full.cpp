// FIFO sizing of the full-width BNN-PYNQ CNV foldings (label e2e: about a
// minute of CPU): the sized designs reach the published bottlenecks, and a
// sample of the sized FIFOs cannot be made one smaller.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "config.hpp"
#include "fifo_sizing.hpp"
#include "hw_test_util.hpp"
#include "model.hpp"

using namespace fatsim;

namespace {

const std::string kModels = std::string(FATSIM_SOURCE_DIR) + "/models";

void expect_sized_to(const std::string& accel_file, int64_t bottleneck) {
    Topology topo;
    const AccelConfig accel = load_accel(kModels + "/accel/" + accel_file, &topo);
    const QnnModel model = random_model(topo, 3);
    const int n = 5;
    const auto images = hw_testing::random_images(topo, n, 5);
    const hw::FifoSizing r = hw::size_fifos(model, accel, images.data(), n);
    EXPECT_EQ(int64_t(r.bottleneck), bottleneck);
    EXPECT_EQ(r.interval_sized, bottleneck);
    int64_t bits_before = 0, bits = 0;
    for (const auto& f : r.fifos) bits_before += f.bits_before(), bits += f.bits();
    EXPECT_LT(bits, bits_before);  // fewer FIFO bits than BNN-PYNQ's depths
    // a sample: the three deepest sized streams, one smaller each
    std::vector<hw::SizedFifo> deepest = r.fifos;
    std::sort(deepest.begin(), deepest.end(), [](const auto& a, const auto& b) { return a.depth > b.depth; });
    for (size_t i = 0; i < 3 && i < deepest.size(); ++i) {
        const hw::SizedFifo& f = deepest[i];
        if (f.depth == f.min_depth) break;
        AccelConfig smaller = r.sized;
        hw::set_depth(smaller, f.name, f.depth - 1);
        const int64_t iv = hw::measure_interval(model, smaller, images.data(), n);
        EXPECT_TRUE(iv < 0 || iv > bottleneck) << f.name << " at depth " << f.depth - 1 << ": " << iv;
    }
    // held-out images
    const auto held_out = hw_testing::random_images(topo, 4, 6);
    EXPECT_EQ(hw::measure_interval(model, r.sized, held_out.data(), 4), bottleneck);
}

}  // namespace

TEST(FifoSizingFull, BnnPynqW1A1ReachesItsBottleneck) { expect_sized_to("cnv_w1a1_bnnpynq.yaml", 32768); }

TEST(FifoSizingFull, BnnPynqW2A2ReachesItsBottleneck) { expect_sized_to("cnv_w2a2_bnnpynq.yaml", 115200); }
