// Config layer: shipped topology / accelerator files, FINN folding import and
// the exact error texts (they are part of the interface).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config.hpp"
#include "declared_keys.hpp"
#include "topology.hpp"

namespace fs = std::filesystem;
using namespace fatsim;

namespace {

const std::string kModels = std::string(FATSIM_SOURCE_DIR) + "/models";

std::string model(const std::string& rel) { return kModels + "/" + rel; }

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Replaces exactly one occurrence, so a test fails loudly when a shipped file changes.
std::string replace_once(std::string s, const std::string& from, const std::string& to) {
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << "not found: " << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

// One scratch folder per test, removed afterwards.
class ConfigFiles : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("fatsim_test_config_" + std::to_string(getpid()) + "_" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& text) {
        const fs::path p = dir_ / name;
        std::ofstream(p) << text;
        return p.string();
    }
    // export_finn_folding(in) read back gives the same folding and FIFOs, and
    // exports to the same JSON again; returns that JSON.
    std::string expect_finn_round_trip(const AccelConfig& in, const Topology& t) {
        const std::string json = export_finn_folding(in, t);
        const AccelConfig back = import_finn_folding(write("round_trip.json", json), t);
        EXPECT_EQ(back.layers.size(), in.layers.size());
        for (size_t l = 0; l < in.layers.size() && l < back.layers.size(); ++l) {
            EXPECT_EQ(back.layers[l].name, in.layers[l].name);
            EXPECT_EQ(back.layers[l].pe, in.layers[l].pe);
            EXPECT_EQ(back.layers[l].simd, in.layers[l].simd);
        }
        EXPECT_EQ(back.dataflow.fifo_depths, in.dataflow.fifo_depths);
        EXPECT_EQ(back.dataflow.stream_depths, in.dataflow.stream_depths);
        EXPECT_EQ(export_finn_folding(back, t), json);
        return json;
    }
    fs::path dir_;
};

// Runs f, expects a ConfigError and returns it.
template <class F>
ConfigError expect_error(F&& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "no ConfigError thrown";
    return ConfigError("none", {});
}

bool has_error(const ConfigError& e, const std::string& text) {
    for (const auto& s : e.errors())
        if (s.find(text) != std::string::npos) return true;
    return false;
}

#define EXPECT_HAS_ERROR(e, text) \
    EXPECT_TRUE(has_error((e), (text))) << "missing '" << (text) << "' in:\n" << (e).what()

const char* kTinyTopo = R"(name: tiny
input: {channels: 3, dim: 8, bits: 8}
weight_bits: 1
act_bits: 1
layers:
  - {name: c0, type: conv, channels: 4}
  - {name: c1, type: conv, channels: 4, pool: 2}
  - {name: f0, type: fc, channels: 3, act_bits: 0}
)";

}  // namespace

// ---------------------------------------------------------------- act_range

TEST(ActRange, CodesPerBitWidth) {
    const ActRange a1 = act_range(1);
    EXPECT_EQ(a1.lo, 0);
    EXPECT_EQ(a1.hi, 1);
    EXPECT_TRUE(a1.bipolar);
    EXPECT_EQ(a1.value(0), -1);
    EXPECT_EQ(a1.value(1), 1);
    EXPECT_EQ(a1.thresholds(), 1);
    const ActRange a2 = act_range(2);
    EXPECT_EQ(a2.lo, -1);
    EXPECT_EQ(a2.hi, 1);
    EXPECT_FALSE(a2.bipolar);
    EXPECT_EQ(a2.levels(), 3);
    const ActRange a3 = act_range(3);
    EXPECT_EQ(a3.lo, 0);
    EXPECT_EQ(a3.hi, 7);
    EXPECT_EQ(a3.thresholds(), 7);
    EXPECT_EQ(act_range(4).hi, 15);
    EXPECT_EQ(weight_max(1), 1);
    EXPECT_EQ(weight_max(2), 1);
    EXPECT_EQ(weight_max(4), 7);
}

// ---------------------------------------------------------------- shipped topologies

TEST(Topology, ShippedCnvW1A1Sizes) {
    const Topology t = load_topology(model("cnv_w1a1.yaml"));
    EXPECT_EQ(t.name, "cnv_w1a1");
    ASSERT_EQ(t.layers.size(), 9u);
    EXPECT_EQ(t.num_classes(), 10);
    const int mh[] = {64, 64, 128, 128, 256, 256, 512, 512, 10};
    const int mw[] = {27, 576, 576, 1152, 1152, 2304, 256, 512, 512};
    const int in_dim[] = {32, 30, 14, 12, 5, 3, 1, 1, 1};
    const int pooled[] = {30, 14, 12, 5, 3, 1, 1, 1, 1};
    for (size_t i = 0; i < 9; ++i) {
        SCOPED_TRACE(t.layers[i].name);
        EXPECT_EQ(t.layers[i].mh(), mh[i]);
        EXPECT_EQ(t.layers[i].mw(), mw[i]);
        EXPECT_EQ(t.layers[i].in_dim, in_dim[i]);
        EXPECT_EQ(t.layers[i].pooled_dim, pooled[i]);
        EXPECT_EQ(t.layers[i].weight_bits, 1);
        EXPECT_EQ(t.layers[i].act_bits, i == 8 ? 0 : 1);
    }
    EXPECT_EQ(t.layers[1].out_dim, 28);
    EXPECT_EQ(t.layers[3].out_dim, 10);
    EXPECT_EQ(t.layers[6].kind, LayerKind::Fc);
    EXPECT_EQ(t.layers[6].kernel, 1);
    // first layer reads 8-bit signed pixels, the rest read bipolar activations
    EXPECT_EQ(t.layers[0].in_bits, 8);
    EXPECT_FALSE(t.layers[0].in_bipolar);
    EXPECT_FALSE(t.layers[0].binary_xnor());
    EXPECT_TRUE(t.layers[1].in_bipolar);
    EXPECT_TRUE(t.layers[1].binary_xnor());
    EXPECT_TRUE(t.layers[8].is_last_stage());
    EXPECT_EQ(t.find_layer("conv5"), 5);
    EXPECT_EQ(t.find_layer("fc2"), 8);
    EXPECT_EQ(t.find_layer("nope"), -1);
}

TEST(Topology, ShippedBitWidths) {
    struct Case { const char* file; int w, a; };
    for (const Case& c : {Case{"cnv_w1a1.yaml", 1, 1}, Case{"cnv_w1a2.yaml", 1, 2},
                          Case{"cnv_w1a3.yaml", 1, 3}, Case{"cnv_w1a4.yaml", 1, 4},
                          Case{"cnv_w2a2.yaml", 2, 2}}) {
        SCOPED_TRACE(c.file);
        const Topology t = load_topology(model(c.file));
        ASSERT_EQ(t.layers.size(), 9u);
        EXPECT_EQ(t.layers[0].mw(), 27);
        EXPECT_EQ(t.layers[5].mw(), 2304);
        EXPECT_EQ(t.layers[6].mw(), 256);
        EXPECT_EQ(t.layers[8].mh(), 10);
        EXPECT_EQ(t.layers[3].weight_bits, c.w);
        EXPECT_EQ(t.layers[3].act_bits, c.a);
        EXPECT_EQ(t.layers[4].in_bits, c.a);
        EXPECT_EQ(t.layers[4].in_bipolar, c.a == 1);
        EXPECT_EQ(t.layers[8].act_bits, 0);
    }
}

TEST(Topology, QuarterWidthOverride) {
    const Topology t = load_topology(model("cnv_w1a1.yaml"), 0.25);
    EXPECT_DOUBLE_EQ(t.width, 0.25);
    const int ch[] = {16, 16, 32, 32, 64, 64, 128, 128, 10};
    for (size_t i = 0; i < 9; ++i) EXPECT_EQ(t.layers[i].channels, ch[i]) << t.layers[i].name;
    EXPECT_EQ(t.layers[1].mw(), 144);
    EXPECT_EQ(t.layers[6].mw(), 64);
    EXPECT_EQ(t.layers[8].mw(), 128);
}

TEST(Topology, WidthInFileAndRounding) {
    std::string text = slurp(model("cnv_w1a1.yaml"));
    text = replace_once(text, "width: 1.0", "width: 0.25");
    Topology t = parse_topology(text, "quarter.yaml");
    EXPECT_EQ(t.layers[0].channels, 16);
    EXPECT_EQ(t.layers[6].mw(), 64);
    t = parse_topology(text, "quarter.yaml", 0.01);  // override wins; never below one channel
    EXPECT_EQ(t.layers[0].channels, 1);
    EXPECT_EQ(t.layers[8].channels, 10);
}

TEST(Topology, FinalizeIsIdempotent) {
    Topology t = load_topology(model("cnv_w2a2.yaml"));
    const Topology copy = t;
    finalize_topology(t, "again");
    for (size_t i = 0; i < t.layers.size(); ++i) {
        EXPECT_EQ(t.layers[i].mw(), copy.layers[i].mw());
        EXPECT_EQ(t.layers[i].pooled_dim, copy.layers[i].pooled_dim);
    }
}

TEST(Topology, FinalizeHandBuilt) {
    Topology t;
    t.name = "hand";
    t.in_dim = 4;
    LayerSpec c;
    c.name = "c";
    c.channels = 8;
    c.pool = 2;
    LayerSpec f;
    f.name = "f";
    f.kind = LayerKind::Fc;  // default kernel 3 must become 1
    f.channels = 2;
    f.act_bits = 0;
    t.layers = {c, f};
    finalize_topology(t, "hand");
    EXPECT_EQ(t.layers[0].out_dim, 2);
    EXPECT_EQ(t.layers[0].pooled_dim, 1);
    EXPECT_EQ(t.layers[1].kernel, 1);
    EXPECT_EQ(t.layers[1].mw(), 8);
}

// ---------------------------------------------------------------- topology errors

TEST(TopologyErrors, NetworkRules) {
    std::string text = kTinyTopo;
    text = replace_once(text, "{name: c1, type: conv, channels: 4, pool: 2}",
                        "{name: c1, type: conv, channels: 4, pool: 3, act_bits: 0, weight_bits: 9}");
    text = replace_once(text, "act_bits: 0}", "act_bits: 5}");
    const ConfigError e = expect_error([&] { parse_topology(text, "t.yaml"); });
    EXPECT_HAS_ERROR(e, "layers[1].pool=3 must divide out_dim=4");
    EXPECT_HAS_ERROR(e, "layers[1].act_bits=0 only allowed on the last layer");
    EXPECT_HAS_ERROR(e, "layers[1].weight_bits=9 must be in 1..8");
    EXPECT_HAS_ERROR(e, "layers[2].act_bits=5 must be in 0..4");
    EXPECT_EQ(e.file(), "t.yaml");
}

TEST(TopologyErrors, LastLayerNeedsNoActivation) {
    const std::string text = replace_once(kTinyTopo, "act_bits: 0}", "act_bits: 2}");
    const ConfigError e = expect_error([&] { parse_topology(text, "t.yaml"); });
    EXPECT_HAS_ERROR(e, "layers[2].act_bits=2 must be 0 on the last layer");
}

TEST(TopologyErrors, ConvAfterFcAndDims) {
    std::string text = R"(input: {channels: 3, dim: 4, bits: 8}
layers:
  - {name: c0, type: conv, channels: 4, kernel: 5}
  - {name: f0, type: fc, channels: 4}
  - {name: c1, type: conv, channels: 0, kernel: 0}
  - {name: f1, type: fc, channels: 2, act_bits: 0}
)";
    const ConfigError e = expect_error([&] { parse_topology(text, "t.yaml"); });
    EXPECT_HAS_ERROR(e, "layers[0]: out_dim=0 must be >= 1 (in_dim=4, kernel=5)");
    EXPECT_HAS_ERROR(e, "layers[2]: conv layer after an fc layer");
    EXPECT_HAS_ERROR(e, "layers[2].kernel=0 must be >= 1");
    EXPECT_HAS_ERROR(e, "layers[2].channels=0 must be >= 1");
}

TEST(TopologyErrors, KeysAndTypes) {
    std::string text = replace_once(kTinyTopo, "{name: c0, type: conv, channels: 4}",
                                    "{name: c0, type: dense, channels: four, colour: red}");
    text = replace_once(text, "pool: 2}", "pool: 2, kernel: 3, scale: maybe}");
    text = replace_once(text, "type: fc, channels: 3", "type: fc, channels: 3, kernel: 3");
    text += "width: 0\nextra: 1\n";
    const ConfigError e = expect_error([&] { parse_topology(text, "t.yaml"); });
    EXPECT_HAS_ERROR(e, "layers[0].type=dense must be one of conv, fc");
    EXPECT_HAS_ERROR(e, "layers[0].channels=four must be an integer");
    EXPECT_HAS_ERROR(e, "layers[0].colour: unknown key");
    EXPECT_HAS_ERROR(e, "layers[1].scale=maybe must be true or false");
    EXPECT_HAS_ERROR(e, "layers[2].kernel=3: only conv layers have a kernel");
    EXPECT_HAS_ERROR(e, "width=0 must be > 0");
    EXPECT_HAS_ERROR(e, "extra: unknown key");
    // a field that failed to parse is reported once, not again by finalize
    for (const auto& s : e.errors()) EXPECT_EQ(s.find("layers[0].channels=0"), std::string::npos);
}

TEST(TopologyErrors, MissingKeys) {
    const ConfigError e = expect_error([&] {
        parse_topology("name: x\nlayers:\n  - {type: conv}\n", "t.yaml");
    });
    EXPECT_HAS_ERROR(e, "input: required key missing");
    EXPECT_HAS_ERROR(e, "layers[0].name: required key missing");
    EXPECT_HAS_ERROR(e, "layers[0].channels: required key missing");
}

// ---------------------------------------------------------------- shipped accelerators

namespace {
long long cycles_per_image(const LayerSpec& L, const LayerFolding& f) {
    const long long ofm = L.out_dim;
    return ofm * ofm * (f.rows() / f.pe) * (L.mw() / f.simd);
}
}  // namespace

TEST(Accel, BnnPynqW1A1) {
    Topology t;
    const AccelConfig a = load_accel(model("accel/cnv_w1a1_bnnpynq.yaml"), &t);
    EXPECT_EQ(a.architecture, Architecture::Dataflow);
    EXPECT_EQ(t.name, "cnv_w1a1");
    EXPECT_EQ(fs::path(a.topology_path).filename(), "cnv_w1a1.yaml");
    EXPECT_TRUE(fs::exists(a.topology_path));
    EXPECT_DOUBLE_EQ(a.clock_mhz, 300.0);
    ASSERT_EQ(a.layers.size(), 9u);
    EXPECT_TRUE(validate_folding(a, t).empty());
    EXPECT_EQ(a.dataflow.fifo_depths, (std::vector<int>{128, 128, 128, 128, 81, 1, 128, 128, 128, 2}));
    EXPECT_EQ(a.layers[8].mh_padded, 64);
    EXPECT_EQ(a.layers[8].rows(), 64);
    EXPECT_EQ(a.layers[0].rows(), 64);
    EXPECT_EQ(a.layers[0].schedule, Schedule::Interleaved);
    const long long expect[] = {32400, 28224, 20736, 28800, 20736, 18432, 32768, 32768, 8192};
    long long worst = 0;
    for (size_t i = 0; i < 9; ++i) {
        EXPECT_EQ(cycles_per_image(t.layers[i], a.layers[i]), expect[i]) << t.layers[i].name;
        worst = std::max(worst, cycles_per_image(t.layers[i], a.layers[i]));
    }
    EXPECT_EQ(worst, 32768);
}

TEST(Accel, BnnPynqW2A2) {
    Topology t;
    const AccelConfig a = load_accel(model("accel/cnv_w2a2_bnnpynq.yaml"), &t);
    EXPECT_EQ(t.name, "cnv_w2a2");
    EXPECT_EQ(t.layers[0].weight_bits, 2);
    EXPECT_TRUE(validate_folding(a, t).empty());
    const long long expect[] = {64800, 112896, 82944, 115200, 82944, 73728, 65536, 65536, 8192};
    for (size_t i = 0; i < 9; ++i)
        EXPECT_EQ(cycles_per_image(t.layers[i], a.layers[i]), expect[i]) << t.layers[i].name;
}

TEST(Accel, Loopback) {
    Topology t;
    const AccelConfig a = load_accel(model("accel/cnv_w1a1_loopback.yaml"), &t);
    EXPECT_EQ(a.architecture, Architecture::Loopback);
    EXPECT_EQ(a.loopback.pe, 32);
    EXPECT_EQ(a.loopback.simd, 64);
    EXPECT_TRUE(a.layers.empty());
    EXPECT_EQ(a.dataflow.fifo_depths.size(), t.layers.size() + 1);
    EXPECT_TRUE(validate_folding(a, t).empty());
    EXPECT_STREQ(architecture_name(a.architecture), "loopback");
}

TEST(Accel, FinnExamplesJsonImport) {
    const Topology t = load_topology(model("cnv_w1a1.yaml"));
    const AccelConfig yaml = load_accel(model("accel/cnv_w1a1_bnnpynq.yaml"));
    const AccelConfig json = import_finn_folding(model("accel/cnv_w1a1_finn_examples.json"), t);
    ASSERT_EQ(json.layers.size(), 9u);
    for (size_t i = 0; i < 8; ++i) {
        SCOPED_TRACE(t.layers[i].name);
        EXPECT_EQ(json.layers[i].name, t.layers[i].name);
        EXPECT_EQ(json.layers[i].pe, yaml.layers[i].pe);
        EXPECT_EQ(json.layers[i].simd, yaml.layers[i].simd);
    }
    // finn-examples keeps fc2 at MH = 10 with PE 5 instead of padding to 64
    EXPECT_EQ(json.layers[8].pe, 5);
    EXPECT_EQ(json.layers[8].simd, 1);
    EXPECT_EQ(json.layers[8].mh_padded, 0);
    EXPECT_EQ(json.layers[8].rows(), 10);
    EXPECT_EQ(json.dataflow.fifo_depths, yaml.dataflow.fifo_depths);
    EXPECT_TRUE(validate_folding(json, t).empty());
}

TEST(Accel, DefaultsAndSchedule) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    const AccelConfig a = parse_accel(R"(architecture: dataflow
layers:
  - {name: c0, pe: 2, simd: 3}
  - {name: c1, pe: 4, simd: 4, schedule: blocked}
  - {name: f0, pe: 1, simd: 16}
)", "a.yaml", t);
    EXPECT_EQ(a.dataflow.fifo_depths, (std::vector<int>{2, 2, 2, 2}));
    EXPECT_DOUBLE_EQ(a.clock_mhz, 300.0);
    EXPECT_EQ(a.layers[1].schedule, Schedule::Blocked);
    EXPECT_EQ(a.layers[2].rows(), 3);
    EXPECT_EQ(a.source, "a.yaml");
}

TEST(Accel, DetectKind) {
    EXPECT_EQ(detect_config_kind(model("cnv_w1a1.yaml")), "topology");
    EXPECT_EQ(detect_config_kind(model("accel/cnv_w1a1_bnnpynq.yaml")), "accel");
    EXPECT_EQ(detect_config_kind(model("accel/cnv_w1a1_loopback.yaml")), "accel");
    EXPECT_EQ(detect_config_kind(model("accel/cnv_w1a1_finn_examples.json")), "finn-folding");
}

TEST_F(ConfigFiles, DetectKindOthers) {
    EXPECT_EQ(detect_config_kind(write("c.yaml", "sweep: {p: [0.1]}\n")), "campaign");
    EXPECT_EQ(detect_config_kind(write("e.yaml", "error_model: {}\n")), "campaign");
    EXPECT_EQ(detect_config_kind(write("u.yaml", "hello: 1\n")), "unknown");
    EXPECT_EQ(detect_config_kind(write("u.json", "{\"Defaults\": {}}")), "unknown");
}

// ---------------------------------------------------------------- accelerator errors

namespace {
// The shipped W1A1 folding with one edit.
std::string w1a1_with(const std::string& from, const std::string& to) {
    return replace_once(slurp(model("accel/cnv_w1a1_bnnpynq.yaml")), from, to);
}
}  // namespace

class AccelErrors : public ConfigFiles {
protected:
    // Writes `text` next to a copy of the W1A1 topology and loads it.
    ConfigError load(const std::string& text) {
        write("cnv_w1a1.yaml", slurp(model("cnv_w1a1.yaml")));
        fs::create_directories(dir_ / "accel");
        path_ = write("accel/a.yaml", text);
        return expect_error([&] { load_accel(path_); });
    }
    std::string path_;
};

TEST_F(AccelErrors, SimdMustDivideMw) {
    const ConfigError e = load(w1a1_with("{name: conv2, pe: 16, simd: 32}",
                                         "{name: conv2, pe: 16, simd: 7}"));
    EXPECT_HAS_ERROR(e, "layers[2].simd=7 must divide mw=576");
    EXPECT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.file(), path_);
    EXPECT_EQ(std::string(e.what()), path_ + ": layers[2].simd=7 must divide mw=576");
}

TEST_F(AccelErrors, PeMustDivideMh) {
    std::string text = w1a1_with("{name: conv2, pe: 16, simd: 32}", "{name: conv2, pe: 5, simd: 32}");
    text = replace_once(text, "{name: fc2, pe: 4, simd: 1, mh_padded: 64}",
                        "{name: fc2, pe: 3, simd: 1, mh_padded: 64}");
    const ConfigError e = load(text);
    EXPECT_HAS_ERROR(e, "layers[2].pe=5 must divide mh=128");
    EXPECT_HAS_ERROR(e, "layers[8].pe=3 must divide mh_padded=64");
}

TEST_F(AccelErrors, PaddingBelowMh) {
    const ConfigError e = load(w1a1_with("mh_padded: 64", "mh_padded: 8"));
    EXPECT_HAS_ERROR(e, "layers[8].mh_padded=8 must be >= mh=10");
}

TEST_F(AccelErrors, UnknownKey) {
    const ConfigError e = load(w1a1_with("{name: conv0, pe: 16, simd: 3}",
                                         "{name: conv0, pe: 16, simd: 3, colour: red}"));
    EXPECT_HAS_ERROR(e, "layers[0].colour: unknown key");
}

TEST_F(AccelErrors, WrongType) {
    std::string text = w1a1_with("{name: conv1, pe: 32, simd: 32}", "{name: conv1, pe: abc, simd: 32}");
    text = replace_once(text, "clock_mhz: 300", "clock_mhz: [300]");
    text = replace_once(text, "fifo_depths: [128,", "fifo_depths: [deep,");
    const ConfigError e = load(text);
    EXPECT_HAS_ERROR(e, "layers[1].pe=abc must be an integer");
    EXPECT_HAS_ERROR(e, "clock_mhz (a list) must be a number");
    EXPECT_HAS_ERROR(e, "fifo_depths[0]=deep must be an integer");
    EXPECT_EQ(e.errors().size(), 3u) << e.what();
}

TEST_F(AccelErrors, BadArchitecture) {
    const ConfigError e = load(w1a1_with("architecture: dataflow", "architecture: systolic"));
    EXPECT_HAS_ERROR(e, "architecture=systolic must be one of dataflow, loopback");
}

TEST_F(AccelErrors, MalformedYaml) {
    const ConfigError e = load("architecture: dataflow\nlayers: [{name: conv0, pe: 16\n");
    EXPECT_EQ(e.file(), path_);
    EXPECT_HAS_ERROR(e, "syntax error at line ");
    EXPECT_HAS_ERROR(e, ", column ");
    EXPECT_EQ(std::string(e.what()).rfind(path_ + ": syntax error at line", 0), 0u) << e.what();
}

TEST_F(AccelErrors, MalformedTopologyYaml) {
    const std::string p = write("bad.yaml", "name: x\n  layers: - [\n");
    const ConfigError e = expect_error([&] { load_topology(p); });
    EXPECT_EQ(e.file(), p);
    EXPECT_HAS_ERROR(e, "syntax error at line 2");
}

TEST_F(AccelErrors, MissingFile) {
    const std::string p = (dir_ / "nope.yaml").string();
    ConfigError e = expect_error([&] { load_accel(p); });
    EXPECT_EQ(e.file(), p);
    EXPECT_HAS_ERROR(e, "cannot open");
    e = expect_error([&] { load_topology(p); });
    EXPECT_HAS_ERROR(e, "cannot open");
    e = expect_error([&] { detect_config_kind(p); });
    EXPECT_HAS_ERROR(e, "cannot open");
}

TEST_F(AccelErrors, MissingTopologyFile) {
    const ConfigError e = load(w1a1_with("topology: ../cnv_w1a1.yaml", "topology: ../gone.yaml"));
    EXPECT_HAS_ERROR(e, "topology=../gone.yaml: file not found");
}

TEST_F(AccelErrors, TwoErrorsBothReported) {
    std::string text = w1a1_with("{name: conv2, pe: 16, simd: 32}", "{name: conv2, pe: 16, simd: 7}");
    text = replace_once(text, "{name: conv4, pe: 4, simd: 32}", "{name: conv4, pe: 4, simd: 32, speed: 3}");
    const ConfigError e = load(text);
    ASSERT_EQ(e.errors().size(), 2u) << e.what();
    EXPECT_HAS_ERROR(e, "layers[2].simd=7 must divide mw=576");
    EXPECT_HAS_ERROR(e, "layers[4].speed: unknown key");
    // what(): one "<file>: <error>" line per error
    const std::string w = e.what();
    const auto nl = w.find('\n');
    ASSERT_NE(nl, std::string::npos);
    EXPECT_EQ(w.rfind(path_ + ": ", 0), 0u);
    EXPECT_EQ(w.compare(nl + 1, path_.size() + 2, path_ + ": "), 0);
}

TEST_F(AccelErrors, LayerNamesAndCount) {
    std::string text = w1a1_with("{name: conv3, pe: 16, simd: 32}", "{name: conv9, pe: 16, simd: 32}");
    ConfigError e = load(text);
    EXPECT_HAS_ERROR(e, "layers[3].name=conv9 must be conv3 (topology layer 3)");
    text = w1a1_with("  - {name: conv5, pe: 1, simd: 32}        # 2304 x 256, 18,432\n", "");
    e = load(text);
    EXPECT_HAS_ERROR(e, "layers: 8 entries, must match the 9 layers of topology cnv_w1a1");
}

TEST_F(AccelErrors, FifoRules) {
    std::string text = w1a1_with("fifo_depths: [128, 128, 128, 128, 81, 1, 128, 128, 128, 2]",
                                 "fifo_depths: [128, 0, 4]");
    const ConfigError e = load(text);
    EXPECT_HAS_ERROR(e, "fifo_depths: 3 entries, must be 10 (one per layer input plus one after the last layer)");
    EXPECT_HAS_ERROR(e, "fifo_depths[1]=0 must be >= 1");
}

TEST_F(AccelErrors, ClockAndEngine) {
    std::string text = w1a1_with("clock_mhz: 300", "clock_mhz: 0\nengine: {pe: 2, simd: 2}");
    ConfigError e = load(text);
    EXPECT_HAS_ERROR(e, "clock_mhz=0 must be > 0");
    EXPECT_HAS_ERROR(e, "engine: only for architecture loopback");
    e = load("architecture: loopback\ntopology: ../cnv_w1a1.yaml\n");
    EXPECT_HAS_ERROR(e, "engine: required key missing");
    e = load("architecture: loopback\ntopology: ../cnv_w1a1.yaml\nengine: {pe: 0, simd: x}\n");
    EXPECT_HAS_ERROR(e, "engine.pe=0 must be >= 1");
    EXPECT_HAS_ERROR(e, "engine.simd=x must be an integer");
    e = load("architecture: dataflow\n");
    EXPECT_HAS_ERROR(e, "topology: required key missing");
    EXPECT_HAS_ERROR(e, "layers: required key missing");
}

TEST(AccelValidate, HandBuilt) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    AccelConfig a;
    a.layers = {{"c0", 2, 3}, {"c1", 0, 5}, {"f0", 1, 16}};
    a.dataflow.fifo_depths = {2, 2, 2, 2};
    const auto errs = validate_folding(a, t);
    ASSERT_EQ(errs.size(), 2u);
    EXPECT_EQ(errs[0], "layers[1].pe=0 must be >= 1");
    EXPECT_EQ(errs[1], "layers[1].simd=5 must divide mw=36");
}

// ---------------------------------------------------------------- FINN JSON errors

TEST_F(ConfigFiles, FinnJsonErrors) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    // wrong MVAU count
    std::string p = write("a.json", R"({"Defaults": {}, "MVAU_hls_0": {"PE": 1, "SIMD": 1}})");
    ConfigError e = expect_error([&] { import_finn_folding(p, t); });
    EXPECT_HAS_ERROR(e, "1 MVAU entries, must match the 3 layers of topology tiny");
    // PE not dividing MH, a type error; keys sorted by index, not by text
    p = write("b.json", R"({"MVAU_hls_10": {"PE": 2, "SIMD": 1},
        "MatrixVectorActivation_2": {"PE": 4, "SIMD": "4"},
        "MVAU_hls_0": {"PE": 2, "SIMD": 3, "ram_style": "auto"},
        "StreamingMaxPool_0": {}, "ConvolutionInputGenerator_0": {"SIMD": 3}})");
    e = expect_error([&] { import_finn_folding(p, t); });
    EXPECT_HAS_ERROR(e, "MatrixVectorActivation_2.SIMD=\"4\" must be an integer");
    EXPECT_HAS_ERROR(e, "MVAU_hls_10.PE=2 must divide mh=3");
    EXPECT_EQ(e.errors().size(), 2u) << e.what();
    // malformed JSON names the file
    p = write("c.json", R"({"MVAU_hls_0": {"PE": 1,, }})");
    e = expect_error([&] { import_finn_folding(p, t); });
    EXPECT_EQ(e.file(), p);
    EXPECT_HAS_ERROR(e, "malformed JSON");
}

TEST_F(ConfigFiles, FinnJsonFifoCountMismatchUsesDefaults) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    const std::string p = write("a.json", R"({"MVAU_hls_0": {"PE": 2, "SIMD": 3},
        "MVAU_hls_1": {"PE": 4, "SIMD": 4}, "MVAU_hls_2": {"PE": 3, "SIMD": 16},
        "StreamingFIFO_0": {"depth": 32}, "StreamingFIFO_1": {"depth": 64}})");
    const AccelConfig a = import_finn_folding(p, t);
    EXPECT_EQ(a.dataflow.fifo_depths, (std::vector<int>{2, 2, 2, 2}));
    EXPECT_EQ(a.layers[2].pe, 3);
    EXPECT_EQ(a.layers[2].rows(), 3);
}

TEST_F(ConfigFiles, FinnJsonAllNodeNameGenerations) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    // finn-hlslib era, FINN 0.8..0.9, current hls and rtl variants: ordered by index
    const std::string p = write("gen.json", R"({"MVAU_rtl_2": {"PE": 3, "SIMD": 16, "resType": "dsp"},
        "StreamingFCLayer_Batch_0": {"PE": 2, "SIMD": 3},
        "MatrixVectorActivation_1": {"PE": 4, "SIMD": 4}})");
    EXPECT_EQ(detect_config_kind(p), "finn-folding");
    const AccelConfig a = import_finn_folding(p, t);
    ASSERT_EQ(a.layers.size(), 3u);
    EXPECT_EQ(a.layers[0].pe, 2);
    EXPECT_EQ(a.layers[0].simd, 3);
    EXPECT_EQ(a.layers[1].pe, 4);
    EXPECT_EQ(a.layers[2].pe, 3);
    EXPECT_EQ(a.layers[2].simd, 16);
    EXPECT_EQ(a.layers[2].name, "f0");
    // -> export (current names) -> import: the same folding, and the same JSON again
    const std::string json = expect_finn_round_trip(a, t);
    EXPECT_NE(json.find("\"MVAU_hls_2\""), std::string::npos) << json;
    EXPECT_EQ(json.find("StreamingFCLayer"), std::string::npos) << json;
}

TEST_F(ConfigFiles, FinnJsonFifoDepthAttributes) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    const std::string p = write("d.json", R"({"Defaults": {},
        "ConvolutionInputGenerator_0": {"SIMD": 3, "inFIFODepths": [7], "outFIFODepths": [5]},
        "MVAU_hls_0": {"PE": 2, "SIMD": 3},
        "ConvolutionInputGenerator_rtl_1": {"SIMD": 4, "inFIFODepths": [9]},
        "MVAU_hls_1": {"PE": 4, "SIMD": 4, "inFIFODepths": [12, 2]},
        "StreamingMaxPool_0": {"inFIFODepths": [99]},
        "MVAU_hls_2": {"PE": 3, "SIMD": 16, "inFIFODepths": [33], "outFIFODepths": [4]},
        "StreamingFIFO_0": {"depth": 1000}})");
    const AccelConfig a = import_finn_folding(p, t);
    // first node of each layer, then the last MVAU's output; StreamingFIFO ignored
    EXPECT_EQ(a.dataflow.fifo_depths, (std::vector<int>{7, 9, 33, 4}));
    // the SWG's output FIFO: SWG outFIFODepths or the MVAU's inFIFODepths, the larger
    EXPECT_EQ(a.dataflow.stream_depths, (std::map<std::string, int>{{"c0.swg", 5}, {"c1.swg", 12}}));

    // malformed attributes and a missing SWG name the node
    const std::string q = write("e.json", R"({"ConvolutionInputGenerator_0": {"inFIFODepths": [0]},
        "MVAU_hls_0": {"PE": 2, "SIMD": 3}, "MVAU_hls_1": {"PE": 4, "SIMD": 4},
        "MVAU_hls_2": {"PE": 3, "SIMD": 16, "outFIFODepths": 8}})");
    const ConfigError e = expect_error([&] { import_finn_folding(q, t); });
    EXPECT_HAS_ERROR(e, "1 ConvolutionInputGenerator entries, must match the 2 conv layers of topology tiny");
    EXPECT_HAS_ERROR(e, "MVAU_hls_2.outFIFODepths=8 must be a list of integers >= 1 (one per stream)");
}

TEST_F(ConfigFiles, FinnExportRoundTrips) {
    const Topology t = load_topology(model("cnv_w1a1.yaml"));
    const AccelConfig a = import_finn_folding(model("accel/cnv_w1a1_finn_examples.json"), t);
    AccelConfig sized = a;
    sized.dataflow.fifo_depths[1] = 82;
    sized.dataflow.stream_depths["conv0.swg"] = 18;
    for (const AccelConfig& in : {a, sized}) expect_finn_round_trip(in, t);
    const std::string json = export_finn_folding(sized, t);
    EXPECT_NE(json.find("\"ConvolutionInputGenerator_5\""), std::string::npos);
    EXPECT_NE(json.find("\"MVAU_hls_8\""), std::string::npos);
    EXPECT_NE(json.find("\"outFIFODepths\": [\n      18\n    ]"), std::string::npos) << json;
}

TEST(Accel, FinnExportRejectsWhatFinnCannotExpress) {
    Topology t;
    AccelConfig a = load_accel(model("accel/cnv_w1a1_bnnpynq.yaml"), &t);
    a.dataflow.stream_depths["fc0.out"] = 4;
    const ConfigError e = expect_error([&] { export_finn_folding(a, t); });
    EXPECT_HAS_ERROR(e, "layers[8].mh_padded=64: FINN has no padded rows (PE must divide MH=10)");
    EXPECT_HAS_ERROR(e, "stream_depths.fc0.out: no FINN node attribute for this stream");
}

TEST(Accel, StreamDepths) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    const std::string base =
        "architecture: dataflow\nlayers:\n  - {name: c0, pe: 2, simd: 3}\n"
        "  - {name: c1, pe: 4, simd: 4}\n  - {name: f0, pe: 1, simd: 16}\n";
    const AccelConfig a = parse_accel(base + "stream_depths: {c0.swg: 40}\n", "a.yaml", t);
    EXPECT_EQ(a.dataflow.stream_depths, (std::map<std::string, int>{{"c0.swg", 40}}));
    const ConfigError e = expect_error([&] { parse_accel(base + "stream_depths: {c0.swg: 0}\n", "b.yaml", t); });
    EXPECT_HAS_ERROR(e, "stream_depths.c0.swg=0 must be an integer >= 1");
}

// ---------------------------------------------------------------- declared parameters

TEST(DeclaredKeys, TopologyParserFollowsItsTable) {
    fatsim::testing::expect_parser_follows_schema(topology_schema(), [](const std::string& yaml) {
        return fatsim::testing::errors_of([&] { parse_topology(yaml, "t.yaml"); });
    });
}

TEST(DeclaredKeys, AccelParserFollowsItsTable) {
    const Topology t = parse_topology(kTinyTopo, "tiny.yaml");
    fatsim::testing::expect_parser_follows_schema(accel_schema(), [&](const std::string& yaml) {
        return fatsim::testing::errors_of([&] { parse_accel(yaml, "a.yaml", t); });
    });
}

TEST(DeclaredKeys, DescribeShowsTypeDefaultAndDescription) {
    const std::string d = describe_schema(accel_schema());
    EXPECT_EQ(d.rfind("accel: ", 0), 0u) << d;
    // Defaults come from the parsed structs: a default-constructed AccelConfig runs at 300 MHz.
    EXPECT_NE(d.find("clock_mhz"), std::string::npos);
    const auto row = [&](const std::string& key) {
        const auto at = d.find("  " + key + " ");
        EXPECT_NE(at, std::string::npos) << key;
        return at == std::string::npos ? std::string() : d.substr(at, d.find('\n', at) - at);
    };
    EXPECT_NE(row("clock_mhz").find(" 300 "), std::string::npos) << row("clock_mhz");
    EXPECT_NE(row("layers[].schedule").find("interleaved | blocked | pixel  interleaved "), std::string::npos)
        << row("layers[].schedule");
    EXPECT_NE(row("engine.pe").find("(required)"), std::string::npos) << row("engine.pe");
    EXPECT_NE(describe_schema(topology_schema()).find("  input.bits "), std::string::npos);
}

TEST(DeclaredKeys, RequiredKeysAreReportedFromTheTable) {
    // Every required key of a section is reported missing from an empty map.
    const auto errs = fatsim::testing::errors_of([] { parse_topology("layers: [{}]\ninput: {}\n", "t.yaml"); });
    for (const char* key : {"input.channels", "input.dim", "layers[0].name", "layers[0].type", "layers[0].channels"})
        EXPECT_TRUE(fatsim::testing::has_prefix(errs, std::string(key) + ": required key missing")) << key;
}

TEST(Accel, DetectShippedSpecs) {
    const std::string root = std::string(FATSIM_SOURCE_DIR) + "/campaigns/";
    EXPECT_EQ(detect_config_kind(root + "example_channel.yaml"), "campaign");
    EXPECT_EQ(detect_config_kind(root + "fashion_cnv.yaml"), "pipeline");
}
