#include "yaml_fields.hpp"

#include <climits>
#include <cstdint>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "config.hpp"

namespace fatsim::yamlf {

YAML::Node load(const std::string& text, const std::string& source) {
    try {
        return YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::ostringstream ss;
        ss << "syntax error";
        if (!e.mark.is_null()) ss << " at line " << e.mark.line + 1 << ", column " << e.mark.column + 1;
        ss << ": " << e.msg;
        throw ConfigError(source, {ss.str()});
    }
}

YAML::Node load_map(const std::string& text, const std::string& source) {
    YAML::Node root = load(text, source);
    if (!root.IsMap()) throw ConfigError(source, {"top level must be a map"});
    return root;
}

std::string shown(const YAML::Node& n) {
    if (n.IsScalar()) return "=" + n.Scalar();
    if (n.IsMap()) return " (a map)";
    if (n.IsSequence()) return " (a list)";
    return " (empty)";
}

std::string sub(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> allowed,
                Errors& errs) {
    ConfigSection section;
    for (const char* a : allowed) section.params.push_back(param::string(a, "", ""));
    check_keys(map, path, section, errs);
}

bool get_int(const YAML::Node& map, const char* key, const std::string& path, int& out, Errors& errs, int lo,
             int hi) {
    const YAML::Node n = map[key];
    if (!n) return false;
    const std::string p = sub(path, key);
    int v = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v)) {
        errs.push_back(p + shown(n) + " must be an integer");
        return false;
    }
    if (v < lo || v > hi) {
        errs.push_back(p + "=" + std::to_string(v) + " must be in " + std::to_string(lo) + ".." + std::to_string(hi));
        return false;
    }
    out = v;
    return true;
}

bool get_double(const YAML::Node& map, const char* key, const std::string& path, double& out, Errors& errs,
                double lo, double hi) {
    const YAML::Node n = map[key];
    if (!n) return false;
    const std::string p = sub(path, key);
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
        errs.push_back(p + shown(n) + " must be a number");
        return false;
    }
    if (!(v >= lo && v <= hi)) {
        std::ostringstream ss;
        ss << p << "=" << n.Scalar() << " must be in " << lo << ".." << hi;
        errs.push_back(ss.str());
        return false;
    }
    out = v;
    return true;
}

bool get_bool(const YAML::Node& map, const char* key, const std::string& path, bool& out, Errors& errs) {
    const YAML::Node n = map[key];
    if (!n) return false;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
        errs.push_back(sub(path, key) + shown(n) + " must be true or false");
        return false;
    }
    out = v;
    return true;
}

bool valid_utf8(const std::string& s) {
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};  // shortest form per length
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        int more = 0;
        uint32_t cp = c;
        if (c >= 0xF0 && c < 0xF8) more = 3, cp = c & 0x07;
        else if (c >= 0xE0 && c < 0xF0) more = 2, cp = c & 0x0F;
        else if (c >= 0xC0 && c < 0xE0) more = 1, cp = c & 0x1F;
        else if (c >= 0x80) return false;
        if (s.size() - i <= size_t(more)) return false;
        for (int k = 1; k <= more; ++k) {
            const unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (cp < kMin[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += size_t(more) + 1;
    }
    return true;
}

bool get_string(const YAML::Node& map, const char* key, const std::string& path, std::string& out, Errors& errs,
                bool required) {
    const YAML::Node n = map[key];
    const std::string p = sub(path, key);
    if (!n) {
        if (required) errs.push_back(p + ": required key missing");
        return false;
    }
    if (!n.IsScalar() || n.Scalar().empty()) {
        errs.push_back(p + shown(n) + " must be a non-empty string");
        return false;
    }
    if (!valid_utf8(n.Scalar())) {
        errs.push_back(p + " must be UTF-8 text");
        return false;
    }
    out = n.Scalar();
    return true;
}

bool get_choice(const YAML::Node& map, const char* key, const std::string& path,
                std::initializer_list<const char*> choices, std::string& out, Errors& errs) {
    std::string s;
    if (!get_string(map, key, path, s, errs)) return false;
    std::string list;
    for (const char* c : choices) {
        if (s == c) {
            out = s;
            return true;
        }
        list += (list.empty() ? "" : ", ") + std::string(c);
    }
    errs.push_back(sub(path, key) + "=" + s + " must be one of " + list);
    return false;
}

bool get_map(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out, Errors& errs) {
    const YAML::Node n = map[key];
    if (!n) return false;
    if (!n.IsMap()) {
        errs.push_back(sub(path, key) + shown(n) + " must be a map");
        return false;
    }
    out = n;
    return true;
}

bool get_seq(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out, Errors& errs) {
    const YAML::Node n = map[key];
    if (!n) return false;
    if (!n.IsSequence()) {
        errs.push_back(sub(path, key) + shown(n) + " must be a list");
        return false;
    }
    out = n;
    return true;
}

void check_keys(const YAML::Node& map, const std::string& path, const ConfigSection& section, Errors& errs) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        if (!seen.insert(key).second) {
            errs.push_back(sub(path, key) + ": duplicate key");
            continue;
        }
        if (section.find(key)) continue;
        std::string list;
        for (const auto& d : section.params) list += (list.empty() ? "" : ", ") + d.key;
        errs.push_back(sub(path, key) + ": unknown key (allowed: " + list + ")");
    }
}

// ---------------------------------------------------------------- SectionReader

SectionReader::SectionReader(const YAML::Node& map, const ConfigSection& section, std::string path, Errors& errs)
    : map_(map), section_(section), path_(std::move(path)), errs_(errs) {
    check_keys(map_, path_, section_, errs_);
}

const ParamDecl& SectionReader::decl(const char* key, std::initializer_list<ParamType> types) const {
    const ParamDecl& d = section_.at(key);
    for (ParamType t : types)
        if (d.type == t) return d;
    // A parser reading a key as another type than declared: a bug, not bad input.
    throw std::logic_error("config key " + sub(section_.path, key) + " read as another type than declared");
}

bool SectionReader::missing(const ParamDecl& d) const {
    if (map_[d.key]) return false;
    if (d.required) errs_.push_back(sub(path_, d.key) + ": required key missing");
    return true;
}

bool SectionReader::require(const char* key) const {
    section_.at(key);
    if (map_[key]) return true;
    errs_.push_back(sub(path_, key) + ": required key missing");
    return false;
}

namespace {
int int_bound(double v, int fallback) {
    if (v >= double(INT_MAX)) return INT_MAX;
    if (v <= double(INT_MIN)) return INT_MIN;
    return std::isfinite(v) ? int(v) : fallback;
}
}  // namespace

bool SectionReader::get(const char* key, int& out) const {
    const ParamDecl& d = decl(key, {ParamType::Int});
    if (missing(d)) return false;
    const bool any = d.lo > d.hi;
    return get_int(map_, key, path_, out, errs_, any ? INT_MIN : int_bound(d.lo, INT_MIN),
                   any ? INT_MAX : int_bound(d.hi, INT_MAX));
}

bool SectionReader::get(const char* key, double& out) const {
    const ParamDecl& d = decl(key, {ParamType::Number});
    if (missing(d)) return false;
    const bool any = d.lo > d.hi;
    return get_double(map_, key, path_, out, errs_, any ? -HUGE_VAL : d.lo, any ? HUGE_VAL : d.hi);
}

bool SectionReader::get(const char* key, bool& out) const {
    const ParamDecl& d = decl(key, {ParamType::Bool});
    if (missing(d)) return false;
    return get_bool(map_, key, path_, out, errs_);
}

bool SectionReader::get(const char* key, std::string& out) const {
    const ParamDecl& d = decl(key, {ParamType::String, ParamType::Path, ParamType::Choice});
    if (missing(d)) return false;
    if (d.type != ParamType::Choice) return get_string(map_, key, path_, out, errs_);
    std::string s;
    if (!get_string(map_, key, path_, s, errs_)) return false;
    std::string list;
    for (const auto& c : d.choices) {
        if (s == c) {
            out = s;
            return true;
        }
        list += (list.empty() ? "" : ", ") + c;
    }
    errs_.push_back(sub(path_, key) + "=" + s + " must be one of " + list);
    return false;
}

bool SectionReader::get(const char* key, YAML::Node& out) const {
    const ParamDecl& d = decl(key, {ParamType::Map, ParamType::List, ParamType::Custom});
    if (missing(d)) return false;
    if (d.type == ParamType::Map) return get_map(map_, key, path_, out, errs_);
    if (d.type == ParamType::List) return get_seq(map_, key, path_, out, errs_);
    out = map_[key];
    return true;
}

}  // namespace fatsim::yamlf
