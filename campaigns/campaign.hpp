// Fault campaigns: a YAML spec, a resumable runner writing one CSV row per
// fault and a JSON summary (the paper's Table I and Table II columns).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "error_pattern.hpp"
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

// Throws ConfigError with every problem (file, field path, rule).
CampaignSpec parse_campaign_spec(const std::string& yaml_text, const std::string& source);
CampaignSpec load_campaign_spec(const std::string& path);

struct CampaignOptions {
    SweepMode mode = SweepMode::Fast;
    bool fresh = false;          // ignore (overwrite) earlier results in the output folder
    bool show_progress = true;
    int64_t stop_after = -1;     // testing aid: stop (as if killed) after this many new faults
};

struct CampaignOutcome {
    int faults = 0, resumed_from = 0, images = 0;
    double error_free = 0, min_accuracy = 0, variance = 0;
    std::string csv, summary;
    bool complete = false;
};

// Runs (or resumes) the campaign; files: <output>/faults.csv, manifest.json,
// summary.json (written when complete).
CampaignOutcome run_campaign(const CampaignSpec& spec, const CampaignOptions& opt = {});

}  // namespace fatsim::campaigns
