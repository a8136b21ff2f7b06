// Integer thresholds from real-valued ones: the one rule the trainer's export
// and the QONNX import share (see trainer/README.md, "Exactness").
#pragma once
#include <cstdint>

namespace fatsim {

// Threshold in a layer's accumulator domain for "dot >= tp" with a real tp
// in the dot-product domain: ceil(tp), or for XNOR layers (popcount
// P = (dot + MW) / 2) ceil((tp + MW) / 2), clamped to [0, MW + 1]. Other
// layers clamp to +-2^30, beyond any accumulator.
int32_t dot_threshold_to_accumulator(double tp, bool xnor, int mw);

// One quantiser step t after an affine y = a * dot + b (BN folded, a >= 0;
// for a < 0 the caller negates the weight row and passes |a|): the smallest
// accumulator with y >= t. a == 0 (or an overflowing quotient) gives a
// threshold that is always or never reached.
int32_t fold_step_threshold(double a, double b, double t, bool xnor, int mw);

}  // namespace fatsim
