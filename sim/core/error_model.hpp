// Error models: a weighted set of pattern classes, each naming what fails
// together (layers, channels, pixels) and what the values become (a stuck
// code, a code drawn uniformly from the layer's levels, or a transition table
// golden code -> faulty code), plus the granularity at which a class fires.
// The trainer's injection layer reads them; a class turns into ErrorPatterns
// for the golden engine. File format: YAML (human) or JSON (machines), same
// keys; see README "Error model files". No YAML or JSON type appears here.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "error_pattern.hpp"
#include "topology.hpp"

namespace fatsim {

// Which layers a class strikes.
enum class LayerScope {
    Any,     // any one layer with an activation: each occurrence hits one layer
    All,     // every layer with an activation at once (e.g. one shared PE array)
    Listed,  // the named layers at once
};

struct ChannelSet {
    std::vector<int> list;  // explicit channels, distinct; used when modulus == 0 (empty = all)
    int modulus = 0;        // > 0: the channels c with c mod modulus == residue (one PE of PE = modulus)
    int residue = 0;
    bool all() const { return modulus == 0 && list.empty(); }
    bool contains(int c) const;
    // The channels of a layer with `channels` outputs, ascending; empty = all
    // (only for an all set: a residue beyond the channels also gives empty).
    std::vector<int> resolve(int channels) const;
};

struct PixelSet {
    std::vector<int> list;  // pixels y*dim + x of the layer's output, distinct; empty = all
    bool all() const { return list.empty(); }
    bool contains(int px) const;
};

enum class Effect {
    StuckUniform,  // stuck at one of the layer's M levels, each equally likely (the paper's model)
    Stuck,         // stuck at stuck_code
    Transition,    // golden code -> transition[golden]; codes absent from the table stay unchanged
};

struct PatternClass {
    std::string name;  // optional label
    double weight = 1.0;
    LayerScope layer_scope = LayerScope::Any;
    std::vector<std::string> layers;  // LayerScope::Listed
    ChannelSet channels;
    PixelSet pixels;
    Effect effect = Effect::StuckUniform;
    int stuck_code = 0;             // Effect::Stuck
    std::map<int, int> transition;  // Effect::Transition
};

// How a model fires (the trainer's injection layer): every unit of the
// granularity (element, channel, pixel, or channel group {c : c mod
// group_modulus == g}) of a layer output fails independently with the
// injection probability p, if any class can strike it; a failed unit draws one
// class by weight among those that can, and the elements of the unit inside
// the class's channel and pixel sets take the class's effect.
struct ErrorModel {
    ErrorModelKind granularity = ErrorModelKind::Channel;
    int group_modulus = 0;  // granularity group only (>= 1)
    std::vector<PatternClass> classes;
};

bool operator==(const ChannelSet& a, const ChannelSet& b);
bool operator==(const PixelSet& a, const PixelSet& b);
bool operator==(const PatternClass& a, const PatternClass& b);
bool operator==(const ErrorModel& a, const ErrorModel& b);
inline bool operator!=(const ErrorModel& a, const ErrorModel& b) { return !(a == b); }

// ---- built-in models ----------------------------------------------------------
// The paper's models: element | channel | pixel (or group of `group_modulus`)
// stuck-at, the level drawn uniformly from the layer's M levels, on any layer.
ErrorModel stuck_at_error_model(ErrorModelKind granularity, int group_modulus = 0);
// The channel-group model: channels {c : c mod modulus == g} fail together and
// a failed group takes one transition table drawn by weight. No tables =
// uniform stuck-at (stuck_at_error_model(Group, modulus)).
struct WeightedTransition {
    double weight = 1.0;
    std::map<int, int> transition;  // golden code -> faulty code
};
ErrorModel group_error_model(int modulus, const std::vector<WeightedTransition>& tables = {});

// ---- files ---------------------------------------------------------------------
// Parse YAML or JSON text (JSON when it starts with '{'). Every error names the
// source, the field path and the rule; all are collected into one ConfigError.
ErrorModel parse_error_model(const std::string& text, const std::string& source);
// Load a file (.json: JSON; otherwise YAML, or JSON by content).
ErrorModel load_error_model(const std::string& path);
// Load and check against a topology (one ConfigError with every problem).
ErrorModel load_error_model(const std::string& path, const Topology& topo);
// The problems of a model against a topology, as "field path: rule" strings:
// a layer, channel, pixel or code that the topology lacks.
std::vector<std::string> check_error_model(const ErrorModel& m, const Topology& topo);
// Throws ConfigError(source, check_error_model(m, topo)) when there are problems.
void validate_error_model(const ErrorModel& m, const Topology& topo, const std::string& source);

std::string error_model_to_yaml(const ErrorModel& m);
std::string error_model_to_json(const ErrorModel& m);
// Atomic write; .json -> JSON, anything else YAML.
void save_error_model(const ErrorModel& m, const std::string& path);

// ---- use -----------------------------------------------------------------------
// The topology layers a class can strike (layers with an activation): for
// LayerScope::Any each one alone, otherwise all of them together.
std::vector<int> class_layers(const PatternClass& c, const Topology& topo);
// A class that spans several layers acts in each on the listed channels and
// pixels that layer has (in a loopback engine one PE's channels c mod PE = p
// reach further in the wider layers); true if the layer has any of them.
bool class_reaches(const PatternClass& c, const LayerSpec& layer);
// The class's pattern on one layer (its channels and pixels that the layer
// has; throws std::invalid_argument when it has none: see class_reaches).
// Effect::StuckUniform needs the drawn code.
ErrorPattern to_error_pattern(const PatternClass& c, const Topology& topo, int layer, int uniform_code = 0);

}  // namespace fatsim
