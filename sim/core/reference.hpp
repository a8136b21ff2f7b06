// Naive reference inference: plain loops over signed integers, no bit packing,
// no shortcuts. Used to check the golden engine and as the benchmark baseline.
#pragma once
#include <vector>

#include "engine.hpp"

namespace fatsim {

// Same contract as Engine::classify; trace gets act/out/acc for every layer.
int reference_classify(const QnnModel& model, const int8_t* input,
                       const std::vector<ErrorPattern>& faults = {}, Trace* trace = nullptr);

// One layer in two steps. `in` holds the layer's input codes (HWC).
// Accumulators (out_dim^2 * MH, HWC) in the layer's threshold domain.
std::vector<int32_t> reference_accumulate(const QnnModel& model, int layer, const int8_t* in);
// Thresholds, pooling and this layer's faults: fills lt.act and lt.out.
void reference_activate(const QnnModel& model, int layer, const std::vector<int32_t>& acc,
                        const std::vector<ErrorPattern>& faults, LayerTrace& lt);

// Arithmetic value of an input code of `layer` (network input codes are the values).
int input_value(const LayerSpec& layer, int code);

}  // namespace fatsim
