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
#include "prepared_layer.hpp"

namespace fatsim {

class Engine;

struct LayerTrace {
    std::vector<int8_t> act;   // codes after the activation, before pooling (out_dim^2 * MH)
    std::vector<int8_t> out;   // codes after pooling: what the next layer reads
    std::vector<int32_t> acc;  // accumulators (out_dim^2 * MH), in the threshold domain, as
                               // thresholded (after an AccumulatorHook)
};
struct Trace {
    std::vector<LayerTrace> layers;
};

struct EvalResult {
    int images = 0, correct = 0;
    std::vector<int16_t> predictions;
    double accuracy() const { return images ? 100.0 * correct / images : 0.0; }
};

// Called between accumulate and activate: physical faults in the PE array
// (a stuck accumulator bit, a broken adder) are lowered onto this.
class AccumulatorHook {
public:
    virtual ~AccumulatorHook() = default;
    // acc: the layer's accumulators, `pixels` output pixels (pre-pool, HWC)
    // of `channels` each; may be modified. For the classifier these are the
    // class scores.
    virtual void on_accumulators(int layer, int32_t* acc, int pixels, int channels) = 0;
};

// Per-layer parameter overrides for an Engine's model (faulty weight or
// threshold memories): only the overridden layers are re-prepared. The
// values may be anything the memory words can hold (not only what a trained
// model contains: a flipped bit can give -2 in a 2-bit weight, or thresholds
// out of order), so only sizes and field ranges are checked.
class EngineOverrides {
public:
    explicit EngineOverrides(const Engine& engine);  // the engine must outlive this
    // Throw std::invalid_argument naming the layer and the rule broken: a
    // weight count other than MH*MW, a weight outside its weight_bits field
    // (1-bit: exactly -1 or +1), a threshold count other than MH*T.
    void set_weights(int layer, std::vector<int8_t> weights);
    void set_thresholds(int layer, std::vector<int32_t> thresholds);
    void clear();  // back to the model's parameters
    // The layer to evaluate: the override, or the engine's own.
    const PreparedLayer& layer(int l, const PreparedLayer& own) const {
        const size_t i = size_t(l);
        return i < layers_.size() && layers_[i] ? *layers_[i] : own;
    }
    bool empty() const;
    const Engine& engine() const { return engine_; }

private:
    LayerParams& params_of(int layer);  // checks the index; starts from the model's
    void prepare(int layer);
    const Engine& engine_;
    std::vector<LayerParams> params_;  // per layer: the parameters in force (overridden layers only)
    std::vector<std::unique_ptr<PreparedLayer>> layers_;  // null = not overridden
};

// What one classification may change besides the input; all optional.
struct ClassifyOptions {
    const std::vector<ErrorPattern>* faults = nullptr;  // applied to the named layers' outputs
    AccumulatorHook* hook = nullptr;
    const EngineOverrides* overrides = nullptr;
    Trace* trace = nullptr;  // receives every evaluated layer's data
    int last = -1;           // >= 0: stop after this layer (classify_with returns -1 unless it is the classifier)
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
        Im2colBuffers im2col;
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
    // classify_from with any of: faults, an accumulator hook, parameter
    // overrides, a trace (first == 0: the whole network).
    int classify_with(Workspace& ws, int first, const int8_t* layer_input, const ClassifyOptions& opt) const;

    // Accuracy on a batch with the same faults for every image, multi-threaded.
    EvalResult evaluate(const InputBatch& batch, const std::vector<ErrorPattern>& faults = {},
                        int threads = 0) const;
    // The same with any ClassifyOptions but a trace; the hook is called from
    // every worker thread at once, so it must be thread-safe.
    EvalResult evaluate_with(const InputBatch& batch, const ClassifyOptions& opt, int threads = 0) const;

    // Size of layer l's output (post-pool codes) and of the network input.
    size_t output_size(int layer) const;
    size_t input_size() const;

    int layers() const;
    // Layer l as the kernels evaluate it (shared with the fast sweep).
    const PreparedLayer& prepared_layer(int l) const;

private:
    struct Impl;
    const QnnModel& model_;
    std::unique_ptr<Impl> impl_;
};

// Threads to use for `requested` (0 = all hardware threads).
int resolve_threads(int requested);

}  // namespace fatsim
