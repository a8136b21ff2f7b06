// Campaigns split across independent jobs (Slurm job arrays, any scheduler
// without MPI): `fatsim campaign ... --shard K/N` runs the K-th of N
// contiguous slices of the fault list into <output>/shard-K-of-N/, and
// `fatsim merge` joins complete shards into the faults.csv, manifest.json and
// summary.json a single-process run writes (byte for byte). `fatsim
// map-faults --shard K/N` shards the same way (physical_campaign.hpp).
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

// The shard's slice of a campaign's `faults` faults: records it in the
// manifest ("shard") and names the shard's folder inside the output folder.
struct ShardSlice {
    size_t first = 0, end = 0;
    std::string folder;
};
ShardSlice select_shard(const ShardSpec& shard, const std::string& output, size_t faults, nlohmann::json& manifest);

// Complete shards of one campaign, checked and joined in fault order.
struct JoinedShards {
    int shards = 0;
    nlohmann::json manifest;    // the campaign's, as a single-process run writes it (no "shard")
    std::string header, rows;   // faults.csv: the header line, then every shard's rows
    double error_free = 0;      // summary.json's error_free_accuracy (the same in every shard)
    std::string first_manifest;  // the first shard's manifest.json (for messages)
    std::string output;         // where the merged files go
};

// Reads shard folders (or campaign output folders holding shard-K-of-N
// folders); every shard of the same campaign must be present once and
// complete; throws naming the folder and the rule otherwise. The output is
// `output`, or ("") the shards' common parent folder.
JoinedShards join_shards(const std::vector<std::string>& dirs, const std::string& output);

struct MergeOutcome {
    int shards = 0, faults = 0;
    std::string output, csv, summary;
};

// Writes the merged faults.csv (its text: csv) and manifest.json into
// joined.output; the caller writes summary.json (at the outcome's summary).
MergeOutcome write_merged_files(const JoinedShards& joined, const std::string& csv);

// Writes the joined shards of a `fatsim campaign` as a single-process run does.
MergeOutcome merge_campaign_shards(const JoinedShards& joined);

}  // namespace fatsim::campaigns
