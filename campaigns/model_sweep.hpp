// Sweeps of an ErrorModel file: every concrete failure the model describes
// (each unit of its granularity, on each layer set of each class, with each
// stuck level where the class draws one) evaluated on the golden engine.
// The paper's built-in channel and pixel models expand to exactly the faults
// of Algorithm 1, so the activation-level sweep is a special case of this one
// (tests/unit/test_campaign.cpp checks that they agree).
#pragma once
#include <string>
#include <vector>

#include "engine.hpp"
#include "error_model.hpp"
#include "progress.hpp"

namespace fatsim::campaigns {

// One failure of an error model: unit `index` of the model's granularity
// (a channel, a pixel, or a channel group; -1 = the class's whole set) of the
// class's layers taking the class's effect (`code` for a drawn stuck level).
struct ModelFault {
    int cls = 0;
    std::vector<int> layers;
    int index = -1;
    int code = 0;                       // stuck code (Effect::Stuck / StuckUniform); 0 for tables
    std::vector<ErrorPattern> patterns;  // one per layer
};

// Every failure of the model on the topology, class by class, then layer set,
// unit, stuck level. Throws std::invalid_argument for element granularity
// (one failure per activation: too many to enumerate; sample instead) and for
// a multi-layer class drawing uniform levels on layers of different ranges.
std::vector<ModelFault> expand_error_model(const ErrorModel& m, const Topology& topo);
// "conv1+conv2"
std::string layer_names(const Topology& topo, const std::vector<int>& layers);

struct ModelFaultResult {
    int correct = 0;
    int changed = 0;  // images whose prediction differs from the fault-free one
};
// Each failure over the batch (full faulty re-inference, multi-threaded over
// images); golden = the fault-free predictions of the batch.
std::vector<ModelFaultResult> run_model_sweep(const Engine& engine, const InputBatch& batch,
                                              const std::vector<ModelFault>& faults,
                                              const std::vector<int16_t>& golden, int threads,
                                              Progress* progress = nullptr);

}  // namespace fatsim::campaigns
