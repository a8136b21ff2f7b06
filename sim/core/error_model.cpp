// Error models: builders, the YAML / JSON file format, validation against a
// topology, and the lowering of a class onto ErrorPatterns. JSON is read by
// converting it to a YAML node, so both forms share one validating parser.
#include "error_model.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "config.hpp"
#include "files.hpp"
#include "yaml_fields.hpp"

namespace fatsim {

namespace {
using yamlf::Errors;
using yamlf::shown;
using yamlf::sub;
using ojson = nlohmann::ordered_json;

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
}  // namespace

// ---------------------------------------------------------------- sets

bool ChannelSet::contains(int c) const {
    if (modulus > 0) return c % modulus == residue;
    return list.empty() || std::find(list.begin(), list.end(), c) != list.end();
}

std::vector<int> ChannelSet::resolve(int channels) const {
    if (modulus > 0) {
        std::vector<int> v;
        for (int c = residue; c < channels; c += modulus) v.push_back(c);
        return v;
    }
    std::vector<int> v = list;
    std::sort(v.begin(), v.end());
    return v;
}

bool PixelSet::contains(int px) const {
    return list.empty() || std::find(list.begin(), list.end(), px) != list.end();
}

bool operator==(const ChannelSet& a, const ChannelSet& b) {
    return a.list == b.list && a.modulus == b.modulus && a.residue == b.residue;
}
bool operator==(const PixelSet& a, const PixelSet& b) { return a.list == b.list; }
bool operator==(const PatternClass& a, const PatternClass& b) {
    return a.name == b.name && a.weight == b.weight && a.layer_scope == b.layer_scope && a.layers == b.layers &&
           a.channels == b.channels && a.pixels == b.pixels && a.effect == b.effect &&
           (a.effect != Effect::Stuck || a.stuck_code == b.stuck_code) &&
           (a.effect != Effect::Transition || a.transition == b.transition);
}
bool operator==(const ErrorModel& a, const ErrorModel& b) {
    return a.granularity == b.granularity && a.group_modulus == b.group_modulus && a.classes == b.classes;
}

// ---------------------------------------------------------------- builders

ErrorModel stuck_at_error_model(ErrorModelKind granularity, int group_modulus) {
    ErrorModel m;
    m.granularity = granularity;
    m.group_modulus = granularity == ErrorModelKind::Group ? group_modulus : 0;
    m.classes.push_back(PatternClass{});  // any layer, all channels and pixels, uniform stuck-at
    return m;
}

ErrorModel group_error_model(int modulus, const std::vector<WeightedTransition>& tables) {
    ErrorModel m = stuck_at_error_model(ErrorModelKind::Group, modulus);
    if (tables.empty()) return m;
    m.classes.clear();
    for (const auto& t : tables) {
        PatternClass c;
        c.weight = t.weight;
        c.effect = Effect::Transition;
        c.transition = t.transition;
        m.classes.push_back(c);
    }
    return m;
}

// ---------------------------------------------------------------- parsing

namespace {

bool scalar_int(const YAML::Node& n, int& v) { return n.IsScalar() && YAML::convert<int>::decode(n, v); }

// A list of distinct integers >= 0 (channels, pixels).
void read_index_list(const YAML::Node& n, const std::string& path, const char* what, std::vector<int>& out,
                     Errors& errs) {
    if (n.size() == 0) {
        errs.push_back(path + ": an empty list selects no " + std::string(what) + " (write all)");
        return;
    }
    std::set<int> seen;
    for (size_t k = 0; k < n.size(); ++k) {
        int v = 0;
        if (!scalar_int(n[k], v) || v < 0) {
            errs.push_back(at(path, k) + shown(n[k]) + " must be a " + what + " index >= 0");
            continue;
        }
        if (!seen.insert(v).second) {
            errs.push_back(at(path, k) + "=" + std::to_string(v) + " repeats");
            continue;
        }
        out.push_back(v);
    }
}

bool read_code(const YAML::Node& n, const std::string& path, int& out, Errors& errs) {
    if (!scalar_int(n, out) || out < -128 || out > 127) {
        errs.push_back(path + shown(n) + " must be an activation code (an integer in -128..127)");
        return false;
    }
    return true;
}

void read_layers(const YAML::Node& n, const std::string& path, PatternClass& c, Errors& errs) {
    if (n.IsScalar() && (n.Scalar() == "any" || n.Scalar() == "all")) {
        c.layer_scope = n.Scalar() == "any" ? LayerScope::Any : LayerScope::All;
        return;
    }
    if (!n.IsSequence() || n.size() == 0) {
        errs.push_back(path + shown(n) + " must be any, all or a non-empty list of layer names");
        return;
    }
    c.layer_scope = LayerScope::Listed;
    std::set<std::string> seen;
    for (size_t k = 0; k < n.size(); ++k) {
        if (!n[k].IsScalar() || n[k].Scalar().empty() || !yamlf::valid_utf8(n[k].Scalar())) {
            errs.push_back(at(path, k) + shown(n[k]) + " must be a layer name (UTF-8 text)");
        } else if (!seen.insert(n[k].Scalar()).second) {
            errs.push_back(at(path, k) + "=" + n[k].Scalar() + " repeats");
        } else {
            c.layers.push_back(n[k].Scalar());
        }
    }
}

void read_channels(const YAML::Node& n, const std::string& path, ChannelSet& cs, Errors& errs) {
    if (n.IsScalar() && n.Scalar() == "all") return;
    if (n.IsSequence()) return read_index_list(n, path, "channel", cs.list, errs);
    if (!n.IsMap()) {
        errs.push_back(path + shown(n) + " must be all, a list of channels or {modulus: M, residue: r}");
        return;
    }
    yamlf::check_keys(n, path, {"modulus", "residue"}, errs);
    if (!n["modulus"]) errs.push_back(sub(path, "modulus") + ": required key missing");
    if (!n["residue"]) errs.push_back(sub(path, "residue") + ": required key missing");
    if (yamlf::get_int(n, "modulus", path, cs.modulus, errs, 1, 1 << 20))
        yamlf::get_int(n, "residue", path, cs.residue, errs, 0, cs.modulus - 1);
}

void read_pixels(const YAML::Node& n, const std::string& path, PixelSet& ps, Errors& errs) {
    if (n.IsScalar() && n.Scalar() == "all") return;
    if (n.IsSequence()) return read_index_list(n, path, "pixel", ps.list, errs);
    errs.push_back(path + shown(n) + " must be all or a list of pixels (y*dim + x)");
}

void read_effect(const YAML::Node& cls, const std::string& path, PatternClass& c, Errors& errs) {
    const YAML::Node stuck = cls["stuck"], tr = cls["transition"];
    if (stuck && tr) {
        errs.push_back(path + ": give stuck or transition, not both");
        return;
    }
    if (!stuck && !tr) {
        errs.push_back(path + ": required key missing: stuck (a code, or any) or transition (golden: faulty codes)");
        return;
    }
    if (stuck) {
        if (stuck.IsScalar() && stuck.Scalar() == "any") {
            c.effect = Effect::StuckUniform;
        } else if (read_code(stuck, sub(path, "stuck"), c.stuck_code, errs)) {
            c.effect = Effect::Stuck;
        }
        return;
    }
    const std::string tp = sub(path, "transition");
    c.effect = Effect::Transition;
    if (!tr.IsMap() || tr.size() == 0) {
        errs.push_back(tp + shown(tr) + " must be a non-empty map golden code: faulty code");
        return;
    }
    for (const auto& kv : tr) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        int golden = 0, faulty = 0;
        if (!scalar_int(kv.first, golden) || golden < -128 || golden > 127) {
            errs.push_back(sub(tp, key) + ": the golden code (key) must be an integer in -128..127");
            continue;
        }
        if (!read_code(kv.second, sub(tp, key), faulty, errs)) continue;
        if (!c.transition.emplace(golden, faulty).second) errs.push_back(sub(tp, key) + ": golden code repeats");
    }
}

PatternClass read_class(const YAML::Node& n, const std::string& path, Errors& errs) {
    PatternClass c;
    if (!n.IsMap()) {
        errs.push_back(path + shown(n) + " must be a map (weight, layers, channels, pixels, stuck | transition)");
        return c;
    }
    yamlf::check_keys(n, path, {"name", "weight", "layers", "channels", "pixels", "stuck", "transition"}, errs);
    if (yamlf::get_string(n, "name", path, c.name, errs) &&
        std::any_of(c.name.begin(), c.name.end(), [](char ch) { return (ch >= 0 && ch < 0x20) || ch == 0x7f; })) {
        // (a line break or a tab in a name would not survive the YAML writer)
        errs.push_back(sub(path, "name") + " must be printable text (no control characters)");
        c.name.clear();
    }
    if (const YAML::Node w = n["weight"]) {
        double v = 0;
        if (!w.IsScalar() || !YAML::convert<double>::decode(w, v) || !(v > 0) || !std::isfinite(v))
            errs.push_back(sub(path, "weight") + shown(w) + " must be a positive number");
        else
            c.weight = v;
    }
    if (const YAML::Node l = n["layers"]) read_layers(l, sub(path, "layers"), c, errs);
    if (const YAML::Node ch = n["channels"]) read_channels(ch, sub(path, "channels"), c.channels, errs);
    if (const YAML::Node px = n["pixels"]) read_pixels(px, sub(path, "pixels"), c.pixels, errs);
    read_effect(n, path, c, errs);
    return c;
}

// Error model files nest a few levels; the limit keeps a hostile file from
// overflowing the stack (the conversion recurses).
constexpr int kMaxJsonDepth = 64;

YAML::Node json_to_yaml(const nlohmann::json& j, const std::string& source, int depth = 0) {
    if (depth > kMaxJsonDepth)
        throw ConfigError(source, {"JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"});
    if (j.is_object()) {
        YAML::Node n(YAML::NodeType::Map);
        for (auto it = j.begin(); it != j.end(); ++it) n[it.key()] = json_to_yaml(it.value(), source, depth + 1);
        return n;
    }
    if (j.is_array()) {
        YAML::Node n(YAML::NodeType::Sequence);
        for (const auto& v : j) n.push_back(json_to_yaml(v, source, depth + 1));
        return n;
    }
    if (j.is_string()) return YAML::Node(j.get<std::string>());
    if (j.is_null()) return YAML::Node(YAML::NodeType::Null);
    return YAML::Node(j.dump());  // number or bool, as its JSON spelling
}

bool looks_like_json(const std::string& text) {
    const size_t i = text.find_first_not_of(" \t\r\n");
    return i != std::string::npos && text[i] == '{';
}

}  // namespace

ErrorModel parse_error_model(const std::string& text, const std::string& source) {
    YAML::Node root;
    if (looks_like_json(text)) {
        try {
            root = json_to_yaml(nlohmann::json::parse(text), source);
        } catch (const nlohmann::json::exception& e) {
            throw ConfigError(source, {std::string("JSON syntax error: ") + e.what()});
        }
    } else {
        root = yamlf::load_map(text, source);
    }
    Errors errs;
    yamlf::check_keys(root, "", {"granularity", "group_modulus", "classes"}, errs);
    ErrorModel m;
    std::string g;
    if (!root["granularity"])
        errs.push_back("granularity: required key missing (element | channel | pixel | group)");
    else if (yamlf::get_choice(root, "granularity", "", {"element", "channel", "pixel", "group"}, g, errs))
        m.granularity = parse_error_model_kind(g, {ErrorModelKind::Element, ErrorModelKind::Channel,
                                                   ErrorModelKind::Pixel, ErrorModelKind::Group});
    if (m.granularity == ErrorModelKind::Group) {
        if (!root["group_modulus"]) errs.push_back("group_modulus: required key missing (granularity group)");
        yamlf::get_int(root, "group_modulus", "", m.group_modulus, errs, 1, 1 << 20);
    } else if (root["group_modulus"] && !g.empty()) {
        errs.push_back("group_modulus: only allowed with granularity: group");
    }
    const YAML::Node classes = root["classes"];
    if (!classes) {
        errs.push_back("classes: required key missing");
    } else if (!classes.IsSequence() || classes.size() == 0) {
        errs.push_back("classes" + shown(classes) + " must be a non-empty list of pattern classes");
    } else {
        for (size_t i = 0; i < classes.size(); ++i) m.classes.push_back(read_class(classes[i], at("classes", i), errs));
    }
    if (!errs.empty()) throw ConfigError(source, errs);
    return m;
}

ErrorModel load_error_model(const std::string& path) {
    const std::string text = read_text_file(path);
    if (std::filesystem::path(path).extension() == ".json" && !looks_like_json(text))
        throw ConfigError(path, {"a .json error model must be a JSON object"});
    return parse_error_model(text, path);
}

ErrorModel load_error_model(const std::string& path, const Topology& topo) {
    ErrorModel m = load_error_model(path);
    validate_error_model(m, topo, path);
    return m;
}

// ---------------------------------------------------------------- validation

std::vector<int> class_layers(const PatternClass& c, const Topology& topo) {
    std::vector<int> v;
    if (c.layer_scope == LayerScope::Listed) {
        for (const auto& name : c.layers) {
            const int l = topo.find_layer(name);
            if (l >= 0 && topo.layers[size_t(l)].act_bits != 0) v.push_back(l);
        }
        return v;
    }
    for (size_t l = 0; l < topo.layers.size(); ++l)
        if (topo.layers[l].act_bits != 0) v.push_back(int(l));
    return v;
}

std::vector<std::string> check_error_model(const ErrorModel& m, const Topology& topo) {
    Errors errs;
    for (size_t i = 0; i < m.classes.size(); ++i) {
        const PatternClass& c = m.classes[i];
        const std::string path = at("classes", i);
        for (size_t k = 0; k < c.layers.size(); ++k) {
            const int l = topo.find_layer(c.layers[k]);
            if (l < 0)
                errs.push_back(at(path + ".layers", k) + "=" + c.layers[k] + " is not a layer of topology " +
                               topo.name);
            else if (topo.layers[size_t(l)].act_bits == 0)
                errs.push_back(at(path + ".layers", k) + "=" + c.layers[k] + " has no activation (last layer)");
        }
        // Channels and pixels: each must exist in at least one of the class's
        // layers (class_reaches), so they are checked against the widest.
        const std::vector<int> ls = class_layers(c, topo);
        auto widest = [&](auto size) {
            int best = ls.empty() ? -1 : ls[0];
            for (int l : ls)
                if (size(topo.layers[size_t(l)]) > size(topo.layers[size_t(best)])) best = l;
            return best;
        };
        const int lc = widest([](const LayerSpec& s) { return s.mh(); });
        const int lp = widest([](const LayerSpec& s) { return s.pooled_dim; });
        auto where = [&](int l) {
            return (ls.size() == 1 ? " of layer " : " of any of its layers (widest: ") + topo.layers[size_t(l)].name;
        };
        const size_t errs_before = errs.size();
        if (lc >= 0) {
            const int C = topo.layers[size_t(lc)].mh();
            const std::string in = where(lc) + (ls.size() == 1 ? " (" : ", ") + std::to_string(C) + " channels)";
            for (size_t k = 0; k < c.channels.list.size(); ++k)
                if (c.channels.list[k] >= C)
                    errs.push_back(at(path + ".channels", k) + "=" + std::to_string(c.channels.list[k]) +
                                   " is not a channel" + in);
            if (c.channels.modulus > 0 && c.channels.residue >= C)
                errs.push_back(path + ".channels.residue=" + std::to_string(c.channels.residue) +
                               " selects no channel" + in);
        }
        if (lp >= 0) {
            const int D = topo.layers[size_t(lp)].pooled_dim;
            const std::string in = where(lp) + (ls.size() == 1 ? " (" : ", ") + std::to_string(D) + " x " +
                                   std::to_string(D) + " output)";
            for (size_t k = 0; k < c.pixels.list.size(); ++k)
                if (c.pixels.list[k] >= D * D)
                    errs.push_back(at(path + ".pixels", k) + "=" + std::to_string(c.pixels.list[k]) +
                                   " is not a pixel" + in);
        }
        if (errs.size() == errs_before && !ls.empty() &&
            std::none_of(ls.begin(), ls.end(), [&](int l) { return class_reaches(c, topo.layers[size_t(l)]); })) {
            std::string names;
            for (int l : ls) names += (names.empty() ? "" : ", ") + topo.layers[size_t(l)].name;
            errs.push_back(path + " acts on no layer: none of " + names +
                           " has one of its channels and one of its pixels");
        }
        for (int l : ls) {
            const LayerSpec& s = topo.layers[size_t(l)];
            const std::string in = " of layer " + s.name;
            const ActRange r = act_range(s.act_bits);
            const std::string codes = " (codes " + std::to_string(r.lo) + ".." + std::to_string(r.hi) + ")";
            auto bad = [&](int code) { return code < r.lo || code > r.hi; };
            if (c.effect == Effect::Stuck && bad(c.stuck_code))
                errs.push_back(path + ".stuck=" + std::to_string(c.stuck_code) + " is not an activation code" + in +
                               codes);
            if (c.effect == Effect::Transition)
                for (const auto& [golden, faulty] : c.transition) {
                    const std::string tp = path + ".transition." + std::to_string(golden);
                    if (bad(golden)) errs.push_back(tp + ": golden code is not an activation code" + in + codes);
                    if (bad(faulty))
                        errs.push_back(tp + "=" + std::to_string(faulty) + " is not an activation code" + in + codes);
                }
        }
    }
    return errs;
}

void validate_error_model(const ErrorModel& m, const Topology& topo, const std::string& source) {
    const Errors errs = check_error_model(m, topo);
    if (!errs.empty()) throw ConfigError(source, errs);
}

// ---------------------------------------------------------------- writing

namespace {

ojson to_ojson(const ErrorModel& m) {
    ojson j = ojson::object();
    j["granularity"] = to_string(m.granularity);
    if (m.granularity == ErrorModelKind::Group) j["group_modulus"] = m.group_modulus;
    ojson classes = ojson::array();
    for (const PatternClass& c : m.classes) {
        ojson o = ojson::object();
        if (!c.name.empty()) o["name"] = c.name;
        o["weight"] = c.weight;
        switch (c.layer_scope) {
            case LayerScope::Any: o["layers"] = "any"; break;
            case LayerScope::All: o["layers"] = "all"; break;
            case LayerScope::Listed: o["layers"] = c.layers; break;
        }
        if (c.channels.modulus > 0)
            o["channels"] = ojson{{"modulus", c.channels.modulus}, {"residue", c.channels.residue}};
        else if (c.channels.all())
            o["channels"] = "all";
        else
            o["channels"] = c.channels.list;
        if (c.pixels.all())
            o["pixels"] = "all";
        else
            o["pixels"] = c.pixels.list;
        switch (c.effect) {
            case Effect::StuckUniform: o["stuck"] = "any"; break;
            case Effect::Stuck: o["stuck"] = c.stuck_code; break;
            case Effect::Transition: {
                ojson t = ojson::object();
                for (const auto& [golden, faulty] : c.transition) t[std::to_string(golden)] = faulty;
                o["transition"] = t;
                break;
            }
        }
        classes.push_back(o);
    }
    j["classes"] = classes;
    return j;
}

bool is_flat(const ojson& j) {
    for (const auto& v : j)
        if (v.is_structured()) return false;
    return true;
}

// Block style for nesting, flow style for maps and lists of scalars.
void emit(YAML::Emitter& e, const ojson& j) {
    if (j.is_object()) {
        if (is_flat(j)) e << YAML::Flow;
        e << YAML::BeginMap;
        for (auto it = j.begin(); it != j.end(); ++it) {
            e << YAML::Key << it.key() << YAML::Value;
            emit(e, it.value());
        }
        e << YAML::EndMap;
    } else if (j.is_array()) {
        if (is_flat(j)) e << YAML::Flow;
        e << YAML::BeginSeq;
        for (const auto& v : j) emit(e, v);
        e << YAML::EndSeq;
    } else if (j.is_string()) {
        e << j.get<std::string>();
    } else {
        e << j.dump();  // numbers keep their round-trip JSON spelling
    }
}

}  // namespace

std::string error_model_to_json(const ErrorModel& m) { return to_ojson(m).dump(2) + "\n"; }

std::string error_model_to_yaml(const ErrorModel& m) {
    YAML::Emitter e;
    emit(e, to_ojson(m));
    return std::string(e.c_str()) + "\n";
}

void save_error_model(const ErrorModel& m, const std::string& path) {
    const bool json = std::filesystem::path(path).extension() == ".json";
    write_file_atomic(path, json ? error_model_to_json(m) : error_model_to_yaml(m));
}

// ---------------------------------------------------------------- use

bool class_reaches(const PatternClass& c, const LayerSpec& s) {
    const int C = s.mh(), P = s.pooled_dim * s.pooled_dim;
    const bool ch = c.channels.modulus > 0 ? c.channels.residue < C
                                           : c.channels.list.empty() ||
                                                 std::any_of(c.channels.list.begin(), c.channels.list.end(),
                                                             [&](int k) { return k < C; });
    const bool px = c.pixels.list.empty() ||
                    std::any_of(c.pixels.list.begin(), c.pixels.list.end(), [&](int k) { return k < P; });
    return ch && px;
}

ErrorPattern to_error_pattern(const PatternClass& c, const Topology& topo, int layer, int uniform_code) {
    const LayerSpec& s = topo.layers.at(size_t(layer));
    if (!class_reaches(c, s))  // an empty list would mean "all channels" (pixels)
        throw std::invalid_argument("error model class selects no channel or pixel of layer " + s.name);
    ErrorPattern p;
    p.layer = layer;
    const int C = s.mh(), P = s.pooled_dim * s.pooled_dim;
    for (int k : c.channels.resolve(C))
        if (k < C) p.channels.push_back(k);
    for (int k : c.pixels.list)
        if (k < P) p.pixels.push_back(k);
    std::sort(p.pixels.begin(), p.pixels.end());
    switch (c.effect) {
        case Effect::StuckUniform: p.stuck_code = uniform_code; break;
        case Effect::Stuck: p.stuck_code = c.stuck_code; break;
        case Effect::Transition: {
            const ActRange r = act_range(s.act_bits);
            p.transition_lo = r.lo;
            for (int code = r.lo; code <= r.hi; ++code) {
                const auto it = c.transition.find(code);
                p.transition.push_back(int8_t(it == c.transition.end() ? code : it->second));
            }
            break;
        }
    }
    return p;
}

}  // namespace fatsim
