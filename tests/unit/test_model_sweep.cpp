// Sweeps of error-model files (campaigns/model_sweep.cpp): the paper's
// built-in channel and pixel models must expand to exactly Algorithm 1's
// faults and give the fast sweep's accuracies (a second path for both).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include "model_sweep.hpp"
#include "small_nets.hpp"
#include "sweep.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;

namespace {

InputBatch random_batch(const Topology& t, int n, unsigned seed) {
    std::mt19937 rng(seed);
    InputBatch b;
    b.count = n;
    b.dim = t.in_dim;
    b.channels = t.in_channels;
    for (int i = 0; i < n; ++i) {
        const auto img = fatsim::testing::random_input(t, rng);
        b.data.insert(b.data.end(), img.begin(), img.end());
        b.labels.push_back(uint8_t(rng() % 10));
    }
    return b;
}

std::vector<int> act_layers(const Topology& t) {
    std::vector<int> v;
    for (size_t l = 0; l < t.layers.size(); ++l)
        if (t.layers[l].act_bits) v.push_back(int(l));
    return v;
}

// Built-in model of `kind` == Algorithm 1 sweep of `kind`, fault by fault.
void expect_builtin_matches_sweep(ErrorModelKind kind, int wbits, int abits) {
    const Topology topo = fatsim::testing::small_topology(wbits, abits, true);
    const QnnModel m = random_model(topo, 5);
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 6, 11);
    const auto model_faults = expand_error_model(stuck_at_error_model(kind), topo);
    const auto sweep_faults = enumerate_faults(topo, kind, act_layers(topo));
    ASSERT_EQ(model_faults.size(), sweep_faults.size());

    const EvalResult clean = engine.evaluate(batch, {}, 1);
    const auto got = run_model_sweep(engine, batch, model_faults, clean.predictions, 2);
    SweepOptions opt;
    opt.threads = 2;
    const auto want = run_sweep(engine, batch, kind, sweep_faults, opt);
    // Key each result by (layer, unit, code); the two enumerations differ in order.
    std::map<std::tuple<int, int, int>, std::pair<int, int>> expected;
    for (const auto& r : want) expected[{r.fault.layer, r.fault.index, r.fault.code}] = {r.correct, r.changed};
    int changed_any = 0;
    for (size_t i = 0; i < model_faults.size(); ++i) {
        const ModelFault& f = model_faults[i];
        ASSERT_EQ(f.layers.size(), 1u);
        ASSERT_EQ(f.patterns.size(), 1u);
        const auto it = expected.find({f.layers[0], f.index, f.code});
        ASSERT_NE(it, expected.end()) << "layer " << f.layers[0] << " unit " << f.index << " code " << f.code;
        EXPECT_EQ(got[i].correct, it->second.first);
        EXPECT_EQ(got[i].changed, it->second.second);
        changed_any += got[i].changed > 0;
    }
    EXPECT_GT(changed_any, 0) << "no fault changed any prediction: the comparison would be vacuous";
}

}  // namespace

TEST(ModelSweep, BuiltinChannelModelIsAlgorithm1) { expect_builtin_matches_sweep(ErrorModelKind::Channel, 1, 1); }
TEST(ModelSweep, BuiltinChannelModelIsAlgorithm1W2A2) { expect_builtin_matches_sweep(ErrorModelKind::Channel, 2, 2); }
TEST(ModelSweep, BuiltinPixelModelIsThePixelSweep) { expect_builtin_matches_sweep(ErrorModelKind::Pixel, 1, 2); }

TEST(ModelSweep, GroupModelStrikesOnePeOfEveryLayer) {
    const Topology topo = fatsim::testing::small_topology(1, 1, true);
    const auto faults = expand_error_model(stuck_at_error_model(ErrorModelKind::Group, 4), topo);
    // Every layer with an activation x 4 groups x 2 levels.
    EXPECT_EQ(faults.size(), act_layers(topo).size() * 4 * 2);
    for (const auto& f : faults) {
        ASSERT_EQ(f.patterns.size(), 1u);
        const auto& ch = f.patterns[0].channels;
        ASSERT_FALSE(ch.empty());
        for (int c : ch) EXPECT_EQ(c % 4, f.index);
        EXPECT_EQ(int(ch.size()), (topo.layers[size_t(f.layers[0])].mh() - f.index + 3) / 4);
    }
}

TEST(ModelSweep, ClassSetsNarrowTheUnitsAndLayersFailTogether) {
    const Topology topo = fatsim::testing::small_topology(1, 2, true);
    ErrorModel m;
    m.granularity = ErrorModelKind::Channel;
    PatternClass c;
    c.layer_scope = LayerScope::Listed;
    c.layers = {"c0", "c2"};
    c.channels.list = {1, 5};
    c.effect = Effect::Transition;
    c.transition = {{1, -1}};
    m.classes.push_back(c);
    const auto faults = expand_error_model(m, topo);
    ASSERT_EQ(faults.size(), 2u);  // channels 1 and 5, both layers at once
    for (const auto& f : faults) {
        ASSERT_EQ(f.patterns.size(), 2u);
        EXPECT_EQ(f.patterns[0].channels, std::vector<int>{f.index});
        EXPECT_EQ(f.patterns[1].layer, topo.find_layer("c2"));
        EXPECT_EQ(f.patterns[0].faulty(1), -1);
        EXPECT_EQ(f.patterns[0].faulty(0), 0);
    }
}

TEST(ModelSweep, ElementGranularityIsRefused) {
    const Topology topo = fatsim::testing::small_topology(1, 1);
    EXPECT_THROW(expand_error_model(stuck_at_error_model(ErrorModelKind::Element), topo), std::invalid_argument);
}
