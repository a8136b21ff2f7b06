// Moving stream words (64-bit limbs, least significant first, as sim/hw's
// Stream holds them) in and out of Verilated ports of any width.
#pragma once
#include <cstdint>
#include <vector>

#include "verilated.h"

namespace fatsim::rtl {

template <std::size_t N>
void set_port(VlWide<N>& port, const uint64_t* limbs, int nlimbs) {
    for (std::size_t i = 0; i < N; ++i) {
        const std::size_t l = i / 2;
        const uint64_t v = int(l) < nlimbs ? limbs[l] : 0;
        port.at(i) = EData(v >> (32 * (i & 1)));
    }
}
template <class Narrow>
void set_port(Narrow& port, const uint64_t* limbs, int nlimbs) {
    port = Narrow(nlimbs > 0 ? limbs[0] : 0);
}

// The low `bits` of a port as limbs.
template <std::size_t N>
std::vector<uint64_t> get_port(const VlWide<N>& port, int bits) {
    std::vector<uint64_t> w(std::size_t((bits + 63) / 64), 0);
    for (std::size_t i = 0; i < N && i / 2 < w.size(); ++i) w[i / 2] |= uint64_t(port.at(i)) << (32 * (i & 1));
    if (bits & 63) w.back() &= (uint64_t(1) << (bits & 63)) - 1;
    return w;
}
template <class Narrow>
std::vector<uint64_t> get_port(const Narrow& port, int bits) {
    uint64_t v = uint64_t(port);
    if (bits < 64) v &= (uint64_t(1) << bits) - 1;
    return {v};
}

}  // namespace fatsim::rtl
