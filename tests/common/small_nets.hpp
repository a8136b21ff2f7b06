// The small networks the bit-exactness tests share: shapes that exercise the
// corners (70 channels cross a 64-bit word, a pool after a conv, a 2x2 kernel
// after pooling, FC layers reading a flattened HWC map).
#pragma once
#include <random>
#include <string>
#include <vector>

#include "config.hpp"

namespace fatsim::testing {

// deep: a 16x16 input and one more 2x2 conv + pool, so an FC layer reads a
// 2x2 map (flattened HWC) instead of a 1x1 one.
inline Topology small_topology(int wbits, int abits, bool deep = false) {
    const std::string yaml = "name: small_w" + std::to_string(wbits) + "a" + std::to_string(abits) +
                             "\ninput: {channels: 3, dim: " + (deep ? "16" : "12") +
                             ", bits: 8}\nweight_bits: " + std::to_string(wbits) +
                             "\nact_bits: " + std::to_string(abits) +
                             "\nlayers:\n"
                             "  - {name: c0, type: conv, channels: 8}\n"
                             "  - {name: c1, type: conv, channels: 70, pool: 2}\n"
                             "  - {name: c2, type: conv, channels: 16, kernel: 2}\n" +
                             (deep ? "  - {name: c3, type: conv, channels: 12, kernel: 2, pool: 2}\n" : "") +
                             "  - {name: f0, type: fc, channels: 20}\n"
                             "  - {name: f1, type: fc, channels: 10, act_bits: 0}\n";
    return parse_topology(yaml, "small.yaml");
}

// One random network input (int8 HWC) for a topology.
inline std::vector<int8_t> random_input(const Topology& t, std::mt19937& rng) {
    std::uniform_int_distribution<int> px(-128, 127);
    std::vector<int8_t> in(size_t(t.in_dim) * t.in_dim * t.in_channels);
    for (auto& v : in) v = int8_t(px(rng));
    return in;
}

}  // namespace fatsim::testing
