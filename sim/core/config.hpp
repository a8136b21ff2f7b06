// Human-written configs (YAML) and imported FINN folding JSON, parsed and
// validated into plain structs. No YAML or JSON type appears in this header.
// Every error names the file, the path of the field and the rule; all errors
// of a file are collected before ConfigError is thrown.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
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

// The part of an accelerator config only the dataflow architecture reads.
struct DataflowConfig {
    static constexpr int kDefaultDepth = 2;  // FIFOs a config does not size
    std::vector<int> fifo_depths;            // FIFO in front of each layer (and one after the last)
    // Streams inside a layer deeper than the model's default, by stream name
    // ("conv0.swg": the sliding-window generator's output); set by FIFO sizing.
    std::map<std::string, int> stream_depths;
};

// The part only the loopback architecture reads: its one engine (QNN-MO-PYNQ
// style), its on-chip buffers and the external memory between layers.
struct LoopbackConfig {
    int pe = 0, simd = 0;
    int weight_bits = 4;                // widest weights the lanes multiply
    int input_bits = 8;                 // widest input elements the lanes read
    int weight_buffer_words = 4096;     // per PE bank, SIMD weights a word
    int threshold_buffer_words = 1024;  // per PE bank, one threshold a word
    int ifm_buffer_words = 8192;        // input feature map, SIMD elements a word
    int ofm_buffer_words = 8192;        // output feature map, PE elements a word
    int mem_bytes_per_cycle = 8;        // external memory width
    int mem_latency = 32;               // cycles before a burst's first bytes arrive
    bool double_buffer = false;         // load the next layer's parameters during compute
    Schedule schedule = Schedule::Interleaved;  // every layer's, unless `schedules` names it
    // Per-layer overrides of `schedule` (engine.schedules).
    std::vector<std::pair<std::string, Schedule>> layer_schedules;
    Schedule schedule_of(const std::string& layer) const;
};

// Common part (what every architecture has) plus one part per architecture.
struct AccelConfig {
    std::string source;       // file it came from
    Architecture architecture = Architecture::Dataflow;
    std::string topology_path;  // resolved relative to the config's folder
    double clock_mhz = 300.0;
    std::vector<LayerFolding> layers;  // dataflow: one per topology layer, same order
    DataflowConfig dataflow;
    LoopbackConfig loopback;
};

// ---------------------------------------------------------------- declared parameters
// Every key a config file may hold is declared once, in its kind's
// ConfigSchema: the parser takes from it which keys are known, their type,
// range, choices and whether they are required; `fatsim config describe`
// prints the same tables. Defaults shown are taken from the parsed structs.

enum class ParamType { Int, Number, Bool, String, Path, Choice, Map, List, Custom };

struct ParamDecl {
    std::string key;
    ParamType type = ParamType::String;
    std::string default_text;  // as shown by describe; "" = none
    std::string description;   // one line
    bool required = false;
    double lo = 0, hi = -1;            // Int / Number: accepted range; lo > hi = any value
    std::vector<std::string> choices;  // Choice: the accepted spellings
    std::string custom_type;           // List / Custom: what the value looks like
    std::string type_text() const;     // "int 1..100000", "one of: sat, fat1", ...
};

// Builders for the declaration tables.
namespace param {
ParamDecl integer(std::string key, double lo, double hi, std::string def, std::string desc);
ParamDecl number(std::string key, double lo, double hi, std::string def, std::string desc);
ParamDecl boolean(std::string key, bool def, std::string desc);
ParamDecl string(std::string key, std::string def, std::string desc);
ParamDecl path(std::string key, std::string def, std::string desc);  // relative to the file
ParamDecl choice(std::string key, std::vector<std::string> choices, std::string def, std::string desc);
ParamDecl map(std::string key, std::string desc);
ParamDecl list(std::string key, std::string of, std::string def, std::string desc);
ParamDecl custom(std::string key, std::string type, std::string def, std::string desc);
ParamDecl required(ParamDecl d);
std::string num(double v);  // a default as describe shows it ("0.02", "300")
}  // namespace param

// The keys of one map in a config file: the top level (path ""), a nested
// map ("dataset") or each entry of a list of maps ("layers[]").
struct ConfigSection {
    std::string path;
    std::vector<ParamDecl> params;
    const ParamDecl* find(const std::string& key) const;  // null when undeclared
    const ParamDecl& at(const std::string& key) const;    // std::logic_error when undeclared
};

struct ConfigSchema {
    std::string kind;     // "topology", "accel", "campaign", "pipeline"
    std::string summary;  // one line: what such a file is
    std::vector<ConfigSection> sections;
    const ConfigSection& section(const std::string& path) const;  // std::logic_error when absent
};

const ConfigSchema& topology_schema();
const ConfigSchema& accel_schema();
// The table `fatsim config describe` prints: key path, type, default, description.
std::string describe_schema(const ConfigSchema& schema);

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
// mapping the MVAU entries (StreamingFCLayer_Batch_N, MatrixVectorActivation_N,
// MVAU_hls_N / MVAU_rtl_N) in index order onto the topology's layers. FIFO
// depths come from FINN's per-node inFIFODepths / outFIFODepths: the first node
// of a layer (its ConvolutionInputGenerator, else its MVAU) gives the FIFO in
// front of it, a ConvolutionInputGenerator's outFIFODepths (or a conv MVAU's
// inFIFODepths) the <layer>.swg stream, the last MVAU's outFIFODepths the
// output FIFO; files without them may list StreamingFIFO_N depths instead.
AccelConfig import_finn_folding(const std::string& path, const Topology& topo);
// The FINN folding JSON of a dataflow accelerator (current node names, the
// depths as above); throws ConfigError for what FINN cannot express
// (mh_padded, depths of other internal streams).
std::string export_finn_folding(const AccelConfig& acc, const Topology& topo);
// SIMD of a layer's sliding-window generator: it must divide IFMC, so it runs
// at gcd(SIMD, IFMC) when the MVTU's SIMD does not.
int window_simd(const LayerSpec& layer, int simd);
// Name of the stream from a conv layer's sliding-window generator to its MVTU.
std::string window_stream_name(const std::string& layer);
// Checks folding rules; returns the list of errors (empty when valid).
std::vector<std::string> validate_folding(const AccelConfig& acc, const Topology& topo);
// Re-targets a folding at another topology of the same shape (e.g. the same
// network at another width): takes its MH per layer, then validates. Throws
// ConfigError(acc.source) when the folding does not fit.
void bind_folding(AccelConfig& acc, const Topology& topo);

// What kind of config a file is, by its extension and top-level keys:
// "topology", "accel", "campaign", "pipeline", "finn-folding" or "unknown".
std::string detect_config_kind(const std::string& path);

}  // namespace fatsim
