// YAML / JSON parsing and validation of topologies and accelerator configs.
// yaml-cpp and nlohmann-json stay inside this file (see config.hpp).
#include "config.hpp"

#include "files.hpp"
#include "yaml_fields.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
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

const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::Dataflow: return "dataflow";
        case Architecture::Loopback: return "loopback";
    }
    return "?";
}

// ---------------------------------------------------------------- helpers

namespace {

using yamlf::get_bool;
using yamlf::shown;
using yamlf::sub;

YAML::Node load_yaml(const std::string& text, const std::string& source) {
    try {
        return YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::ostringstream ss;
        if (e.mark.is_null())
            ss << "syntax error: " << e.msg;
        else
            ss << "syntax error at line " << e.mark.line + 1 << ", column " << e.mark.column + 1
               << ": " << e.msg;
        throw ConfigError(source, {ss.str()});
    }
}

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

// Rejects keys outside `allowed` and repeated keys.
void check_keys(const YAML::Node& map, const std::string& path,
                std::initializer_list<const char*> allowed, Errors& errs) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        if (!seen.insert(key).second) {
            errs.push_back(sub(path, key) + ": duplicate key");
            continue;
        }
        bool ok = false;
        for (const char* a : allowed) ok = ok || key == a;
        if (!ok) errs.push_back(sub(path, key) + ": unknown key");
    }
}

// Typed field readers: leave `out` untouched and record an error on a wrong
// type; return whether a value was read.
bool get_int(const YAML::Node& map, const char* key, const std::string& path, int& out,
             Errors& errs, bool required = false) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    int v = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v)) {
        errs.push_back(p + shown(n) + " must be an integer");
        return false;
    }
    out = v;
    return true;
}

bool get_double(const YAML::Node& map, const char* key, const std::string& path, double& out,
                Errors& errs, bool required = false) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
        errs.push_back(p + shown(n) + " must be a number");
        return false;
    }
    out = v;
    return true;
}

bool get_string(const YAML::Node& map, const char* key, const std::string& path,
                std::string& out, Errors& errs, bool required = false) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    if (!n.IsScalar()) {
        errs.push_back(p + shown(n) + " must be a string");
        return false;
    }
    out = n.Scalar();
    return true;
}

// Reads a string field that must be one of `choices`; returns the index or -1.
int get_choice(const YAML::Node& map, const char* key, const std::string& path,
               std::initializer_list<const char*> choices, Errors& errs, bool required = false) {
    std::string s;
    if (!get_string(map, key, path, s, errs, required)) return -1;
    int i = 0;
    std::string list;
    for (const char* c : choices) {
        if (s == c) return i;
        list += (i ? ", " : "") + std::string(c);
        ++i;
    }
    errs.push_back(sub(path, key) + "=" + s + " must be one of " + list);
    return -1;
}

// A map-valued field; records an error when present but not a map.
bool get_map(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out,
             Errors& errs, bool required = false) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    if (!n.IsMap()) {
        errs.push_back(p + shown(n) + " must be a map");
        return false;
    }
    out = n;
    return true;
}

bool get_seq(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out,
             Errors& errs, bool required = false) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    if (!n.IsSequence()) {
        errs.push_back(p + shown(n) + " must be a list");
        return false;
    }
    out = n;
    return true;
}

std::string stem_of(const std::string& source) {
    const std::string s = fs::path(source).stem().string();
    return s.empty() ? source : s;
}


}  // namespace

// ---------------------------------------------------------------- topology

Topology parse_topology(const std::string& yaml_text, const std::string& source,
                        double width_override) {
    const YAML::Node root = load_yaml(yaml_text, source);
    if (!root.IsMap()) throw ConfigError(source, {"top level must be a map"});
    Errors errs;
    check_keys(root, "", {"name", "input", "weight_bits", "act_bits", "width", "layers"}, errs);

    Topology topo;
    topo.name = stem_of(source);
    get_string(root, "name", "", topo.name, errs);

    YAML::Node in;
    if (get_map(root, "input", "", in, errs, true)) {
        check_keys(in, "input", {"channels", "dim", "bits"}, errs);
        get_int(in, "channels", "input", topo.in_channels, errs, true);
        get_int(in, "dim", "input", topo.in_dim, errs, true);
        get_int(in, "bits", "input", topo.in_bits, errs);
    }
    int def_wbits = 1, def_abits = 1;
    get_int(root, "weight_bits", "", def_wbits, errs);
    get_int(root, "act_bits", "", def_abits, errs);
    if (get_double(root, "width", "", topo.width, errs) && topo.width <= 0)
        errs.push_back("width=" + num(topo.width) + " must be > 0");
    if (width_override > 0) topo.width = width_override;

    bool layers_ok = true;  // every entry became a LayerSpec, so finalize can run
    YAML::Node layers;
    if (get_seq(root, "layers", "", layers, errs, true)) {
        for (size_t i = 0; i < layers.size(); ++i) {
            const YAML::Node l = layers[i];
            const std::string p = idx("layers", i);
            if (!l.IsMap()) {
                errs.push_back(p + shown(l) + " must be a map");
                layers_ok = false;
                continue;
            }
            check_keys(l, p, {"name", "type", "channels", "kernel", "pool", "weight_bits",
                              "act_bits", "scale"}, errs);
            LayerSpec L;
            L.weight_bits = def_wbits;
            L.act_bits = def_abits;
            get_string(l, "name", p, L.name, errs, true);
            const int kind = get_choice(l, "type", p, {"conv", "fc"}, errs, true);
            L.kind = kind == 1 ? LayerKind::Fc : LayerKind::Conv;
            get_int(l, "channels", p, L.channels, errs, true);
            int kernel = 3;
            if (get_int(l, "kernel", p, kernel, errs) && kind == 1 && kernel != 1)
                errs.push_back(p + ".kernel=" + std::to_string(kernel) +
                               ": only conv layers have a kernel");
            L.kernel = kind == 1 ? 1 : kernel;
            get_int(l, "pool", p, L.pool, errs);
            get_int(l, "weight_bits", p, L.weight_bits, errs);
            get_int(l, "act_bits", p, L.act_bits, errs);
            get_bool(l, "scale", p, L.scale_with_width, errs);
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

Errors validate_impl(const AccelConfig& acc, const Topology& topo, const FoldPaths& fp) {
    Errors errs;
    if (!(acc.clock_mhz > 0)) errs.push_back("clock_mhz=" + num(acc.clock_mhz) + " must be > 0");

    const size_t nl = topo.layers.size();
    if (acc.architecture == Architecture::Dataflow) {
        if (acc.engine_pe != 0 || acc.engine_simd != 0)
            errs.push_back("engine: only for architecture loopback");
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
        if (acc.engine_pe < 1)
            errs.push_back("engine.pe=" + std::to_string(acc.engine_pe) + " must be >= 1");
        if (acc.engine_simd < 1)
            errs.push_back("engine.simd=" + std::to_string(acc.engine_simd) + " must be >= 1");
    }

    // Loopback keeps feature maps off-chip, so its FIFO list may be empty.
    const bool need_fifos = acc.architecture == Architecture::Dataflow || !acc.fifo_depths.empty();
    if (need_fifos && acc.fifo_depths.size() != nl + 1)
        errs.push_back("fifo_depths: " + std::to_string(acc.fifo_depths.size()) +
                       " entries, must be " + std::to_string(nl + 1) +
                       " (one per layer input plus one after the last layer)");
    for (size_t i = 0; i < acc.fifo_depths.size(); ++i)
        if (acc.fifo_depths[i] < 1)
            errs.push_back(fp.fifo(i) + "=" + std::to_string(acc.fifo_depths[i]) + " must be >= 1");
    return errs;
}

FoldPaths yaml_paths() {
    FoldPaths fp;
    fp.layer = [](size_t i) { return idx("layers", i); };
    fp.fifo = [](size_t i) { return idx("fifo_depths", i); };
    return fp;
}

// Parses an accelerator YAML document. `topo` may be null when the topology
// could not be found; topology-dependent checks are then skipped.
AccelConfig parse_accel_node(const YAML::Node& root, const std::string& source,
                             const Topology* topo, Errors& errs) {
    AccelConfig acc;
    acc.source = source;
    check_keys(root, "", {"architecture", "topology", "clock_mhz", "fifo_depths", "layers",
                          "engine"}, errs);
    const int arch = get_choice(root, "architecture", "", {"dataflow", "loopback"}, errs, true);
    acc.architecture = arch == 1 ? Architecture::Loopback : Architecture::Dataflow;
    std::string topo_rel;
    if (get_string(root, "topology", "", topo_rel, errs))
        acc.topology_path = resolve_relative(source, topo_rel);
    get_double(root, "clock_mhz", "", acc.clock_mhz, errs);

    YAML::Node fifos;
    bool fifos_given = false;
    if (get_seq(root, "fifo_depths", "", fifos, errs)) {
        fifos_given = true;
        for (size_t i = 0; i < fifos.size(); ++i) {
            int d = 0;
            const YAML::Node n = fifos[i];
            if (!n.IsScalar() || !YAML::convert<int>::decode(n, d))
                errs.push_back(idx("fifo_depths", i) + shown(n) + " must be an integer");
            acc.fifo_depths.push_back(d);
        }
    } else if (root["fifo_depths"]) {
        fifos_given = true;  // wrong type, already reported
    }

    YAML::Node layers;
    if (get_seq(root, "layers", "", layers, errs, arch == 0)) {
        for (size_t i = 0; i < layers.size(); ++i) {
            const YAML::Node l = layers[i];
            const std::string p = idx("layers", i);
            LayerFolding f;
            if (!l.IsMap()) {
                errs.push_back(p + shown(l) + " must be a map");
            } else {
                check_keys(l, p, {"name", "pe", "simd", "mh_padded", "schedule"}, errs);
                get_string(l, "name", p, f.name, errs, true);
                get_int(l, "pe", p, f.pe, errs, true);
                get_int(l, "simd", p, f.simd, errs, true);
                get_int(l, "mh_padded", p, f.mh_padded, errs);
                if (get_choice(l, "schedule", p, {"interleaved", "blocked"}, errs) == 1)
                    f.schedule = Schedule::Blocked;
            }
            if (topo && i < topo->layers.size()) f.mh = topo->layers[i].mh();
            acc.layers.push_back(f);
        }
    }

    YAML::Node eng;
    if (get_map(root, "engine", "", eng, errs, arch == 1)) {
        check_keys(eng, "engine", {"pe", "simd"}, errs);
        get_int(eng, "pe", "engine", acc.engine_pe, errs, true);
        get_int(eng, "simd", "engine", acc.engine_simd, errs, true);
    }

    if (topo) {
        if (!fifos_given) acc.fifo_depths.assign(topo->layers.size() + 1, 2);
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
    const YAML::Node root = load_yaml(yaml_text, source);
    if (!root.IsMap()) throw ConfigError(source, {"top level must be a map"});
    Errors errs;
    AccelConfig acc = parse_accel_node(root, source, &topo, errs);
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
    return acc;
}

AccelConfig load_accel(const std::string& path, Topology* topo_out) {
    const YAML::Node root = load_yaml(read_text_file(path), path);
    if (!root.IsMap()) throw ConfigError(path, {"top level must be a map"});
    Errors errs;
    std::string rel;
    Topology topo;
    bool have_topo = false;
    if (get_string(root, "topology", "", rel, errs, true)) {
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
    AccelConfig acc = parse_accel_node(root, path, have_topo ? &topo : nullptr, more);
    merge_errors(errs, more);
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    if (topo_out) *topo_out = topo;
    return acc;
}

// ---------------------------------------------------------------- FINN folding JSON

namespace {

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
bool is_mvau_key(const std::string& k) {
    return starts_with(k, "MVAU") || starts_with(k, "MatrixVectorActivation");
}

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

nlohmann::json load_json(const std::string& path) {
    const std::string text = read_text_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(path, {std::string("malformed JSON: ") + e.what()});
    }
}

}  // namespace

AccelConfig import_finn_folding(const std::string& path, const Topology& topo) {
    const nlohmann::json j = load_json(path);
    if (!j.is_object()) throw ConfigError(path, {"top level must be a JSON object"});
    Errors errs;

    // FINN names nodes <Op>_<index>; the index gives the order in the graph.
    std::map<long, std::string> mvaus, fifos;
    for (const auto& kv : j.items()) {
        const std::string& k = kv.key();
        std::map<long, std::string>* into = nullptr;
        if (is_mvau_key(k)) into = &mvaus;
        else if (starts_with(k, "StreamingFIFO")) into = &fifos;
        else continue;  // Defaults, ConvolutionInputGenerator_*, ...: not ours
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
    if (keys.size() != topo.layers.size())
        errs.push_back(std::to_string(keys.size()) + " MVAU entries, must match the " +
                       std::to_string(topo.layers.size()) + " layers of topology " + topo.name);
    for (size_t i = 0; i < keys.size(); ++i) {
        const auto& node = j.at(keys[i]);
        LayerFolding f;
        if (i < topo.layers.size()) {
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

    // FINN inserts FIFOs between all nodes (sliding windows, pools, converters),
    // so their depths map onto our per-layer FIFOs only when the count matches.
    std::vector<std::string> fifo_keys;
    std::vector<int> depths;
    bool fifos_ok = fifos.size() == topo.layers.size() + 1;
    for (const auto& f : fifos) {
        if (!fifos_ok) break;
        const auto& node = j.at(f.second);
        int d = 0;
        if (!node.is_object() || !node.contains("depth") || !json_int(node.at("depth"), d)) {
            errs.push_back(f.second + ".depth must be an integer");
            fifos_ok = false;
            break;
        }
        fifo_keys.push_back(f.second);
        depths.push_back(d);
    }
    if (fifos_ok) acc.fifo_depths = depths;
    else acc.fifo_depths.assign(topo.layers.size() + 1, 2);

    if (keys.size() == topo.layers.size()) {
        FoldPaths fp;
        fp.layer = [&keys](size_t i) { return keys[i]; };
        fp.fifo = [&fifo_keys](size_t i) {
            return i < fifo_keys.size() ? fifo_keys[i] + ".depth" : idx("fifo_depths", i);
        };
        fp.pe = "PE";
        fp.simd = "SIMD";
        merge_errors(errs, validate_impl(acc, topo, fp));
    }
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    return acc;
}

// ---------------------------------------------------------------- kind detection

std::string detect_config_kind(const std::string& path) {
    if (fs::path(path).extension() == ".json") {
        const nlohmann::json j = load_json(path);
        if (j.is_object())
            for (const auto& kv : j.items())
                if (is_mvau_key(kv.key())) return "finn-folding";
        return "unknown";
    }
    const YAML::Node root = load_yaml(read_text_file(path), path);
    if (!root.IsMap()) return "unknown";
    if (root["layers"] && root["input"]) return "topology";
    if (root["architecture"] || root["engine"]) return "accel";
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
