// Human-written configs (YAML) and imported FINN folding JSON, parsed and
// validated into plain structs. No YAML or JSON type appears in this header.
// Every error names the file, the path of the field and the rule; all errors
// of a file are collected before ConfigError is thrown.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "datapath.hpp"
#include "topology.hpp"

namespace fatsim {

class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, std::vector<std::string> errors);
    const std::string& file() const { return file_; }
    const std::vector<std::string>& errors() const { return errors_; }
private:
    std::string file_;
    std::vector<std::string> errors_;
};

enum class Architecture { Dataflow, Loopback };
// The YAML spelling ("dataflow", "loopback"); schedule_name is in datapath.hpp.
const char* architecture_name(Architecture a);

struct LayerFolding {
    std::string name;
    int pe = 1;
    int simd = 1;
    int mh_padded = 0;  // 0 = no padding; else MH padded to this many rows (BNN-PYNQ fc2: 64)
    Schedule schedule = Schedule::Interleaved;
    int mh = 0;         // the topology layer's MH, filled in by the parser/importer
    int rows() const;   // filled-in MH incl. padding; needs mh_padded or mh known
};

struct AccelConfig {
    std::string source;       // file it came from
    Architecture architecture = Architecture::Dataflow;
    std::string topology_path;  // resolved relative to the config's folder
    double clock_mhz = 300.0;
    std::vector<LayerFolding> layers;  // dataflow: one per topology layer, same order
    std::vector<int> fifo_depths;      // FIFO in front of each layer (and one after the last)
    int engine_pe = 0, engine_simd = 0;  // loopback only
};

// Parse a topology YAML. width_override > 0 replaces the file's width.
Topology load_topology(const std::string& path, double width_override = 0.0);
Topology parse_topology(const std::string& yaml_text, const std::string& source,
                        double width_override = 0.0);
// Fill in derived sizes; throws ConfigError on an inconsistent network.
void finalize_topology(Topology& topo, const std::string& source);

// Parse an accelerator YAML; validates folding against its topology.
AccelConfig load_accel(const std::string& path, Topology* topo_out = nullptr);
AccelConfig parse_accel(const std::string& yaml_text, const std::string& source,
                        const Topology& topo);
// Import a FINN folding-config JSON ({"Defaults":{}, "MVAU_hls_0": {"PE":..,"SIMD":..}, ...}),
// mapping the MVAU entries in order onto the topology's layers.
AccelConfig import_finn_folding(const std::string& path, const Topology& topo);
// Checks folding rules; returns the list of errors (empty when valid).
std::vector<std::string> validate_folding(const AccelConfig& acc, const Topology& topo);
// Re-targets a folding at another topology of the same shape (e.g. the same
// network at another width): takes its MH per layer, then validates. Throws
// ConfigError(acc.source) when the folding does not fit.
void bind_folding(AccelConfig& acc, const Topology& topo);

// What kind of YAML a file is, by its top-level keys (topology, accel, campaign...).
std::string detect_config_kind(const std::string& path);

}  // namespace fatsim
