// Field readers shared by the YAML parsers (topologies, accelerators,
// campaign specs, pipeline specs):
// each records "path: rule" or "path=value rule" errors into a list so a file's
// problems are reported all at once. Parser-internal: include it only from a
// parser's .cpp (it names yaml-cpp types).
#pragma once
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "config.hpp"

namespace fatsim::yamlf {

using Errors = std::vector<std::string>;

// Parses YAML text; a syntax error throws ConfigError(source).
YAML::Node load(const std::string& text, const std::string& source);
// Same, and a non-map top level throws ConfigError(source) too.
YAML::Node load_map(const std::string& text, const std::string& source);

std::string shown(const YAML::Node& n);  // "=value", " (a map)", ...
std::string sub(const std::string& path, const std::string& key);
void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> allowed,
                Errors& errs);
bool get_int(const YAML::Node& map, const char* key, const std::string& path, int& out, Errors& errs, int lo, int hi);
bool get_double(const YAML::Node& map, const char* key, const std::string& path, double& out, Errors& errs,
                double lo, double hi);
bool get_bool(const YAML::Node& map, const char* key, const std::string& path, bool& out, Errors& errs);
// Whether s is well-formed UTF-8 (names end up in JSON files, which hold
// UTF-8 text only).
bool valid_utf8(const std::string& s);
bool get_string(const YAML::Node& map, const char* key, const std::string& path, std::string& out, Errors& errs,
                bool required = false);
bool get_choice(const YAML::Node& map, const char* key, const std::string& path,
                std::initializer_list<const char*> choices, std::string& out, Errors& errs);
// A map-valued key; records an error when present but not a map.
bool get_map(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out, Errors& errs);
// A list-valued key; records an error when present but not a list.
bool get_seq(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out, Errors& errs);
// Rejects keys the section does not declare, and repeated keys.
void check_keys(const YAML::Node& map, const std::string& path, const ConfigSection& section, Errors& errs);

// Reads the keys of one map through their declarations (ConfigSection): the
// key check runs on construction; each get() takes type, range, choices and
// "required" from the declaration, so a parser names only the key and where
// the value goes. get() returns whether a value was read (`out` untouched if not).
class SectionReader {
public:
    // `path` is where the map is in the file ("", "dataset", "layers[2]").
    SectionReader(const YAML::Node& map, const ConfigSection& section, std::string path, Errors& errs);
    bool get(const char* key, int& out) const;
    bool get(const char* key, double& out) const;
    bool get(const char* key, bool& out) const;
    bool get(const char* key, std::string& out) const;  // String, Path (not resolved), Choice
    bool get(const char* key, YAML::Node& out) const;   // Map, List, Custom
    // Records "key: required key missing" when absent (for keys required only
    // in some cases, e.g. by architecture); returns whether present.
    bool require(const char* key) const;
    const std::string& path() const { return path_; }

private:
    const ParamDecl& decl(const char* key, std::initializer_list<ParamType> types) const;
    bool missing(const ParamDecl& d) const;  // absent; records the error when required

    YAML::Node map_;
    const ConfigSection& section_;
    std::string path_;
    Errors& errs_;
};

}  // namespace fatsim::yamlf
