// `fatsim derive-error-model`: the activation-level error patterns of a
// physical-fault campaign (`fatsim map-faults`: faults.csv + manifest.json)
// aggregated into an ErrorModel. Each unmasked fault becomes one pattern
// class (its layer, the channels it touched, its golden -> faulty codes);
// identical classes merge, summing weights; a fault weighs as many faults of
// its class's population as it stands for (population / faults mapped) times
// the class's failure rate, and the weights are normalised to sum to 1.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "error_model.hpp"
#include "physical_campaign.hpp"

namespace fatsim::campaigns {

// Failure rate per fault class ("acc", "wmem", ..., transients "acc-flip"):
// YAML `rates: {acc: 1.0, wmem: 0.5}`, every rate finite and >= 0; classes
// left out weigh 1. Errors name the source and the field (ConfigError).
using FaultRates = std::map<std::string, double>;
FaultRates parse_fault_rates(const std::string& text, const std::string& source);
FaultRates load_fault_rates(const std::string& path);

struct DeriveOptions {
    FaultRates rates;
    double min_weight = 0;  // classes whose normalised weight is below this are dropped
};

struct DerivedErrorModel {
    ErrorModel model;
    size_t faults = 0;          // rows read
    size_t masked = 0;          // left out: no activation changed
    size_t unrepresentable = 0; // left out: only the classifier's scores or the network input changed
    size_t zero_rate = 0;       // left out: their class's rate is 0
    size_t dropped = 0;         // classes below min_weight
    std::map<std::string, size_t> faults_per_class;  // unmasked faults turned into classes
};

// Population per fault class: from manifest.json's "classes" [{class, population}].
// Channels of each layer come from `topo` (a channel set that is exactly
// {c : c mod m == r} over the layer's channels is written as modulus/residue).
DerivedErrorModel derive_error_model(const std::vector<physical_csv::Row>& rows,
                                     const std::map<std::string, double>& population, const Topology& topo,
                                     const DeriveOptions& opt);

// A `fatsim map-faults` output folder, read back: its manifest, the
// population of each fault class, and its rows. Errors name the file.
struct FaultMap {
    std::string dir;
    nlohmann::json manifest;
    std::map<std::string, double> population;
    std::vector<physical_csv::Row> rows;
};
FaultMap read_fault_map(const std::string& dir);

// The derived model as a commented YAML file (where it came from, what was
// left out, how the weights were made), written atomically.
void write_derived_error_model(const DerivedErrorModel& d, const FaultMap& map, const std::string& model_path,
                               const std::string& rates_source, double min_weight, const std::string& out_path);

// read_fault_map + derive_error_model + validation against the model's
// topology + write_derived_error_model: `fatsim derive-error-model` and the
// pipeline. `model_path` empty: the model the map's manifest names.
DerivedErrorModel derive_error_model_file(const std::string& map_dir, std::string model_path,
                                          const std::string& out_path, const DeriveOptions& opt,
                                          const std::string& rates_source = "");

// The one piece of exact logic of a fault's class, exposed for tests: the
// effect of a "golden>faulty:count;..." transition list (the most frequent
// faulty code per golden code; Stuck when every golden code goes to one code).
void set_effect_from_transitions(PatternClass& c, const std::string& transitions, const std::string& where);
// The channel set of a ';'-separated list on a layer of `layer_channels` outputs.
ChannelSet channel_set_of(const std::string& channels, int layer_channels, const std::string& where);

}  // namespace fatsim::campaigns
