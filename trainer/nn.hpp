// LibTorch internals of the trainer (included only by trainer/*.cpp and
// tests/trainer): quantisers, the error-injection layer, the network built from
// a Topology, BN folding to integer thresholds, and the streamlined eval.
#pragma once
#include <torch/torch.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "model.hpp"
#include "topology.hpp"
#include "trainer.hpp"

namespace fatsim::trainer {

// ---- convolution whose gradients do not depend on the thread count ----------
// LibTorch's (oneDNN's) weight gradient splits its sum over the batch by
// thread, so 1 and 2 threads trained different models. Here the batch is cut
// into kWeightGradChunks fixed slices, each slice's weight gradient computed
// single-threaded (on whichever thread) and the slices summed in order; the
// forward pass and the input gradient are LibTorch's, which are already
// thread-invariant. Stride 1, no padding (what the topologies use). With
// this, the thread count may change during training (train.cpp adapts it to
// the machine's load) without changing a result.
struct ThreadInvariantConv : torch::autograd::Function<ThreadInvariantConv> {
    static constexpr int kWeightGradChunks = 4;
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor w);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};

// ---- quantisers (straight-through estimators) -------------------------------
// Weights, 1 bit: +1 where x >= 0 else -1; identity gradient (weights are
// clamped to [-1,1] after each optimiser step).
struct SignSte : torch::autograd::Function<SignSte> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};
// Activations, 1 bit: hardtanh then sign (x >= 0 -> +1); gradient 1 on |x| <= 1.
struct BipolarActSte : torch::autograd::Function<BipolarActSte> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};
// Uniform rounding quantiser: q = clamp(floor(x*scale + 0.5), lo, hi) (round half
// up, so a value at a step goes up, like the hardware's "acc >= T");
// gradient scale inside [lo, hi] (in x*scale units), 0 outside.
// Narrow INT2: scale 1, lo -1, hi 1. Unsigned Ab: lo 0, hi 2^b-1.
// Narrow signed weights of b bits: scale = hi = 2^(b-1)-1.
struct RoundSte : torch::autograd::Function<RoundSte> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, double scale,
                                 double lo, double hi);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};

torch::Tensor quantize_weight(const torch::Tensor& w, int bits);
// Scale of unsigned A3/A4 activations: BN outputs in [0, 3] span all levels.
double act_scale(int act_bits);
torch::Tensor quantize_act(const torch::Tensor& y, int act_bits);
// Quantiser steps in the BN-output domain: level = lo + #{k : y >= steps[k]}.
std::vector<double> act_steps(int act_bits);
// The activation values (ascending) a layer with act_bits can output.
std::vector<double> act_values(int act_bits);

// ---- error injection ---------------------------------------------------------
// out = where(mask, values, x); backward: gradient zeroed where mask, no rescaling
// (equation (3)). mask broadcasts to x.
struct InjectFn : torch::autograd::Function<InjectFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor mask,
                                 torch::Tensor values);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};
// The same injection when the injected values are affine in x: out = x g + h
// (g = 1, h = 0 where mask is false; g, h broadcast to x), one pass over x.
struct AffineInjectFn : torch::autograd::Function<AffineInjectFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor mask,
                                 torch::Tensor g, torch::Tensor h);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};

// AffineInjectFn in place and sparse: only the elements under a struck unit
// are rewritten, and only their gradient is zeroed (x is marked dirty). mask,
// g and h share one unit-level shape whose dims are 1 or x's; x contiguous.
// The incoming gradient is zeroed in place when nothing else holds it.
struct SparseInjectFn : torch::autograd::Function<SparseInjectFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor mask,
                                 torch::Tensor g, torch::Tensor h);
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list g);
};

// The error model's classes as they fire at one layer: a StuckUniform class
// becomes M stuck-at entries of its weight, every other class one entry of M
// times its weight (same odds, and the paper's models get the integer
// cumulative weights 1..M that make the draw equal to equation (1)).
//
// Classes that span several layers (layers: all, or two or more names) fire
// from one draw per (sample, unit) that the net makes before the forward pass
// and hands to every injection layer (shared_draw): class j owns the interval
// [p C_{j-1} / W, p C_j / W) of that draw (C: cumulative weights of the
// multi-layer classes, W: weight sum of all classes), so when it fires it
// fires on every one of its layers at the same unit; a StuckUniform class takes
// the level at the same relative position of the interval on each layer. With
// such classes every class fires at a unit it can strike with probability
// p w / W; the single-layer classes of a layer draw on their own among the units
// no multi-layer class struck (threshold scaled so that their rate stays exact).
// Without them nothing changes: p per unit over the classes that can strike it.
struct InjectionImpl : torch::nn::Module {
    // act_bits: the layer's activation; layer: its name (classes naming another
    // layer do not fire here; "" = only classes with layers: any).
    InjectionImpl(int act_bits, InjectionOptions opt, const std::string& layer = "");
    // Equations (1)-(5) generalised to the error model: each unit fails with
    // probability p and one draw r per unit picks both (r < p) and the entry
    // (cumulative weight <= r S / p). Returns x unchanged when disabled or p == 0.
    torch::Tensor forward(const torch::Tensor& x);
    bool enabled = false;
    bool dropout = false;      // Dropout2D baseline instead of injection
    InjectionOptions opt;
    torch::Tensor levels;      // M values, float
    torch::Tensor last_mask;   // mask of the last forward (broadcastable to x), for tests
    torch::Tensor last_multi_mask;  // the part of last_mask struck by multi-layer classes, for tests
    torch::Tensor shared_draw; // [B, >= units] uniform draw of the multi-layer classes, set by the net
    // Two levels (A1): every table is f(v) = a + b v (stuck: b = 0, flip: b = -1),
    // so the injected values are computed per unit, not looked up per element from
    // its golden level. Tests clear it to compare with the lookup.
    bool affine = false;
    // Apply the affine form in place to the struck units only (SparseInjectFn)
    // rather than in one pass over x (AffineInjectFn). Tests clear it to compare.
    bool sparse = true;
    bool has_multi() const { return !multi_class.empty(); }
    // The sparse affine path's whole unit-level step runs as one loop (no class's
    // region splits a unit); public for tests.
    bool unit_loop_applies() const;

private:
    struct UnitTables {        // per-unit entry odds for one (C, H, W) when classes restrict channels / pixels
        std::vector<int64_t> chw;
        torch::Tensor cum, total, last;  // [U, K] cumulative weights, [U] their sum, [U] last entry with weight
        torch::Tensor region_c, region_p;  // [K, C], [K, H*W] bool: the entry's channels / pixels
        // multi-layer classes (J of them), when the model has any:
        torch::Tensor mstrike;             // [U, J] bool: class j strikes unit u of this layer
        torch::Tensor mregion_c, mregion_p;  // [J, C], [J, H*W] bool
        torch::Tensor single_p;            // [U] threshold of the single-layer draw
    };
    const UnitTables& unit_tables(int64_t C, int64_t H, int64_t W);
    // The sparse affine path's whole unit-level step in one loop over the draw r
    // (and the shared draw of multi-layer classes): what the tensor ops of
    // forward compute, mask, g, h, each shaped like r. Only where no class's
    // region splits a unit.
    std::array<torch::Tensor, 3> draw_units_affine(const torch::Tensor& r, int64_t C, int64_t H, int64_t W);
    std::vector<size_t> entry_class;  // K entries: index into opt.error_model.classes
    std::vector<double> entry_weight;
    torch::Tensor entry_maps;   // [K * M] faulty level index per (entry, golden level index)
    torch::Tensor entry_stuck;  // [K] level index when every entry is a stuck-at (values independent of x)
    torch::Tensor cum;          // [K] cumulative weights when every entry covers the whole layer
    double total = 0;           // their sum
    bool whole_layer = true;    // every entry covers every channel and pixel
    bool single_all_channels = true, single_all_pixels = true;  // every single-layer entry covers them
    bool multi_whole = true;    // every multi-layer class does
    bool multi_all_channels = true, multi_all_pixels = true;  // every multi-layer class covers them
    UnitTables tables;
    // Multi-layer classes of the whole model, in model order (the same in every layer).
    std::vector<size_t> multi_class;   // index into opt.error_model.classes
    std::vector<bool> multi_here;      // strikes this layer
    torch::Tensor multi_lo, multi_hi;  // [J] interval of the shared draw
    torch::Tensor multi_maps;          // [J * M] faulty level index per (class, golden level index)
    torch::Tensor multi_uniform;       // [J] bool: StuckUniform (level from the position in the interval)
    torch::Tensor entry_a, entry_b, multi_a, multi_b;  // [K], [J]: the affine form when affine
    double weight_sum = 0;             // W: weight sum of all classes
};
TORCH_MODULE(Injection);

// ---- network -----------------------------------------------------------------
struct QLayerImpl : torch::nn::Module {
    QLayerImpl(const LayerSpec& spec, const InjectionOptions& inj, bool inject_here);
    LayerSpec spec;
    torch::Tensor weight;               // latent float weights, conv [O][C][K][K] or fc [O][MW]
    torch::nn::BatchNorm1d bn{nullptr}; // per-channel params + running stats, applied with torch::batch_norm (2D or 4D); absent on the last layer
    Injection inject{nullptr};          // absent when the layer has no injection point
    torch::Tensor out_log_scale;        // last layer only: logits = acc * exp(out_log_scale)
    // Accumulator (dot product) of the quantised weights with input values.
    torch::Tensor accumulate(const torch::Tensor& x) const;
};
TORCH_MODULE(QLayer);

struct QnnNetImpl : torch::nn::Module {
    explicit QnnNetImpl(const Topology& topo, const InjectionOptions& inj = {});
    // Training: float BN with batch stats and injection. Eval: float BN with running stats, no injection.
    // x: NCHW float input values (q = pixel - 128). Returns the last layer's logits.
    torch::Tensor forward(torch::Tensor x);
    void clamp_weights();
    std::vector<Injection> injections() const;   // in layer order
    std::vector<int> injection_layers() const;   // their topology layer indices
    // Units of the shared draw of multi-layer classes (0 = the model has none).
    int64_t shared_units = 0;
    void set_injection(int enabled_layer);       // -1: all enabled; -2: none; else only that layer
    void set_dropout(bool d);
    Topology topo;
    std::vector<QLayer> layers;
};
TORCH_MODULE(QnnNet);

// NCHW float input values from prepared int8 HWC images [first, first+n).
torch::Tensor input_tensor(const InputBatch& b, int first, int n, torch::Dtype dtype = torch::kFloat32);

// BN folding: integer weights (rows flipped where A < 0) and thresholds in the
// model's accumulator domain. Computed once; used by both the streamlined eval
// and the export, which is what makes them agree exactly.
QnnModel fold(QnnNet& net, const std::string& description = "");

// Streamlined (FINN integer) eval of a folded model: every accumulator is a
// small integer, computed exactly in float32 where its bound allows, else float64. Returns predictions (first
// argmax of the last accumulator). trace_act/trace_out, when given, receive per
// layer the pre-pool and post-pool codes as int8 [N][H*W*C] HWC.
std::vector<int> streamlined_predict(const QnnModel& m, const torch::Tensor& x,
                                     std::vector<torch::Tensor>* trace_act = nullptr,
                                     std::vector<torch::Tensor>* trace_out = nullptr);
// First argmax per row (ties -> lowest index, as the engine).
std::vector<int> first_argmax(const torch::Tensor& logits);

// Compare the LibTorch net (streamlined and float-BN eval) with the golden
// engine on the folded model, on every image of batch.
AgreementReport check_agreement(QnnNet& net, const QnnModel& m, const InputBatch& batch, int threads);

uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace fatsim::trainer
