// Fault campaigns: a YAML spec, and a resumable runner in four pieces:
//   fault source (which faults, in which order) -> evaluator (runs a batch of
//   faults) -> result store (faults.csv + manifest.json, resume) -> summary
//   (summary.json: the paper's Table I and Table II columns).
// A physical-fault or a sampled campaign plugs in another source / evaluator.
#pragma once
#include <cstdint>
#include <fstream>
#include <functional>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "blocks.hpp"
#include "config.hpp"
#include "error_pattern.hpp"
#include "shard.hpp"
#include "sweep.hpp"

namespace fatsim::campaigns {

// Parsed from YAML (see campaigns/example_channel.yaml); paths are resolved
// relative to the spec file's folder.
struct CampaignSpec {
    std::string source;                 // file it came from
    std::string name;                   // default: the spec file's stem
    std::string model;                  // .fatq path
    std::string dataset = "fashion-mnist";
    std::string data_dir;               // "" = the dataset's default folder
    std::string split = "test";
    int images = 0;                     // 0 = all
    std::string sample = "first";       // first | random (random subset of `images`, by seed)
    ErrorModelKind error_model = ErrorModelKind::Channel;
    std::vector<std::string> layers;    // empty = every layer with an activation
    std::vector<int> values;            // empty = every representable activation level
    std::string output;                 // results folder
    int threads = 0;                    // 0 = all cores
    uint64_t seed = 1;
    int max_faults = 0;                 // 0 = all; else a random subset of that many faults (by seed)
};

// Every key a campaign spec may hold (`fatsim config describe campaign`).
const ConfigSchema& campaign_spec_schema();
// Throws ConfigError with every problem (file, field path, rule).
CampaignSpec parse_campaign_spec(const std::string& yaml_text, const std::string& source);
CampaignSpec load_campaign_spec(const std::string& path);

// ---------------------------------------------------------------- faults.csv
// The one description of the per-fault results file: its columns, how a row
// is written, and how it is read back (resume, summary, replication).
namespace fault_csv {
constexpr const char* kLayer = "layer";        // layer name
constexpr const char* kValue = "value";        // stuck activation code
constexpr const char* kAccuracy = "accuracy";  // % of images correct, 4 decimals
constexpr const char* kCorrect = "correct";    // images correct
constexpr const char* kChanged = "changed";    // images whose prediction the fault changed
// The second column is named after the error model: "channel" or "pixel".
std::string index_column(ErrorModelKind kind);
std::string header(ErrorModelKind kind);  // with the newline

struct Row {
    std::string layer;
    int index = 0, value = 0;
    double accuracy = 0;
    int correct = 0, changed = 0;
};
std::string format_row(const std::string& layer, const FaultResult& r, int images);  // with the newline
// Throws std::runtime_error naming the file and row on a malformed line.
Row parse_row(const std::string& line, const std::string& path, size_t row_number);
// Column positions by name in a header line; -1 when absent.
int column(const std::string& header_line, const std::string& name);
std::vector<std::string> split(const std::string& line);
}  // namespace fault_csv

// ---------------------------------------------------------------- pieces

// Fault source: the stuck-at faults of Algorithm 1 (every value x layer x
// channel/pixel of the chosen layers, in that order), optionally a random
// subset of max_faults of them drawn by seed.
struct StuckAtFaultSource {
    ErrorModelKind kind = ErrorModelKind::Channel;
    std::vector<int> layers;  // topology layer indices
    std::vector<int> values;  // empty = every level of each layer
    int max_faults = 0;       // 0 = all
    uint64_t seed = 1;
    std::vector<SweepFault> faults(const Topology& topo) const;
    // The manifest fields that define the fault list.
    nlohmann::json manifest(const Topology& topo) const;
};

// Evaluator: runs faults on the golden engine (run_sweep). on_done gets each
// fault's position and result, serialised, in any order; it returns false to
// stop early (workers take no new fault). Returns whether every fault ran.
class EngineEvaluator {
public:
    EngineEvaluator(const Engine& engine, const InputBatch& batch, ErrorModelKind kind, SweepMode mode, int threads);
    bool run(const std::vector<SweepFault>& faults, Progress* progress,
             const std::function<bool(size_t, const FaultResult&)>& on_done) const;

private:
    const Engine& engine_;
    const InputBatch& batch_;
    ErrorModelKind kind_;
    SweepMode mode_;
    int threads_;
};

// Result store: <dir>/faults.csv (rows in fault order), manifest.json (what
// defines the results; a resume must match it) and summary.json.
class ResultStore {
public:
    ResultStore(const std::string& dir, ErrorModelKind kind);
    // Any fault source: the CSV header (with its newline) is the caller's.
    ResultStore(const std::string& dir, std::string header);
    // Resumes when the folder holds results of the same manifest (keeping the
    // complete rows that match `faults`, cutting a torn last line), else starts
    // afresh. Throws when the folder holds another campaign and !fresh.
    // Returns the number of faults already done.
    size_t open(const nlohmann::json& manifest, const std::vector<SweepFault>& faults, const Topology& topo,
                bool fresh);
    // The same for any fault source: row_matches(k, cells) says whether the
    // stored row's cells belong to fault k of the `faults` faults.
    size_t open(const nlohmann::json& manifest, size_t faults,
                const std::function<bool(size_t, const std::vector<std::string>&)>& row_matches, bool fresh);
    // Adds the row of the fault at `position` (counted from the first fault
    // not yet done); rows go out in fault order, each as soon as all before it
    // are in. With limit >= 0 no more than `limit` rows are written by this
    // store; returns false once that many are.
    bool add(size_t position, std::string row, int64_t limit = -1);
    void close();
    std::vector<fault_csv::Row> rows() const;  // every row of faults.csv
    const std::string& csv() const { return csv_; }
    const std::string& summary_path() const { return summary_; }

private:
    std::string csv_, manifest_, summary_, header_;
    std::unique_ptr<std::ofstream> out_;
    std::map<size_t, std::string> pending_;
    size_t next_ = 0;
    int64_t written_ = 0;
    std::chrono::steady_clock::time_point flushed_;  // rows reach the file at least this often (and at close)
};

// Summary: summary.json's content from the manifest and the stored rows (so a
// resumed run gives the same numbers as an uninterrupted one): extremes,
// variance, worst fault, and per layer and value min / max / mean.
nlohmann::json summarize(const nlohmann::json& manifest, const std::vector<fault_csv::Row>& rows,
                         const std::vector<SweepFault>& faults, const std::vector<int>& layers, const Topology& topo,
                         int images, double error_free, const std::string& csv);

struct CampaignOptions {
    SweepMode mode = SweepMode::Fast;
    bool fresh = false;          // ignore (overwrite) earlier results in the output folder
    bool show_progress = true;
    int64_t stop_after = -1;     // testing aid: stop (as if killed) after this many new faults
    ShardSpec shard;             // --shard K/N: only that slice, into <output>/shard-K-of-N (shard.hpp)
    // Evaluates the blocks of faults not yet done somewhere else (the MPI
    // runner hands them out to ranks); empty: here, in one sweep.
    Distribute distribute;
};

struct CampaignOutcome {
    int faults = 0, resumed_from = 0, images = 0;
    double error_free = 0, min_accuracy = 0, variance = 0;
    std::string csv, summary;
    bool complete = false;
};

// The campaign's images: the first N, or a random N (by seed) in ascending order.
InputBatch campaign_images(const CampaignSpec& spec, const Topology& topo);

// Runs (or resumes) the campaign; files: <output>/faults.csv, manifest.json,
// summary.json (written when complete).
CampaignOutcome run_campaign(const CampaignSpec& spec, const CampaignOptions& opt = {});

// What another rank evaluates of run_campaign's blocks (opt.distribute): the
// same model and images, loaded here.
std::function<Words(const Words&)> campaign_block_evaluator(const CampaignSpec& spec, const CampaignOptions& opt);

}  // namespace fatsim::campaigns
