// Campaigns split across independent jobs (Slurm job arrays, any scheduler
// without MPI): `fatsim campaign ... --shard K/N` runs the K-th of N
// contiguous slices of the fault list into <output>/shard-K-of-N/, and
// `fatsim merge` joins complete shards into the faults.csv, manifest.json and
// summary.json a single-process run writes (byte for byte).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sweep.hpp"

namespace fatsim::campaigns {

struct ShardSpec {
    int index = 0;  // K, 0-based (Slurm's $SLURM_ARRAY_TASK_ID with --array=0-(N-1))
    int count = 0;  // N; 0 = not sharded
    bool active() const { return count > 0; }
};

// "K/N" with 0 <= K < N; throws std::invalid_argument naming the rule.
ShardSpec parse_shard(const std::string& text);

// Faults [first, end) of the list belong to the shard (contiguous, sizes differ by at most one).
std::pair<size_t, size_t> shard_range(size_t faults, const ShardSpec& shard);

// Keeps the shard's slice of `faults`, records it in the manifest ("shard")
// and returns the shard's folder inside the campaign output folder.
std::string select_shard(const ShardSpec& shard, const std::string& output, std::vector<SweepFault>& faults,
                         nlohmann::json& manifest);

struct MergeOutcome {
    int shards = 0, faults = 0;
    std::string output, csv, summary;
};

// Joins shard folders (or campaign output folders holding shard-K-of-N
// folders) into `output` ("" = the shards' common parent folder). Every shard
// of the same campaign must be present once and complete; throws naming the
// folder and the rule otherwise.
MergeOutcome merge_shards(const std::vector<std::string>& dirs, const std::string& output);

}  // namespace fatsim::campaigns
