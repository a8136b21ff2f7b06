// `fatsim map-faults`: a physical-fault campaign. Fault source (the stuck-at
// faults of the chosen classes of an accelerator: all, a seeded sample of N
// per class, or per class the sample size for a margin and confidence) ->
// static collapsing -> PhysicalEvaluator (lowering + delta propagation) ->
// ResultStore (faults.csv in fault order, manifest.json, resume) -> summary
// (per class: fraction masked, accuracy, pattern shapes, collapse ratio, and
// the interval of every sampled estimate).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "campaign.hpp"
#include "physical_hw.hpp"

namespace fatsim::campaigns {

// The one description of the physical faults.csv.
namespace physical_csv {
std::string header();  // with the newline
// Columns, in order.
constexpr const char* kSite = "site";            // fault site name (fault_site.hpp grammar)
constexpr const char* kClass = "class";          // acc, adder, wmem, thr, cmp, fifo (transients: acc-flip, ...)
constexpr const char* kLayer = "layer";          // layer whose output the fault changes ("input": the network input;
                                                 // loopback: every layer it changed, ';'-separated)
constexpr const char* kEval = "eval";            // run | reused (an earlier fault's identical effect) | collapsed (static key)
constexpr const char* kEffect = "effect";        // hash of the lowered effect on every image (16 hex digits)
constexpr const char* kMasked = "masked";        // 1: no activation changed on any image
constexpr const char* kShape = "shape";          // masked, element, channel, pixel, channels, scores
constexpr const char* kImagesTouched = "images_touched";
constexpr const char* kElements = "elements";    // changed elements over all images
constexpr const char* kChannels = "channels";    // channels touched, ';'-separated
constexpr const char* kPixels = "pixels";        // distinct pixels touched
constexpr const char* kTransitions = "transitions";  // golden>faulty:count;... (codes)
constexpr const char* kCorrect = "correct";
constexpr const char* kAccuracy = "accuracy";    // %, 4 decimals
constexpr const char* kChanged = "changed";      // images whose prediction changed

struct Row {
    std::string site, cls, layer, eval, effect, shape, channels, transitions;
    bool masked = false;
    int images_touched = 0, pixels = 0, correct = 0, changed = 0;
    int64_t elements = 0;
    double accuracy = 0;
};
std::string format_row(const Row& r);  // with the newline
double accuracy_as_written(double accuracy);  // the accuracy a row holds once written (4 decimals)
// Throws std::runtime_error naming the file and row number on a malformed line.
Row parse_row(const std::string& line, const std::string& path, size_t row_number);
}  // namespace physical_csv

struct PhysicalCampaignOptions {
    std::vector<SiteClass> classes;  // empty = every class the accelerator has
    uint64_t sample = 0;             // > 0: that many faults per class
    double margin = 0;               // > 0 (and sample == 0): per class the Leveugle sample size
    double weight_margin = 0;        // > 0: weight-memory faults sampled for this margin, whatever the above
    double confidence = 0.99;
    uint64_t flips = 0;              // > 0: also that many transient flips per class (class "acc-flip", ...)
    uint64_t seed = 1;
    int threads = 0;
    int image_chunk = 256;           // images whose golden traces are held at once
    bool fresh = false;
    bool show_progress = true;
    std::string output;              // results folder
    ShardSpec shard;                 // --shard K/N: only that slice, into <output>/shard-K-of-N (shard.hpp)
    Distribute distribute;           // evaluates the blocks elsewhere (MPI ranks); empty: here
    nlohmann::json identity;         // what else defines the results (model, accel, images...): in the manifest
};

struct PhysicalCampaignOutcome {
    size_t faults = 0, resumed_from = 0;
    std::string csv, summary;
    nlohmann::json summary_json;
};

// The campaign on the batch's images (streamed from reset in batch order:
// FIFO slot faults see words by position): its fault list, built on every
// rank alike; run() runs (or resumes) it on one rank. Rows are the same
// whether the run was resumed or not, with any number of threads or ranks.
class PhysicalCampaign {
public:
    PhysicalCampaign(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch,
                     const PhysicalCampaignOptions& opt);  // model and batch must outlive it
    ~PhysicalCampaign();
    PhysicalCampaignOutcome run();
    // What another rank evaluates of run()'s blocks (opt.distribute).
    Words evaluate_block(const Words& work);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

PhysicalCampaignOutcome run_physical_campaign(const QnnModel& model, const AccelConfig& accel,
                                              const InputBatch& batch, const PhysicalCampaignOptions& opt);

// `fatsim merge` of map-faults shards: the files of a single-process run.
MergeOutcome merge_physical_shards(const JoinedShards& joined);

// Human-readable per-class table of a summary.json (with intervals).
std::string format_physical_summary(const nlohmann::json& summary);

}  // namespace fatsim::campaigns
