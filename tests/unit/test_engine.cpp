// Golden engine against the naive reference: identical activations at every
// layer, on random small models of every W/A combination, with and without
// error patterns.
#include <gtest/gtest.h>

#include <random>

#include "config.hpp"
#include "engine.hpp"
#include "reference.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using fatsim::testing::random_input;
using fatsim::testing::small_topology;

namespace {

struct WA {
    int w, a;
};

class EngineVsReference : public ::testing::TestWithParam<WA> {};

TEST_P(EngineVsReference, IdenticalActivationsAtEveryLayer) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        const QnnModel m = random_model(topo, seed);
        const Engine engine(m);
        auto ws = engine.make_workspace();
        std::mt19937 rng{unsigned(seed)};
        int distinct_levels_seen = 0;
        for (int img = 0; img < 6; ++img) {
            const auto in = random_input(topo, rng);
            Trace te, tr;
            const int pe = engine.classify(*ws, in.data(), {}, &te);
            const int pr = reference_classify(m, in.data(), {}, &tr);
            ASSERT_EQ(pe, pr);
            for (size_t l = 0; l < topo.layers.size(); ++l) {
                SCOPED_TRACE("layer " + topo.layers[l].name);
                ASSERT_EQ(te.layers[l].acc, tr.layers[l].acc);
                ASSERT_EQ(te.layers[l].act, tr.layers[l].act);
                ASSERT_EQ(te.layers[l].out, tr.layers[l].out);
            }
            // Sane random model: the first layer's output uses more than one level.
            const auto& o = tr.layers[0].out;
            distinct_levels_seen = std::max<int>(distinct_levels_seen,
                                                 *std::max_element(o.begin(), o.end()) != *std::min_element(o.begin(), o.end()));
        }
        EXPECT_EQ(distinct_levels_seen, 1);
    }
}

TEST_P(EngineVsReference, IdenticalUnderErrorPatterns) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 42);
    const Engine engine(m);
    auto ws = engine.make_workspace();
    std::mt19937 rng(5);
    const ActRange ar = act_range(GetParam().a);
    for (int trial = 0; trial < 24; ++trial) {
        ErrorPattern p;
        p.layer = int(rng() % 4);
        const LayerSpec& s = topo.layers[p.layer];
        p.stuck_code = ar.lo + int(rng() % ar.levels());
        if (trial % 2)
            p.channels = {int(rng() % s.mh()), int(rng() % s.mh())};
        else
            p.pixels = {int(rng() % (s.pooled_dim * s.pooled_dim))};
        const auto in = random_input(topo, rng);
        Trace te, tr;
        ASSERT_EQ(engine.classify(*ws, in.data(), {p}, &te), reference_classify(m, in.data(), {p}, &tr));
        for (size_t l = 0; l < topo.layers.size(); ++l) ASSERT_EQ(te.layers[l].out, tr.layers[l].out);
        // The pattern really landed.
        const auto& out = te.layers[p.layer].out;
        const int px = p.pixels.empty() ? 0 : p.pixels[0];
        const int ch = p.channels.empty() ? 0 : p.channels[0];
        EXPECT_EQ(out[size_t(px) * s.mh() + ch], p.stuck_code);
    }
}

INSTANTIATE_TEST_SUITE_P(AllWA, EngineVsReference,
                         ::testing::Values(WA{1, 1}, WA{1, 2}, WA{1, 3}, WA{1, 4}, WA{2, 2}, WA{2, 4}),
                         [](const ::testing::TestParamInfo<WA>& i) {
                             return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a);
                         });

TEST(Engine, ClassifyFromResumesMidNetwork) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 3);
    const Engine engine(m);
    auto ws = engine.make_workspace();
    std::mt19937 rng(9);
    for (int i = 0; i < 5; ++i) {
        const auto in = random_input(topo, rng);
        Trace t;
        const int full = engine.classify(*ws, in.data(), {}, &t);
        for (int l = 1; l < int(topo.layers.size()); ++l) {
            const auto mid = t.layers[l - 1].out;
            EXPECT_EQ(engine.classify_from(*ws, l, mid.data()), full);
        }
    }
}

TEST(Engine, EvaluateCountsCorrectPredictionsAcrossThreads) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 8);
    const Engine engine(m);
    std::mt19937 rng(1);
    InputBatch b;
    b.count = 50;
    b.dim = topo.in_dim;
    b.channels = topo.in_channels;
    for (int i = 0; i < b.count; ++i) {
        const auto in = random_input(topo, rng);
        b.data.insert(b.data.end(), in.begin(), in.end());
        b.labels.push_back(uint8_t(reference_classify(m, in.data()) == 0 ? 0 : (i % 3 ? 0 : 1)));
    }
    const EvalResult r1 = engine.evaluate(b, {}, 1), r2 = engine.evaluate(b, {}, 3);
    EXPECT_EQ(r1.predictions, r2.predictions);
    int correct = 0;
    for (int i = 0; i < b.count; ++i) {
        EXPECT_EQ(r1.predictions[i], reference_classify(m, b.image(i)));
        correct += r1.predictions[i] == b.labels[i];
    }
    EXPECT_EQ(r1.correct, correct);
}

}  // namespace
