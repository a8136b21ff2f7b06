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
#include <cstdint>
#include <functional>
#include <ostream>
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

// Parsed from YAML (see campaigns/fashion_cnv.yaml); paths are resolved
// relative to the spec file's folder.
struct PipelineSpec {
    std::string source, name, output, topology;
    double width = 0;  // 0 = the topology's
    std::string dataset = "fashion-mnist", data_dir;
    int train_images = 0, test_images = 0;
    int epochs = 4, batch = 100, lr_step = 40, threads = 2, seed = 1;
    // train.seeds: every model is trained and every campaign run once per seed
    // (seed<N>/ under output when there are several); empty = {seed}.
    std::vector<int> seeds;
    std::vector<int> training_seeds() const { return seeds.empty() ? std::vector<int>{seed} : seeds; }
    double lr = 0.02;
    int fat2_switch_batches = 0;  // FAT2: new injection layer every N batches (0 = per epoch, Algorithm 2)
    std::vector<PipelineModel> models;
    int channel_images = 10000, pixel_images = 2000;
    std::string accel;  // optional: folded cost column of the replication
};

// Every key a pipeline spec may hold (`fatsim config describe pipeline`).
const ConfigSchema& pipeline_spec_schema();
// Throws ConfigError with every problem (file, field path, rule).
PipelineSpec parse_pipeline_spec(const std::string& yaml_text, const std::string& source);
PipelineSpec load_pipeline_spec(const std::string& path);

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

struct PipelineResult {
    std::string report_path;  // <output>/report.md
    std::string report;       // its text
};

// Runs (or resumes, or skips) every step; progress lines go to `log`.
PipelineResult run_pipeline(const PipelineSpec& spec, const TrainFunction& train, std::ostream& log);

}  // namespace fatsim::campaigns
