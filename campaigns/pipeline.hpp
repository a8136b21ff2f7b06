// The paper's experiment end to end, from a pipeline spec YAML: train SAT /
// FAT / Dropout2D models, run channel and pixel stuck@ campaigns on each,
// trace the selective-replication trade-off, check the paper's claims and
// write <output>/report.md with plots. Each step records a stamp of its inputs
// and is skipped when its outputs exist with the same stamp, so a second run
// is quick and an interrupted one resumes (training from its last checkpoint,
// campaigns from their CSV).
//
// campaigns/ does not depend on trainer/: the caller hands in the training
// step as a TrainFunction (sim/app fills it in with the trainer facade).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <ostream>
#include <map>
#include <string>
#include <vector>

#include "config.hpp"
#include "dataset.hpp"
#include "model.hpp"

namespace fatsim::campaigns {

struct PipelineModel {
    std::string label;
    std::string mode = "sat";             // sat | fat1 | fat2 | dropout2d
    double p = 0.05;                      // injection probability (fraction)
    // FAT's error model: channel | pixel (the paper's stuck-at models) or the path of
    // an error-model file (resolved relative to the spec, checked against the topology).
    std::string error_model = "channel";
    bool error_model_is_file() const { return error_model != "channel" && error_model != "pixel"; }
};

// The physical-fault part of the experiment: for each accelerator, SAT's
// physical faults are mapped (map-faults on the test images), an error model
// is derived from them, a FAT model is trained on it, and every model is
// evaluated under that accelerator's physical faults.
struct PhysicalSpec {
    std::vector<std::string> accels;  // dataflow accelerator YAMLs (empty: no physical part)
    int images = 1000;                // test images of each physical campaign
    std::map<std::string, int> accel_images;  // ... of this accelerator's campaigns, where the spec says
    int images_for(const std::string& accel) const {
        const auto it = accel_images.find(accel);
        return it == accel_images.end() ? images : it->second;
    }
    uint64_t sample = 100;            // faults per class (seeded by the training seed)
    // Accelerators (of accels) whose campaigns of SAT, the paper's FAT model
    // and their derived FAT model map every non-weight fault, weight faults
    // sampled for weight_margin (confidence 0.99); the other campaigns sample.
    std::vector<std::string> every_site;
    double weight_margin = 0.05;
    bool maps_every_site(const std::string& accel) const {
        return std::find(every_site.begin(), every_site.end(), accel) != every_site.end();
    }
    std::string mode = "fat1";        // training of the derived-model FAT
    double p = 0.05;
};

// Parsed from YAML (see campaigns/fashion_cnv.yaml); paths are resolved
// relative to the spec file's folder.
struct PipelineSpec {
    std::string source, name, output, topology;
    double width = 0;  // 0 = the topology's
    std::string dataset = "fashion-mnist", data_dir;
    int train_images = 0, test_images = 0;
    int epochs = 4, batch = 100, lr_step = 40, threads = 2, seed = 1;
    // Models trained at once, each in its own process with threads / parallel
    // LibTorch threads (1 = one after another, in this process).
    int parallel = 1;
    // train.seeds: every model is trained and every campaign run once per seed
    // (seed<N>/ under output when there are several); empty = {seed}.
    std::vector<int> seeds;
    std::vector<int> training_seeds() const { return seeds.empty() ? std::vector<int>{seed} : seeds; }
    double lr = 0.02;
    int fat2_switch_batches = 0;  // FAT2: new injection layer every N batches (0 = per epoch, Algorithm 2)
    std::vector<PipelineModel> models;
    int channel_images = 10000, pixel_images = 2000;
    std::string accel;  // optional: folded cost column of the replication
    PhysicalSpec physical;
};

// Every key a pipeline spec may hold (`fatsim config describe pipeline`).
const ConfigSchema& pipeline_spec_schema();
// Throws ConfigError with every problem (file, field path, rule).
PipelineSpec parse_pipeline_spec(const std::string& yaml_text, const std::string& source);
PipelineSpec load_pipeline_spec(const std::string& path);
// The label of the FAT model trained on an accelerator's derived error model.
std::string derived_model_label(const std::string& accel_path);

// One training run the pipeline asks for.
struct TrainRequest {
    std::string topology_path;
    double width = 0;
    PipelineModel model;
    int epochs = 0, batch = 0, lr_step = 0, threads = 0;
    double lr = 0;
    uint64_t seed = 1;
    int fat2_switch_batches = 0;
    std::string checkpoint_dir;  // resume from its latest epoch when it holds one
    bool own_process = false;    // train.parallel > 1: train in a child process (its output: checkpoint_dir/train.log)
};

struct TrainOutcome {
    QnnModel model;                     // the exported model
    double test_accuracy = 0;           // exact integer evaluation, %
    std::vector<double> epoch_seconds;  // wall time of each epoch
    int export_images = 0, export_prediction_agree = 0, export_activation_agree = 0;
    std::string fat2_schedule;          // FAT2: which layer was injected when (empty otherwise)
    std::vector<std::string> warnings;  // the trainer's warnings
};

using TrainFunction = std::function<TrainOutcome(const Topology& topo, const TrainRequest& request,
                                                 const InputBatch& train_set, const InputBatch& test_set)>;

// One physical-fault campaign the pipeline asks for.
struct PhysicalRequest {
    std::string model_path, accel_path, output;
    uint64_t sample = 0, seed = 1;
    double weight_margin = 0;  // > 0: every non-weight fault, weight faults sampled for this margin (not `sample`)
    bool fresh = false;  // start over (the model or the settings changed)
    std::string data_identity;
};
// The physical-fault steps, handed in by the caller like TrainFunction
// (campaigns/ does not depend on the cycle model).
struct PhysicalFunctions {
    // Runs (or resumes) `fatsim map-faults` into request.output (faults.csv,
    // manifest.json, summary.json with its "overall" entry).
    std::function<void(const PhysicalRequest& request, const InputBatch& images)> map_faults;
    // `fatsim derive-error-model`: a map-faults folder -> an error-model file.
    std::function<void(const std::string& map_dir, const std::string& model_path, const std::string& out_path)>
        derive;
};

struct PipelineResult {
    std::string report_path;  // <output>/report.md
    std::string report;       // its text
};

// Runs (or resumes, or skips) every step; progress lines go to `log`.
// `physical` is needed when the spec has a physical section.
PipelineResult run_pipeline(const PipelineSpec& spec, const TrainFunction& train, std::ostream& log,
                            const PhysicalFunctions* physical = nullptr);

}  // namespace fatsim::campaigns
