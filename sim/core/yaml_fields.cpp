#include "yaml_fields.hpp"

#include <set>
#include <sstream>

#include "config.hpp"

namespace fatsim::yamlf {

YAML::Node load_map(const std::string& text, const std::string& source) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::ostringstream ss;
        ss << "syntax error";
        if (!e.mark.is_null()) ss << " at line " << e.mark.line + 1 << ", column " << e.mark.column + 1;
        ss << ": " << e.msg;
        throw ConfigError(source, {ss.str()});
    }
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
    std::set<std::string> seen;
    for (const auto& kv : map) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        if (!seen.insert(key).second) {
            errs.push_back(sub(path, key) + ": duplicate key");
            continue;
        }
        bool ok = false;
        std::string list;
        for (const char* a : allowed) {
            ok = ok || key == a;
            list += (list.empty() ? "" : ", ") + std::string(a);
        }
        if (!ok) errs.push_back(sub(path, key) + ": unknown key (allowed: " + list + ")");
    }
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
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) {
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

}  // namespace fatsim::yamlf
