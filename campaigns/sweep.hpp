// Stuck-at sweeps on the golden engine (the paper's Algorithm 1 and its pixel
// variant): every value x layer x channel (or pixel).
#pragma once
#include <atomic>
#include <cstddef>
#include <functional>
#include <vector>

#include "engine.hpp"
#include "progress.hpp"

namespace fatsim::campaigns {

struct SweepFault {
    int layer = 0;
    int index = 0;  // channel (channel model) or pixel y*dim+x (pixel model)
    int code = 0;   // stuck activation code
    ErrorPattern pattern(ErrorModelKind kind) const;
    bool operator==(const SweepFault& o) const { return layer == o.layer && index == o.index && code == o.code; }
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

// How each fault is evaluated; all three give identical results.
enum class SweepMode {
    Naive,   // full faulty re-inference of every image (the baseline)
    Prefix,  // reuse the fault-free output of the faulted layer, re-run the rest
    Fast,    // FastSweep: cached golden data + delta / dirty-region propagation + early exit
};
const char* to_string(SweepMode m);

struct SweepOptions {
    SweepMode mode = SweepMode::Fast;
    int threads = 0;                       // 0 = all cores
    // Fast: golden-data cache budget; more images are chunked (3 GiB keeps a
    // sweep under 4 GB of RSS, issue 16).
    size_t cache_bytes = size_t(3) << 30;
    Progress* progress = nullptr;          // add(1) per finished fault
    // Called (serialised, from a worker thread) when a fault is finished, with
    // its position in `faults`. Order across faults is not defined.
    std::function<void(size_t, const FaultResult&)> on_done;
    // Fast/Prefix: per-image predictions for tests (predictions[fault][image]); null = not kept.
    std::vector<std::vector<int16_t>>* predictions = nullptr;
    // When set to true, workers take no new fault (those running finish).
    const std::atomic<bool>* cancel = nullptr;
};

// Evaluate faults [0, faults.size()) over the batch.
std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, const SweepOptions& opt);
// Former interface (Fast mode).
std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, int threads, Progress* progress = nullptr);

}  // namespace fatsim::campaigns
