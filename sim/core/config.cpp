// YAML / JSON parsing and validation of topologies and accelerator configs,
// and the declaration tables (ConfigSchema) those parsers read through.
// yaml-cpp and nlohmann-json stay inside this file (see config.hpp).
#include "config.hpp"

#include "files.hpp"
#include "yaml_fields.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

namespace fatsim {

namespace fs = std::filesystem;
using Errors = std::vector<std::string>;

// ---------------------------------------------------------------- ConfigError

namespace {
std::string format_errors(const std::string& file, const Errors& errors) {
    std::string out;
    for (size_t i = 0; i < errors.size(); ++i) {
        if (i) out += '\n';
        out += file + ": " + errors[i];
    }
    if (errors.empty()) out = file + ": invalid configuration";
    return out;
}
}  // namespace

ConfigError::ConfigError(std::string file, std::vector<std::string> errors)
    : std::runtime_error(format_errors(file, errors)),
      file_(std::move(file)),
      errors_(std::move(errors)) {}

int LayerFolding::rows() const { return mh_padded > 0 ? mh_padded : mh; }

Schedule LoopbackConfig::schedule_of(const std::string& layer) const {
    for (const auto& ls : layer_schedules)
        if (ls.first == layer) return ls.second;
    return schedule;
}

const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::Dataflow: return "dataflow";
        case Architecture::Loopback: return "loopback";
    }
    return "?";
}

// ---------------------------------------------------------------- declared parameters

std::string ParamDecl::type_text() const {
    const auto range = [&](const char* t) {
        return lo > hi ? std::string(t) : std::string(t) + " " + param::num(lo) + ".." + param::num(hi);
    };
    switch (type) {
        case ParamType::Int: return range("int");
        case ParamType::Number: return range("number");
        case ParamType::Bool: return "bool";
        case ParamType::String: return "string";
        case ParamType::Path: return "path";
        case ParamType::Choice: {
            std::string t;
            for (const auto& c : choices) t += (t.empty() ? "" : " | ") + c;
            return t;
        }
        case ParamType::Map: return "map";
        case ParamType::List: return "list of " + custom_type;
        case ParamType::Custom: return custom_type;
    }
    return "?";
}

namespace param {

namespace {
ParamDecl make(std::string key, ParamType type, std::string def, std::string desc) {
    ParamDecl d;
    d.key = std::move(key);
    d.type = type;
    d.default_text = std::move(def);
    d.description = std::move(desc);
    return d;
}
}  // namespace

std::string num(double v) {
    // Whole numbers in full (2147483647, not 2.14748e+09).
    if (std::fabs(v) < 1e15 && v == std::floor(v)) return std::to_string(static_cast<long long>(v));
    std::ostringstream ss;
    ss << v;
    return ss.str();
}

ParamDecl integer(std::string key, double lo, double hi, std::string def, std::string desc) {
    ParamDecl d = make(std::move(key), ParamType::Int, std::move(def), std::move(desc));
    d.lo = lo, d.hi = hi;
    return d;
}
ParamDecl number(std::string key, double lo, double hi, std::string def, std::string desc) {
    ParamDecl d = make(std::move(key), ParamType::Number, std::move(def), std::move(desc));
    d.lo = lo, d.hi = hi;
    return d;
}
ParamDecl boolean(std::string key, bool def, std::string desc) {
    return make(std::move(key), ParamType::Bool, def ? "true" : "false", std::move(desc));
}
ParamDecl string(std::string key, std::string def, std::string desc) {
    return make(std::move(key), ParamType::String, std::move(def), std::move(desc));
}
ParamDecl path(std::string key, std::string def, std::string desc) {
    return make(std::move(key), ParamType::Path, std::move(def), std::move(desc));
}
ParamDecl choice(std::string key, std::vector<std::string> choices, std::string def, std::string desc) {
    ParamDecl d = make(std::move(key), ParamType::Choice, std::move(def), std::move(desc));
    d.choices = std::move(choices);
    return d;
}
ParamDecl map(std::string key, std::string desc) { return make(std::move(key), ParamType::Map, "", std::move(desc)); }
ParamDecl list(std::string key, std::string of, std::string def, std::string desc) {
    ParamDecl d = make(std::move(key), ParamType::List, std::move(def), std::move(desc));
    d.custom_type = std::move(of);
    return d;
}
ParamDecl custom(std::string key, std::string type, std::string def, std::string desc) {
    ParamDecl d = make(std::move(key), ParamType::Custom, std::move(def), std::move(desc));
    d.custom_type = std::move(type);
    return d;
}
ParamDecl required(ParamDecl d) {
    d.required = true;
    return d;
}

}  // namespace param

const ParamDecl* ConfigSection::find(const std::string& key) const {
    for (const auto& d : params)
        if (d.key == key) return &d;
    return nullptr;
}

const ParamDecl& ConfigSection::at(const std::string& key) const {
    if (const ParamDecl* d = find(key)) return *d;
    throw std::logic_error("config key " + yamlf::sub(path, key) + " is not declared");
}

const ConfigSection& ConfigSchema::section(const std::string& path) const {
    for (const auto& s : sections)
        if (s.path == path) return s;
    throw std::logic_error(kind + " config has no declared section '" + path + "'");
}

std::string describe_schema(const ConfigSchema& schema) {
    struct Row {
        std::string key, type, def, desc;
    };
    std::vector<Row> rows;
    for (const auto& sec : schema.sections)
        for (const auto& d : sec.params)
            rows.push_back({yamlf::sub(sec.path, d.key), d.type_text(),
                            d.required               ? "(required)"
                            : d.default_text.empty() ? "-"
                                                     : d.default_text,
                            d.description});
    Row head{"key", "type", "default", "description"};
    size_t wk = head.key.size(), wt = head.type.size(), wd = head.def.size();
    for (const auto& r : rows) {
        wk = std::max(wk, r.key.size());
        wt = std::max(wt, r.type.size());
        wd = std::max(wd, r.def.size());
    }
    std::ostringstream o;
    o << schema.kind << ": " << schema.summary << "\n";
    const auto line = [&](const Row& r) {
        o << "  " << std::left << std::setw(int(wk)) << r.key << "  " << std::setw(int(wt)) << r.type << "  "
          << std::setw(int(wd)) << r.def << "  " << r.desc << "\n";
    };
    line(head);
    for (const auto& r : rows) line(r);
    return o.str();
}

const ConfigSchema& topology_schema() {
    static const ConfigSchema schema = [] {
        using namespace param;
        const Topology t;
        const LayerSpec l;
        ConfigSchema s;
        s.kind = "topology";
        s.summary = "a network's input and compute layers (models/*.yaml)";
        s.sections = {
            {"",
             {string("name", "file stem", "network name"), required(map("input", "the input images")),
              integer("weight_bits", 1, -1, std::to_string(l.weight_bits),
                      "weight bits of every layer that does not set its own"),
              integer("act_bits", 1, -1, std::to_string(l.act_bits),
                      "activation bits of every layer that does not set its own"),
              number("width", 1, -1, num(t.width), "width multiplier (> 0) for the channels of scalable layers"),
              required(list("layers", "maps", "", "the compute layers in order (see layers[])"))}},
            {"input",
             {required(integer("channels", 1, -1, "", "input channels (>= 1)")),
              required(integer("dim", 1, -1, "", "input height = width in pixels (>= 1)")),
              integer("bits", 1, 16, std::to_string(t.in_bits), "bits of an input pixel")}},
            {"layers[]",
             {required(string("name", "", "layer name, unique")),
              required(choice("type", {"conv", "fc"}, "", "convolution or fully connected")),
              required(integer("channels", 1, -1, "", "output channels (MH) before the width multiplier (>= 1)")),
              integer("kernel", 1, -1, std::to_string(l.kernel), "conv kernel size (fc layers: 1)"),
              integer("pool", 1, -1, std::to_string(l.pool),
                      "max-pool window and stride after the activation; 1 = none"),
              integer("weight_bits", 1, 8, "top-level weight_bits", "1 = bipolar {-1,+1}, 2..8 = narrow signed"),
              integer("act_bits", 0, 4, "top-level act_bits",
                      "1 = bipolar, 2 = signed {-1,0,1}, 3..4 unsigned; 0 = none (last layer only)"),
              boolean("scale", l.scale_with_width, "channels scale with the width multiplier")}},
        };
        return s;
    }();
    return schema;
}

const ConfigSchema& accel_schema() {
    static const ConfigSchema schema = [] {
        using namespace param;
        const AccelConfig a;
        const LayerFolding f;
        const LoopbackConfig lb;
        ConfigSchema s;
        s.kind = "accel";
        s.summary = "an accelerator for a topology: common part, then one part per architecture (models/accel/*.yaml)";
        s.sections = {
            {"",
             {required(choice("architecture", {"dataflow", "loopback"}, "",
                              "one pipeline stage per layer, or one engine running every layer in turn")),
              required(path("topology", "", "topology YAML this accelerator runs, relative to this file")),
              number("clock_mhz", 1, -1, num(a.clock_mhz), "clock frequency in MHz (> 0)"),
              list("layers", "maps", "", "dataflow (required there): the folding of each topology layer, in order"),
              list("fifo_depths", "ints", std::to_string(DataflowConfig::kDefaultDepth) + " each",
                   "dataflow: FIFO depth in front of each layer, plus one after the last"),
              map("stream_depths", "dataflow: depth of streams inside layers by name (conv0.swg: 40); others 2"),
              map("engine", "loopback (required there): the one engine, its buffers and external memory")}},
            {"layers[]",
             {required(string("name", "", "the topology layer's name, same order")),
              required(integer("pe", 1, -1, "", "processing elements (>= 1, divides MH or mh_padded)")),
              required(integer("simd", 1, -1, "", "SIMD lanes per PE (>= 1, divides MW)")),
              integer("mh_padded", 1, -1, std::to_string(f.mh_padded),
                      "MH padded to this many rows (0 = no padding; BNN-PYNQ fc2: 64)"),
              choice("schedule", {"interleaved", "blocked", "pixel"}, schedule_name(f.schedule),
                     "output channel c on PE c mod PE, PE p owns a block of channels, or PE p computes "
                     "pixels p, p+PE, ... in every channel")}},
            {"engine",
             {required(integer("pe", 1, -1, "", "the engine's processing elements (>= 1)")),
              required(integer("simd", 1, -1, "", "the engine's SIMD lanes per PE (>= 1)")),
              integer("weight_bits", 1, 8, std::to_string(lb.weight_bits),
                      "widest weights the lanes multiply; every layer's weight_bits must fit"),
              integer("input_bits", 1, 8, std::to_string(lb.input_bits),
                      "widest input elements the lanes read; every layer's input bits must fit"),
              integer("weight_buffer_words", 1, -1, std::to_string(lb.weight_buffer_words),
                      "weight buffer words per PE (SIMD weights each); a layer needs ceil(MH/PE)*ceil(MW/SIMD)"),
              integer("threshold_buffer_words", 1, -1, std::to_string(lb.threshold_buffer_words),
                      "threshold buffer words per PE; a layer needs ceil(MH/PE)*T"),
              integer("ifm_buffer_words", 1, -1, std::to_string(lb.ifm_buffer_words),
                      "input feature-map buffer words (SIMD elements each); a layer needs IFMDim^2*ceil(IFMC/SIMD)"),
              integer("ofm_buffer_words", 1, -1, std::to_string(lb.ofm_buffer_words),
                      "output feature-map buffer words (PE elements each); a layer needs pooled OFMDim^2*ceil(MH/PE)"),
              integer("mem_bytes_per_cycle", 1, -1, std::to_string(lb.mem_bytes_per_cycle),
                      "external memory width: bytes moved per cycle within a burst"),
              integer("mem_latency", 0, -1, std::to_string(lb.mem_latency),
                      "external memory latency: cycles per burst before its first bytes"),
              boolean("double_buffer", lb.double_buffer,
                      "two weight/threshold banks: the next layer's parameters load during compute"),
              custom("schedule", "schedule", schedule_name(lb.schedule),
                     "every layer's: interleaved (channel c on PE c mod PE), blocked (a block of channels per "
                     "PE) or pixel (PE p computes output pixels p, p+PE, ... of every channel)"),
              custom("schedules", "map layer: schedule", "-", "per-layer schedules overriding `schedule`")}},
        };
        return s;
    }();
    return schema;
}

// ---------------------------------------------------------------- helpers

namespace {

using yamlf::SectionReader;
using yamlf::shown;
using yamlf::sub;

// A value in an error message, as the user would write it.
std::string num(double v) {
    std::ostringstream ss;
    ss << v;
    return ss.str();
}

std::string idx(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

// The path part of an error text: up to the first '=', ':' or ' '.
std::string error_path(const std::string& e) {
    return e.substr(0, e.find_first_of("=: "));
}

// Appends errors from a later checking stage, dropping those about a path
// (or a child of a path) that already has an error: a field that failed to
// parse keeps its default and would otherwise be reported twice.
void merge_errors(Errors& into, const Errors& later) {
    std::vector<std::string> bad;
    for (const auto& e : into) bad.push_back(error_path(e));
    for (const auto& e : later) {
        const std::string p = error_path(e);
        bool dup = false;
        for (const auto& b : bad) {
            if (p.compare(0, b.size(), b) == 0 &&
                (p.size() == b.size() || p[b.size()] == '.' || p[b.size()] == '[')) {
                dup = true;
                break;
            }
        }
        if (!dup) into.push_back(e);
    }
}

std::string stem_of(const std::string& source) {
    const std::string s = fs::path(source).stem().string();
    return s.empty() ? source : s;
}

}  // namespace

// ---------------------------------------------------------------- topology

Topology parse_topology(const std::string& yaml_text, const std::string& source,
                        double width_override) {
    const YAML::Node root = yamlf::load_map(yaml_text, source);
    const ConfigSchema& schema = topology_schema();
    Errors errs;
    const SectionReader top(root, schema.section(""), "", errs);

    Topology topo;
    topo.name = stem_of(source);
    top.get("name", topo.name);

    YAML::Node in;
    if (top.get("input", in)) {
        const SectionReader r(in, schema.section("input"), "input", errs);
        r.get("channels", topo.in_channels);
        r.get("dim", topo.in_dim);
        r.get("bits", topo.in_bits);
    }
    const LayerSpec layer_defaults;
    int def_wbits = layer_defaults.weight_bits, def_abits = layer_defaults.act_bits;
    top.get("weight_bits", def_wbits);
    top.get("act_bits", def_abits);
    if (top.get("width", topo.width) && topo.width <= 0) errs.push_back("width=" + num(topo.width) + " must be > 0");
    if (width_override > 0) topo.width = width_override;

    bool layers_ok = true;  // every entry became a LayerSpec, so finalize can run
    YAML::Node layers;
    if (top.get("layers", layers)) {
        for (size_t i = 0; i < layers.size(); ++i) {
            const YAML::Node l = layers[i];
            const std::string p = idx("layers", i);
            if (!l.IsMap()) {
                errs.push_back(p + shown(l) + " must be a map");
                layers_ok = false;
                continue;
            }
            const SectionReader r(l, schema.section("layers[]"), p, errs);
            LayerSpec L;
            L.weight_bits = def_wbits;
            L.act_bits = def_abits;
            r.get("name", L.name);
            std::string type;
            r.get("type", type);
            const bool fc = type == "fc";
            L.kind = fc ? LayerKind::Fc : LayerKind::Conv;
            r.get("channels", L.channels);
            int kernel = layer_defaults.kernel;
            if (r.get("kernel", kernel) && fc && kernel != 1)
                errs.push_back(p + ".kernel=" + std::to_string(kernel) +
                               ": only conv layers have a kernel");
            L.kernel = fc ? 1 : kernel;
            r.get("pool", L.pool);
            r.get("weight_bits", L.weight_bits);
            r.get("act_bits", L.act_bits);
            r.get("scale", L.scale_with_width);
            if (L.scale_with_width && L.channels >= 1)
                L.channels = std::max(1, static_cast<int>(std::lround(L.channels * topo.width)));
            topo.layers.push_back(L);
        }
    } else {
        layers_ok = false;
    }

    if (layers_ok) {
        try {
            finalize_topology(topo, source);
        } catch (const ConfigError& e) {
            merge_errors(errs, e.errors());
        }
    }
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
    return topo;
}

Topology load_topology(const std::string& path, double width_override) {
    return parse_topology(read_text_file(path), path, width_override);
}

// ---------------------------------------------------------------- folding validation

namespace {

struct FoldPaths {
    std::function<std::string(size_t)> layer;  // path of folding entry i
    std::function<std::string(size_t)> fifo;   // path of FIFO depth i
    std::string pe = "pe", simd = "simd";
};

// Every layer must fit the engine's lanes and buffers (sizes as LoopbackModel lays them out).
Errors validate_loopback(const LoopbackConfig& lb, const Topology& topo) {
    Errors errs;
    const auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const auto need = [&](const LayerSpec& L, const char* what, int64_t needed, const char* key, int64_t have) {
        if (needed > have)
            errs.push_back("layer " + L.name + " needs " + std::to_string(needed) + " " + what + ", engine." + key +
                           "=" + std::to_string(have));
    };
    const auto at_least = [&](const char* key, int v, int lo) {
        if (v < lo)
            errs.push_back(std::string("engine.") + key + "=" + std::to_string(v) +
                           " must be >= " + std::to_string(lo));
        return v >= lo;
    };
    bool sizes_ok = at_least("weight_buffer_words", lb.weight_buffer_words, 1);
    sizes_ok &= at_least("threshold_buffer_words", lb.threshold_buffer_words, 1);
    sizes_ok &= at_least("ifm_buffer_words", lb.ifm_buffer_words, 1);
    sizes_ok &= at_least("ofm_buffer_words", lb.ofm_buffer_words, 1);
    sizes_ok &= at_least("mem_bytes_per_cycle", lb.mem_bytes_per_cycle, 1);
    sizes_ok &= at_least("mem_latency", lb.mem_latency, 0);
    if (!sizes_ok) return errs;
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& L = topo.layers[l];
        const LayerGeometry g = layer_geometry(topo, int(l));
        need(L, "weight bits", g.weight_bits, "weight_bits", lb.weight_bits);
        need(L, "input bits", g.in_bits, "input_bits", lb.input_bits);
        const int64_t nf = ceil_div(L.mh(), lb.pe), sf = ceil_div(L.mw(), lb.simd);
        need(L, "weight buffer words per PE", nf * sf, "weight_buffer_words", lb.weight_buffer_words);
        need(L, "threshold buffer words per PE", nf * g.thresholds, "threshold_buffer_words",
             lb.threshold_buffer_words);
        need(L, "input feature-map buffer words", int64_t(L.in_dim) * L.in_dim * ceil_div(L.in_channels, lb.simd),
             "ifm_buffer_words", lb.ifm_buffer_words);
        need(L, "output feature-map buffer words", int64_t(L.pooled_dim) * L.pooled_dim * nf, "ofm_buffer_words",
             lb.ofm_buffer_words);
    }
    return errs;
}

Errors validate_impl(const AccelConfig& acc, const Topology& topo, const FoldPaths& fp) {
    Errors errs;
    if (!(acc.clock_mhz > 0)) errs.push_back("clock_mhz=" + num(acc.clock_mhz) + " must be > 0");

    const size_t nl = topo.layers.size();
    if (acc.architecture == Architecture::Dataflow) {
        if (acc.loopback.pe != 0 || acc.loopback.simd != 0) errs.push_back("engine: only for architecture loopback");
        if (acc.layers.size() != nl)
            errs.push_back("layers: " + std::to_string(acc.layers.size()) +
                           " entries, must match the " + std::to_string(nl) +
                           " layers of topology " + topo.name);
        for (size_t i = 0; i < std::min(nl, acc.layers.size()); ++i) {
            const LayerFolding& f = acc.layers[i];
            const LayerSpec& L = topo.layers[i];
            const std::string p = fp.layer(i);
            if (f.name != L.name)
                errs.push_back(p + ".name=" + f.name + " must be " + L.name + " (topology layer " +
                               std::to_string(i) + ")");
            bool padded_ok = true;
            if (f.mh_padded != 0 && f.mh_padded < L.mh()) {
                errs.push_back(p + ".mh_padded=" + std::to_string(f.mh_padded) +
                               " must be >= mh=" + std::to_string(L.mh()));
                padded_ok = false;
            }
            if (f.pe < 1) {
                errs.push_back(p + "." + fp.pe + "=" + std::to_string(f.pe) + " must be >= 1");
            } else if (padded_ok) {
                const bool pad = f.mh_padded > 0;
                const int rows = pad ? f.mh_padded : L.mh();
                if (rows % f.pe != 0)
                    errs.push_back(p + "." + fp.pe + "=" + std::to_string(f.pe) + " must divide " +
                                   (pad ? "mh_padded=" : "mh=") + std::to_string(rows));
            }
            if (f.simd < 1)
                errs.push_back(p + "." + fp.simd + "=" + std::to_string(f.simd) + " must be >= 1");
            else if (L.mw() % f.simd != 0)
                errs.push_back(p + "." + fp.simd + "=" + std::to_string(f.simd) +
                               " must divide mw=" + std::to_string(L.mw()));
        }
    } else {
        if (!acc.layers.empty()) errs.push_back("layers: only for architecture dataflow");
        if (acc.loopback.pe < 1) errs.push_back("engine.pe=" + std::to_string(acc.loopback.pe) + " must be >= 1");
        if (acc.loopback.simd < 1) errs.push_back("engine.simd=" + std::to_string(acc.loopback.simd) + " must be >= 1");
        if (acc.loopback.pe >= 1 && acc.loopback.simd >= 1) merge_errors(errs, validate_loopback(acc.loopback, topo));
    }

    // Loopback keeps feature maps off-chip, so its FIFO list may be empty.
    const std::vector<int>& fifo_depths = acc.dataflow.fifo_depths;
    const bool need_fifos = acc.architecture == Architecture::Dataflow || !fifo_depths.empty();
    if (need_fifos && fifo_depths.size() != nl + 1)
        errs.push_back("fifo_depths: " + std::to_string(fifo_depths.size()) + " entries, must be " +
                       std::to_string(nl + 1) + " (one per layer input plus one after the last layer)");
    for (size_t i = 0; i < fifo_depths.size(); ++i)
        if (fifo_depths[i] < 1) errs.push_back(fp.fifo(i) + "=" + std::to_string(fifo_depths[i]) + " must be >= 1");
    return errs;
}

FoldPaths yaml_paths() {
    FoldPaths fp;
    fp.layer = [](size_t i) { return idx("layers", i); };
    fp.fifo = [](size_t i) { return idx("fifo_depths", i); };
    return fp;
}

// Parses an accelerator YAML document. `topo` may be null when the topology
// could not be found; topology-dependent checks are then skipped. Only a file
// must name its topology: parse_accel's caller hands the topology over.
AccelConfig parse_accel_node(const YAML::Node& root, const std::string& source, const Topology* topo, bool from_file,
                             Errors& errs) {
    const ConfigSchema& schema = accel_schema();
    AccelConfig acc;
    acc.source = source;
    const SectionReader top(root, schema.section(""), "", errs);
    std::string arch;
    top.get("architecture", arch);
    acc.architecture = arch == "loopback" ? Architecture::Loopback : Architecture::Dataflow;
    std::string topo_rel;
    if ((from_file || root["topology"]) && top.get("topology", topo_rel))
        acc.topology_path = resolve_relative(source, topo_rel);
    top.get("clock_mhz", acc.clock_mhz);

    // Common part: the folding of each layer.
    YAML::Node layers;
    if (arch == "dataflow") top.require("layers");
    if (top.get("layers", layers)) {
        for (size_t i = 0; i < layers.size(); ++i) {
            const YAML::Node l = layers[i];
            const std::string p = idx("layers", i);
            LayerFolding f;
            if (!l.IsMap()) {
                errs.push_back(p + shown(l) + " must be a map");
            } else {
                const SectionReader r(l, schema.section("layers[]"), p, errs);
                r.get("name", f.name);
                r.get("pe", f.pe);
                r.get("simd", f.simd);
                r.get("mh_padded", f.mh_padded);
                std::string sched;
                if (r.get("schedule", sched)) parse_schedule(sched, f.schedule);  // the schema checked the spelling
            }
            if (topo && i < topo->layers.size()) f.mh = topo->layers[i].mh();
            acc.layers.push_back(f);
        }
    }

    // Dataflow part.
    YAML::Node fifos;
    const bool fifos_given = bool(root["fifo_depths"]);
    if (top.get("fifo_depths", fifos)) {
        for (size_t i = 0; i < fifos.size(); ++i) {
            int d = 0;
            const YAML::Node n = fifos[i];
            if (!n.IsScalar() || !YAML::convert<int>::decode(n, d))
                errs.push_back(idx("fifo_depths", i) + shown(n) + " must be an integer");
            acc.dataflow.fifo_depths.push_back(d);
        }
    }
    YAML::Node streams;
    if (top.get("stream_depths", streams))
        for (const auto& kv : streams) {
            const std::string name = kv.first.as<std::string>();
            int d = 0;
            if (!kv.second.IsScalar() || !YAML::convert<int>::decode(kv.second, d) || d < 1)
                errs.push_back(sub("stream_depths", name) + shown(kv.second) + " must be an integer >= 1");
            acc.dataflow.stream_depths[name] = d;
        }

    // Loopback part.
    YAML::Node eng;
    if (arch == "loopback") top.require("engine");
    if (top.get("engine", eng)) {
        const SectionReader r(eng, schema.section("engine"), "engine", errs);
        LoopbackConfig& lb = acc.loopback;
        r.get("pe", lb.pe);
        r.get("simd", lb.simd);
        r.get("weight_bits", lb.weight_bits);
        r.get("input_bits", lb.input_bits);
        r.get("weight_buffer_words", lb.weight_buffer_words);
        r.get("threshold_buffer_words", lb.threshold_buffer_words);
        r.get("ifm_buffer_words", lb.ifm_buffer_words);
        r.get("ofm_buffer_words", lb.ofm_buffer_words);
        r.get("mem_bytes_per_cycle", lb.mem_bytes_per_cycle);
        r.get("mem_latency", lb.mem_latency);
        r.get("double_buffer", lb.double_buffer);
        YAML::Node sched;
        if (r.get("schedule", sched) && !(sched.IsScalar() && parse_schedule(sched.as<std::string>(), lb.schedule)))
            errs.push_back("engine.schedule" + shown(sched) + " must be one of: interleaved, blocked, pixel");
        YAML::Node per_layer;
        if (r.get("schedules", per_layer)) {
            if (!per_layer.IsMap()) {
                errs.push_back("engine.schedules" + shown(per_layer) + " must be a map layer: schedule");
            } else {
                for (const auto& kv : per_layer) {
                    const std::string layer = kv.first.as<std::string>(), name = kv.second.as<std::string>("");
                    Schedule sc = Schedule::Interleaved;
                    if (!parse_schedule(name, sc))
                        errs.push_back("engine.schedules." + layer + "=" + name +
                                       " must be one of: interleaved, blocked, pixel");
                    else if (topo && topo->find_layer(layer) < 0)
                        errs.push_back("engine.schedules." + layer + ": topology " + topo->name + " has no such layer");
                    else
                        lb.layer_schedules.push_back({layer, sc});
                }
            }
        }
    }

    if (topo) {
        if (!fifos_given) acc.dataflow.fifo_depths.assign(topo->layers.size() + 1, DataflowConfig::kDefaultDepth);
        merge_errors(errs, validate_impl(acc, *topo, yaml_paths()));
    }
    return acc;
}

}  // namespace

std::vector<std::string> validate_folding(const AccelConfig& acc, const Topology& topo) {
    return validate_impl(acc, topo, yaml_paths());
}

AccelConfig parse_accel(const std::string& yaml_text, const std::string& source,
                        const Topology& topo) {
    const YAML::Node root = yamlf::load_map(yaml_text, source);
    Errors errs;
    AccelConfig acc = parse_accel_node(root, source, &topo, false, errs);
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
    return acc;
}

AccelConfig load_accel(const std::string& path, Topology* topo_out) {
    const YAML::Node root = yamlf::load_map(read_text_file(path), path);
    Errors errs;
    std::string rel;
    Topology topo;
    bool have_topo = false;
    // The topology first: the folding is checked against it. A missing or
    // mistyped key is reported by parse_accel_node.
    Errors ignored;
    if (yamlf::get_string(root, "topology", "", rel, ignored)) {
        const std::string resolved = resolve_relative(path, rel);
        std::error_code ec;
        if (!fs::is_regular_file(resolved, ec))
            errs.push_back("topology=" + rel + ": file not found (" + resolved + ")");
        else {
            topo = load_topology(resolved);  // its own errors name the topology file
            have_topo = true;
        }
    }
    Errors more;
    AccelConfig acc = parse_accel_node(root, path, have_topo ? &topo : nullptr, true, more);
    merge_errors(errs, more);
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    if (topo_out) *topo_out = topo;
    return acc;
}

// ---------------------------------------------------------------- FINN folding JSON

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
// The matrix-vector unit under the names of FINN's three generations.
bool is_mvau_key(const std::string& k) {
    return starts_with(k, "MVAU") || starts_with(k, "MatrixVectorActivation") ||
           starts_with(k, "StreamingFCLayer_Batch");
}
// The sliding-window generator (also ConvolutionInputGenerator_rtl_N / _hls_N).
bool is_swg_key(const std::string& k) { return starts_with(k, "ConvolutionInputGenerator"); }

// FINN's per-node FIFO depth attributes: one depth per input / output stream.
const char* const kInFifoDepths = "inFIFODepths";
const char* const kOutFifoDepths = "outFIFODepths";

// Trailing decimal index of a FINN node name ("MVAU_hls_12" -> 12), -1 if none.
long trailing_index(const std::string& k) {
    size_t i = k.size();
    while (i > 0 && std::isdigit(static_cast<unsigned char>(k[i - 1]))) --i;
    if (i == k.size() || k.size() - i > 9) return -1;
    return std::stol(k.substr(i));
}

bool json_int(const nlohmann::json& j, int& out) {
    if (!j.is_number_integer()) return false;
    const auto v = j.get<long long>();
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) return false;
    out = static_cast<int>(v);
    return true;
}

// node[attr][0] (the data stream's FIFO) into `out`; false when the node
// has no such attribute or it is malformed (then an error is recorded).
bool fifo_attr(const nlohmann::json& node, const std::string& key, const char* attr, int& out, Errors& errs) {
    if (!node.is_object() || !node.contains(attr)) return false;
    const auto& v = node.at(attr);
    int d = 0;
    if (!v.is_array() || v.empty() || !json_int(v.at(0), d) || d < 1) {
        errs.push_back(key + "." + attr + "=" + v.dump() + " must be a list of integers >= 1 (one per stream)");
        return false;
    }
    out = d;
    return true;
}

nlohmann::json load_json(const std::string& path) {
    const std::string text = read_text_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(path, {std::string("malformed JSON: ") + e.what()});
    }
}

}  // namespace

int window_simd(const LayerSpec& layer, int simd) {
    return layer.kind == LayerKind::Conv ? std::gcd(simd, layer.in_channels) : simd;
}

std::string window_stream_name(const std::string& layer) { return layer + ".swg"; }

AccelConfig import_finn_folding(const std::string& path, const Topology& topo) {
    const nlohmann::json j = load_json(path);
    if (!j.is_object()) throw ConfigError(path, {"top level must be a JSON object"});
    Errors errs;

    // FINN names nodes <Op>_<index>; the index gives the order in the graph.
    std::map<long, std::string> mvaus, swgs, fifos;
    bool fifo_attrs = false;  // some node carries inFIFODepths / outFIFODepths
    for (const auto& kv : j.items()) {
        const std::string& k = kv.key();
        std::map<long, std::string>* into = nullptr;
        if (is_mvau_key(k)) into = &mvaus;
        else if (is_swg_key(k)) into = &swgs;
        else if (starts_with(k, "StreamingFIFO")) into = &fifos;
        else continue;  // Defaults, StreamingMaxPool_*, ...: not ours
        if (into != &fifos && kv.value().is_object())
            fifo_attrs = fifo_attrs || kv.value().contains(kInFifoDepths) || kv.value().contains(kOutFifoDepths);
        const long n = trailing_index(k);
        if (n < 0) {
            errs.push_back(k + ": node name without a trailing index");
            continue;
        }
        auto ins = into->emplace(n, k);
        if (!ins.second)
            errs.push_back(k + ": index " + std::to_string(n) + " also used by " + ins.first->second);
    }

    AccelConfig acc;
    acc.source = path;
    acc.architecture = Architecture::Dataflow;
    std::vector<std::string> keys;
    for (const auto& m : mvaus) keys.push_back(m.second);
    const size_t nl = topo.layers.size();
    if (keys.size() != nl)
        errs.push_back(std::to_string(keys.size()) + " MVAU entries, must match the " + std::to_string(nl) +
                       " layers of topology " + topo.name);
    for (size_t i = 0; i < keys.size(); ++i) {
        const auto& node = j.at(keys[i]);
        LayerFolding f;
        if (i < nl) {
            f.name = topo.layers[i].name;
            f.mh = topo.layers[i].mh();
        }
        if (!node.is_object()) {
            errs.push_back(keys[i] + " must be an object");
        } else {
            for (const char* field : {"PE", "SIMD"}) {
                int& dst = field[0] == 'P' ? f.pe : f.simd;
                if (!node.contains(field))
                    errs.push_back(keys[i] + "." + field + ": required key missing");
                else if (!json_int(node.at(field), dst))
                    errs.push_back(keys[i] + "." + field + "=" + node.at(field).dump() +
                                   " must be an integer");
            }
        }
        acc.layers.push_back(f);
    }

    std::vector<std::string> fifo_keys(nl + 1);  // where each FIFO depth came from (error paths)
    acc.dataflow.fifo_depths.assign(nl + 1, DataflowConfig::kDefaultDepth);
    if (fifo_attrs && keys.size() == nl) {
        // FINN's per-node attributes: the FIFO in front of a layer is the
        // inFIFODepths of its first node (the SWG of a conv layer, else the
        // MVAU), the one after the SWG its outFIFODepths (or the MVAU's
        // inFIFODepths, the larger), the last one the last MVAU's outFIFODepths.
        std::vector<std::string> swg_keys;
        for (const auto& s : swgs) swg_keys.push_back(s.second);
        size_t convs = 0;
        for (const auto& L : topo.layers) convs += L.kind == LayerKind::Conv;
        if (swg_keys.size() != convs)
            errs.push_back(std::to_string(swg_keys.size()) + " ConvolutionInputGenerator entries, must match the " +
                           std::to_string(convs) + " conv layers of topology " + topo.name);
        else
            for (size_t l = 0, k = 0; l < nl; ++l) {
                const std::string& mvau = keys[l];
                if (topo.layers[l].kind != LayerKind::Conv) {
                    if (fifo_attr(j.at(mvau), mvau, kInFifoDepths, acc.dataflow.fifo_depths[l], errs))
                        fifo_keys[l] = mvau + "." + kInFifoDepths;
                    continue;
                }
                const std::string& swg = swg_keys[k++];
                if (fifo_attr(j.at(swg), swg, kInFifoDepths, acc.dataflow.fifo_depths[l], errs))
                    fifo_keys[l] = swg + "." + kInFifoDepths;
                int out = 0, in = 0;
                const bool has_out = fifo_attr(j.at(swg), swg, kOutFifoDepths, out, errs);
                const bool has_in = fifo_attr(j.at(mvau), mvau, kInFifoDepths, in, errs);
                if (has_out || has_in)
                    acc.dataflow.stream_depths[window_stream_name(topo.layers[l].name)] = std::max(out, in);
            }
        if (fifo_attr(j.at(keys[nl - 1]), keys[nl - 1], kOutFifoDepths, acc.dataflow.fifo_depths[nl], errs))
            fifo_keys[nl] = keys[nl - 1] + "." + kOutFifoDepths;
    } else if (!fifo_attrs && fifos.size() == nl + 1) {
        // Older files list the StreamingFIFO nodes; FINN inserts them between
        // all nodes (sliding windows, pools, converters), so their depths map
        // onto our per-layer FIFOs only when the count matches.
        size_t i = 0;
        for (const auto& f : fifos) {
            const auto& node = j.at(f.second);
            if (!node.is_object() || !node.contains("depth") ||
                !json_int(node.at("depth"), acc.dataflow.fifo_depths[i])) {
                errs.push_back(f.second + ".depth must be an integer");
                acc.dataflow.fifo_depths.assign(nl + 1, DataflowConfig::kDefaultDepth);
                break;
            }
            fifo_keys[i++] = f.second + ".depth";
        }
    }

    if (keys.size() == nl) {
        FoldPaths fp;
        fp.layer = [&keys](size_t i) { return keys[i]; };
        fp.fifo = [&fifo_keys](size_t i) {
            return i < fifo_keys.size() && !fifo_keys[i].empty() ? fifo_keys[i] : idx("fifo_depths", i);
        };
        fp.pe = "PE";
        fp.simd = "SIMD";
        merge_errors(errs, validate_impl(acc, topo, fp));
    }
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    return acc;
}

std::string export_finn_folding(const AccelConfig& acc, const Topology& topo) {
    Errors errs;
    if (acc.architecture != Architecture::Dataflow)
        errs.push_back(std::string("architecture=") + architecture_name(acc.architecture) +
                       ": a FINN folding config describes a dataflow accelerator");
    else
        errs = validate_folding(acc, topo);
    const size_t nl = topo.layers.size();
    for (size_t l = 0; l < acc.layers.size() && l < nl; ++l)
        if (acc.layers[l].mh_padded > 0)
            errs.push_back(idx("layers", l) + ".mh_padded=" + std::to_string(acc.layers[l].mh_padded) +
                           ": FINN has no padded rows (PE must divide MH=" + std::to_string(topo.layers[l].mh()) + ")");
    for (const auto& kv : acc.dataflow.stream_depths) {
        bool window = false;
        for (const auto& L : topo.layers)
            window = window || (L.kind == LayerKind::Conv && kv.first == window_stream_name(L.name));
        if (!window)
            errs.push_back(sub("stream_depths", kv.first) +
                           ": no FINN node attribute for this stream (only <conv layer>.swg, the SWG's outFIFODepths)");
    }
    if (!errs.empty()) throw ConfigError(acc.source, std::move(errs));

    // Graph order, the names of current FINN (MVAU_hls_N; SWGs numbered apart).
    nlohmann::ordered_json j;
    j["Defaults"] = nlohmann::ordered_json::object();
    const auto& depths = acc.dataflow.fifo_depths;
    for (size_t l = 0, k = 0; l < nl; ++l) {
        const LayerSpec& L = topo.layers[l];
        const LayerFolding& f = acc.layers[l];
        nlohmann::ordered_json mvau = {{"PE", f.pe}, {"SIMD", f.simd}};
        if (L.kind == LayerKind::Conv) {
            nlohmann::ordered_json swg = {{"SIMD", window_simd(L, f.simd)}, {kInFifoDepths, {depths[l]}}};
            const auto it = acc.dataflow.stream_depths.find(window_stream_name(L.name));
            if (it != acc.dataflow.stream_depths.end()) swg[kOutFifoDepths] = {it->second};
            j["ConvolutionInputGenerator_" + std::to_string(k++)] = swg;
        } else {
            mvau[kInFifoDepths] = {depths[l]};
        }
        if (l + 1 == nl) mvau[kOutFifoDepths] = {depths[nl]};
        j["MVAU_hls_" + std::to_string(l)] = mvau;
    }
    return j.dump(2) + "\n";
}

// ---------------------------------------------------------------- kind detection

std::string detect_config_kind(const std::string& path) {
    if (fs::path(path).extension() == ".json") {
        const nlohmann::json j = load_json(path);
        if (j.is_object()) {
            if (j.contains("classes") && j.contains("granularity")) return "error-model";
            for (const auto& kv : j.items())
                if (is_mvau_key(kv.key())) return "finn-folding";
        }
        return "unknown";
    }
    const YAML::Node root = yamlf::load(read_text_file(path), path);
    if (!root.IsMap()) return "unknown";
    if (root["layers"] && root["input"]) return "topology";
    if (root["architecture"] || root["engine"]) return "accel";
    // A pipeline spec trains models; a campaign spec sweeps one model.
    if (root["models"] && (root["train"] || root["topology"])) return "pipeline";
    // Error-model files before "campaign": their keys must not be taken for a campaign spec.
    if (root["classes"] && root["granularity"]) return "error-model";
    if (root["sweep"] || root["error_model"]) return "campaign";
    return "unknown";
}

void bind_folding(AccelConfig& acc, const Topology& topo) {
    if (acc.architecture == Architecture::Dataflow && acc.layers.size() == topo.layers.size())
        for (size_t l = 0; l < topo.layers.size(); ++l) acc.layers[l].mh = topo.layers[l].mh();
    std::vector<std::string> errs = validate_folding(acc, topo);
    if (!errs.empty()) throw ConfigError(acc.source, std::move(errs));
}

}  // namespace fatsim
