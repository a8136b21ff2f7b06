// Campaigns: the optimised sweep against naive full re-inference (every fault,
// every image), spec validation errors, resume, reports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <random>

#include "config.hpp"
#include "declared_keys.hpp"
#include "engine.hpp"
#include "fast_sweep.hpp"
#include "pipeline.hpp"
#include "reference.hpp"
#include "small_nets.hpp"
#include "sweep.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;

namespace {
Topology small_topology(int wbits, int abits) { return fatsim::testing::small_topology(wbits, abits, true); }
}  // namespace

namespace {

InputBatch random_batch(const Topology& t, int n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> px(-128, 127);
    InputBatch b;
    b.count = n;
    b.dim = t.in_dim;
    b.channels = t.in_channels;
    b.data.resize(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
    for (auto& v : b.data) v = int8_t(px(rng));
    for (int i = 0; i < n; ++i) b.labels.push_back(uint8_t(rng() % 10));
    return b;
}

std::vector<int> all_act_layers(const Topology& t) {
    std::vector<int> v;
    for (size_t l = 0; l < t.layers.size(); ++l)
        if (t.layers[l].act_bits) v.push_back(int(l));
    return v;
}

struct WA {
    int w, a;
};
class FastVsNaive : public ::testing::TestWithParam<WA> {};

TEST_P(FastVsNaive, EveryFaultEveryImagePrediction) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 17);
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 8, 3);
    // Lowest, a middle and the highest level: every sign of value change.
    const ActRange ar = act_range(GetParam().a);
    const std::vector<int> values = ar.levels() == 2 ? std::vector<int>{0, 1}
                                                     : std::vector<int>{ar.lo, (ar.lo + 2 * ar.hi) / 3, ar.hi};
    for (ErrorModelKind kind : {ErrorModelKind::Channel, ErrorModelKind::Pixel}) {
        SCOPED_TRACE(to_string(kind));
        const auto faults = enumerate_faults(topo, kind, all_act_layers(topo), values);
        ASSERT_FALSE(faults.empty());
        std::vector<std::vector<int16_t>> pn, pp, pf;
        SweepOptions o;
        o.threads = 2;
        o.mode = SweepMode::Naive;
        o.predictions = &pn;
        const auto rn = run_sweep(engine, batch, kind, faults, o);
        o.mode = SweepMode::Prefix;
        o.predictions = &pp;
        const auto rp = run_sweep(engine, batch, kind, faults, o);
        o.mode = SweepMode::Fast;
        o.predictions = &pf;
        o.cache_bytes = 1;  // forces one image per chunk: exercises chunking
        const auto rf = run_sweep(engine, batch, kind, faults, o);
        o.cache_bytes = size_t(1) << 30;
        std::vector<std::vector<int16_t>> pf2;
        o.predictions = &pf2;
        run_sweep(engine, batch, kind, faults, o);
        int changed_somewhere = 0;
        for (size_t k = 0; k < faults.size(); ++k) {
            SCOPED_TRACE("fault layer " + std::to_string(faults[k].layer) + " index " +
                         std::to_string(faults[k].index) + " value " + std::to_string(faults[k].code));
            ASSERT_EQ(pn[k], pf[k]);
            ASSERT_EQ(pn[k], pf2[k]);
            ASSERT_EQ(pn[k], pp[k]);
            ASSERT_EQ(rn[k].correct, rf[k].correct);
            ASSERT_EQ(rn[k].changed, rf[k].changed);
            ASSERT_EQ(rf[k].fault, faults[k]);
            changed_somewhere += rn[k].changed > 0;
        }
        // The check means something only if faults do change predictions.
        EXPECT_GT(changed_somewhere, 0);
    }
}

// predict_changes (what lowered physical faults use): any set of changed
// codes of any layer's output, or of the network input (layer -1), predicts
// what a full re-inference from the next layer does.
TEST_P(FastVsNaive, AnyChangesOfAnyLayerOrTheInput) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 23);
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 6, 5);
    auto ws = engine.make_workspace();
    std::mt19937 rng(11);
    int changed_somewhere = 0;
    for (int layer = -1; layer + 1 < engine.layers(); ++layer) {
        SCOPED_TRACE("layer " + std::to_string(layer));
        FastSweep fast(engine, batch, ErrorModelKind::Channel);
        fast.prepare(layer, 0, batch.count, 1, /*for_predict=*/false);
        auto fs = fast.make_scratch();
        for (int img = 0; img < batch.count; ++img) {
            Trace t;
            const int gold = engine.classify(*ws, batch.image(img), {}, &t);
            ASSERT_EQ(fast.golden(img), gold);
            const std::vector<int8_t> golden_out =
                layer < 0 ? std::vector<int8_t>(batch.image(img), batch.image(img) + engine.input_size())
                          : t.layers[size_t(layer)].out;
            // Codes the output can hold: any int8 for the input, else the layer's levels.
            const int lo = layer < 0 ? -128 : engine.prepared_layer(layer).lo;
            const int hi = layer < 0 ? 127 : lo + engine.prepared_layer(layer).T;
            for (size_t n : {size_t(1), size_t(4), golden_out.size() / 3, golden_out.size()}) {
                std::vector<int8_t> faulty = golden_out;
                for (size_t k = 0; k < n; ++k)
                    faulty[rng() % faulty.size()] = int8_t(std::uniform_int_distribution<int>(lo, hi)(rng));
                std::vector<CodeChange> changes;
                for (size_t k = 0; k < faulty.size(); ++k)
                    if (faulty[k] != golden_out[k]) changes.push_back({int(k), golden_out[k], faulty[k]});
                const int want = engine.classify_with(*ws, layer + 1, faulty.data(), ClassifyOptions{});
                ASSERT_EQ(fast.predict_changes(*fs, changes, img), want) << n << " changes drawn, image " << img;
                changed_somewhere += want != gold;
            }
        }
    }
    EXPECT_GT(changed_somewhere, 0);
}

// FastSweep::macs (what `bench physical` turns into a floor on a campaign's
// time): every MAC of the later layers when every element of a layer's output
// changes (the engine runs them dense), something for one change (and less
// where the next layer is a conv layer: its delta step touches one window).
TEST_P(FastVsNaive, MacsCountThePropagationsArithmetic) {
    const Topology topo = small_topology(GetParam().w, GetParam().a);
    const QnnModel m = random_model(topo, 29);  // (the engine keeps a reference to it)
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 2, 9);
    auto ws = engine.make_workspace();
    for (int layer = -1; layer + 1 < engine.layers(); ++layer) {
        SCOPED_TRACE("layer " + std::to_string(layer));
        uint64_t later = 0;  // every MAC of layers layer+1.. to the classifier
        for (int l = layer + 1; l < engine.layers(); ++l) later += uint64_t(engine.prepared_layer(l).macs());
        FastSweep fast(engine, batch, ErrorModelKind::Channel);
        fast.prepare(layer, 0, batch.count, 1, /*for_predict=*/false);
        for (int img = 0; img < batch.count; ++img) {
            Trace t;
            engine.classify(*ws, batch.image(img), {}, &t);
            const std::vector<int8_t> gold = layer < 0 ? std::vector<int8_t>(batch.image(img), batch.image(img) + engine.input_size())
                                                       : t.layers[size_t(layer)].out;
            const int lo = layer < 0 ? -128 : engine.prepared_layer(layer).lo;
            const int levels = layer < 0 ? 256 : engine.prepared_layer(layer).T + 1;
            std::vector<CodeChange> all;  // every element moved to another level
            for (size_t k = 0; k < gold.size(); ++k)
                all.push_back({int(k), gold[k], int8_t(lo + (gold[k] - lo + 1) % levels)});
            auto fs = fast.make_scratch();
            EXPECT_EQ(fast.predict_changes(*fs, {}, img), fast.golden(img));
            EXPECT_EQ(FastSweep::macs(*fs), 0u);
            fast.predict_changes(*fs, all, img);
            EXPECT_EQ(FastSweep::macs(*fs), later);
            auto one = fast.make_scratch();
            fast.predict_changes(*one, {all[all.size() / 2]}, img);
            EXPECT_GT(FastSweep::macs(*one), 0u);
            // (Into an FC layer of these small nets the dense step may be the cheaper one.)
            const PreparedLayer& next = engine.prepared_layer(layer + 1);
            if (next.fc || next.last)
                EXPECT_LE(FastSweep::macs(*one), later);
            else
                EXPECT_LT(FastSweep::macs(*one), later);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllWA, FastVsNaive,
                         ::testing::Values(WA{1, 1}, WA{1, 2}, WA{1, 3}, WA{1, 4}, WA{2, 2}, WA{2, 4}, WA{4, 1},
                                           WA{8, 4}),
                         [](const ::testing::TestParamInfo<WA>& i) {
                             return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a);
                         });

TEST(FastSweep, NaiveAgreesWithReference) {
    // Ties the naive baseline itself to the reference implementation.
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 5);
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 4, 9);
    const auto faults = enumerate_faults(topo, ErrorModelKind::Channel, {1, 3});
    std::vector<std::vector<int16_t>> pf;
    SweepOptions o;
    o.predictions = &pf;
    run_sweep(engine, batch, ErrorModelKind::Channel, faults, o);
    for (size_t k = 0; k < faults.size(); k += 7)
        for (int i = 0; i < batch.count; ++i)
            ASSERT_EQ(pf[k][i], reference_classify(m, batch.image(i), {faults[k].pattern(ErrorModelKind::Channel)}));
}

TEST(FastSweep, ImageBlocksAndFaultGroupsAddUp) {
    // Enough images for several blocks per group of faults, and odd counts of
    // both: every fault's totals and every prediction as the prefix mode's.
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 23);
    const Engine engine(m);
    const InputBatch batch = random_batch(topo, 700, 4);
    const auto faults = enumerate_faults(topo, ErrorModelKind::Channel, {1, 3}, {0, 1});
    ASSERT_GT(faults.size(), 8 * 4u);  // more than one group of faults per thread
    std::vector<std::vector<int16_t>> pp, pf;
    SweepOptions o;
    o.threads = 2;
    o.mode = SweepMode::Prefix;
    o.predictions = &pp;
    const auto rp = run_sweep(engine, batch, ErrorModelKind::Channel, faults, o);
    o.mode = SweepMode::Fast;
    o.predictions = &pf;
    int reported = 0;
    o.on_done = [&](size_t, const FaultResult&) { ++reported; };
    const auto rf = run_sweep(engine, batch, ErrorModelKind::Channel, faults, o);
    EXPECT_EQ(reported, int(faults.size()));
    int changed = 0;
    for (size_t k = 0; k < faults.size(); ++k) {
        ASSERT_EQ(pp[k], pf[k]) << "fault " << k;
        ASSERT_EQ(rp[k].correct, rf[k].correct) << "fault " << k;
        ASSERT_EQ(rp[k].changed, rf[k].changed) << "fault " << k;
        changed += rf[k].changed;
    }
    EXPECT_GT(changed, 0);
}

}  // namespace

// ---------------------------------------------------------------- specs, resume, report
#include <filesystem>
#include <fstream>
#include <sstream>

#include "campaign.hpp"
#include "model.hpp"
#include "report.hpp"

namespace {

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> spec_errors(const std::string& yaml) {
    try {
        parse_campaign_spec(yaml, "bad.yaml");
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "bad.yaml");
        return e.errors();
    }
    return {};
}

bool has(const std::vector<std::string>& errs, const std::string& text) {
    for (const auto& e : errs)
        if (e == text) return true;
    ADD_FAILURE() << "no error '" << text << "' among:\n" << ::testing::PrintToString(errs);
    return false;
}

TEST(CampaignSpec, ParsesEveryFieldAndResolvesPaths) {
    const auto s = parse_campaign_spec(
        "name: n\nmodel: m.fatq\ndataset: {name: mnist, dir: d, split: train, images: 50, sample: random}\n"
        "error_model: pixel\nlayers: [conv0, fc1]\nvalues: [0, 1]\noutput: out\nthreads: 3\nseed: 9\nmax_faults: 7\n",
        "specs/a.yaml");
    EXPECT_EQ(s.name, "n");
    EXPECT_EQ(s.model, "specs/m.fatq");
    EXPECT_EQ(s.output, "specs/out");
    EXPECT_EQ(s.data_dir, "specs/d");
    EXPECT_EQ(s.dataset, "mnist");
    EXPECT_EQ(s.split, "train");
    EXPECT_EQ(s.images, 50);
    EXPECT_EQ(s.sample, "random");
    EXPECT_EQ(s.error_model, ErrorModelKind::Pixel);
    EXPECT_EQ(s.layers, (std::vector<std::string>{"conv0", "fc1"}));
    EXPECT_EQ(s.values, (std::vector<int>{0, 1}));
    EXPECT_EQ(s.threads, 3);
    EXPECT_EQ(s.seed, 9u);
    EXPECT_EQ(s.max_faults, 7);
    const auto d = parse_campaign_spec("model: /m\noutput: /o\nerror_model: channel\nlayers: all\nvalues: all\n", "x.yaml");
    EXPECT_EQ(d.name, "x");
    EXPECT_TRUE(d.layers.empty());
    EXPECT_TRUE(d.values.empty());
}

TEST(CampaignSpec, CollectsEveryErrorWithPathAndRule) {
    const auto errs = spec_errors(
        "model: m\nerror_model: stuck\nthreads: two\nseed: -1\nvalues: [0, 99, 0]\nlayers: [conv0, conv0]\n"
        "dataset: {name: imagenet, images: -5, colour: red}\nbogus: 1\n");
    has(errs, "output: required key missing");
    has(errs, "error_model=stuck must be one of channel, pixel");
    has(errs, "threads=two must be an integer");
    has(errs, "seed=-1 must be in 0..2147483647");
    has(errs, "values[1]=99 must be in -1..15 (activation codes of A1..A4)");
    has(errs, "values[2]=0 is listed twice");
    has(errs, "layers[1]=conv0 is listed twice");
    has(errs, "dataset.name=imagenet must be one of fashion-mnist, mnist, cifar10");
    has(errs, "dataset.images=-5 must be in 0..100000000");
    has(errs, "dataset.colour: unknown key (allowed: name, dir, split, images, sample)");
    EXPECT_EQ(errs.size(), 11u) << ::testing::PrintToString(errs);  // + bogus: unknown key
    has(spec_errors("model: m\noutput: o\n"), "error_model: required key missing");
    has(spec_errors("[1, 2]"), "top level must be a map");
    EXPECT_NE(spec_errors("model: [unclosed\n")[0].find("syntax error at line"), std::string::npos);
}

TEST(CampaignSpec, ParserFollowsItsTable) {
    fatsim::testing::expect_parser_follows_schema(campaign_spec_schema(), [](const std::string& yaml) {
        return fatsim::testing::errors_of([&] { parse_campaign_spec(yaml, "c.yaml"); });
    });
}

TEST(CampaignSpec, ShippedExampleParses) {
    const auto s = load_campaign_spec(std::string(FATSIM_SOURCE_DIR) + "/campaigns/example_channel.yaml");
    EXPECT_EQ(s.name, "cnv_w1a1_channel");
    EXPECT_EQ(s.images, 1000);
    EXPECT_EQ(s.error_model, ErrorModelKind::Channel);
}

TEST(PipelineSpec, ParserFollowsItsTable) {
    fatsim::testing::expect_parser_follows_schema(pipeline_spec_schema(), [](const std::string& yaml) {
        return fatsim::testing::errors_of([&] { parse_pipeline_spec(yaml, "p.yaml"); });
    });
}

TEST(PipelineSpec, ShippedSpecParsesWithDefaults) {
    const auto s = load_pipeline_spec(std::string(FATSIM_SOURCE_DIR) + "/campaigns/fashion_cnv.yaml");
    EXPECT_EQ(s.name, "fashion_cnv");
    ASSERT_EQ(s.models.size(), 4u);
    EXPECT_EQ(s.models[0].mode, "sat");
    EXPECT_DOUBLE_EQ(s.models[0].p, 0.05);  // the declared default
    EXPECT_EQ(s.models[3].mode, "dropout2d");
    EXPECT_EQ(s.epochs, 3);
    EXPECT_EQ(s.lr_step, 2);
    EXPECT_EQ(s.pixel_images, 1000);
    EXPECT_EQ(s.test_images, 0);
    EXPECT_NE(s.accel.find("cnv_w1a1_quarter.yaml"), std::string::npos);
    // Several seeds, and FAT2 reaching every layer several times (issue: a
    // layer per epoch left half the layers untrained against faults).
    EXPECT_EQ(s.training_seeds(), (std::vector<int>{1, 2}));
    EXPECT_EQ(s.fat2_switch_batches, 75);
    // Both architectures in the physical part: the dataflow folding and a loopback engine.
    ASSERT_EQ(s.physical.accels.size(), 2u);
    EXPECT_NE(s.physical.accels[0].find("cnv_w1a1_quarter.yaml"), std::string::npos);
    EXPECT_NE(s.physical.accels[1].find("cnv_w1a1_quarter_loopback.yaml"), std::string::npos);
    // Every non-weight fault of both; the loopback engine's campaigns on 100 images of their own.
    EXPECT_TRUE(s.physical.maps_every_site(s.physical.accels[0]) && s.physical.maps_every_site(s.physical.accels[1]));
    EXPECT_EQ(s.physical.images_for(s.physical.accels[0]), 500);
    EXPECT_EQ(s.physical.images_for(s.physical.accels[1]), 100);
}

TEST(PipelineSpec, ShippedStudySpecParses) {
    const auto s = load_pipeline_spec(std::string(FATSIM_SOURCE_DIR) + "/campaigns/fashion_cnv_study.yaml");
    EXPECT_EQ(s.name, "fashion_cnv_study");
    EXPECT_EQ(s.training_seeds().size(), 5u);
    EXPECT_EQ(s.epochs, 12);
    EXPECT_EQ(s.channel_images, 10000);
    EXPECT_EQ(s.pixel_images, 10000);
}

TEST(PipelineSpec, CollectsEveryErrorWithPathAndRule) {
    std::vector<std::string> errs;
    try {
        parse_pipeline_spec(
            "output: o\nwidth: 20\ntrain: {epochs: 0, lr: fast}\n"
            "models: [{label: A, mode: fat3}, {label: A, p: 2}, 7]\ncolour: red\n",
            "p.yaml");
    } catch (const ConfigError& e) {
        errs = e.errors();
    }
    has(errs, "topology: required key missing");
    has(errs, "width=20 must be in 0..16");
    has(errs, "train.epochs=0 must be in 1..100000");
    has(errs, "train.lr=fast must be a number");
    has(errs, "models[0].mode=fat3 must be one of sat, fat1, fat2, dropout2d");
    has(errs, "models[1].p=2 must be in 0..1");
    has(errs, "models[1].label=A is used twice");
    has(errs, "models[2]=7 must be a map");
    has(errs,
        "colour: unknown key (allowed: name, output, topology, width, dataset, train, models, campaigns, replicate, physical)");
    EXPECT_EQ(errs.size(), 9u) << ::testing::PrintToString(errs);
}

TEST(FaultCsv, RowRoundTripAndColumns) {
    const std::string h = fault_csv::header(ErrorModelKind::Pixel);
    EXPECT_EQ(h, "layer,pixel,value,accuracy,correct,changed\n");
    EXPECT_EQ(fault_csv::column(h.substr(0, h.size() - 1), "accuracy"), 3);
    EXPECT_EQ(fault_csv::column(h, "channel"), -1);
    FaultResult r;
    r.fault = {2, 17, 1};
    r.correct = 29;
    r.changed = 4;
    const std::string line = fault_csv::format_row("conv2", r, 40);
    EXPECT_EQ(line, "conv2,17,1,72.5000,29,4\n");
    const auto row = fault_csv::parse_row(line.substr(0, line.size() - 1), "f.csv", 2);
    EXPECT_EQ(row.layer, "conv2");
    EXPECT_EQ(row.index, 17);
    EXPECT_EQ(row.value, 1);
    EXPECT_DOUBLE_EQ(row.accuracy, 72.5);
    EXPECT_EQ(row.correct, 29);
    EXPECT_EQ(row.changed, 4);
    for (const char* bad : {"conv2,17,1,72.5", "conv2,17,x,72.5,29,4", "conv2,17,1,72.5,29,4x"}) {
        try {
            fault_csv::parse_row(bad, "f.csv", 9);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const std::runtime_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("f.csv: malformed row 9", 0), 0u) << e.what();
        }
    }
}

class CampaignRun : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("fatsim_campaign_test_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        const Topology t = load_topology(std::string(FATSIM_SOURCE_DIR) + "/models/cnv_w1a1.yaml", 0.25);
        save_model(random_model(t, 4), (dir / "m.fatq").string());
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
    CampaignSpec spec(const std::string& out, const std::string& extra = "") {
        return parse_campaign_spec("model: m.fatq\noutput: " + out +
                                       "\nerror_model: channel\nlayers: [conv3, conv5, fc1]\nthreads: 2\n"
                                       "dataset: {images: 40}\n" + extra,
                                   (dir / "spec.yaml").string());
    }
    std::filesystem::path dir;
};

TEST_F(CampaignRun, ResumeAfterStopYieldsIdenticalFiles) {
    CampaignOptions q;
    q.show_progress = false;
    const auto full = run_campaign(spec("a"), q);
    ASSERT_TRUE(full.complete);
    EXPECT_EQ(full.faults, 2 * (32 + 64 + 128));
    // Interrupted twice, then resumed.
    CampaignOptions stop = q;
    stop.stop_after = 37;
    EXPECT_FALSE(run_campaign(spec("b"), stop).complete);
    // A torn last line (killed mid-write) is cut on resume.
    { std::ofstream(dir / "b" / "faults.csv", std::ios::app) << "conv5,3"; }
    stop.stop_after = 100;
    const auto mid = run_campaign(spec("b"), stop);
    EXPECT_EQ(mid.resumed_from, 37);
    const auto end = run_campaign(spec("b"), q);
    EXPECT_EQ(end.resumed_from, 137);
    ASSERT_TRUE(end.complete);
    EXPECT_EQ(slurp((dir / "a" / "faults.csv").string()), slurp((dir / "b" / "faults.csv").string()));
    EXPECT_EQ(slurp((dir / "a" / "summary.json").string()), slurp((dir / "b" / "summary.json").string()));
    // Same seed, other modes: same results.
    CampaignOptions naive = q;
    naive.mode = SweepMode::Prefix;
    run_campaign(spec("c"), naive);
    EXPECT_EQ(slurp((dir / "a" / "faults.csv").string()), slurp((dir / "c" / "faults.csv").string()));
    // Another spec into the same folder is refused.
    try {
        run_campaign(spec("b", "seed: 5\n"), q);
        ADD_FAILURE() << "resume with another seed accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("different campaign (seed differ)"), std::string::npos) << e.what();
    }
    // Report: Table I rows per layer, comparison table, plot.
    const std::string t1 = table_one((dir / "a").string());
    EXPECT_NE(t1.find("| conv3 | 32 |"), std::string::npos) << t1;
    EXPECT_NE(comparison_table({(dir / "a").string(), (dir / "b").string()}).find("| spec | cnv_w1a1 | channel | 40 | 448 |"),
              std::string::npos);
    const std::string img = plot_min_max({(dir / "a").string()}, (dir / "fig").string(), "svg");
    EXPECT_TRUE(std::filesystem::exists(img));
}

TEST_F(CampaignRun, ModelDependentSpecErrors) {
    CampaignOptions q;
    q.show_progress = false;
    auto s = spec("x");
    s.layers = {"conv9", "fc2"};
    s.values = {7};
    try {
        run_campaign(s, q);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.errors(), (std::vector<std::string>{
                                  "layers[0]=conv9 is not a layer of cnv_w1a1",
                                  "layers[1]=fc2 has no activation (classifier outputs are not swept)",
                                  "values[0]=7 is not an activation code of any swept layer"}));
    }
}

TEST_F(CampaignRun, SeededSamplingIsReproducible) {
    CampaignOptions q;
    q.show_progress = false;
    const std::string extra = "seed: 3\nmax_faults: 20\n";
    auto s1 = spec("r1", extra), s2 = spec("r2", extra);
    s1.sample = s2.sample = "random";
    run_campaign(s1, q);
    run_campaign(s2, q);
    const std::string a = slurp((dir / "r1" / "faults.csv").string());
    EXPECT_EQ(a, slurp((dir / "r2" / "faults.csv").string()));
    EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 21);
}

}  // namespace
