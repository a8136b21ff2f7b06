// Public, LibTorch-free facade of the trainer: QAT of a topology with
// Brevitas-equivalent quantisers, the FAT error-injection layer, SAT / FAT
// method 1 / FAT method 2 / Dropout2D modes, checkpoints, and the exact export
// to a QnnModel. Nothing here includes a torch header, so sim/app can use it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "error_model.hpp"
#include "model.hpp"
#include "topology.hpp"

namespace fatsim::trainer {

enum class TrainMode { Sat, Fat1, Fat2, Dropout2d };
const char* to_string(TrainMode m);
TrainMode parse_train_mode(const std::string& s);              // sat|fat1|fat2|dropout2d

struct InjectionOptions {
    // What fails and what it becomes (error_model.hpp). The default is the
    // paper's channel model: whole channels stuck at a uniformly drawn level.
    ErrorModel error_model = stuck_at_error_model(ErrorModelKind::Channel);
    double p = 0.05;                  // total probability per unit (fraction, 0.05 = 5 %)
    bool after_pool = true;           // inject after the pooling that follows the activation (paper Fig. 5)
    std::vector<std::string> layers;  // layers with an injection point; empty = every layer with an activation
};

struct TrainOptions {
    std::string topology_path;        // recorded in checkpoints (for export)
    double width = 0.0;               // 0 = the file's width
    TrainMode mode = TrainMode::Sat;
    InjectionOptions inject;
    int epochs = 10;
    int batch = 100;
    double lr = 0.02;
    int lr_step = 40;                 // lr halves every lr_step epochs (paper)
    double weight_decay = 0.0;
    uint64_t seed = 1;
    int threads = 2;
    // Run only as many threads as other processes leave cores free (read from
    // the machine's load); results do not depend on the thread count (thread_governor.hpp).
    bool adapt_threads = true;
    int alternate_threads_every = 0;  // tests: switch threads <-> threads-1 every N batches
    std::string checkpoint_dir;       // empty = no checkpoints
    bool resume = false;              // continue from checkpoint_dir's latest epoch
    bool progress = true;
    bool eval_each_epoch = true;      // streamlined test accuracy after every epoch
    int max_train_batches = 0;        // >0: stop each epoch after this many batches (tests)
    // FAT method 2: > 0 draws a new injection layer every N batches instead of once per
    // epoch (a named deviation from the paper's Algorithm 2, for trainings with fewer
    // epochs than twice the injection layers); the layers come in shuffled rounds, so
    // every round of len(layers) switches injects every layer once.
    int fat2_switch_batches = 0;
    int measure_overhead_batches = 0; // >0: time SAT vs all-layers injection over this many batches
    int bn_recalibrate_batches = 50;  // after each epoch: BN running stats = exact average over this many
                                      // training batches (injection off); 0 = keep the momentum estimate
    bool check_export = true;         // after training: export vs LibTorch on every test image
};

struct AgreementReport {
    int images = 0;
    int pred_agree = 0;        // streamlined LibTorch eval vs golden engine predictions
    int act_agree = 0;         // images whose every layer's act and out codes agree
    int float_agree = 0;       // float-BN LibTorch eval vs streamlined eval predictions
    int engine_correct = 0, torch_correct = 0, float_correct = 0;
};

// FAT method 2: from batch first_batch (0-based, within the epoch) on, only `layer`
// (a topology layer index) injects, until the next span.
struct LayerSpan {
    int first_batch = 0;
    int layer = -1;
};
bool operator==(const LayerSpan& a, const LayerSpan& b);

struct EpochRecord {
    int epoch = 0;                    // 0-based
    double lr = 0, loss = 0, train_acc = 0, test_acc = -1, seconds = 0;
    long fewer_thread_batches = 0;   // batches the thread governor ran on fewer than opt.threads
    std::vector<int> enabled;         // injection layers enabled this epoch (topology layer indices, ascending)
};

struct TrainResult {
    std::vector<EpochRecord> epochs;
    double test_acc = -1;             // streamlined (exact integer) eval of the final net
    QnnModel model;                   // the export of the final net
    double overhead_sat_s = 0, overhead_inject_s = 0;  // measure_overhead_batches timing
    AgreementReport agreement;        // on the test set, when check_export
    // FAT method 2: the layer schedule of every epoch (also those a resume skipped);
    // batches_per_epoch: the batches each epoch ran.
    std::vector<std::vector<LayerSpan>> fat2_schedule;
    int batches_per_epoch = 0;
    std::vector<std::string> warnings;  // also printed to stderr
};

// "epoch 1: conv0; epoch 2: conv1 (batches 1-50), fc0 (51-100); ..." (batches 1-based).
std::string describe_fat2_schedule(const TrainResult& r, const Topology& topo);

// Train on the given data (prepared inputs of the topology). test may be empty.
TrainResult train(const Topology& topo, const TrainOptions& opt, const InputBatch& train_set,
                  const InputBatch& test_set);

// Load a checkpoint (a checkpoint directory's latest epoch, or a model file
// "…/net_epochN.pt") and export it.
QnnModel export_checkpoint(const std::string& checkpoint, const std::string& topology_override = "",
                           double width_override = 0.0);

// Load a checkpoint and compare its LibTorch evaluations with the golden engine
// running its export, on every image of batch (predictions and all activations).
AgreementReport check_agreement_checkpoint(const std::string& checkpoint, const InputBatch& batch,
                                           int threads = 2);

}  // namespace fatsim::trainer
