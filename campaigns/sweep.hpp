// Stuck-at sweeps on the golden engine (the paper's Algorithm 1 and its pixel
// variant): every value x layer x channel (or pixel).
#pragma once
#include <vector>

#include "engine.hpp"
#include "progress.hpp"

namespace fatsim::campaigns {

struct SweepFault {
    int layer = 0;
    int index = 0;  // channel (channel model) or pixel y*dim+x (pixel model)
    int code = 0;   // stuck activation code
    ErrorPattern pattern(ErrorModelKind kind) const;
};

struct FaultResult {
    SweepFault fault;
    int correct = 0;
    int changed = 0;  // images whose prediction differs from the fault-free one
};

// Faults in the order of Algorithm 1: value, then layer, then channel/pixel.
// values empty = every representable activation code of each layer.
std::vector<SweepFault> enumerate_faults(const Topology& topo, ErrorModelKind kind, const std::vector<int>& layers,
                                         const std::vector<int>& values = {});

// Evaluate each fault over the batch. A fault in layer L cannot change layers
// before L, so each image's fault-free output of L is computed once and reused.
std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, int threads, Progress* progress = nullptr);

}  // namespace fatsim::campaigns
