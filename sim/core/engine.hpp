// Golden integer engine: bit-exact inference of a QnnModel. XNOR-popcount on
// 64-bit words for binary layers, integer MAC otherwise, multi-threshold
// activations, max pool, FC. Activations are exchanged as codes (see
// topology.hpp) in HWC order, the order of FINN's streams.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dataset.hpp"
#include "error_pattern.hpp"
#include "model.hpp"

namespace fatsim {

struct LayerTrace {
    std::vector<int8_t> act;   // codes after the activation, before pooling (out_dim^2 * MH)
    std::vector<int8_t> out;   // codes after pooling: what the next layer reads
    std::vector<int32_t> acc;  // accumulators (out_dim^2 * MH), in the threshold domain
};
struct Trace {
    std::vector<LayerTrace> layers;
};

struct EvalResult {
    int images = 0, correct = 0;
    std::vector<int16_t> predictions;
    double accuracy() const { return images ? 100.0 * correct / images : 0.0; }
};

class Engine {
public:
    explicit Engine(const QnnModel& model);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const QnnModel& model() const { return model_; }

    // Per-thread scratch memory; make one per worker thread.
    struct Workspace {
        std::vector<std::vector<int8_t>> out;  // per layer: post-pool codes
        std::vector<int8_t> act;               // pre-pool codes of the current layer
        std::vector<int32_t> acc;              // accumulators of the current layer
        std::vector<uint64_t> pix, row;        // packed input pixels / im2col row (XNOR layers)
        std::vector<int32_t> row32;            // im2col row (integer layers)
    };
    std::unique_ptr<Workspace> make_workspace() const;

    // Classify one prepared input image (int8 HWC). Faults are applied to the
    // named layers' outputs. trace, when given, receives every layer's data.
    int classify(Workspace& ws, const int8_t* input, const std::vector<ErrorPattern>& faults = {},
                 Trace* trace = nullptr) const;
    // Resume from the output of layer `first - 1` (codes, HWC) and run layers
    // first..end. first == 0 means `layer_input` is the network input.
    int classify_from(Workspace& ws, int first, const int8_t* layer_input,
                      const std::vector<ErrorPattern>& faults = {}, Trace* trace = nullptr) const;

    // Accuracy on a batch with the same faults for every image, multi-threaded.
    EvalResult evaluate(const InputBatch& batch, const std::vector<ErrorPattern>& faults = {},
                        int threads = 0) const;

    // Size of layer l's output (post-pool codes) and of the network input.
    size_t output_size(int layer) const;
    size_t input_size() const;

private:
    struct Impl;
    const QnnModel& model_;
    std::unique_ptr<Impl> impl_;
};

// Threads to use for `requested` (0 = all hardware threads).
int resolve_threads(int requested);

}  // namespace fatsim
