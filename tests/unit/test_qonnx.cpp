// QONNX export / import (sim/onnx/qonnx.cpp): round trips to identical model
// files, the float evaluation of the graph against the golden engine image by
// image, the threshold domain conversion, and errors naming the node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <unistd.h>

#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "qonnx.hpp"
#include "reference.hpp"

using namespace fatsim;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("fatsim_test_qonnx_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
}

Topology topo_of(const std::string& yaml) { return parse_topology(yaml, "test.yaml"); }

// Binary CNV in miniature: XNOR layers after the first.
Topology binary_net() {
    return topo_of(
        "name: bnn\ninput: {channels: 3, dim: 10, bits: 8}\nweight_bits: 1\nact_bits: 1\nlayers:\n"
        "  - {name: c0, type: conv, channels: 8}\n"
        "  - {name: c1, type: conv, channels: 8, pool: 2}\n"
        "  - {name: c2, type: conv, channels: 16, kernel: 2}\n"
        "  - {name: f0, type: fc, channels: 12}\n"
        "  - {name: f1, type: fc, channels: 10, act_bits: 0}\n");
}
Topology w2a2_net() {
    return topo_of(
        "name: w2a2\ninput: {channels: 1, dim: 8, bits: 8}\nweight_bits: 2\nact_bits: 2\nlayers:\n"
        "  - {name: c0, type: conv, channels: 6, pool: 2}\n"
        "  - {name: f0, type: fc, channels: 9}\n"
        "  - {name: f1, type: fc, channels: 5, act_bits: 0}\n");
}
Topology mixed_net() {
    return topo_of(
        "name: mixed\ninput: {channels: 2, dim: 9, bits: 8}\nlayers:\n"
        "  - {name: c0, type: conv, channels: 5, weight_bits: 4, act_bits: 3}\n"
        "  - {name: c1, type: conv, channels: 7, weight_bits: 3, act_bits: 4, pool: 5}\n"
        "  - {name: f0, type: fc, channels: 6, weight_bits: 8, act_bits: 1}\n"
        "  - {name: f1, type: fc, channels: 4, weight_bits: 1, act_bits: 0}\n");
}

// An image of random pixels, HWC, and the codes the model's input reads for it.
struct RandomImage {
    std::vector<uint8_t> pixels;
    std::vector<int8_t> codes;
};
RandomImage random_image(const Topology& t, std::mt19937& rng) {
    std::uniform_int_distribution<int> d(0, 255);
    RandomImage img;
    img.pixels.resize(size_t(t.in_dim) * t.in_dim * t.in_channels);
    for (auto& v : img.pixels) v = uint8_t(d(rng));
    for (size_t k = 0; k < img.pixels.size(); ++k)
        img.codes.push_back(int8_t(t.input_code(int(k % size_t(t.in_channels)), img.pixels[k])));
    return img;
}

onnx::ModelProto parse(const std::string& bytes) {
    onnx::ModelProto m;
    EXPECT_TRUE(m.ParseFromString(bytes));
    return m;
}
std::string save_proto(const onnx::ModelProto& m, const std::string& name) {
    const std::string p = temp_path(name);
    std::string bytes;
    m.SerializeToString(&bytes);
    write_bytes(p, bytes);
    return p;
}
onnx::NodeProto* node_named(onnx::ModelProto& m, const std::string& name) {
    for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.name() == name) return &n;
    ADD_FAILURE() << "no node " << name;
    return nullptr;
}
onnx::TensorProto* initializer_named(onnx::ModelProto& m, const std::string& name) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
        if (t.name() == name) return &t;
    ADD_FAILURE() << "no initializer " << name;
    return nullptr;
}
std::vector<float> floats(const onnx::TensorProto& t) {
    std::vector<float> v(t.raw_data().size() / sizeof(float));
    std::copy(t.raw_data().begin(), t.raw_data().end(), reinterpret_cast<char*>(v.data()));
    return v;
}
void set_floats(onnx::TensorProto& t, const std::vector<float>& v) {
    t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}

// The message of the QonnxError that importing `m` throws.
std::string import_error(const onnx::ModelProto& m, const std::string& name) {
    const std::string p = save_proto(m, name);
    try {
        import_qonnx(p);
    } catch (const QonnxError& e) {
        return e.what();
    }
    ADD_FAILURE() << "import of " << name << " did not fail";
    return "";
}

// Every image classified alike by the graph's float evaluation and the engine.
void expect_graph_matches_engine(const std::string& onnx_path, const QnnModel& model, int images, uint64_t seed) {
    const QonnxGraph graph(onnx_path);
    const Engine engine(model);
    const auto ws_owner = engine.make_workspace();
    Engine::Workspace& ws = *ws_owner;
    std::mt19937 rng{unsigned(seed)};
    int distinct = 0, first = -1;
    for (int i = 0; i < images; ++i) {
        const auto img = random_image(model.topology, rng);
        const int want = engine.classify(ws, img.codes.data());
        ASSERT_EQ(graph.classify(img.pixels.data(), model.topology.in_dim, model.topology.in_channels,
                                 QonnxGraph::feed_for(model.topology)),
                  want)
            << onnx_path << " image " << i;
        if (first < 0) first = want;
        distinct += want != first;
    }
    EXPECT_GT(distinct, 0) << "all images got one class: the comparison proves little";
}

}  // namespace

TEST(Qonnx, ExportThenImportGivesTheIdenticalModelFile) {
    int seed = 1;
    for (const Topology& t : {binary_net(), w2a2_net(), mixed_net()}) {
        QnnModel m = random_model(t, uint64_t(seed++));
        m.description = "random " + t.name;
        const std::string p = temp_path(t.name + ".onnx");
        save_qonnx(m, p);
        const QnnModel back = import_qonnx(p);
        EXPECT_EQ(serialize_model(back), serialize_model(m)) << t.name;
        EXPECT_EQ(back.topology.name, t.name);
        QonnxImportOptions opt;
        opt.topology_name = "renamed";
        EXPECT_EQ(import_qonnx(p, opt).topology.name, "renamed");
    }
}

TEST(Qonnx, GraphArithmeticMatchesTheEngineImageByImage) {
    int seed = 7;
    for (const Topology& t : {binary_net(), w2a2_net(), mixed_net()}) {
        const QnnModel m = random_model(t, uint64_t(seed++));
        const std::string p = temp_path(t.name + "_eval.onnx");
        save_qonnx(m, p);
        expect_graph_matches_engine(p, m, 40, uint64_t(seed));
    }
}

TEST(Qonnx, GraphOutputIsTheDotProductOfTheClassifier) {
    // binary_net's classifier is an XNOR layer: the engine counts matches p,
    // the graph outputs the dot product 2p - MW.
    const QnnModel m = random_model(binary_net(), 3);
    const std::string p = temp_path("logits.onnx");
    save_qonnx(m, p);
    const QonnxGraph graph(p);
    std::mt19937 rng(5);
    const auto img = random_image(m.topology, rng);
    Trace trace;
    reference_classify(m, img.codes.data(), {}, &trace);
    const auto out = graph.run(img.pixels.data(), m.topology.in_dim, m.topology.in_channels,
                               QonnxGraph::Feed::CodeValues);
    const auto& acc = trace.layers.back().acc;
    const int MW = m.topology.layers.back().mw();
    ASSERT_EQ(out.size(), acc.size());
    for (size_t i = 0; i < acc.size(); ++i) EXPECT_EQ(out[i], 2.0 * acc[i] - MW) << i;
}

TEST(Qonnx, ExportedThresholdsAreInTheDotProductDomain) {
    const QnnModel m = random_model(binary_net(), 11);
    onnx::ModelProto g = parse(export_qonnx(m));
    const auto c1 = floats(*initializer_named(g, "c1_T"));  // XNOR layer: 2t - MW
    const auto c0 = floats(*initializer_named(g, "c0_T"));  // 8-bit input: the dot product itself
    const int mw1 = m.topology.layers[1].mw();
    ASSERT_EQ(c1.size(), m.layers[1].thresholds.size());
    for (size_t i = 0; i < c1.size(); ++i) EXPECT_EQ(c1[i], 2.0f * m.layers[1].thresholds[i] - mw1);
    for (size_t i = 0; i < c0.size(); ++i) EXPECT_EQ(c0[i], float(m.layers[0].thresholds[i]));
    // MultiThreshold is a custom op of the QONNX domain, which the model imports.
    bool domain = false;
    for (const auto& o : g.opset_import()) domain = domain || o.domain() == "qonnx.custom_op.general";
    EXPECT_TRUE(domain);
    EXPECT_EQ(node_named(g, "c1_threshold")->domain(), "qonnx.custom_op.general");
}

TEST(Qonnx, RealValuedThresholdsRoundToTheSameDecisions) {
    // A streamlined graph from FINN carries real thresholds; the import must
    // round them so that every integer accumulator gets the same code.
    for (const Topology& t : {binary_net(), mixed_net()}) {
        const QnnModel m = random_model(t, 21);
        onnx::ModelProto g = parse(export_qonnx(m));
        for (const auto& l : t.layers) {
            if (l.act_bits == 0) continue;
            auto* ti = initializer_named(g, l.name + "_T");
            auto v = floats(*ti);
            for (size_t i = 0; i < v.size(); ++i) v[i] -= i % 3 == 0 ? 0.5f : i % 3 == 1 ? 1.25f : 2.5f;
            // keep them ascending per channel
            const int T = act_range(l.act_bits).thresholds();
            for (size_t c = 0; c < v.size() / size_t(T); ++c)
                std::sort(v.begin() + long(c * T), v.begin() + long((c + 1) * T));
            set_floats(*ti, v);
        }
        const std::string p = save_proto(g, t.name + "_real_thr.onnx");
        const QnnModel back = import_qonnx(p);
        EXPECT_NE(serialize_model(back), serialize_model(m)) << "the thresholds moved";
        expect_graph_matches_engine(p, back, 40, 99);
    }
}

TEST(Qonnx, ChwFlattenWithoutTransposePermutesTheFcWeights) {
    // Brevitas-style Flatten straight from NCHW: the same network once the
    // MatMul's rows are put in CHW order.
    const QnnModel m = random_model(w2a2_net(), 4);
    onnx::ModelProto g = parse(export_qonnx(m));
    auto* nodes = g.mutable_graph()->mutable_node();
    int tr = -1;
    for (int i = 0; i < nodes->size(); ++i)
        if (nodes->Get(i).op_type() == "Transpose") tr = i;
    ASSERT_GE(tr, 0);
    const std::string before = nodes->Get(tr).input(0);
    nodes->Mutable(tr + 1)->set_input(0, before);  // the Flatten reads the NCHW map
    nodes->DeleteSubrange(tr, 1);
    const LayerSpec& f0 = m.topology.layers[1];
    const int C = m.topology.layers[0].channels, D = m.topology.layers[0].pooled_dim, MH = f0.mh();
    auto* w = initializer_named(g, "f0_W");
    const auto hwc = floats(*w);
    std::vector<float> chw(hwc.size());
    for (int c = 0; c < C; ++c)
        for (int y = 0; y < D; ++y)
            for (int x = 0; x < D; ++x)
                for (int o = 0; o < MH; ++o)
                    chw[size_t((c * D + y) * D + x) * MH + o] = hwc[size_t((y * D + x) * C + c) * MH + o];
    set_floats(*w, chw);
    const std::string p = save_proto(g, "chw.onnx");
    EXPECT_EQ(serialize_model(import_qonnx(p)), serialize_model(m));
    expect_graph_matches_engine(p, m, 30, 3);
}

TEST(Qonnx, UnsupportedGraphsNameTheNodeAndTheRule) {
    const QnnModel m = random_model(w2a2_net(), 2);
    const onnx::ModelProto base = parse(export_qonnx(m));
    auto expect_has = [](const std::string& msg, std::initializer_list<const char*> parts) {
        for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    };
    {
        onnx::ModelProto g = base;
        node_named(g, "c0_threshold")->set_op_type("Relu");
        node_named(g, "c0_threshold")->set_domain("");
        expect_has(import_error(g, "relu.onnx"), {"'c0_threshold' (Relu)", "not supported"});
    }
    {
        onnx::ModelProto g = base;
        auto* a = node_named(g, "c0")->mutable_attribute();
        for (auto& at : *a)
            if (at.name() == "pads") at.set_ints(0, 1);
        expect_has(import_error(g, "pad.onnx"), {"'c0' (Conv)", "padding"});
    }
    {
        onnx::ModelProto g = base;
        for (auto& at : *node_named(g, "c0_threshold")->mutable_attribute())
            if (at.name() == "out_dtype") at.set_s("INT8");
        expect_has(import_error(g, "dtype.onnx"), {"'c0_threshold' (MultiThreshold)", "INT8"});
    }
    {
        onnx::ModelProto g = base;  // found by fuzz_qonnx: a NaN threshold (was cast to int)
        auto t = floats(*initializer_named(g, "c0_T"));
        t[1] = std::nanf("");
        set_floats(*initializer_named(g, "c0_T"), t);
        expect_has(import_error(g, "nan_t.onnx"), {"'c0_threshold' (MultiThreshold)", "not a number"});
    }
    {
        onnx::ModelProto g = base;
        for (auto& at : *node_named(g, "c0_threshold")->mutable_attribute())
            if (at.name() == "out_scale") at.set_f(0.5f);
        expect_has(import_error(g, "scale.onnx"), {"'c0_threshold'", "out_scale"});
    }
    {
        onnx::ModelProto g = base;
        auto* w = initializer_named(g, "f1_W");
        auto v = floats(*w);
        v[0] = 0.5f;
        set_floats(*w, v);
        expect_has(import_error(g, "frac.onnx"), {"'f1' (MatMul)", "not an integer"});
    }
    {
        onnx::ModelProto g = base;
        auto* w = initializer_named(g, "c0_W");
        auto v = floats(*w);
        v[0] = 3.0f;  // outside INT2
        set_floats(*w, v);
        expect_has(import_error(g, "range.onnx"), {"'c0' (Conv)", "INT2"});
    }
    {
        onnx::ModelProto g = base;
        for (auto& at : *node_named(g, "c0_maxpool")->mutable_attribute())
            if (at.name() == "strides") at.set_ints(0, 1), at.set_ints(1, 1);
        expect_has(import_error(g, "pool.onnx"), {"'c0_maxpool' (MaxPool)", "stride"});
    }
    {
        onnx::ModelProto g = base;
        node_named(g, "f0")->add_input("f1_W");  // a bias-like third input on a MatMul-turned-Gemm
        node_named(g, "f0")->set_op_type("Gemm");
        expect_has(import_error(g, "gemm.onnx"), {"'f0' (Gemm)", "bias"});
    }
    {
        onnx::ModelProto g = base;
        node_named(g, "f0")->set_input(0, "c0_act");  // skips the pool and flatten: a branch
        expect_has(import_error(g, "branch.onnx"), {"'f0' (MatMul)", "previous node"});
    }
    {
        const std::string p = temp_path("garbage.onnx");
        write_bytes(p, "not a protobuf at all");
        try {
            import_qonnx(p);
            ADD_FAILURE() << "garbage imported";
        } catch (const QonnxError& e) {
            expect_has(e.what(), {"garbage.onnx"});
        }
    }
}

// ---- Brevitas form: graphs written by make_brevitas_qonnx.py (python3-onnx)

namespace {

// Writes the named config's graph; empty when no Python with onnx was found.
std::string brevitas_graph(const std::string& config, int seed) {
    const std::string python = FATSIM_TEST_PYTHON_ONNX;
    if (python.empty()) return "";
    const std::string out = temp_path("brevitas_" + config + "_" + std::to_string(seed) + ".onnx");
    const std::string cmd = python + " " + FATSIM_TEST_SOURCE_DIR + "/make_brevitas_qonnx.py " + out + " " + config +
                            " " + std::to_string(seed);
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "failed: " << cmd;
    return out;
}
#define SKIP_WITHOUT_PYTHON_ONNX(path)                                                          \
    if ((path).empty()) GTEST_SKIP() << "no python3 with the onnx module (python3-onnx): "       \
                                        "the Brevitas-form graphs cannot be written";

}  // namespace

TEST(QonnxBrevitas, FoldedModelMatchesTheGraphImageByImage) {
    struct Case {
        const char* config;
        std::vector<std::pair<int, int>> bits;  // weight, act per layer
    };
    const std::vector<Case> cases = {
        {"w1a1", {{1, 1}, {1, 1}, {1, 1}, {1, 0}}},
        {"w2a2", {{2, 2}, {2, 2}, {2, 0}}},
        {"w4a3", {{4, 3}, {3, 4}, {8, 1}, {1, 0}}},
        // scaled input quantiser (Q1.7; unsigned with a zero point), BN as Mul + Add, TensorNorm
        {"cnv_q17", {{1, 1}, {1, 1}, {1, 1}, {1, 0}}},
        {"cnv_uint", {{2, 2}, {2, 3}, {2, 0}}},
    };
    for (const Case& c : cases)
        for (int seed : {1, 2}) {
            const std::string p = brevitas_graph(c.config, seed);
            SKIP_WITHOUT_PYTHON_ONNX(p);
            const QnnModel m = import_qonnx(p);
            ASSERT_EQ(m.topology.layers.size(), c.bits.size()) << c.config;
            for (size_t l = 0; l < c.bits.size(); ++l) {
                EXPECT_EQ(m.topology.layers[l].weight_bits, c.bits[l].first) << c.config << " layer " << l;
                EXPECT_EQ(m.topology.layers[l].act_bits, c.bits[l].second) << c.config << " layer " << l;
            }
            expect_graph_matches_engine(p, m, 60, uint64_t(seed) + 10);
        }
}

// Constants as Constant nodes and a constant subgraph (the weight scales as
// Identity / Div of Constants) fold to the same model as plain initializers.
TEST(QonnxBrevitas, ConstantSubgraphsFoldLikeInitializers) {
    for (int seed : {1, 2}) {
        const std::string plain = brevitas_graph("cnv_q17", seed), folded = brevitas_graph("cnv_q17_const", seed);
        SKIP_WITHOUT_PYTHON_ONNX(plain);
        const QnnModel a = import_qonnx(plain), b = import_qonnx(folded);
        ASSERT_EQ(a.layers.size(), b.layers.size());
        for (size_t l = 0; l < a.layers.size(); ++l) {
            EXPECT_EQ(a.layers[l].weights, b.layers[l].weights) << "layer " << l;
            EXPECT_EQ(a.layers[l].thresholds, b.layers[l].thresholds) << "layer " << l;
        }
        expect_graph_matches_engine(folded, b, 60, uint64_t(seed) + 10);
    }
}

// A graph that preprocesses the image (CNV.forward's 2x - 1; a per-channel
// normalisation) or quantises it to fewer levels reads the pixels through the
// table of codes its own arithmetic gives; the table exports as FINN's input
// MultiThreshold on UINT8 pixels and comes back unchanged.
TEST(QonnxBrevitas, PreprocessedInputReadsThePixelsThroughATable) {
    auto expect_round_trip = [](const QnnModel& m, const std::string& name, int seed) {
        const std::string x = temp_path(name + "_export.onnx");
        save_qonnx(m, x);
        EXPECT_EQ(serialize_model(import_qonnx(x)), serialize_model(m)) << name;
        expect_graph_matches_engine(x, m, 30, uint64_t(seed) + 20);
    };
    for (int seed : {1, 2}) {
        const std::string p = brevitas_graph("cnv_q17_pre", seed);
        SKIP_WITHOUT_PYTHON_ONNX(p);
        const QnnModel m = import_qonnx(p);
        // Q1.7 of 2u/255 - 1: round(u * 256 / 255) - 128 (never a tie), at most 127
        ASSERT_EQ(m.topology.pixel_codes.size(), size_t(3 * 256));
        for (int c = 0; c < 3; ++c)
            for (int u = 0; u < 256; ++u)
                ASSERT_EQ(m.topology.input_code(c, u), std::min(127, int(std::lround(u * 256.0 / 255.0)) - 128))
                    << "channel " << c << " pixel " << u;
        expect_graph_matches_engine(p, m, 60, uint64_t(seed) + 10);
        expect_round_trip(m, "pre" + std::to_string(seed), seed);
    }
    // (u / 255 - mean[c]) / std[c] on a signed 4-bit quantiser of scale 1/4
    const std::string p = brevitas_graph("cnv_norm4", 1);
    const QnnModel m = import_qonnx(p);
    const float mean[] = {0.5f, 0.4f, 0.6f}, stdev[] = {0.25f, 0.3f, 0.2f};
    for (int c = 0; c < 3; ++c) {
        std::set<int> levels;
        for (int u = 0; u < 256; ++u) {
            const double v = (u / 255.0 - double(mean[c])) / double(stdev[c]) / 0.25;
            ASSERT_EQ(m.topology.input_code(c, u), int(std::clamp(std::nearbyint(v), -8.0, 7.0)))
                << "channel " << c << " pixel " << u;
            levels.insert(m.topology.input_code(c, u));
        }
        EXPECT_GE(levels.size(), 12u) << "channel " << c << ": the test should cover most of the 16 levels";
    }
    expect_graph_matches_engine(p, m, 60, 11);
    expect_round_trip(m, "norm4", 1);
    // Export needs a non-decreasing table (a MultiThreshold counts upwards).
    QnnModel down = m;
    std::reverse(down.topology.pixel_codes.begin() + 256, down.topology.pixel_codes.begin() + 512);
    try {
        export_qonnx(down);
        ADD_FAILURE() << "a falling table was exported";
    } catch (const QonnxError& e) {
        EXPECT_NE(std::string(e.what()).find("pixel_codes of channel 1 fall from pixel"), std::string::npos) << e.what();
    }
}

TEST(QonnxBrevitas, NegativeBatchNormScaleNegatesTheWeightRow) {
    // The generator gives some channels a negative gamma: those rows come
    // out negated (the trainer's rule), the others as quantised.
    const std::string p = brevitas_graph("w2a2", 3);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    onnx::ModelProto g;
    {
        std::ifstream f(p, std::ios::binary);
        ASSERT_TRUE(g.ParseFromIstream(&f));
    }
    const auto gamma = floats(*initializer_named(g, "l0_g"));
    const auto w = floats(*initializer_named(g, "l0_W"));    // OIHW, ints * scale
    const auto ws = floats(*initializer_named(g, "l0_ws"));  // per output channel
    const QnnModel m = import_qonnx(p);
    const int MW = m.topology.layers[0].mw();  // 9 (1 input channel): OIHW row = FINN row
    int negated = 0;
    for (size_t o = 0; o < gamma.size(); ++o)
        for (int k = 0; k < MW; ++k) {
            const int q = int(std::lround(w[o * size_t(MW) + size_t(k)] / ws[o]));
            EXPECT_EQ(m.weight(0, int(o), k), gamma[o] < 0 ? -q : q) << "channel " << o;
            negated += gamma[o] < 0 && k == 0;
        }
    EXPECT_GT(negated, 0) << "no negative gamma drawn: the test proves little";
}

TEST(QonnxBrevitas, UnsupportedQuantisersNameTheNode) {
    const std::string p = brevitas_graph("w2a2", 1);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    onnx::ModelProto base;
    {
        std::ifstream f(p, std::ios::binary);
        ASSERT_TRUE(base.ParseFromIstream(&f));
    }
    auto find_node = [](onnx::ModelProto& m, const std::string& output) -> onnx::NodeProto& {
        for (auto& n : *m.mutable_graph()->mutable_node())
            if (n.output(0) == output) return n;
        throw std::runtime_error("no node writes " + output);
    };
    auto expect_has = [](const std::string& msg, std::initializer_list<const char*> parts) {
        for (const char* part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    };
    {
        onnx::ModelProto g = base;  // weights using -2^(b-1)
        for (auto& a : *find_node(g, "l0_Wq").mutable_attribute())
            if (a.name() == "narrow") a.set_i(0);
        expect_has(import_error(g, "wide.onnx"), {"(Quant)", "narrow"});
    }
    {
        onnx::ModelProto g = base;  // a 5-bit signed activation
        auto* bits = initializer_named(g, "l0_abits");
        set_floats(*bits, {5.0f});
        expect_has(import_error(g, "a5.onnx"), {"(Quant)", "5", "not an activation fatsim has"});
    }
    {
        onnx::ModelProto g = base;  // a 9-bit input quantiser: more levels than fatsim's 8-bit input code
        set_floats(*initializer_named(g, "in_bits"), {9.0f});
        expect_has(import_error(g, "in9.onnx"), {"(Quant)", "input quantiser", "at most 8 bits"});
    }
    {
        onnx::ModelProto g = base;  // the classifier's BN-like per-class scale
        set_floats(*initializer_named(g, "l2_ws"), {0.05f, 0.05f, 0.05f, 0.05f, 0.07f});
        initializer_named(g, "l2_ws")->set_dims(1, 5);
        expect_has(import_error(g, "cls.onnx"), {"(MatMul)", "arg max"});
    }
    // Found by fuzz/fuzz_qonnx.cpp (out-of-bounds reads, a NaN cast to int8
    // before these checks).
    {
        onnx::ModelProto g = base;  // a weight scale of 7 channels for 6 output channels
        set_floats(*initializer_named(g, "l0_ws"), std::vector<float>(7, 0.1f));
        initializer_named(g, "l0_ws")->clear_dims();
        for (int64_t d : {7, 1, 1, 1}) initializer_named(g, "l0_ws")->add_dims(d);
        expect_has(import_error(g, "ws.onnx"), {"(Quant)", "weight scale of shape [7,1,1,1] does not broadcast to [6,"});
    }
    {
        onnx::ModelProto g = base;  // a NaN weight
        auto w = floats(*initializer_named(g, "l0_W"));
        w[3] = std::nanf("");
        set_floats(*initializer_named(g, "l0_W"), w);
        expect_has(import_error(g, "nan.onnx"), {"(Quant)", "weight nan is not a finite number"});
    }
    {
        onnx::ModelProto g = base;  // a bit width far outside int's range (UB in the cast it used to reach)
        set_floats(*initializer_named(g, "l0_abits"), {2.6e32f});
        expect_has(import_error(g, "hugebits.onnx"), {"(Quant)", "bit width", "must lie in 1..32"});
    }
    {
        onnx::ModelProto g = base;  // a negative dimension
        initializer_named(g, "l0_W")->set_dims(0, -6);
        expect_has(import_error(g, "dim.onnx"), {"initializer 'l0_W'", "is empty or has over"});
    }
}

namespace {
onnx::ModelProto load_proto(const std::string& path) {
    onnx::ModelProto g;
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(g.ParseFromIstream(&f)) << path;
    return g;
}
onnx::NodeProto& node_writing(onnx::ModelProto& m, const std::string& output) {
    for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.output(0) == output) return n;
    throw std::runtime_error("no node writes " + output);
}
void expect_has(const std::string& msg, std::initializer_list<const char*> parts) {
    for (const char* part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
}
}  // namespace

TEST(QonnxBrevitas, ScaledInputQuantiserMovesTheFirstThresholds) {
    // The same network read with the quantiser's scale and zero point, and with
    // them as if unit: the first layer's thresholds differ, the rest agree.
    const std::string p = brevitas_graph("cnv_uint", 4);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    const QnnModel m = import_qonnx(p);
    onnx::ModelProto g = load_proto(p);
    set_floats(*initializer_named(g, "in_zp"), {0.0f});
    const QnnModel unshifted = import_qonnx(save_proto(g, "cnv_uint_zp0.onnx"));
    EXPECT_NE(m.layers[0].thresholds, unshifted.layers[0].thresholds);
    EXPECT_EQ(m.layers[1].thresholds, unshifted.layers[1].thresholds);
    EXPECT_EQ(m.layers[0].weights, unshifted.layers[0].weights);
}

TEST(QonnxBrevitas, NegativeTensorNormNegatesTheClassifier) {
    // cnv_uint's TensorNorm has a negative weight: argmax(-dot), so the
    // classifier's rows come out negated; cnv_q17's is positive.
    for (const char* config : {"cnv_uint", "cnv_q17"}) {
        const std::string p = brevitas_graph(config, 5);
        SKIP_WITHOUT_PYTHON_ONNX(p);
        onnx::ModelProto g = load_proto(p);
        const size_t last = std::string(config) == "cnv_uint" ? 2 : 3;
        const std::string l = "l" + std::to_string(last);
        const float sign = floats(*initializer_named(g, l + "_tn_Mul"))[0] < 0 ? -1.0f : 1.0f;
        EXPECT_EQ(sign < 0, std::string(config) == "cnv_uint");
        const auto w = floats(*initializer_named(g, l + "_W"));  // [MW][MH] for MatMul, ints * 0.05
        const QnnModel m = import_qonnx(p);
        const LayerSpec& s = m.topology.layers[last];
        for (int o = 0; o < s.mh(); ++o)
            for (int k = 0; k < s.mw(); ++k)
                ASSERT_EQ(m.weight(int(last), o, k), int(sign * std::lround(w[size_t(k) * s.mh() + o] / 0.05f)))
                    << config << " class " << o << " column " << k;
    }
}

TEST(QonnxBrevitas, AffineAfterThePoolFoldsOnlyWithoutANegativeScale) {
    // cnv_uint's first layer as Conv -> MaxPool -> Mul -> Add -> Quant: the max
    // commutes with the quantiser for scales >= 0 (then the model matches the
    // graph image by image), not for a negative one (an error naming the quantiser).
    const std::string p = brevitas_graph("cnv_uint", 6);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    onnx::ModelProto g = load_proto(p);
    auto* nodes = g.mutable_graph()->mutable_node();
    int conv = -1, pool = -1;
    for (int i = 0; i < nodes->size(); ++i) {
        if (nodes->Get(i).output(0) == "l0_acc") conv = i;
        if (nodes->Get(i).output(0) == "l0_pool") pool = i;
    }
    ASSERT_GE(conv, 0);
    ASSERT_GE(pool, 0);
    node_writing(g, "l0_mul").set_input(1, "l0_pool");
    nodes->Mutable(pool)->set_input(0, "l0_acc");
    for (auto& n : *nodes)
        if (n.input_size() > 0 && n.input(0) == "l0_pool" && n.output(0) != "l0_mul") n.set_input(0, "l0_act");
    for (int i = pool; i > conv + 1; --i) nodes->SwapElements(i, i - 1);  // the pool right after the Conv
    auto k = floats(*initializer_named(g, "l0_k"));
    ASSERT_TRUE(std::any_of(k.begin(), k.end(), [](float v) { return v < 0; })) << "no negative scale drawn";
    expect_has(import_error(g, "pool_neg.onnx"), {"(Quant)", "negative scale", "(MaxPool)", "pool after the quantiser"});
    for (float& v : k) v = std::fabs(v);
    set_floats(*initializer_named(g, "l0_k"), k);
    const std::string ok = save_proto(g, "pool_pos.onnx");
    const QnnModel m = import_qonnx(ok);
    expect_graph_matches_engine(ok, m, 60, 8);
}

TEST(QonnxBrevitas, AffinesFatsimCannotFoldNameTheNode) {
    const std::string p = brevitas_graph("cnv_uint", 1);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    const onnx::ModelProto base = load_proto(p);
    {
        onnx::ModelProto g = base;  // a constant that varies along the width
        auto* k = initializer_named(g, "l0_k");
        k->clear_dims();
        k->add_dims(6);
        set_floats(*k, {1, 2, 3, 4, 5, 6});
        expect_has(import_error(g, "perpixel.onnx"), {"(Mul)", "constant [6] varies within channel 0"});
    }
    {
        onnx::ModelProto g = base;  // TensorNorm with weight 0: every class alike
        set_floats(*initializer_named(g, "l2_tn_Mul"), {0.0f});
        expect_has(import_error(g, "tn0.onnx"), {"(MatMul)", "scaled by 0 (last changed by", "(Mul)"});
    }
    {
        onnx::ModelProto g = base;  // a per-class shift on the classifier
        auto* c = initializer_named(g, "l2_tn_Add");
        c->set_dims(0, 5);
        set_floats(*c, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f});
        expect_has(import_error(g, "percls.onnx"), {"(MatMul)", "shifted per class (last changed by", "(Add)", "arg max"});
    }
    {
        onnx::ModelProto g = base;  // constant - data
        auto& sub = node_writing(g, "l2_tn_Sub_out");
        const std::string a = sub.input(0), b = sub.input(1);
        sub.set_input(0, b);
        sub.set_input(1, a);
        expect_has(import_error(g, "rsub.onnx"), {"(Sub)", "of a constant by the data"});
    }
    {
        // 2x - 1 after the input quantiser (before it, it is a preprocessing)
        onnx::ModelProto g = load_proto(brevitas_graph("cnv_q17_pre", 1));
        auto* nodes = g.mutable_graph()->mutable_node();
        for (auto& n : *nodes) {
            if (n.output(0) == "global_in_q") n.set_input(0, "global_in");
            else if (n.name() == "Mul_0") n.set_input(0, "global_in_q");
            else if (n.input_size() > 0 && n.input(0) == "global_in_q") n.set_input(0, "pre_sub");
        }
        ASSERT_EQ(nodes->Get(2).output(0), "global_in_q");
        nodes->SwapElements(2, 1);
        nodes->SwapElements(1, 0);
        expect_has(import_error(g, "postq.onnx"), {"'Mul_0' (Mul)", "between the input quantiser and the first Conv"});
    }
    {
        onnx::ModelProto g = base;  // an affine after the activation quantiser
        auto& pool = node_writing(g, "l0_pool");
        auto* mul = g.mutable_graph()->add_node();
        mul->set_op_type("Mul");
        mul->add_input("l0_pool");
        mul->add_input("l2_tn_Mul");
        mul->add_output("l0_scaled");
        (void)pool;
        for (auto& n : *g.mutable_graph()->mutable_node())
            if (n.input_size() > 0 && n.input(0) == "l0_pool" && n.op_type() != "Mul") n.set_input(0, "l0_scaled");
        auto* nodes = g.mutable_graph()->mutable_node();
        int at = 0;
        for (int i = 0; i < nodes->size(); ++i)
            if (nodes->Get(i).output(0) == "l0_pool") at = i;
        for (int i = nodes->size() - 1; i > at + 1; --i) nodes->SwapElements(i, i - 1);
        expect_has(import_error(g, "postact.onnx"), {"(Mul)", "after an activation quantiser"});
    }
}

// ---- the CLI: model export-qonnx, import --qonnx [--check]

namespace {
std::string run_cli(const std::string& args, int& rc) {
    const std::string out = temp_path("cli_out.txt");
    rc = std::system((std::string(FATSIM_BINARY) + " " + args + " > " + out + " 2>&1").c_str());
    std::ifstream f(out);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(QonnxCli, ExportImportRoundTripAndCheck) {
    const std::string m = temp_path("cli.fatq"), onnx_file = temp_path("cli.onnx"), back = temp_path("cli_back.fatq");
    save_model(random_model(w2a2_net(), 5), m);
    int rc = 0;
    std::string out = run_cli("model export-qonnx --model " + m + " --out " + onnx_file, rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("accepted by the ONNX checker"), std::string::npos) << out;
    out = run_cli("import --qonnx " + onnx_file + " --out " + back, rc);
    ASSERT_EQ(rc, 0) << out;
    std::ifstream a(m, std::ios::binary), b(back, std::ios::binary);
    const std::string ma((std::istreambuf_iterator<char>(a)), {}), mb((std::istreambuf_iterator<char>(b)), {});
    EXPECT_EQ(ma, mb) << "export -> import changed the model file";
    // `fatsim export --qonnx` is the same command.
    const std::string onnx2 = temp_path("cli2.onnx");
    out = run_cli("export --qonnx --model " + m + " --out " + onnx2, rc);
    ASSERT_EQ(rc, 0) << out;
    std::ifstream o1(onnx_file, std::ios::binary), o2(onnx2, std::ios::binary);
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(o1)), {}), std::string((std::istreambuf_iterator<char>(o2)), {}));

    // --check reads Fashion-MNIST (28x28, padded to the input): a CNV-sized model.
    if (!fs::exists(kDefaultFashionDir)) GTEST_SKIP() << "no Fashion-MNIST in " << kDefaultFashionDir;
    const std::string cnv = temp_path("cnv.fatq"), cnv_onnx = temp_path("cnv.onnx");
    save_model(random_model(load_topology(std::string(FATSIM_SOURCE_DIR) + "/models/cnv_w1a2.yaml", 0.25), 2), cnv);
    ASSERT_EQ((run_cli("model export-qonnx --model " + cnv + " --out " + cnv_onnx, rc), rc), 0);
    out = run_cli("import --qonnx " + cnv_onnx + " --out " + back + " --check 25", rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("25/25 predictions agree"), std::string::npos) << out;
}

TEST(QonnxCli, BrevitasCnvWithScaledInputChecksOnFashionMnist) {
    // Q1.7 input quantiser, BN as Mul + Add, TensorNorm: dataset images through
    // the graph's float arithmetic and through the imported model.
    const std::string p = brevitas_graph("cnv_q17_32", 1);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    if (!fs::exists(kDefaultFashionDir)) GTEST_SKIP() << "no Fashion-MNIST in " << kDefaultFashionDir;
    int rc = 0;
    const std::string out = run_cli("import --qonnx " + p + " --out " + temp_path("cnv32.fatq") + " --check 200", rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("200/200 predictions agree"), std::string::npos) << out;
}

TEST(QonnxCli, BrevitasCnvWithTwoXMinusOneChecksOnFashionMnist) {
    // CNV.forward's 2x - 1 before the input quantiser: the graph reads pixel / 255,
    // the imported model the table's codes.
    const std::string p = brevitas_graph("cnv_q17_32_pre", 1);
    SKIP_WITHOUT_PYTHON_ONNX(p);
    if (!fs::exists(kDefaultFashionDir)) GTEST_SKIP() << "no Fashion-MNIST in " << kDefaultFashionDir;
    int rc = 0;
    const std::string out = run_cli("import --qonnx " + p + " --out " + temp_path("pre32.fatq") + " --check 200", rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("200/200 predictions agree"), std::string::npos) << out;
}

TEST(QonnxCli, ImportErrorNamesTheNodeAndWritesNothing) {
    const QnnModel m = random_model(w2a2_net(), 6);
    onnx::ModelProto g = parse(export_qonnx(m));
    node_named(g, "f0")->set_op_type("Relu");
    const std::string bad = save_proto(g, "cli_bad.onnx"), out_file = temp_path("cli_bad.fatq");
    int rc = 0;
    const std::string out = run_cli("import --qonnx " + bad + " --out " + out_file, rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("node 'f0' (Relu)"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(out_file));
}
