// Field readers shared by the YAML parsers (campaign specs, pipeline specs):
// each records "path: rule" or "path=value rule" errors into a list so a file's
// problems are reported all at once. Parser-internal: include it only from a
// parser's .cpp (it names yaml-cpp types).
#pragma once
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace fatsim::yamlf {

using Errors = std::vector<std::string>;

// Parses YAML text; a syntax error or a non-map top level throws ConfigError(source).
YAML::Node load_map(const std::string& text, const std::string& source);

std::string shown(const YAML::Node& n);  // "=value", " (a map)", ...
std::string sub(const std::string& path, const std::string& key);
void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> allowed,
                Errors& errs);
bool get_int(const YAML::Node& map, const char* key, const std::string& path, int& out, Errors& errs, int lo, int hi);
bool get_double(const YAML::Node& map, const char* key, const std::string& path, double& out, Errors& errs,
                double lo, double hi);
bool get_bool(const YAML::Node& map, const char* key, const std::string& path, bool& out, Errors& errs);
bool get_string(const YAML::Node& map, const char* key, const std::string& path, std::string& out, Errors& errs,
                bool required = false);
bool get_choice(const YAML::Node& map, const char* key, const std::string& path,
                std::initializer_list<const char*> choices, std::string& out, Errors& errs);
// A map-valued key; records an error when present but not a map.
bool get_map(const YAML::Node& map, const char* key, const std::string& path, YAML::Node& out, Errors& errs);

}  // namespace fatsim::yamlf
