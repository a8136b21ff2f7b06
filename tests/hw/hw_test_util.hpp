// Accelerator configurations and inputs shared by the hw tests.
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "config.hpp"
#include "dataset.hpp"
#include "topology.hpp"

namespace fatsim::hw_testing {

// Layer folding sets: (pe, simd) per layer c0 (27x8), c1 (72x70), c2 (280x16), f0 (144x20), f1 (20x10).
struct Folding {
    const char* name;
    int ps[5][2];
    Schedule schedule;
};
constexpr Schedule kI = Schedule::Interleaved, kB = Schedule::Blocked, kP = Schedule::Pixel;
inline const Folding kFoldings[] = {
    {"pe1_simd1", {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}, kI},
    {"peMH_simdMW", {{8, 27}, {70, 72}, {16, 280}, {20, 144}, {10, 20}}, kI},
    {"mixed", {{4, 3}, {7, 8}, {2, 70}, {5, 16}, {2, 4}}, kI},
    {"mixed2_blocked", {{2, 9}, {35, 1}, {16, 14}, {20, 9}, {5, 20}}, kB},
    {"mixed_blocked", {{4, 3}, {7, 8}, {2, 70}, {5, 16}, {2, 4}}, kB},
    // Pixel: c0 PE 4 divides its 100 pixels, c1 PE 7 does not divide 64; PE 70 > 64 pixels.
    {"mixed_pixel", {{4, 3}, {7, 8}, {2, 70}, {5, 16}, {2, 4}}, kP},
    {"peMH_pixel", {{8, 27}, {70, 72}, {16, 280}, {20, 144}, {10, 20}}, kP},
};

inline AccelConfig make_accel(const Topology& topo, const Folding& f, int fifo_depth = 2) {
    AccelConfig a;
    a.source = std::string("test:") + f.name;
    a.clock_mhz = 100;
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        LayerFolding lf;
        lf.name = topo.layers[l].name;
        lf.pe = f.ps[l][0];
        lf.simd = f.ps[l][1];
        lf.mh = topo.layers[l].mh();
        lf.schedule = f.schedule;
        a.layers.push_back(lf);
    }
    a.dataflow.fifo_depths.assign(topo.layers.size() + 1, fifo_depth);
    const auto errs = validate_folding(a, topo);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0]);
    return a;
}

// A loopback engine of PE x SIMD lanes with room for every test layer.
inline AccelConfig make_loopback(const Topology& topo, int pe, int simd, Schedule s = Schedule::Interleaved,
                          bool double_buffer = false) {
    AccelConfig a;
    a.source = "test:loopback_" + std::to_string(pe) + "x" + std::to_string(simd);
    a.architecture = Architecture::Loopback;
    a.clock_mhz = 100;
    a.dataflow.fifo_depths.clear();
    a.loopback.pe = pe;
    a.loopback.simd = simd;
    a.loopback.schedule = s;
    a.loopback.double_buffer = double_buffer;
    a.loopback.mem_bytes_per_cycle = 4;
    a.loopback.mem_latency = 10;
    a.loopback.weight_buffer_words = 1 << 16;  // room for the 1 x 1 engine
    a.loopback.threshold_buffer_words = 1 << 12;
    const auto errs = validate_folding(a, topo);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0]);
    return a;
}

inline std::vector<int8_t> random_images(const Topology& t, int n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> px(-128, 127);
    std::vector<int8_t> in(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
    for (auto& v : in) v = int8_t(px(rng));
    return in;
}

// A batch of n random images with random labels.
inline InputBatch batch_of(const Topology& t, int n, unsigned seed) {
    InputBatch b;
    b.count = n;
    b.dim = t.in_dim;
    b.channels = t.in_channels;
    b.data = random_images(t, n, seed);
    std::mt19937 rng(seed);
    for (int i = 0; i < n; ++i) b.labels.push_back(uint8_t(rng() % 10));
    return b;
}

}  // namespace fatsim::hw_testing
