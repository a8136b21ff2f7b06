// Trainer tests (label trainer): quantisers, the injection layer's statistics,
// gradient mask and broadcast shapes, FAT method 2, export exactness against
// the golden engine, checkpoint resume. Tiny nets on synthetic data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <random>
#include <set>

#include "config.hpp"
#include "engine.hpp"
#include "nn.hpp"
#include "thread_governor.hpp"

using namespace fatsim;
using namespace fatsim::trainer;
namespace fs = std::filesystem;

namespace {

Topology tiny_topology(int wbits, int abits, int dim = 10) {
    const std::string y = "name: tiny\ninput: {channels: 3, dim: " + std::to_string(dim) +
                          ", bits: 8}\nweight_bits: " + std::to_string(wbits) + "\nact_bits: " + std::to_string(abits) +
                          "\nwidth: 1.0\nlayers:\n"
                          "  - {name: conv0, type: conv, channels: 8, kernel: 3}\n"
                          "  - {name: conv1, type: conv, channels: 8, kernel: 3, pool: 2}\n"
                          "  - {name: fc0, type: fc, channels: 16}\n"
                          "  - {name: fc1, type: fc, channels: 10, act_bits: 0, scale: false}\n";
    return parse_topology(y, "tiny.yaml");
}

// Learnable synthetic data: the label is the brightest of 10 vertical stripes-ish regions.
InputBatch synthetic(const Topology& t, int n, uint64_t seed) {
    InputBatch b;
    b.count = n;
    b.dim = t.in_dim;
    b.channels = t.in_channels;
    b.data.resize(size_t(n) * b.dim * b.dim * b.channels);
    b.labels.resize(size_t(n));
    std::mt19937_64 rng(seed);
    for (int i = 0; i < n; ++i) {
        const int label = int(rng() % 10);
        b.labels[size_t(i)] = uint8_t(label);
        for (int y = 0; y < b.dim; ++y)
            for (int x = 0; x < b.dim; ++x)
                for (int c = 0; c < b.channels; ++c) {
                    int v = int(rng() % 120) - 100;
                    if ((x + y * b.dim) % 10 == label) v += 120;
                    b.data[((size_t(i) * b.dim + y) * b.dim + x) * b.channels + c] = int8_t(std::clamp(v, -128, 127));
                }
    }
    return b;
}

TrainOptions quick_options() {
    TrainOptions o;
    o.epochs = 2;
    o.batch = 20;
    o.threads = 1;  // robust on a loaded 2-core machine
    o.progress = false;
    o.eval_each_epoch = false;
    o.check_export = false;
    o.max_train_batches = 5;
    return o;
}

// Binomial tolerance: |k - n q| <= 5 sigma.
void expect_rate(int64_t k, int64_t n, double q, const std::string& what) {
    const double sigma = std::sqrt(n * q * (1 - q));
    EXPECT_LE(std::fabs(double(k) - n * q), 5 * sigma + 1) << what << ": " << k << " of " << n << ", expected rate " << q;
}

torch::Tensor T(std::vector<double> v) { return torch::tensor(v, torch::kFloat32); }

}  // namespace

TEST(Quantisers, ForwardValuesAndTies) {
    const auto x = T({-2.0, -0.6, -0.5, -0.2, 0.0, 0.2, 0.5, 0.7, 3.0});
    EXPECT_TRUE(torch::equal(quantize_weight(x, 1), T({-1, -1, -1, -1, 1, 1, 1, 1, 1})));
    EXPECT_TRUE(torch::equal(quantize_act(x, 1), T({-1, -1, -1, -1, 1, 1, 1, 1, 1})));
    // narrow INT2, round half up (a value at a step goes up, as acc >= T does)
    EXPECT_TRUE(torch::equal(quantize_act(x, 2), T({-1, -1, 0, 0, 0, 0, 1, 1, 1})));
    EXPECT_TRUE(torch::equal(quantize_weight(x, 2), T({-1, -1, 0, 0, 0, 0, 1, 1, 1})));
    const auto a4 = quantize_act(T({-1.0, 0.0, 0.1, 1.0, 2.95, 10.0}), 4);
    EXPECT_TRUE(torch::equal(a4, T({0, 0, 1, 5, 15, 15})));
    // levels by steps agree with the quantiser
    for (int b : {1, 2, 3, 4}) {
        const auto steps = act_steps(b);
        const auto vals = act_values(b);
        ASSERT_EQ(steps.size() + 1, vals.size());
        for (int i = -200; i < 400; ++i) {
            const double y = i / 100.0 + 0.0037;  // off the steps
            int level = 0;
            for (double s : steps) level += y >= s;
            EXPECT_EQ(quantize_act(torch::tensor({y}, torch::kFloat64), b).item<double>(), vals[size_t(level)])
                << "bits " << b << " y " << y;
        }
    }
}

TEST(Quantisers, StraightThroughGradients) {
    auto x = T({-1.5, -0.5, 0.5, 1.5}).requires_grad_();
    quantize_act(x, 1).sum().backward();  // hardtanh STE
    EXPECT_TRUE(torch::equal(x.grad(), T({0, 1, 1, 0})));
    auto w = T({-1.5, -0.5, 0.5, 1.5}).requires_grad_();
    quantize_weight(w, 1).sum().backward();  // identity STE
    EXPECT_TRUE(torch::equal(w.grad(), torch::ones({4})));
}

TEST(Injection, RatePerLevelWithinBinomialTolerance) {
    torch::manual_seed(7);
    for (int bits : {1, 2, 3}) {
        InjectionOptions o;
        o.error_model = stuck_at_error_model(ErrorModelKind::Element);
        o.p = 0.1;
        Injection inj(bits, o);
        inj->enabled = true;
        inj->train();
        // a constant input at a value outside the levels shows every injection
        const auto x = torch::full({64, 16, 16, 16}, 100.0f);
        const auto y = inj(x);
        const auto vals = act_values(bits);
        const int64_t n = x.numel();
        const double q = o.p / vals.size();
        int64_t total = 0;
        for (double v : vals) {
            const int64_t k = (y == v).sum().item<int64_t>();
            expect_rate(k, n, q, "bits " + std::to_string(bits) + " level " + std::to_string(v));
            total += k;
        }
        EXPECT_EQ(total + (y == 100.0).sum().item<int64_t>(), n);  // nothing else changes
        EXPECT_EQ(inj->last_mask.sum().item<int64_t>(), total);
    }
}

TEST(Injection, GradientZeroedWhereInjectedNoRescaling) {
    torch::manual_seed(3);
    InjectionOptions o;
    o.error_model = stuck_at_error_model(ErrorModelKind::Element);
    o.p = 0.3;
    Injection inj(1, o);
    inj->enabled = true;
    inj->train();
    auto x = torch::ones({8, 4, 5, 5}, torch::requires_grad());
    auto y = inj(x);
    const auto g = torch::rand({8, 4, 5, 5});
    (y * g).sum().backward();
    const auto mask = inj->last_mask.expand_as(x);
    EXPECT_GT(mask.sum().item<int64_t>(), 0);
    EXPECT_TRUE(torch::equal(x.grad(), torch::where(mask, torch::zeros_like(g), g)));
}

TEST(Injection, ChannelAndPixelBroadcastShapes) {
    torch::manual_seed(5);
    const auto x = torch::full({32, 6, 4, 4}, 100.0f);
    for (auto gr : {ErrorModelKind::Channel, ErrorModelKind::Pixel}) {
        InjectionOptions o;
        o.error_model = stuck_at_error_model(gr);
        o.p = 0.5;
        Injection inj(2, o);
        inj->enabled = true;
        inj->train();
        const auto y = inj(x);
        if (gr == ErrorModelKind::Channel) {
            EXPECT_EQ(inj->last_mask.sizes().vec(), (std::vector<int64_t>{32, 6, 1, 1}));
            // every channel is either untouched or one constant value
            const auto mn = y.amin({2, 3}), mx = y.amax({2, 3});
            EXPECT_TRUE(torch::equal(mn, mx));
        } else {
            EXPECT_EQ(inj->last_mask.sizes().vec(), (std::vector<int64_t>{32, 1, 4, 4}));
            const auto mn = y.amin(1), mx = y.amax(1);  // same value across the channels of a pixel
            EXPECT_TRUE(torch::equal(mn, mx));
        }
        const auto hit = (y != 100.0).to(torch::kFloat64).mean().item<double>();
        EXPECT_NEAR(hit, 0.5, 0.1);
        // FC (2-D) tensors
        const auto y2 = inj(torch::full({32, 6}, 100.0f));
        EXPECT_EQ(inj->last_mask.sizes().vec(),
                  gr == ErrorModelKind::Channel ? (std::vector<int64_t>{32, 6}) : (std::vector<int64_t>{32, 1}));
        EXPECT_EQ(y2.sizes().vec(), (std::vector<int64_t>{32, 6}));
    }
}

TEST(Injection, DisabledOrEvalIsTransparent) {
    InjectionOptions o;
    o.p = 0.9;
    Injection inj(1, o);
    const auto x = torch::ones({4, 3, 2, 2});
    inj->train();
    EXPECT_TRUE(torch::equal(inj(x), x));  // disabled
    inj->enabled = true;
    inj->eval();
    EXPECT_TRUE(torch::equal(inj(x), x));  // eval mode
}

TEST(Injection, ChannelGroupsFailTogetherWithMappedValues) {
    torch::manual_seed(11);
    InjectionOptions o;
    o.p = 0.3;
    o.error_model = group_error_model(4, {{1.0, {{-1, 1}, {0, -1}, {1, 0}}}});  // A2: -1 -> +1, 0 -> -1, +1 -> 0
    Injection inj(2, o);
    inj->enabled = true;
    inj->train();
    auto x = torch::randint(-1, 2, {200, 12, 3, 3}).to(torch::kFloat32).requires_grad_();
    const auto y = inj(x);
    const auto m = inj->last_mask;
    ASSERT_EQ(m.sizes().vec(), (std::vector<int64_t>{200, 12, 1, 1}));
    for (int c = 4; c < 12; ++c) EXPECT_TRUE(torch::equal(m.select(1, c), m.select(1, c % 4)));
    const auto mapped = torch::where(x == -1, torch::ones_like(x), torch::where(x == 0, -torch::ones_like(x), torch::zeros_like(x)));
    const auto me = m.expand_as(x);
    EXPECT_TRUE(torch::equal(torch::where(me, mapped, x), y));
    expect_rate(m.select(1, 0).sum().item<int64_t>() + m.select(1, 1).sum().item<int64_t>() +
                    m.select(1, 2).sum().item<int64_t>() + m.select(1, 3).sum().item<int64_t>(),
                200 * 4, 0.3, "group failure rate");
    y.sum().backward();
    EXPECT_TRUE(torch::equal(x.grad(), torch::where(me, torch::zeros_like(x), torch::ones_like(x))));
}

// The paper's built-in models draw exactly what equation (1) drew before error
// models existed: one uniform r per unit, r < p injects level floor(r M / p).
TEST(Injection, BuiltinModelsDrawEquationOneExactly) {
    for (auto gr : {ErrorModelKind::Element, ErrorModelKind::Channel, ErrorModelKind::Pixel})
        for (int bits : {1, 2, 3})
            for (bool is4 : {true, false}) {
                InjectionOptions o;
                o.error_model = stuck_at_error_model(gr);
                o.p = 0.2;
                Injection inj(bits, o);
                inj->enabled = true;
                inj->train();
                const auto x = is4 ? torch::full({16, 6, 5, 5}, 100.0f) : torch::full({16, 6}, 100.0f);
                torch::manual_seed(17);
                const auto y = inj(x);
                const int64_t B = 16, C = 6, M = int64_t(act_values(bits).size());
                std::vector<int64_t> rs = x.sizes().vec();
                using Shape = std::vector<int64_t>;
                if (gr == ErrorModelKind::Channel) rs = is4 ? Shape{B, C, 1, 1} : Shape{B, C};
                if (gr == ErrorModelKind::Pixel) rs = is4 ? Shape{B, 1, 5, 5} : Shape{B, 1};
                torch::manual_seed(17);
                const auto r = torch::rand(rs, torch::kFloat64);
                const auto mask = r < o.p;
                const auto idx = (r * (double(M) / o.p)).floor().clamp_max(double(M - 1)).to(torch::kLong);
                const auto want = torch::where(mask, inj->levels.index({idx}), x);
                const std::string what =
                    std::string(to_string(gr)) + " A" + std::to_string(bits) + (is4 ? " 4-D" : " 2-D");
                EXPECT_TRUE(torch::equal(y, want)) << what;
                EXPECT_TRUE(torch::equal(inj->last_mask, mask)) << what;
            }
}

// Classes restricted to channels / pixels change only their elements, and a
// failed unit draws its class by weight among the classes that can strike it.
TEST(Injection, RestrictedWeightedClassesStrikeOnlyTheirElements) {
    torch::manual_seed(23);
    InjectionOptions o;
    o.p = 0.4;
    o.error_model.granularity = ErrorModelKind::Channel;
    PatternClass pe1;  // one faulty PE of 4: channels 1, 5, 9 stuck at -1
    pe1.channels.modulus = 4;
    pe1.channels.residue = 1;
    pe1.effect = Effect::Stuck;
    pe1.stuck_code = -1;
    pe1.weight = 3;
    PatternClass corner;  // channel 2, pixels 0 and 8 only: golden -> transition
    corner.channels.list = {2};
    corner.pixels.list = {0, 8};
    corner.effect = Effect::Transition;
    corner.transition = {{-1, 1}, {1, -1}};
    PatternClass pe1b = pe1;  // also on PE 1: stuck at +1, 1/4 of PE 1's failures
    pe1b.stuck_code = 1;
    pe1b.weight = 1;
    o.error_model.classes = {pe1, corner, pe1b};
    Injection inj(2, o);
    inj->enabled = true;
    inj->train();
    const auto x = torch::randint(-1, 2, {400, 12, 3, 3}).to(torch::kFloat32);
    const auto y = inj(x);
    const auto changed = y != x;
    // untouched channels: not PE 1, not channel 2
    for (int c : {0, 3, 4, 6, 7, 8, 10, 11}) EXPECT_FALSE(changed.select(1, c).any().item<bool>()) << c;
    // channel 2: only pixels 0 and 8, negated where nonzero
    const auto c2 = y.select(1, 2).flatten(1), x2 = x.select(1, 2).flatten(1);
    EXPECT_FALSE(c2.slice(1, 1, 8).ne(x2.slice(1, 1, 8)).any().item<bool>());
    const auto hit2 = inj->last_mask.select(1, 2).flatten(1);
    EXPECT_TRUE(torch::equal(torch::where(hit2, -x2, x2), c2));
    expect_rate(hit2.select(1, 0).sum().item<int64_t>(), 400, 0.4, "channel 2 failure rate");
    // PE 1 channels: whole channel constant -1 (weight 3) or +1 (weight 1) when failed
    int64_t neg = 0, pos = 0;
    for (int c : {1, 5, 9}) {
        const auto m = inj->last_mask.select(1, c).flatten(1).all(1);
        const auto v = y.select(1, c).flatten(1);
        EXPECT_TRUE(torch::equal(inj->last_mask.select(1, c).flatten(1).any(1), m));
        neg += (m & (v == -1).all(1)).sum().item<int64_t>();
        pos += (m & (v == 1).all(1)).sum().item<int64_t>();
        EXPECT_EQ((m & (v == -1).all(1)).sum().item<int64_t>() + (m & (v == 1).all(1)).sum().item<int64_t>(),
                  m.sum().item<int64_t>());
    }
    expect_rate(neg + pos, 3 * 400, 0.4, "PE 1 failure rate");
    expect_rate(neg, neg + pos, 0.75, "weight 3 of 4");
    // FC outputs (B x C, one pixel): the same classes strike the same channels
    const auto xf = torch::randint(-1, 2, {400, 12}).to(torch::kFloat32);
    const auto changed_f = inj(xf) != xf;
    for (int c : {0, 3, 4, 6, 7, 8, 10, 11}) EXPECT_FALSE(changed_f.select(1, c).any().item<bool>()) << c;
    for (int c : {1, 2, 5, 9}) EXPECT_TRUE(changed_f.select(1, c).any().item<bool>()) << c;
}

// A1's affine form (per unit f(v) = a + b v) against the per-element lookup of
// golden levels, on the same draws: identical outputs, masks and gradients for
// stuck, flip, one-way and identity tables, restricted regions, multi-layer
// classes (uniform and transition), every granularity, conv and FC shapes.
TEST(Injection, TwoLevelAffineFormMatchesTheLookup) {
    PatternClass flip, stuck, one_way, ident, multi_flip, multi_uniform;
    flip.effect = one_way.effect = ident.effect = multi_flip.effect = Effect::Transition;
    flip.transition = multi_flip.transition = {{0, 1}, {1, 0}};
    flip.channels.list = {1, 5};
    flip.weight = 2;
    stuck.effect = Effect::Stuck;
    stuck.stuck_code = 1;
    stuck.pixels.list = {0, 3, 8};
    one_way.transition = {{0, 1}};  // -1 -> +1 only
    one_way.layer_scope = LayerScope::Listed;
    one_way.layers = {"conv0"};
    ident.transition = {{0, 0}};  // changes nothing, still zeroes the gradient
    ident.channels.modulus = 4;
    ident.channels.residue = 2;
    multi_flip.layer_scope = LayerScope::Listed;
    multi_flip.layers = {"conv0", "conv1"};
    multi_flip.channels.list = {0, 3};
    multi_uniform.layer_scope = LayerScope::All;
    multi_uniform.weight = 0.5;
    // regions mixed, channels only, pixels only, whole layer; with multi-layer
    // classes: regions mixed, channels only (as a derived loopback model), and
    // no single-layer class at this layer
    const std::vector<std::vector<PatternClass>> models = {{flip, stuck, one_way, ident},
                                                           {flip, one_way, ident},
                                                           {stuck, one_way},
                                                           {one_way},
                                                           {flip, stuck, one_way, ident, multi_flip, multi_uniform},
                                                           {flip, one_way, ident, multi_flip, multi_uniform},
                                                           {multi_flip, multi_uniform}};
    for (auto gran : {ErrorModelKind::Element, ErrorModelKind::Channel, ErrorModelKind::Pixel, ErrorModelKind::Group})
        for (size_t v = 0; v < models.size(); ++v)
            for (bool is4 : {true, false}) {
                const bool with_multi = v >= 4;
                InjectionOptions o;
                o.p = 0.3;
                o.error_model.granularity = gran;
                o.error_model.group_modulus = 4;
                o.error_model.classes = models[v];
                // fast: affine, unit loop (where it applies) and in place on the struck units;
                // mid: the tensor ops, affine in one pass; slow: the per-element lookup
                // (fast_view: the fast path on an input it cannot rewrite in place)
                Injection fast(1, o, "conv0"), mid(1, o, "conv0"), slow(1, o, "conv0"), fast_view(1, o, "conv0");
                ASSERT_TRUE(fast->affine);
                // (the one-loop path covers these: their regions are whole channels)
                if (v >= 5 && (gran == ErrorModelKind::Element || gran == ErrorModelKind::Channel)) {
                    EXPECT_TRUE(fast->unit_loop_applies()) << v;
                }
                mid->sparse = false;
                slow->affine = false;
                const std::string what = std::string(to_string(gran)) + " model " + std::to_string(v) + (is4 ? " 4-D" : " 2-D");
                torch::manual_seed(31);
                const std::vector<int64_t> shape = is4 ? std::vector<int64_t>{60, 8, 3, 3} : std::vector<int64_t>{60, 8};
                const auto x0 = torch::randint(0, 2, shape).to(torch::kFloat32) * 2 - 1;
                const auto w = torch::rand(shape);
                const auto draw = torch::rand({60, 72}, torch::kFloat64);
                std::vector<torch::Tensor> y, m, g;
                for (auto* inj : {&fast, &mid, &slow, &fast_view}) {
                    (*inj)->enabled = true;
                    (*inj)->train();
                    if (with_multi) (*inj)->shared_draw = draw;
                    const auto leaf = x0.clone().requires_grad_();
                    // an intermediate of the graph, as in the net (fast_view: a non-contiguous one)
                    const auto x = inj == &fast_view ? (torch::cat({leaf, leaf}, -1) * 1).narrow(-1, 0, shape.back())
                                                     : leaf * 1;
                    ASSERT_EQ(x.is_contiguous(), inj != &fast_view);
                    torch::manual_seed(5);
                    y.push_back((*inj)(x));
                    (y.back() * w).sum().backward();
                    m.push_back((*inj)->last_mask.expand(shape));
                    g.push_back(leaf.grad());
                }
                ASSERT_TRUE(m[0].any().item<bool>()) << what;
                for (int k : {1, 2, 3}) {
                    EXPECT_TRUE(torch::equal(m[0], m[k])) << what << " path " << k;
                    EXPECT_TRUE(torch::equal(y[0], y[k])) << what << " path " << k;
                    EXPECT_TRUE(torch::equal(g[0], g[k])) << what << " path " << k;
                }
                EXPECT_TRUE((y[0] != x0).any().item<bool>()) << what;
                EXPECT_TRUE((g[0] == 0).any().item<bool>()) << what;
            }
}

TEST(Injection, ClassesFireOnlyAtTheirLayer) {
    InjectionOptions o;
    o.p = 0.9;
    o.error_model = stuck_at_error_model(ErrorModelKind::Element);
    o.error_model.classes[0].layer_scope = LayerScope::Listed;
    o.error_model.classes[0].layers = {"conv1"};
    const auto x = torch::full({8, 4, 3, 3}, 100.0f);
    for (const std::string layer : {"conv0", "conv1"}) {
        Injection inj(1, o, layer);
        inj->enabled = true;
        inj->train();
        const bool changed = !torch::equal(inj(x), x);
        EXPECT_EQ(changed, layer == "conv1") << layer;
    }
}

// A class that spans conv0 and conv1 (p split by weight with a single-layer
// class): it fires on both layers at the same (sample, channel), never on one
// alone, takes the same uniform level on both, and every class keeps its rate.
TEST(Injection, MultiLayerClassFiresOnAllItsLayersTogether) {
    const Topology t = tiny_topology(1, 2);
    InjectionOptions o;
    o.p = 0.3;
    o.error_model.granularity = ErrorModelKind::Channel;
    PatternClass both;  // StuckUniform on conv0 + conv1, weight 2
    both.weight = 2;
    both.layer_scope = LayerScope::Listed;
    both.layers = {"conv0", "conv1"};
    PatternClass one;  // any one layer, stuck at code 0, weight 1
    one.effect = Effect::Stuck;
    one.stuck_code = 0;
    o.error_model.classes = {both, one};
    torch::manual_seed(7);
    QnnNet net(t, o);
    net->train();
    net->set_injection(-1);
    const auto inj = net->injections();
    ASSERT_EQ(inj.size(), 3u);
    const InputBatch data = synthetic(t, 100, 3);
    int64_t n = 0, multi[3] = {0, 0, 0}, single[3] = {0, 0, 0};
    for (int rep = 0; rep < 20; ++rep) {
        net->forward(input_tensor(data, 0, 100));
        std::vector<torch::Tensor> mu, su;  // unit level [B, C]
        for (size_t l = 0; l < 3; ++l) {
            auto m = inj[l]->last_multi_mask, a = inj[l]->last_mask;
            if (m.dim() == 4) m = m.any(3).any(2), a = a.any(3).any(2);
            mu.push_back(m);
            su.push_back(a & ~m);
            multi[l] += m.sum().item<int64_t>();
            single[l] += (a & ~m).sum().item<int64_t>();
        }
        ASSERT_TRUE(torch::equal(mu[0], mu[1])) << "the two-layer class fired on one layer alone";
        n += mu[0].numel();
    }
    EXPECT_EQ(multi[2], 0) << "fc0 is not a layer of the class";
    for (int l = 0; l < 2; ++l) {
        expect_rate(multi[l], n, 0.3 * 2 / 3, "two-layer class on conv" + std::to_string(l));
        expect_rate(single[l], n, 0.3 / 3, "single-layer class on conv" + std::to_string(l));
    }
    expect_rate(single[2], 2 * n, 0.3 / 3, "single-layer class on fc0");  // fc0 has 16 channels

    // The same uniform level on both layers, and gradients zeroed where injected.
    Injection i0(2, o, "conv0"), i1(2, o, "conv1");
    for (auto* i : {&i0, &i1}) {
        (*i)->enabled = true;
        (*i)->train();
        (*i)->shared_draw = torch::rand({50, 8}, torch::kFloat64);
    }
    i1->shared_draw = i0->shared_draw;
    const auto x0 = torch::full({50, 8, 4, 4}, 0.25f, torch::requires_grad());
    const auto x1 = torch::full({50, 8, 2, 2}, 0.25f);
    const auto y0 = i0(x0), y1 = i1(x1);
    const auto m0 = i0->last_multi_mask.any(3).any(2), m1 = i1->last_multi_mask.any(3).any(2);
    ASSERT_TRUE(torch::equal(m0, m1));
    ASSERT_GT(m0.sum().item<int64_t>(), 0);
    EXPECT_TRUE(torch::equal(y0.amax({2, 3}).masked_select(m0), y1.amax({2, 3}).masked_select(m1)));
    const auto levels0 = y0.amax({2, 3}).masked_select(m0);
    EXPECT_GT(levels0.max().item<float>(), levels0.min().item<float>());  // uniform over the levels
    y0.sum().backward();
    const auto g = x0.grad();
    const auto injected = i0->last_mask.expand_as(g);
    ASSERT_GT(injected.sum().item<int64_t>(), 0);
    EXPECT_TRUE(torch::equal(g.masked_select(injected), torch::zeros({injected.sum().item<int64_t>()})));
    EXPECT_TRUE(torch::equal(g.masked_select(~injected), torch::ones({(~injected).sum().item<int64_t>()})));
}

// `layers: all` strikes every injection point at once; a class naming a layer,
// channel or code the topology lacks is an error naming the field.
TEST(Injection, NetChecksMultiLayerModelsAgainstTheTopology) {
    const Topology t = tiny_topology(1, 2);
    InjectionOptions o;
    o.p = 0.5;
    o.error_model = stuck_at_error_model(ErrorModelKind::Channel);
    o.error_model.classes[0].layer_scope = LayerScope::All;
    // One training forward pass; the injection layers (conv0, conv1, fc0) keep their masks.
    auto injections_after_forward = [&](uint64_t seed) {
        torch::manual_seed(seed);
        QnnNet net(t, o);
        net->train();
        net->set_injection(-1);
        net->forward(input_tensor(synthetic(t, 40, 1), 0, 40));
        return net->injections();
    };
    auto expect_rejected = [&](const std::string& what) {
        try {
            QnnNet net(t, o);
            ADD_FAILURE() << "accepted; expected: " << what;
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    {
        const auto inj = injections_after_forward(3);
        const auto m0 = inj[0]->last_multi_mask.any(3).any(2), m1 = inj[1]->last_multi_mask.any(3).any(2);
        EXPECT_TRUE(torch::equal(m0, m1));
        EXPECT_TRUE(torch::equal(inj[2]->last_multi_mask.slice(1, 0, 8), m0));  // fc0: its first 8 channels
        EXPECT_GT(m0.sum().item<int64_t>(), 0);
    }
    o.error_model.classes[0].layer_scope = LayerScope::Listed;
    o.error_model.classes[0].layers = {"conv0", "conv9"};
    expect_rejected("classes[0].layers[1]=conv9 is not a layer");
    o.error_model.classes[0].layers = {"conv0"};
    o.error_model.classes[0].channels.list = {8};  // conv0 has 8 channels
    expect_rejected("classes[0].channels[0]=8 is not a channel of layer conv0");
    // Layers of different widths (a loopback PE's channels): each takes the listed channels it has.
    o.error_model.classes[0].layers = {"conv0", "fc0"};  // 8 and 16 channels
    o.error_model.classes[0].channels.list = {3, 12};
    o.p = 0.9;
    {
        const auto inj = injections_after_forward(5);
        const auto m0 = inj[0]->last_multi_mask.any(3).any(2), m2 = inj[2]->last_multi_mask;
        EXPECT_GT(m0.select(1, 3).sum().item<int64_t>(), 0);
        EXPECT_EQ(m0.sum().item<int64_t>(), m0.select(1, 3).sum().item<int64_t>()) << "conv0: channel 3 only";
        EXPECT_TRUE(torch::equal(m2.select(1, 3), m0.select(1, 3))) << "the same draw on both layers";
        EXPECT_GT(m2.select(1, 12).sum().item<int64_t>(), 0);
        EXPECT_EQ(m2.sum().item<int64_t>(), m2.select(1, 3).sum().item<int64_t>() + m2.select(1, 12).sum().item<int64_t>());
    }
    o.error_model.classes[0].channels.list = {3, 16};  // none of its layers has 16
    expect_rejected("classes[0].channels[1]=16 is not a channel of any of its layers (widest: fc0, 16 channels)");
}

// `fatsim train --error-model FILE`: a bad file fails before any data is read,
// naming the file, the field and the rule.
TEST(TrainCli, BadErrorModelFileIsAClearError) {
    const fs::path dir = fs::temp_directory_path() / "fatsim_train_error_model";
    fs::create_directories(dir);
    const std::string bad = (dir / "bad.yaml").string(), out = (dir / "out.txt").string();
    {
        std::ofstream f(bad);
        f << "granularity: channel\nclasses:\n  - {layers: [conv0], stuck: 5}\n  - {stuck: any, colour: red}\n";
    }
    const std::string topo = std::string(FATSIM_SOURCE_DIR) + "/models/cnv_w1a2.yaml";
    auto run = [&](const std::string& model) {
        const std::string cmd = std::string(FATSIM_BINARY) + " train -t " + topo + " --mode fat1 --error-model " +
                                model + " -o " + (dir / "m.fatq").string() + " > " + out + " 2>&1";
        const int rc = std::system(cmd.c_str());
        std::ifstream in(out);
        return std::make_pair(rc, std::string(std::istreambuf_iterator<char>(in), {}));
    };
    const auto [rc, text] = run(bad);
    EXPECT_NE(rc, 0);
    EXPECT_NE(text.find(bad + ": classes[1].colour: unknown key"), std::string::npos) << text;
    {
        std::ofstream f(bad);
        f << "granularity: channel\nclasses:\n  - {layers: [conv0], stuck: 5}\n";
    }
    const auto [rc2, text2] = run(bad);
    EXPECT_NE(rc2, 0);
    EXPECT_NE(text2.find(bad + ": classes[0].stuck=5 is not an activation code of layer conv0 (codes -1..1)"),
              std::string::npos)
        << text2;
    const auto [rc3, text3] = run("no-such-model");
    EXPECT_NE(rc3, 0);
    EXPECT_NE(text3.find("--error-model no-such-model: neither a built-in model (element | channel | pixel | group) "
                         "nor an error-model file"),
              std::string::npos)
        << text3;
    fs::remove_all(dir);
}

TEST(Injection, Dropout2dZerosAndRescales) {
    torch::manual_seed(2);
    InjectionOptions o;
    o.p = 0.25;
    Injection inj(1, o);
    inj->enabled = true;
    inj->dropout = true;
    inj->train();
    const auto y = inj(torch::ones({64, 8, 3, 3}));
    const auto u = std::get<0>(torch::_unique(y));
    ASSERT_EQ(u.numel(), 2);
    EXPECT_FLOAT_EQ(u[0].item<float>(), 0.0f);
    EXPECT_FLOAT_EQ(u[1].item<float>(), 1.0f / 0.75f);
    EXPECT_TRUE(torch::equal(y.amin({2, 3}), y.amax({2, 3})));  // whole channels
}

TEST(Training, ModesEnableTheRightInjectionLayers) {
    const Topology t = tiny_topology(1, 1);
    const InputBatch tr = synthetic(t, 200, 1), te;
    auto o = quick_options();
    o.epochs = 6;
    o.mode = TrainMode::Fat2;
    const auto r = train(t, o, tr, te);
    ASSERT_EQ(r.epochs.size(), 6u);
    std::set<int> seen;
    for (const auto& e : r.epochs) {
        ASSERT_EQ(e.enabled.size(), 1u) << "epoch " << e.epoch;
        EXPECT_LT(e.enabled[0], 3);
        seen.insert(e.enabled[0]);
    }
    EXPECT_GE(seen.size(), 2u);  // random over epochs
    o.epochs = 1;
    o.mode = TrainMode::Fat1;
    EXPECT_EQ(train(t, o, tr, te).epochs[0].enabled, (std::vector<int>{0, 1, 2}));
    o.mode = TrainMode::Sat;
    EXPECT_TRUE(train(t, o, tr, te).epochs[0].enabled.empty());
    o.mode = TrainMode::Fat1;
    o.inject.layers = {"conv1"};
    EXPECT_EQ(train(t, o, tr, te).epochs[0].enabled, (std::vector<int>{1}));
    o.inject.layers = {"fc1"};
    EXPECT_THROW(train(t, o, tr, te), std::invalid_argument);
}

// FAT method 2: a short training warns that layers go uninjected; with
// fat2_switch_batches every round of switches injects every layer once, the
// schedule is recorded, and a resume repeats it.
TEST(Training, Fat2SwitchBatchesReachesEveryLayerAndRecordsTheSchedule) {
    const Topology t = tiny_topology(1, 1);
    const InputBatch tr = synthetic(t, 200, 1), te;
    auto o = quick_options();
    o.epochs = 2;
    o.max_train_batches = 7;
    o.mode = TrainMode::Fat2;
    const auto per_epoch = train(t, o, tr, te);
    ASSERT_EQ(per_epoch.fat2_schedule.size(), 2u);
    EXPECT_EQ(per_epoch.fat2_schedule[0].size(), 1u);
    ASSERT_EQ(per_epoch.warnings.size(), 1u);  // 2 epochs < 2 x 3 layers
    EXPECT_NE(per_epoch.warnings[0].find("2 epochs and 3 injection layers"), std::string::npos) << per_epoch.warnings[0];
    o.fat2_switch_batches = 2;
    const auto r = train(t, o, tr, te);
    EXPECT_TRUE(r.warnings.empty());
    EXPECT_EQ(r.batches_per_epoch, 7);
    for (const auto& spans : r.fat2_schedule) {
        ASSERT_EQ(spans.size(), 4u);  // batches 0, 2, 4, 6
        std::set<int> first_round;
        for (size_t i = 0; i < spans.size(); ++i) {
            EXPECT_EQ(spans[i].first_batch, int(2 * i));
            if (i < 3) first_round.insert(spans[i].layer);
        }
        EXPECT_EQ(first_round, (std::set<int>{0, 1, 2}));
    }
    for (const auto& e : r.epochs) EXPECT_EQ(e.enabled.size(), size_t(3)) << "epoch " << e.epoch;
    const std::string d = describe_fat2_schedule(r, t);
    EXPECT_NE(d.find("epoch 2: "), std::string::npos) << d;
    EXPECT_NE(d.find("(batches 7-7)"), std::string::npos) << d;
    EXPECT_NE(r.fat2_schedule, per_epoch.fat2_schedule);
    EXPECT_EQ(train(t, o, tr, te).fat2_schedule, r.fat2_schedule);  // from the seed alone
}

// A group model with transition tables and a class restricted to one layer's
// channel and pixels trains through the whole net and exports exactly.
TEST(Training, ErrorModelWithTransitionsTrainsAndExportsExactly) {
    const Topology t = tiny_topology(1, 2);
    const InputBatch tr = synthetic(t, 200, 6), te = synthetic(t, 100, 7);
    auto o = quick_options();
    o.mode = TrainMode::Fat1;
    o.inject.p = 0.2;
    o.inject.error_model = group_error_model(4, {{3.0, {{-1, 1}, {1, -1}}}, {1.0, {{0, 1}}}});
    PatternClass corner;
    corner.layer_scope = LayerScope::Listed;
    corner.layers = {"conv1"};
    corner.channels.list = {2};
    corner.pixels.list = {0, 5};
    corner.effect = Effect::Stuck;
    corner.stuck_code = 1;
    o.inject.error_model.classes.push_back(corner);
    o.check_export = true;
    const auto r = train(t, o, tr, te);
    EXPECT_EQ(r.agreement.pred_agree, 100);
    EXPECT_EQ(r.agreement.act_agree, 100);
    o.inject.p = 0;  // same seed without injection: another trajectory
    const auto r0 = train(t, o, tr, te);
    bool differ = false;
    for (size_t l = 0; l < r.model.layers.size(); ++l)
        differ = differ || r.model.layers[l].weights != r0.model.layers[l].weights ||
                 r.model.layers[l].thresholds != r0.model.layers[l].thresholds;
    EXPECT_TRUE(differ);
}

TEST(Training, WeightsStayClampedAndLossFalls) {
    const Topology t = tiny_topology(1, 1);
    const InputBatch tr = synthetic(t, 400, 2), te = synthetic(t, 200, 3);
    auto o = quick_options();
    o.epochs = 4;
    o.max_train_batches = 0;
    o.eval_each_epoch = true;
    const auto r = train(t, o, tr, te);
    EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss);
    EXPECT_GT(r.test_acc, 20.0);  // chance is 10 %
}

class ExportExact : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(ExportExact, GoldenEngineAgreesOnEveryActivation) {
    const auto [wb, ab] = GetParam();
    const Topology t = tiny_topology(wb, ab);
    const InputBatch tr = synthetic(t, 300, 4), te = synthetic(t, 300, 5);
    auto o = quick_options();
    o.max_train_batches = 0;
    o.mode = TrainMode::Fat1;
    o.inject.p = 0.05;
    const fs::path dir = fs::temp_directory_path() / ("fatsim_test_export_" + std::to_string(wb) + std::to_string(ab));
    fs::remove_all(dir);
    o.checkpoint_dir = dir.string();
    o.check_export = true;
    const auto r = train(t, o, tr, te);
    EXPECT_EQ(r.agreement.images, 300);
    EXPECT_EQ(r.agreement.pred_agree, 300);
    EXPECT_EQ(r.agreement.act_agree, 300);
    EXPECT_GE(r.agreement.float_agree, 270);  // float BN vs integer thresholds: ties and rounding only

    // Negative BN gammas flip weight rows; the export must stay exact.
    torch::manual_seed(9);
    QnnNet net(t);
    torch::load(net, (dir / "net_epoch1.pt").string());
    {
        torch::NoGradGuard ng;
        for (auto& L : net->layers)
            if (L->bn) {
                L->bn->weight.mul_(torch::where(torch::rand_like(L->bn->weight) < 0.5, -1.0, 1.0));
                L->bn->weight.index_put_({0}, 0.0);  // and a zero gamma: constant output
            }
    }
    net->eval();
    const QnnModel m = fold(net);
    const auto a = check_agreement(net, m, te, 2);
    EXPECT_EQ(a.pred_agree, 300);
    EXPECT_EQ(a.act_agree, 300);
    EXPECT_GE(a.float_agree, 270);

    // export_checkpoint gives the same model as the trainer's export
    const QnnModel e = export_checkpoint(dir.string(), "", 0.0);
    ASSERT_EQ(e.layers.size(), r.model.layers.size());
    for (size_t l = 0; l < e.layers.size(); ++l) {
        EXPECT_EQ(e.layers[l].weights, r.model.layers[l].weights);
        EXPECT_EQ(e.layers[l].thresholds, r.model.layers[l].thresholds);
    }
    fs::remove_all(dir);
}
INSTANTIATE_TEST_SUITE_P(WA, ExportExact,
                         ::testing::Values(std::make_pair(1, 1), std::make_pair(1, 2), std::make_pair(2, 2),
                                           std::make_pair(1, 3), std::make_pair(1, 4)));

TEST(Training, ResumeGivesTheSameWeights) {
    const Topology t = tiny_topology(1, 2);
    const InputBatch tr = synthetic(t, 200, 6), te;
    auto o = quick_options();
    o.mode = TrainMode::Fat2;
    const fs::path a = fs::temp_directory_path() / "fatsim_test_resume_a", b = fs::temp_directory_path() / "fatsim_test_resume_b";
    fs::remove_all(a);
    fs::remove_all(b);
    o.epochs = 3;
    o.checkpoint_dir = a.string();
    const auto full = train(t, o, tr, te);
    o.epochs = 2;
    o.checkpoint_dir = b.string();
    train(t, o, tr, te);
    o.epochs = 3;
    o.resume = true;
    const auto resumed = train(t, o, tr, te);
    ASSERT_EQ(resumed.epochs.size(), 1u);
    EXPECT_EQ(resumed.epochs[0].epoch, 2);
    EXPECT_EQ(resumed.epochs[0].enabled, full.epochs[2].enabled);
    for (size_t l = 0; l < full.model.layers.size(); ++l) {
        EXPECT_EQ(full.model.layers[l].weights, resumed.model.layers[l].weights);
        EXPECT_EQ(full.model.layers[l].thresholds, resumed.model.layers[l].thresholds);
    }
    QnnNet na(t), nb(t);
    torch::load(na, (a / "net_epoch2.pt").string());
    torch::load(nb, (b / "net_epoch2.pt").string());
    const auto pa = na->named_parameters(), pb = nb->named_parameters();
    for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
    const auto ba = na->named_buffers(), bb = nb->named_buffers();
    for (const auto& kv : ba) EXPECT_TRUE(torch::equal(kv.value(), bb[kv.key()])) << kv.key();
    fs::remove_all(a);
    fs::remove_all(b);
}

// The convolution's gradients are the same with 1 and 2 threads, and the
// same (up to float rounding) as LibTorch's own convolution's.
TEST(ThreadInvariantConv, GradientsIndependentOfThreadsAndEqualToLibTorchs) {
    torch::manual_seed(5);
    for (const auto& shape : std::vector<std::array<int64_t, 4>>{{37, 16, 30, 16}, {100, 3, 32, 16}, {3, 32, 5, 64}}) {
        const auto [n, ci, d, co] = shape;
        const torch::Tensor x0 = torch::randn({n, ci, d, d}), w0 = torch::randn({co, ci, 3, 3}),
                     g = torch::randn({n, co, d - 2, d - 2});
        auto run = [&](int threads, bool ours) {
            torch::set_num_threads(threads);
            torch::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
            torch::Tensor y = ours ? ThreadInvariantConv::apply(x, w) : torch::conv2d(x, w);
            y.backward(g);
            return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad()};
        };
        const auto one = run(1, true), two = run(2, true), lib = run(1, false);
        torch::set_num_threads(1);
        for (size_t i = 0; i < 3; ++i) {
            EXPECT_TRUE(torch::equal(one[i], two[i])) << "tensor " << i << " of shape " << n << "x" << ci << "x" << d;
            EXPECT_TRUE(torch::allclose(one[i], lib[i], 1e-4, 1e-3)) << "tensor " << i;
        }
    }
}

// The governor runs as many threads as other processes leave cores free:
// 2 on an idle 2-core machine, 1 while another process keeps a core busy,
// 2 again when it stops; one odd reading changes nothing.
TEST(ThreadGovernor, FollowsTheFreeCores) {
    double others = 0;
    ThreadGovernor::Options o;
    o.max_threads = 2;
    ThreadGovernor g(o, 2, [&] { return others; });
    auto run = [&](int batches, double load) {
        others = load;
        const long before = g.batches_at(1);
        for (int b = 0; b < batches; ++b) g.batch_done();
        return g.batches_at(1) - before;  // batches on 1 thread
    };
    const int w = o.window;  // a load reading after every w batches
    EXPECT_EQ(run(13 * w, 0.05), 0);
    EXPECT_EQ(g.threads(), 2);
    EXPECT_EQ(run(w, 1.0), 0);  // one reading: not yet
    EXPECT_EQ(g.threads(), 2);
    EXPECT_EQ(run(13 * w, 1.0), 12 * w);  // the next reading switches
    EXPECT_EQ(g.threads(), 1);
    run(w, 0.1);
    EXPECT_EQ(g.threads(), 1);
    run(w, 0.1);
    EXPECT_EQ(g.threads(), 2);
    EXPECT_EQ(run(13 * w, 0.45), 0);  // under half a core busy: both threads
    ThreadGovernor four(ThreadGovernor::Options{4, true, 16, 0}, 8, [] { return 5.2; });
    for (int b = 0; b < 64; ++b) four.batch_done();
    EXPECT_EQ(four.threads(), 3);  // 8 cores, 5.2 busy: 3 free
    ThreadGovernor fixed(ThreadGovernor::Options{2, false, 16, 0}, 2, [] { return 1.0; });
    for (int b = 0; b < 64; ++b) fixed.batch_done();
    EXPECT_EQ(fixed.batches_at(2), 64);
    // The meter itself: a number of cores between 0 and the CPUs it may use.
    OtherLoadMeter meter;
    const double m = meter();
    EXPECT_GE(m, 0.0);
    EXPECT_LE(m, double(meter.cores()));
}

// Training gives the same net with 1 thread, 2 threads, and 2 threads that the
// governor switches to 1 and back every batch (what it does under load).
TEST(Training, SameNetWithAnyThreadCountEvenSwitchedMidEpoch) {
    const Topology t = load_topology(std::string(FATSIM_SOURCE_DIR) + "/models/cnv_w1a1.yaml", 0.25);
    const InputBatch tr = synthetic(t, 1200, 8), te;
    auto o = quick_options();
    o.epochs = 1;
    o.batch = 100;
    o.max_train_batches = 12;
    o.mode = TrainMode::Fat1;
    auto net_after = [&](int threads, bool adapt, int alternate) {
        const fs::path dir = fs::temp_directory_path() / ("fatsim_test_threads_" + std::to_string(threads) + "_" +
                                                          std::to_string(alternate));
        fs::remove_all(dir);
        o.threads = threads;
        o.adapt_threads = adapt;
        o.alternate_threads_every = alternate;
        o.checkpoint_dir = dir.string();
        const auto r = train(t, o, tr, te);
        EXPECT_EQ(r.epochs[0].fewer_thread_batches, alternate > 0 ? 6 : 0);
        QnnNet net(t);
        torch::load(net, (dir / "net_epoch0.pt").string());
        fs::remove_all(dir);
        return net;
    };
    const QnnNet a = net_after(1, false, 0), b = net_after(2, false, 0), c = net_after(2, true, 1);
    for (const auto& kv : a->named_parameters()) {
        EXPECT_TRUE(torch::equal(kv.value(), b->named_parameters()[kv.key()])) << "1 vs 2 threads: " << kv.key();
        EXPECT_TRUE(torch::equal(kv.value(), c->named_parameters()[kv.key()])) << "1 vs switched: " << kv.key();
    }
    for (const auto& kv : a->named_buffers()) {
        EXPECT_TRUE(torch::equal(kv.value(), b->named_buffers()[kv.key()])) << "1 vs 2 threads: " << kv.key();
        EXPECT_TRUE(torch::equal(kv.value(), c->named_buffers()[kv.key()])) << "1 vs switched: " << kv.key();
    }
}

TEST(FashionMnist, QuarterCnvExportExactOnRealImages) {
    if (!fs::exists(std::string(kDefaultFashionDir) + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Fashion-MNIST not installed";
    const Topology t = load_topology(FATSIM_SOURCE_DIR "/models/cnv_w1a1.yaml", 0.25);
    const InputBatch tr = prepare_inputs(load_dataset(DatasetKind::FashionMnist, "", "train", 1000), t);
    const InputBatch te = prepare_inputs(load_dataset(DatasetKind::FashionMnist, "", "test", 300), t);
    auto o = quick_options();
    o.epochs = 1;
    o.batch = 100;
    o.max_train_batches = 10;
    o.mode = TrainMode::Fat2;
    o.check_export = true;
    const auto r = train(t, o, tr, te);
    EXPECT_EQ(r.agreement.pred_agree, 300);
    EXPECT_EQ(r.agreement.act_agree, 300);
}

// LibTorch's OpenMP threads wait passively unless the user chose a policy
// (fatsim main() sets OMP_WAIT_POLICY and starts again: libgomp reads it at
// load time). Spinning threads made 2 threads slower than 1 on a busy machine.
TEST(TrainCli, OpenMpThreadsWaitPassivelyUnlessTheUserChose) {
    const fs::path dir = fs::temp_directory_path() / "fatsim_train_wait_policy";
    fs::create_directories(dir);
    const std::string out = (dir / "out.txt").string();
    const std::string topo = std::string(FATSIM_SOURCE_DIR) + "/models/cnv_w1a1.yaml";
    auto run = [&](const std::string& env) {
        const std::string cmd = env + " " + std::string(FATSIM_BINARY) + " train -t " + topo +
                                " --width 0.25 --epochs 1 --train-images 100 --images 20 --no-check -q -o " +
                                (dir / "m.fatq").string() + " > " + out + " 2>&1";
        const int rc = std::system(cmd.c_str());
        std::ifstream in(out);
        return std::make_pair(rc, std::string(std::istreambuf_iterator<char>(in), {}));
    };
    const auto [rc, text] = run("env -u OMP_WAIT_POLICY");
    EXPECT_EQ(rc, 0) << text;
    EXPECT_NE(text.find("2 LibTorch threads (fewer while faster), OpenMP waits passive"), std::string::npos) << text;
    const auto [rc2, text2] = run("env OMP_WAIT_POLICY=active");
    EXPECT_EQ(rc2, 0) << text2;
    EXPECT_NE(text2.find("OpenMP waits active"), std::string::npos) << text2;
}

