// Checks a config parser against its declaration table (ConfigSchema): every
// declared key is accepted as known in its section, an undeclared one is
// rejected as unknown, and describe_schema lists every key path.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"

namespace fatsim::testing {

// The parser under test: YAML text -> its errors (empty when it parsed).
using ParseErrors = std::function<std::vector<std::string>(const std::string& yaml)>;

inline std::vector<std::string> errors_of(const std::function<void()>& parse) {
    try {
        parse();
    } catch (const ConfigError& e) {
        return e.errors();
    }
    return {};
}

// A value of the declared type (it need not pass the other rules).
inline std::string sample_value(const ParamDecl& d) {
    switch (d.type) {
        case ParamType::Int:
        case ParamType::Number: return d.lo > d.hi ? "1" : param::num(d.lo);
        case ParamType::Bool: return "true";
        case ParamType::Choice: return d.choices.at(0);
        case ParamType::Map: return "{}";
        case ParamType::List: return "[]";
        case ParamType::Custom: return "all";
        default: return "x";
    }
}

// A document with `key: value` in the section's map, and the error path
// prefix of that map ("", "input.", "layers[0].", "physical.accels[0].").
inline std::pair<std::string, std::string> doc_with(const std::string& section, const std::string& key,
                                                    const std::string& value) {
    if (section.empty()) return {key + ": " + value + "\n", ""};
    std::vector<std::string> parts;  // "physical", "accels[]"
    for (size_t a = 0, b; a <= section.size(); a = b + 1) {
        b = std::min(section.find('.', a), section.size());
        parts.push_back(section.substr(a, b - a));
    }
    std::string v = "{" + key + ": " + value + "}", prefix;
    for (size_t k = parts.size(); k-- > 0;) {
        const std::string& part = parts[k];
        const bool list = part.size() > 2 && part.compare(part.size() - 2, 2, "[]") == 0;
        const std::string name = list ? part.substr(0, part.size() - 2) : part;
        if (list) v = "[" + v + "]";
        v = k == 0 ? name + ": " + v + "\n" : "{" + name + ": " + v + "}";
        prefix = name + (list ? "[0]." : ".") + prefix;
    }
    return {v, prefix};
}

inline bool has_prefix(const std::vector<std::string>& errs, const std::string& prefix) {
    for (const auto& e : errs)
        if (e.rfind(prefix, 0) == 0) return true;
    return false;
}

inline void expect_parser_follows_schema(const ConfigSchema& schema, const ParseErrors& parse) {
    ASSERT_FALSE(schema.sections.empty());
    const std::string described = describe_schema(schema);
    for (const auto& sec : schema.sections) {
        SCOPED_TRACE(schema.kind + " section '" + sec.path + "'");
        ASSERT_FALSE(sec.params.empty());
        for (const auto& d : sec.params) {
            const auto [yaml, at] = doc_with(sec.path, d.key, sample_value(d));
            EXPECT_FALSE(has_prefix(parse(yaml), at + d.key + ": unknown key")) << "declared key refused: " << yaml;
            EXPECT_NE(described.find("  " + (sec.path.empty() ? d.key : sec.path + "." + d.key) + " "),
                      std::string::npos)
                << "describe lacks " << sec.path << "." << d.key;
            EXPECT_FALSE(d.description.empty()) << d.key;
        }
        const auto [yaml, at] = doc_with(sec.path, "undeclared_key", "1");
        EXPECT_TRUE(has_prefix(parse(yaml), at + "undeclared_key: unknown key (allowed: " + sec.params[0].key))
            << "undeclared key accepted: " << yaml;
    }
}

}  // namespace fatsim::testing
