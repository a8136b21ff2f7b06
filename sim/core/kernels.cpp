#include "kernels.hpp"

namespace fatsim::kernels {

void accumulate_all(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b, int32_t* acc) {
    load_input(p, in, b);
    const int O = p.O, MH = p.MH;
    if (p.geo.xnor) {
        for (int oy = 0; oy < O; ++oy)
            for (int ox = 0; ox < O; ++ox) accumulate_pixel_xnor(p, b, oy, ox, acc + (size_t(oy) * O + ox) * MH);
    } else {
        for (int oy = 0; oy < O; ++oy)
            for (int ox = 0; ox < O; ++ox) accumulate_pixel_int(p, in, b, oy, ox, acc + (size_t(oy) * O + ox) * MH);
    }
}

void activate_all(const PreparedLayer& p, const int32_t* acc, int8_t* act, int8_t* out) {
    const size_t n = p.acc_size(), MH = size_t(p.MH);
    threshold_rows(p, acc, act, size_t(p.O) * p.O);
    if (p.P == 1) {
        std::memcpy(out, act, n);
        return;
    }
    const auto act_at = [act, MH](int q) { return act + size_t(q) * MH; };
    const int pooled = p.Q * p.Q;
    for (int r = 0; r < pooled; ++r) max_pool_pixel(p, r, act_at, out + size_t(r) * MH);
}

}  // namespace fatsim::kernels
