// Physical-fault evaluation at engine speed: lowered faults (lowering.hpp)
// carried through the network by the fast sweep's delta propagation, the
// activation-level error pattern each causes, fault collapsing and the
// statistics of sampled campaigns (Leveugle et al., DATE 2009).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lowering.hpp"
#include "progress.hpp"

namespace fatsim::campaigns {

// Golden traces of a range of images (what the lowering reads).
class GoldenTraces {
public:
    GoldenTraces(const Engine& engine, const InputBatch& batch, int first, int count, int threads);
    GoldenImage image(int i) const { return {batch_.image(i), &traces_[size_t(i - first_)]}; }
    int prediction(int i) const { return predictions_[size_t(i - first_)]; }
    int first() const { return first_; }
    int count() const { return count_; }
    const InputBatch& batch() const { return batch_; }

private:
    const InputBatch& batch_;
    int first_, count_;
    std::vector<Trace> traces_;
    std::vector<int> predictions_;
};

// Every layer's output of one image under a lowered effect, in the engine's
// layout (post-pool codes; the classifier: its scores), and the prediction.
std::vector<std::vector<int32_t>> lowered_layer_outputs(const Engine& engine, const GoldenImage& g,
                                                        const LoweredEffect& effect, int* prediction);

// The activation-level error pattern of one fault over a set of images.
struct ErrorPatternStats {
    int effect_layer = 0;         // -1: the network input
    int images = 0, correct = 0;  // predictions under the fault
    int changed = 0;              // images whose prediction the fault changed
    int images_touched = 0;       // images with any changed element
    int64_t elements = 0;         // changed elements, summed over images
    std::vector<int> layers;      // loopback: the layers whose output changed (sorted; empty otherwise)
    std::vector<int> channels;    // channels touched (sorted; loopback: of every layer, one set)
    std::vector<int> pixels;      // distinct pixels touched (sorted)
    std::map<std::pair<int, int>, int64_t> transitions;  // (golden code, faulty code) -> count (not for scores)
    uint64_t effect_hash = 0;     // of the lowered effects on every image (equal effects, equal results)
    bool masked() const { return images_touched == 0; }
    double accuracy() const { return images ? 100.0 * correct / images : 0.0; }
    // "masked", "element", "channel", "pixel", "channels" (several channels
    // and pixels), "scores" (the classifier's scores only).
    std::string shape() const;
    // The stats over both image sets (other: later images of the same fault).
    void merge(const ErrorPatternStats& other);
};

// Hash of a fault's lowered effects on images first, first+1, ... (empty
// effects are skipped: no change on any image hashes to effect_hash({}, 0),
// and hashes of consecutive image ranges combine with combine_effect_hash).
uint64_t effect_hash(const std::vector<LoweredEffect>& effects, int first);
uint64_t combine_effect_hash(uint64_t earlier, uint64_t later);

// Evaluates sites on images [first, first + count): lowering, then delta
// propagation (FastSweep) from the layer the effect is in. Sites whose
// lowered effect is identical on every image are propagated once.
class PhysicalEvaluator {
public:
    PhysicalEvaluator(const Engine& engine, const Lowering& lowering, const GoldenTraces& golden, int threads);
    // on_done(position in `sites`, stats) is called serialised, in any order;
    // returning false stops the run. Returns the number of propagations run
    // (sites minus those answered by an identical effect).
    size_t run(const std::vector<FaultSite>& sites, Progress* progress,
               const std::function<bool(size_t, const ErrorPatternStats&)>& on_done);
    // Builds the golden caches faults whose effect is in `layer` read (the
    // fast sweep's, none for a loopback lowering, and with `windows` the
    // stream-order windows acc / adder faults recompute from). Kept for the
    // next run() of the same layer; run() calls it itself.
    void prepare(int layer, bool windows);
    // MACs of the delta propagations run so far (FastSweep::macs; a loopback
    // lowering propagates its effects itself and counts none).
    uint64_t propagation_macs() const { return macs_; }

private:
    const Engine& engine_;
    const Lowering& lowering_;
    const GoldenTraces& golden_;
    int threads_;
    int fast_layer_ = -2, streams_layer_ = -2;
    uint64_t macs_ = 0;
    std::unique_ptr<FastSweep> fast_;     // prepared for fast_layer_ (null: none needed)
    std::vector<StreamInputs> streams_;   // per image, for streams_layer_
};

// ---------------------------------------------------------------- statistics
// Sample size for estimating a proportion p over a population of N faults
// with margin e at the given confidence (Leveugle et al., DATE 2009):
// n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))), t the normal quantile.
uint64_t sample_size(uint64_t population, double margin, double confidence, double p = 0.5);
// Two-sided normal quantile of a confidence level (0.99 -> 2.5758).
double normal_quantile(double confidence);
// Interval of a proportion p estimated from n of N faults: Wilson's score
// interval with the finite population correction ([p, p] when n == N).
std::pair<double, double> proportion_interval(double p, uint64_t n, uint64_t population, double confidence);

}  // namespace fatsim::campaigns
