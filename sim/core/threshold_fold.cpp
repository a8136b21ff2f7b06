#include "threshold_fold.hpp"

#include <algorithm>
#include <cmath>

namespace fatsim {

namespace {
constexpr double kBig = 1073741824.0;  // 2^30: beyond any accumulator
}

int32_t dot_threshold_to_accumulator(double tp, bool xnor, int mw) {
    if (xnor) return int32_t(std::ceil(std::clamp((tp + mw) / 2.0, 0.0, mw + 1.0)));
    return int32_t(std::ceil(std::clamp(tp, -kBig, kBig)));
}

int32_t fold_step_threshold(double a, double b, double t, bool xnor, int mw) {
    if (a == 0.0 || !std::isfinite((t - b) / a)) {
        const bool always = a == 0.0 ? b >= t : (t - b) / a < 0;
        return int32_t(always ? (xnor ? 0.0 : -kBig) : (xnor ? mw + 1.0 : kBig));
    }
    return dot_threshold_to_accumulator((t - b) / a, xnor, mw);  // y >= t  <=>  dot >= (t - b) / a
}

}  // namespace fatsim
