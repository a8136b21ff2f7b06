// Error models (sim/core/error_model.cpp) and transition patterns
// (error_pattern.cpp): parsing with field-path errors, validation against a
// topology, YAML <-> JSON round trips, the built-in models, and transition
// tables applied to a layer output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config.hpp"
#include "error_model.hpp"
#include "files.hpp"

using namespace fatsim;
namespace fs = std::filesystem;

namespace {

// A2 activations; conv0: 8 channels 8x8, conv1: 8 channels 3x3 after pooling.
Topology a2_topology() {
    return parse_topology(
        "name: tiny\ninput: {channels: 3, dim: 10, bits: 8}\nweight_bits: 1\nact_bits: 2\nwidth: 1.0\nlayers:\n"
        "  - {name: conv0, type: conv, channels: 8, kernel: 3}\n"
        "  - {name: conv1, type: conv, channels: 8, kernel: 3, pool: 2}\n"
        "  - {name: fc0, type: fc, channels: 16}\n"
        "  - {name: fc1, type: fc, channels: 10, act_bits: 0, scale: false}\n",
        "tiny.yaml");
}

const char* kFullModel =
    "granularity: group\n"
    "group_modulus: 4\n"
    "classes:\n"
    "  - name: pe1-flip\n"
    "    weight: 2.5\n"
    "    layers: [conv1]\n"
    "    channels: {modulus: 4, residue: 1}\n"
    "    transition: {-1: 1, 1: -1}\n"
    "  - {layers: [conv0], channels: [0, 3], pixels: [0, 4, 8], stuck: -1}\n"
    "  - {layers: any, stuck: any}\n"
    "  - {layers: all, pixels: [0], stuck: 1}\n";

std::vector<std::string> errors_of(const std::string& text) {
    try {
        parse_error_model(text, "m.yaml");
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "m.yaml");
        return e.errors();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return {};
}

void has(const std::vector<std::string>& errs, const std::string& msg) {
    bool found = false;
    for (const auto& e : errs) found = found || e == msg;
    std::string all;
    for (const auto& e : errs) all += "\n  " + e;
    EXPECT_TRUE(found) << "missing '" << msg << "' in:" << all;
}

}  // namespace

TEST(ErrorModel, ParsesEveryForm) {
    const ErrorModel m = parse_error_model(kFullModel, "m.yaml");
    EXPECT_EQ(m.granularity, ErrorModelKind::Group);
    EXPECT_EQ(m.group_modulus, 4);
    ASSERT_EQ(m.classes.size(), 4u);
    const PatternClass& a = m.classes[0];
    EXPECT_EQ(a.name, "pe1-flip");
    EXPECT_EQ(a.weight, 2.5);
    EXPECT_EQ(a.layer_scope, LayerScope::Listed);
    EXPECT_EQ(a.layers, (std::vector<std::string>{"conv1"}));
    EXPECT_EQ(a.channels.modulus, 4);
    EXPECT_EQ(a.channels.residue, 1);
    EXPECT_TRUE(a.pixels.all());
    EXPECT_EQ(a.effect, Effect::Transition);
    EXPECT_EQ(a.transition, (std::map<int, int>{{-1, 1}, {1, -1}}));
    const PatternClass& b = m.classes[1];
    EXPECT_EQ(b.weight, 1.0);
    EXPECT_EQ(b.layer_scope, LayerScope::Listed);
    EXPECT_EQ(b.channels.list, (std::vector<int>{0, 3}));
    EXPECT_EQ(b.pixels.list, (std::vector<int>{0, 4, 8}));
    EXPECT_EQ(b.effect, Effect::Stuck);
    EXPECT_EQ(b.stuck_code, -1);
    EXPECT_EQ(m.classes[2].layer_scope, LayerScope::Any);
    EXPECT_EQ(m.classes[2].effect, Effect::StuckUniform);
    EXPECT_EQ(m.classes[3].layer_scope, LayerScope::All);
    EXPECT_EQ(m.classes[3].effect, Effect::Stuck);
    EXPECT_EQ(m.classes[3].stuck_code, 1);
    EXPECT_TRUE(check_error_model(m, a2_topology()).empty());
    EXPECT_EQ(class_layers(m.classes[0], a2_topology()), (std::vector<int>{1}));
    EXPECT_EQ(class_layers(m.classes[2], a2_topology()), (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(class_layers(m.classes[3], a2_topology()), (std::vector<int>{0, 1, 2}));
}

TEST(ErrorModel, EveryErrorNamesItsFieldAndRule) {
    const auto errs = errors_of(
        "granularity: group\ncolour: red\nclasses:\n"
        "  - {weight: -1, layers: some, channels: {modulus: 4, residue: 4}, stuck: 1, transition: {0: 1}}\n"
        "  - {channels: [1, 1, x], pixels: [], stuck: 300}\n"
        "  - {transition: {a: 1, 0: 9000}}\n"
        "  - {name: nothing}\n"
        "  - 7\n");
    has(errs, "colour: unknown key (allowed: granularity, group_modulus, classes)");
    has(errs, "group_modulus: required key missing (granularity group)");
    has(errs, "classes[0].weight=-1 must be a positive number");
    has(errs, "classes[0].layers=some must be any, all or a non-empty list of layer names");
    has(errs, "classes[0].channels.residue=4 must be in 0..3");
    has(errs, "classes[0]: give stuck or transition, not both");
    has(errs, "classes[1].channels[1]=1 repeats");
    has(errs, "classes[1].channels[2]=x must be a channel index >= 0");
    has(errs, "classes[1].pixels: an empty list selects no pixel (write all)");
    has(errs, "classes[1].stuck=300 must be an activation code (an integer in -128..127)");
    has(errs, "classes[2].transition.a: the golden code (key) must be an integer in -128..127");
    has(errs, "classes[2].transition.0=9000 must be an activation code (an integer in -128..127)");
    has(errs, "classes[3]: required key missing: stuck (a code, or any) or transition (golden: faulty codes)");
    has(errs, "classes[4]=7 must be a map (weight, layers, channels, pixels, stuck | transition)");
    EXPECT_EQ(errs.size(), 14u);
    has(errors_of("classes: [{stuck: 0}]\n"), "granularity: required key missing (element | channel | pixel | group)");
    has(errors_of("granularity: row\nclasses: [{stuck: 0}]\n"),
        "granularity=row must be one of element, channel, pixel, group");
    has(errors_of("granularity: pixel\ngroup_modulus: 2\nclasses: [{stuck: 0}]\n"),
        "group_modulus: only allowed with granularity: group");
    has(errors_of("granularity: pixel\nclasses: []\n"), "classes (a list) must be a non-empty list of pattern classes");
    has(errors_of("granularity: pixel\n"), "classes: required key missing");
    // A name must survive the writers (found by fuzz_error_model: a carriage return did not).
    has(errors_of("granularity: pixel\nclasses: [{name: \"a\\r\", stuck: 0}]\n"),
        "classes[0].name must be printable text (no control characters)");
    has(errors_of("granularity: pixel\nclasses: [{name: \"a\\tb\", stuck: 0}]\n"),
        "classes[0].name must be printable text (no control characters)");
    EXPECT_EQ(parse_error_model("granularity: pixel\nclasses: [{name: \"PE 3: acc \u00e9\", stuck: 0}]\n", "m.yaml")
                  .classes.at(0)
                  .name,
              "PE 3: acc \u00e9");
    // the message of the exception names the file on every line
    try {
        parse_error_model("granularity: pixel\n", "dir/m.yaml");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "dir/m.yaml: classes: required key missing");
    }
}

TEST(ErrorModel, ValidationAgainstTheTopologyNamesTheField) {
    const ErrorModel m = parse_error_model(
        "granularity: channel\nclasses:\n"
        "  - {layers: [conv9, fc1], stuck: 0}\n"
        "  - {layers: [conv1], channels: [2, 8], pixels: [8, 9], stuck: 2}\n"
        "  - {layers: [conv0], channels: {modulus: 16, residue: 12}, transition: {-2: 0, 1: 5}}\n",
        "m.yaml");
    const auto errs = check_error_model(m, a2_topology());
    has(errs, "classes[0].layers[0]=conv9 is not a layer of topology tiny");
    has(errs, "classes[0].layers[1]=fc1 has no activation (last layer)");
    has(errs, "classes[1].channels[1]=8 is not a channel of layer conv1 (8 channels)");
    has(errs, "classes[1].pixels[1]=9 is not a pixel of layer conv1 (3 x 3 output)");
    has(errs, "classes[1].stuck=2 is not an activation code of layer conv1 (codes -1..1)");
    has(errs, "classes[2].channels.residue=12 selects no channel of layer conv0 (8 channels)");
    has(errs, "classes[2].transition.-2: golden code is not an activation code of layer conv0 (codes -1..1)");
    has(errs, "classes[2].transition.1=5 is not an activation code of layer conv0 (codes -1..1)");
    EXPECT_EQ(errs.size(), 8u);
    EXPECT_THROW(validate_error_model(m, a2_topology(), "m.yaml"), ConfigError);
}

// A class spanning layers of different widths (one loopback PE's channels
// c mod PE = p reach further in the wider layers) acts in each on what that
// layer has; a channel or pixel none of its layers has is still an error.
TEST(ErrorModel, MultiLayerClassesActOnWhatEachLayerHas) {
    const Topology t = a2_topology();  // conv0, conv1: 8 channels; fc0: 16; conv1 pooled 3 x 3
    const ErrorModel m = parse_error_model(
        "granularity: channel\nclasses:\n"
        "  - {layers: [conv0, conv1, fc0], channels: [3, 11], stuck: 1}\n"
        "  - {layers: [conv0, fc0], channels: [12], pixels: [0], stuck: 1}\n"
        "  - {layers: [conv0, fc0], channels: [3, 16], stuck: 1}\n"
        "  - {layers: [conv1, fc0], channels: {modulus: 16, residue: 9}, pixels: [8], stuck: 1}\n"
        "  - {layers: [conv1, fc0], pixels: [9], stuck: 1}\n",
        "m.yaml");
    const auto errs = check_error_model(m, t);
    has(errs, "classes[2].channels[1]=16 is not a channel of any of its layers (widest: fc0, 16 channels)");
    has(errs, "classes[3] acts on no layer: none of conv1, fc0 has one of its channels and one of its pixels");
    has(errs, "classes[4].pixels[0]=9 is not a pixel of any of its layers (widest: conv1, 3 x 3 output)");
    EXPECT_EQ(errs.size(), 3u);
    const LayerSpec &conv0 = t.layers[0], &conv1 = t.layers[1], &fc0 = t.layers[2];
    EXPECT_TRUE(class_reaches(m.classes[0], conv0));
    EXPECT_EQ(to_error_pattern(m.classes[0], t, 0).channels, (std::vector<int>{3}));
    EXPECT_EQ(to_error_pattern(m.classes[0], t, 2).channels, (std::vector<int>{3, 11}));
    EXPECT_FALSE(class_reaches(m.classes[1], conv0));  // channel 12: fc0 only
    EXPECT_TRUE(class_reaches(m.classes[1], fc0));
    EXPECT_THROW(to_error_pattern(m.classes[1], t, 0), std::invalid_argument);  // never "all channels"
    EXPECT_FALSE(class_reaches(m.classes[3], conv1));  // residue 9 of 8 channels
    EXPECT_FALSE(class_reaches(m.classes[3], fc0));    // one pixel: pixel 8 is not there
}

TEST(ErrorModel, YamlAndJsonRoundTripToAnEqualModel) {
    const ErrorModel m = parse_error_model(kFullModel, "m.yaml");
    const std::string json = error_model_to_json(m), yaml = error_model_to_yaml(m);
    EXPECT_EQ(json.front(), '{');
    EXPECT_EQ(parse_error_model(json, "m.json"), m) << json;
    EXPECT_EQ(parse_error_model(yaml, "m2.yaml"), m) << yaml;
    ErrorModel other = m;
    other.classes[0].transition[0] = 1;
    EXPECT_NE(parse_error_model(json, "m.json"), other);
    // save / load by extension; content decides for another extension
    const fs::path dir = fs::temp_directory_path() / "fatsim_test_error_model";
    fs::create_directories(dir);
    for (const char* name : {"m.json", "m.yaml"}) {
        save_error_model(m, (dir / name).string());
        EXPECT_EQ(load_error_model((dir / name).string(), a2_topology()), m) << name;
    }
    EXPECT_EQ(read_text_file((dir / "m.json").string()), json);
    fs::copy_file(dir / "m.json", dir / "m.model", fs::copy_options::overwrite_existing);
    EXPECT_EQ(load_error_model((dir / "m.model").string()), m);
    write_file_atomic((dir / "bad.json").string(), "{\"granularity\": \"pixel\",");
    try {
        load_error_model((dir / "bad.json").string());
        FAIL();
    } catch (const ConfigError& e) {
        ASSERT_EQ(e.errors().size(), 1u);
        EXPECT_EQ(e.errors()[0].rfind("JSON syntax error", 0), 0u) << e.errors()[0];
    }
    // a JSON model gets the same field checks as YAML
    write_file_atomic((dir / "bad.json").string(), "{\"granularity\": \"pixel\", \"classes\": [{\"stuck\": \"x\"}]}");
    try {
        load_error_model((dir / "bad.json").string());
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.errors(),
                  std::vector<std::string>{"classes[0].stuck=x must be an activation code (an integer in -128..127)"});
    }
    fs::remove_all(dir);
}

TEST(ErrorModel, BuiltinModelsAreThePapersAndTheGroupModel) {
    for (auto k : {ErrorModelKind::Element, ErrorModelKind::Channel, ErrorModelKind::Pixel}) {
        const std::string yaml = std::string("granularity: ") + to_string(k) + "\nclasses: [{stuck: any}]\n";
        EXPECT_EQ(stuck_at_error_model(k), parse_error_model(yaml, "b.yaml")) << to_string(k);
    }
    EXPECT_EQ(stuck_at_error_model(ErrorModelKind::Group, 4),
              parse_error_model("granularity: group\ngroup_modulus: 4\nclasses: [{stuck: any}]\n", "g.yaml"));
    EXPECT_EQ(group_error_model(4), stuck_at_error_model(ErrorModelKind::Group, 4));
    const ErrorModel g = group_error_model(4, {{3.0, {{-1, 1}}}, {1.0, {{0, -1}, {1, 0}}}});
    EXPECT_EQ(g, parse_error_model("granularity: group\ngroup_modulus: 4\nclasses:\n"
                                   "  - {weight: 3, transition: {-1: 1}}\n  - {transition: {0: -1, 1: 0}}\n",
                                   "g.yaml"));
}

TEST(ErrorModel, GranularityNamesParseInOnePlace) {
    EXPECT_EQ(parse_error_model_kind("channel"), ErrorModelKind::Channel);
    EXPECT_EQ(parse_error_model_kind("pixel"), ErrorModelKind::Pixel);
    // campaigns take channel | pixel: the message lists exactly those
    try {
        parse_error_model_kind("element");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "error model 'element' is not one of: channel, pixel");
    }
    const auto all = {ErrorModelKind::Element, ErrorModelKind::Channel, ErrorModelKind::Pixel, ErrorModelKind::Group};
    for (auto k : all) EXPECT_EQ(parse_error_model_kind(to_string(k), all), k);
    EXPECT_THROW(parse_error_model_kind("stuck", all), ErrorModelKindError);
}

TEST(ErrorPattern, TransitionTableMapsGoldenCodes) {
    const Topology t = a2_topology();
    PatternClass c;
    c.layer_scope = LayerScope::Listed;
    c.layers = {"conv1"};
    c.channels.modulus = 4;
    c.channels.residue = 1;
    c.pixels.list = {7, 2};
    c.effect = Effect::Transition;
    c.transition = {{-1, 1}, {1, 0}};  // 0 stays 0
    const ErrorPattern p = to_error_pattern(c, t, 1);
    EXPECT_EQ(p.layer, 1);
    EXPECT_EQ(p.channels, (std::vector<int>{1, 5}));
    EXPECT_EQ(p.pixels, (std::vector<int>{2, 7}));
    EXPECT_EQ(p.transition_lo, -1);
    EXPECT_EQ(p.transition, (std::vector<int8_t>{1, 0, 0}));
    const int D = 3, C = 8;
    std::vector<int8_t> out(size_t(D * D * C)), golden;
    for (size_t i = 0; i < out.size(); ++i) out[i] = int8_t(int(i % 3) - 1);
    golden = out;
    apply_error_pattern(p, out.data(), D, C);
    for (int px = 0; px < D * D; ++px)
        for (int ch = 0; ch < C; ++ch) {
            const int8_t g = golden[size_t(px * C + ch)], o = out[size_t(px * C + ch)];
            const bool hit = (px == 2 || px == 7) && (ch == 1 || ch == 5);
            const int8_t want = !hit ? g : g == -1 ? 1 : g == 1 ? 0 : 0;
            EXPECT_EQ(o, want) << "pixel " << px << " channel " << ch;
        }
    // all channels, all pixels: every code mapped once
    ErrorPattern every = p;
    every.channels.clear();
    every.pixels.clear();
    out = golden;
    apply_error_pattern(every, out.data(), D, C);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], golden[i] == -1 ? 1 : 0) << i;
    // stuck classes lower to stuck patterns
    c.effect = Effect::Stuck;
    c.stuck_code = -1;
    EXPECT_TRUE(to_error_pattern(c, t, 1).transition.empty());
    EXPECT_EQ(to_error_pattern(c, t, 1).stuck_code, -1);
    c.effect = Effect::StuckUniform;
    EXPECT_EQ(to_error_pattern(c, t, 1, 1).stuck_code, 1);
}

TEST(ErrorModel, ShippedExampleLoadsAgainstItsTopology) {
    const std::string root = FATSIM_SOURCE_DIR;
    const Topology t = load_topology(root + "/models/cnv_w1a2.yaml");
    const ErrorModel m = load_error_model(root + "/models/error_models/pe_group_example.yaml", t);
    EXPECT_EQ(m.granularity, ErrorModelKind::Group);
    EXPECT_GE(m.classes.size(), 2u);
}
