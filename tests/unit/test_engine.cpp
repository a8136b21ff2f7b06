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


// Adds `delta` to channel `channel`'s accumulators of one layer.
class AddToChannel : public AccumulatorHook {
public:
    AddToChannel(int layer, int channel, int32_t delta) : layer_(layer), channel_(channel), delta_(delta) {}
    void on_accumulators(int layer, int32_t* acc, int pixels, int channels) override {
        ++calls;
        if (layer != layer_) return;
        for (int q = 0; q < pixels; ++q) acc[size_t(q) * channels + channel_] += delta_;
    }
    int calls = 0;

private:
    int layer_, channel_;
    int32_t delta_;
};

void expect_same_layers(const Trace& a, const Trace& b, bool with_acc) {
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
        SCOPED_TRACE("layer " + std::to_string(l));
        if (with_acc) {
            EXPECT_EQ(a.layers[l].acc, b.layers[l].acc);
        }
        EXPECT_EQ(a.layers[l].act, b.layers[l].act);
        EXPECT_EQ(a.layers[l].out, b.layers[l].out);
    }
}

class EngineHooks : public ::testing::TestWithParam<WA> {};

// acc + d >= t  <=>  acc >= t - d: a hook adding d to one channel's
// accumulators acts like that channel's thresholds lowered by d.
TEST_P(EngineHooks, AccumulatorHookEqualsShiftedThresholds) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 11);
    const Engine engine(m);
    auto ws = engine.make_workspace();
    std::mt19937 rng(17);
    int changed_outputs = 0;
    for (int trial = 0; trial < 8; ++trial) {
        const int layer = trial % 4;
        const LayerSpec& s = topo.layers[size_t(layer)];
        const int channel = int(rng() % unsigned(s.mh()));
        const int32_t delta = int32_t(rng() % 9) - 4 + (trial % 2 ? 3 : -3);
        QnnModel shifted = m;
        const int T = act_range(s.act_bits).thresholds();
        for (int t = 0; t < T; ++t) shifted.layers[size_t(layer)].thresholds[size_t(channel) * T + t] -= delta;
        const Engine shifted_engine(shifted);
        const auto in = random_input(topo, rng);
        AddToChannel hook(layer, channel, delta);
        ClassifyOptions opt;
        Trace th, ts, tg;
        opt.hook = &hook;
        opt.trace = &th;
        const int ph = engine.classify_with(*ws, 0, in.data(), opt);
        EXPECT_EQ(hook.calls, int(topo.layers.size()));  // once per layer
        EXPECT_EQ(ph, shifted_engine.classify(*ws, in.data(), {}, &ts));
        expect_same_layers(th, ts, false);
        engine.classify(*ws, in.data(), {}, &tg);
        changed_outputs += th.layers[size_t(layer)].act != tg.layers[size_t(layer)].act;
        // The trace holds the accumulators as thresholded: the hook's.
        for (int q = 0; q < s.out_dim * s.out_dim; ++q) {
            const size_t i = size_t(q) * s.mh() + channel;
            ASSERT_EQ(th.layers[size_t(layer)].acc[i], tg.layers[size_t(layer)].acc[i] + delta);
        }
    }
    EXPECT_GT(changed_outputs, 0);  // the hook really changed activations
}

// On the classifier the hook moves class scores.
TEST(EngineHooks, HookOnClassifierScoresDecides) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 4);
    const Engine engine(m);
    auto ws = engine.make_workspace();
    std::mt19937 rng(2);
    const int last = int(topo.layers.size()) - 1;
    for (int i = 0; i < 5; ++i) {
        const auto in = random_input(topo, rng);
        const int target = (engine.classify(*ws, in.data()) + 1) % topo.num_classes();
        AddToChannel hook(last, target, 1 << 20);
        ClassifyOptions opt;
        opt.hook = &hook;
        EXPECT_EQ(engine.classify_with(*ws, 0, in.data(), opt), target);
    }
}

// Overridden weights and thresholds give what an Engine built from the
// modified model gives, on every layer, and the engine itself is unchanged.
TEST_P(EngineHooks, OverridesEqualAModifiedModel) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 21);
    const Engine engine(m);
    auto ws = engine.make_workspace();
    std::mt19937 rng(23);
    for (int layer = 0; layer < int(topo.layers.size()); ++layer) {
        SCOPED_TRACE("overridden layer " + std::to_string(layer));
        const LayerSpec& s = topo.layers[size_t(layer)];
        QnnModel changed = m;
        auto& w = changed.layers[size_t(layer)].weights;
        const int wmax = weight_max(s.weight_bits);
        for (size_t k = 0; k < w.size(); k += 3) w[k] = int8_t(s.weight_bits == 1 ? -w[k] : (w[k] == wmax ? -wmax : wmax));
        auto& thr = changed.layers[size_t(layer)].thresholds;
        for (auto& t : thr) t += 1;  // still ascending
        EngineOverrides ov(engine);
        EXPECT_TRUE(ov.empty());
        ov.set_weights(layer, w);
        if (!thr.empty()) ov.set_thresholds(layer, thr);
        EXPECT_FALSE(ov.empty());
        const Engine reference_engine(changed);
        int differs = 0;
        for (int img = 0; img < 3; ++img) {
            const auto in = random_input(topo, rng);
            Trace to, tr, tg;
            ClassifyOptions opt;
            opt.overrides = &ov;
            opt.trace = &to;
            const int po = engine.classify_with(*ws, 0, in.data(), opt);
            EXPECT_EQ(po, reference_engine.classify(*ws, in.data(), {}, &tr));
            expect_same_layers(to, tr, true);
            engine.classify(*ws, in.data(), {}, &tg);
            differs += to.layers[size_t(layer)].acc != tg.layers[size_t(layer)].acc;
        }
        EXPECT_GT(differs, 0);  // the override was in force...
        {
            // Overrides belong to the engine they were made for.
            ClassifyOptions opt;
            opt.overrides = &ov;
            const auto in = random_input(topo, rng);
            EXPECT_THROW(reference_engine.classify_with(*ws, 0, in.data(), opt), std::invalid_argument);
        }
        ov.clear();
        EXPECT_TRUE(ov.empty());  // ...and is gone after clear()
        const auto in = random_input(topo, rng);
        Trace tc, tg;
        ClassifyOptions opt;
        opt.overrides = &ov;
        opt.trace = &tc;
        engine.classify_with(*ws, 0, in.data(), opt);
        engine.classify(*ws, in.data(), {}, &tg);
        expect_same_layers(tc, tg, true);
    }
}

INSTANTIATE_TEST_SUITE_P(SomeWA, EngineHooks, ::testing::Values(WA{1, 1}, WA{1, 4}, WA{2, 2}),
                         [](const ::testing::TestParamInfo<WA>& i) {
                             return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a);
                         });

TEST(EngineOverrides, BatchEvaluationWithOverrides) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 8);
    QnnModel changed = m;
    for (auto& w : changed.layers[2].weights) w = int8_t(-w);
    const Engine engine(m), changed_engine(changed);
    std::mt19937 rng(3);
    InputBatch b;
    b.count = 40;
    b.dim = topo.in_dim;
    b.channels = topo.in_channels;
    for (int i = 0; i < b.count; ++i) {
        const auto in = random_input(topo, rng);
        b.data.insert(b.data.end(), in.begin(), in.end());
        b.labels.push_back(uint8_t(i % 10));
    }
    EngineOverrides ov(engine);
    ov.set_weights(2, changed.layers[2].weights);
    ClassifyOptions opt;
    opt.overrides = &ov;
    const EvalResult with = engine.evaluate_with(b, opt, 3), expected = changed_engine.evaluate(b, {}, 1);
    EXPECT_EQ(with.predictions, expected.predictions);
    EXPECT_EQ(with.correct, expected.correct);
    EXPECT_NE(with.predictions, engine.evaluate(b, {}, 1).predictions);  // the override mattered
    Trace t;
    opt.trace = &t;
    EXPECT_THROW(engine.evaluate_with(b, opt, 1), std::invalid_argument);
}

TEST(EngineOverrides, RejectsWhatNoMemoryHolds) {
    const Topology topo = small_topology(2, 2);
    const QnnModel m = random_model(topo, 1);
    const Engine engine(m);
    EngineOverrides ov(engine);
    auto w = m.layers[1].weights;
    w[5] = -2;  // a 2-bit field holds -2 (a flipped sign bit): accepted
    EXPECT_NO_THROW(ov.set_weights(1, w));
    w[5] = 2;
    try {
        ov.set_weights(1, w);
        FAIL() << "weight 2 in a 2-bit field accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("layer c1"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("weight[5]=2"), std::string::npos) << e.what();
    }
    w.pop_back();
    EXPECT_THROW(ov.set_weights(1, w), std::invalid_argument);
    EXPECT_THROW(ov.set_thresholds(1, {1, 2, 3}), std::invalid_argument);
    EXPECT_THROW(ov.set_weights(9, m.layers[1].weights), std::invalid_argument);
    const QnnModel b = random_model(small_topology(1, 1), 1);
    const Engine eb(b);
    EngineOverrides ob(eb);
    auto wb = b.layers[1].weights;
    wb[0] = 0;  // 1-bit weights are -1 or +1
    EXPECT_THROW(ob.set_weights(1, wb), std::invalid_argument);
}

}  // namespace
