// Physical faults lowered onto the golden engine (campaigns/lowering.hpp)
// against the cycle model with the fault armed: every class, every schedule,
// W1A1 / W1A2 / W2A2, random samples of sites, every layer's output and the
// sink's scores image by image (100 % agreement). Also: the fast path
// (delta propagation) predicts what a full re-inference of the lowered
// effect predicts; static collapsing only merges what is equivalent; the
// sample-size formula; clear errors for sites the accelerator lacks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "config.hpp"
#include "dataflow.hpp"
#include "engine.hpp"
#include "hw_test_util.hpp"
#include "lowering_test_util.hpp"
#include "physical_campaign.hpp"
#include "physical_hw.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;
using fatsim::testing::small_topology;
using namespace fatsim::hw_testing;

namespace {

constexpr int kImages = 3;
constexpr int kSitesPerClass = 8;

// The classes of the dataflow architecture (feature-map buffers are loopback's).
constexpr int kDataflowClasses = 6;  // SiteClass Acc .. FifoSlot
std::vector<SiteClass> all_classes() {
    std::vector<SiteClass> c;
    for (int k = 0; k < kDataflowClasses; ++k) c.push_back(SiteClass(k));
    return c;
}

struct Case {
    int w, a, folding;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    return "W" + std::to_string(i.param.w) + "A" + std::to_string(i.param.a) + "_" + kFoldings[i.param.folding].name;
}

class LoweringVsCycleModel : public ::testing::TestWithParam<Case> {};

TEST_P(LoweringVsCycleModel, EveryClassAgreesLayerByLayer) {
    const Case c = GetParam();
    const Topology topo = small_topology(c.w, c.a);
    const QnnModel m = random_model(topo, 100 + 10 * c.w + c.a);
    // Depth 3: the slots a word lands in shift from image to image.
    const AccelConfig accel = make_accel(topo, kFoldings[c.folding], 3);
    const Engine engine(m);
    const InputBatch batch = batch_of(topo, kImages, 7);
    auto hw_model = hw::make_accelerator(m, accel);
    auto sites = physical_faults(*hw_model, all_classes(), kSitesPerClass, 42 + c.folding);
    ASSERT_EQ(sites.size(), size_t(kDataflowClasses * kSitesPerClass));
    // Plus, per class, a few sites that do change something (found by the
    // lowering in a larger sample), so that agreement is not on golden outputs only.
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    const GoldenTraces golden(engine, batch, 0, kImages, 1);
    int effective[kDataflowClasses] = {};
    Lowering::Scratch s;
    LoweredEffect e;
    for (const FaultSite& site : physical_faults(*hw_model, all_classes(), 200, 7 + c.folding)) {
        int& n = effective[int(site_class(site.where))];
        if (n >= 3) continue;
        for (int i = 0; i < kImages; ++i) {
            lowering.lower(site, i, golden.image(i), s, e);
            if (!e.empty()) {
                ++n;
                sites.push_back(site);
                break;
            }
        }
    }
    for (int k = 0; k < kDataflowClasses; ++k) EXPECT_EQ(effective[k], 3) << site_class_name(SiteClass(k));
    const auto agreement = verify_lowering(m, accel, engine, batch, kImages, sites);
    ASSERT_EQ(agreement.size(), size_t(kDataflowClasses));
    for (const ClassAgreement& a : agreement) {
        EXPECT_EQ(a.sites, kSitesPerClass + 3) << site_class_name(a.cls);
        EXPECT_EQ(a.agree, a.sites) << site_class_name(a.cls) << ": " << a.first_mismatch;
    }
}

// Transient flips: the one value passing the site at the flip's cycle, found
// in the captured cycle schedule of the run.
TEST_P(LoweringVsCycleModel, TransientFlipsAgree) {
    const Case c = GetParam();
    const Topology topo = small_topology(c.w, c.a);
    const QnnModel m = random_model(topo, 200 + 10 * c.w + c.a);
    const AccelConfig accel = make_accel(topo, kFoldings[c.folding], 3);
    const Engine engine(m);
    const InputBatch batch = batch_of(topo, kImages, 9);
    auto hw_model = hw::make_accelerator(m, accel);
    const CycleSchedule schedule = capture_schedule(m, accel, batch, kImages);
    int64_t last = 0;
    for (const auto& v : schedule.push_cycle) last = std::max(last, v.empty() ? int64_t(0) : v.back());
    Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    EXPECT_THROW(lowering.check(parse_fault_site("c0.pe[0].acc.bit[0]:flip@5")), FaultSiteError);  // no schedule yet
    lowering.use_schedule(&schedule);
    const GoldenTraces golden(engine, batch, 0, kImages, 1);
    // Flips at random cycles of the run: a sample, plus a few that change something.
    std::mt19937_64 rng(77 + c.folding);
    std::vector<FaultSite> sites;
    int effective[kDataflowClasses] = {}, sampled[kDataflowClasses] = {};
    Lowering::Scratch s;
    LoweredEffect e;
    for (FaultSite site : physical_faults(*hw_model, all_classes(), 300, 5 + c.folding)) {
        site.kind = FaultKind::Flip;
        site.cycle = int64_t(rng() % uint64_t(last + 1));
        const int k = int(site_class(site.where));
        const bool changes = changes_something(lowering, site, golden, kImages, s, e);
        if (sampled[k] < 4) ++sampled[k], sites.push_back(site);
        else if (changes && effective[k] < 4) ++effective[k], sites.push_back(site);
    }
    for (int k = 0; k < kDataflowClasses; ++k) EXPECT_GT(effective[k], 0) << site_class_name(SiteClass(k));
    for (const ClassAgreement& a : verify_lowering(m, accel, engine, batch, kImages, sites))
        EXPECT_EQ(a.agree, a.sites) << site_class_name(a.cls) << ": " << a.first_mismatch;
}

INSTANTIATE_TEST_SUITE_P(Lowering, LoweringVsCycleModel,
                         ::testing::Values(Case{1, 1, 2}, Case{1, 1, 4}, Case{1, 2, 2}, Case{1, 2, 3}, Case{2, 2, 2},
                                           Case{2, 2, 4}, Case{1, 1, 1}, Case{1, 1, 5}, Case{1, 2, 5},
                                           Case{2, 2, 6}),
                         case_name);

// The fast acc / adder recomputations (XNOR: fold pieces, node values
// counted word by word where SIMD is a power of two dividing MW; integer
// layers: the golden accumulator plus the node's changes) give exactly the
// lane-by-lane, fold-by-fold one's effect: acc and adder stuck-at sites of
// W1A1 (XNOR) and W2A2 (integer) networks (every site, or 2,500 per class
// where there are more), on dataflow foldings with and without such SIMDs
// (pixel schedule included) and loopback engines (partial folds included,
// every layer the PE runs).
TEST(LoweringWordParallel, AccAndAdderSitesMatchLaneByLane) {
    for (const auto& [wbits, abits] : {std::pair<int, int>{1, 1}, std::pair<int, int>{2, 2}}) {
        const Topology topo = small_topology(wbits, abits);
        const QnnModel m = random_model(topo, 31);
        const Engine engine(m);
        const InputBatch batch = batch_of(topo, 2, 5);
        const GoldenTraces golden(engine, batch, 0, batch.count, 1);
        std::vector<AccelConfig> accels;
        for (int f : {0, 1, 2, 5}) accels.push_back(make_accel(topo, kFoldings[f], 2));
        accels.push_back(make_loopback(topo, 2, 8));
        accels.push_back(make_loopback(topo, 3, 4, Schedule::Pixel));
        for (const AccelConfig& accel : accels) {
            SCOPED_TRACE(topo.name + " on " + accel.source);
            auto hw_model = hw::make_accelerator(m, accel);
            const Lowering fast(engine, accel, fifo_geometry(*hw_model, engine.layers()));
            Lowering slow(engine, accel, fifo_geometry(*hw_model, engine.layers()));
            slow.set_lane_by_lane(true);
            Lowering::Scratch sf, ss;
            LoweredEffect ef, es;
            size_t changing = 0;
            for (const FaultSite& site : physical_faults(*hw_model, {SiteClass::Acc, SiteClass::AdderNode}, 2500, 1)) {
                bool changes = false;
                for (int i = 0; i < batch.count; ++i) {
                    fast.lower(site, i, golden.image(i), sf, ef);
                    slow.lower(site, i, golden.image(i), ss, es);
                    ASSERT_EQ(effect_hash({ef}, i), effect_hash({es}, i)) << fault_site_name(site) << ", image " << i;
                    changes |= !es.empty();
                }
                changing += changes;
            }
            EXPECT_GT(changing, 0u);
        }
    }
}

// The campaign path (delta propagation from the effect layer, effect-hash
// reuse) predicts exactly what a full re-inference of the lowered effect does.
TEST(PhysicalEvaluator, FastPathMatchesFullReinference) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 5);
    const AccelConfig accel = make_accel(topo, kFoldings[2], 2);
    const Engine engine(m);
    const InputBatch batch = batch_of(topo, 6, 3);
    auto hw_model = hw::make_accelerator(m, accel);
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    const GoldenTraces golden(engine, batch, 0, batch.count, 2);
    const auto sites = physical_faults(*hw_model, all_classes(), 20, 9);
    std::vector<ErrorPatternStats> got(sites.size());
    PhysicalEvaluator ev(engine, lowering, golden, 2);
    ev.run(sites, nullptr, [&](size_t pos, const ErrorPatternStats& st) {
        got[pos] = st;
        return true;
    });
    int changed_somewhere = 0;
    Lowering::Scratch s;
    LoweredEffect e;
    for (size_t k = 0; k < sites.size(); ++k) {
        int correct = 0, changed = 0, touched = 0;
        for (int i = 0; i < batch.count; ++i) {
            lowering.lower(sites[k], i, golden.image(i), s, e);
            int pred = 0;
            lowered_layer_outputs(engine, golden.image(i), e, &pred);
            correct += pred == batch.labels[size_t(i)];
            changed += pred != golden.prediction(i);
            touched += !e.empty();
        }
        SCOPED_TRACE(fault_site_name(sites[k]));
        EXPECT_EQ(got[k].correct, correct);
        EXPECT_EQ(got[k].changed, changed);
        EXPECT_EQ(got[k].images_touched, touched);
        EXPECT_EQ(got[k].masked(), touched == 0);
        changed_somewhere += changed > 0;
    }
    EXPECT_GT(changed_somewhere, 0);
}

// Faults collapsed as "masked" change nothing; faults sharing a static key
// have identical effects (W1A1: XNOR adder nodes stuck at 1 above their range
// share one key per PE and bit).
// Faults whose effect hashes are equal are propagated once and share their
// results, so every part of an effect must reach every bit of the hash: two
// effects that differ only in which element changed (the index sits above
// the codes in each mixed word) must differ in the hash's low bits too.
TEST(EffectHash, EveryPartReachesTheLowBits) {
    int same_low = 0;
    for (int idx = 0; idx < 256; ++idx) {
        LoweredEffect a, b;
        a.changes = {{idx, 0, 1}};
        b.changes = {{idx + 1 + idx % 7 * 64, 0, 1}};
        const uint64_t ha = effect_hash({a}, 0), hb = effect_hash({b}, 0);
        ASSERT_NE(ha, hb);
        same_low += ((ha ^ hb) & 0xffff) == 0;
        // (and the image an effect is on)
        ASSERT_NE(effect_hash({a}, 0), effect_hash({a}, 1 + idx % 5 * 4096));
    }
    EXPECT_EQ(same_low, 0);
}

TEST(PhysicalCollapse, StaticKeysAreExact) {
    for (const int bits : {2, 1}) {
        SCOPED_TRACE("W" + std::to_string(bits) + "A" + std::to_string(bits));
        const Topology topo = small_topology(bits, bits);
        const QnnModel m = random_model(topo, 11);
        const AccelConfig accel = make_accel(topo, kFoldings[2], 2);
        const Engine engine(m);
        const InputBatch batch = batch_of(topo, 2, 4);
        auto hw_model = hw::make_accelerator(m, accel);
        const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
        const GoldenTraces golden(engine, batch, 0, batch.count, 1);
        const auto sites = physical_faults(*hw_model, {SiteClass::WeightWord, SiteClass::Threshold, SiteClass::AdderNode},
                                           150, 3);
        std::map<std::string, std::vector<std::vector<CodeChange>>> first_effect;
        int masked = 0, shared = 0, shared_adder_const = 0;
        Lowering::Scratch s;
        LoweredEffect e;
        for (const FaultSite& site : sites) {
            const std::string key = lowering.collapse_key(site);
            if (key.empty()) continue;
            std::vector<std::vector<CodeChange>> eff;
            for (int i = 0; i < batch.count; ++i) {
                lowering.lower(site, i, golden.image(i), s, e);
                eff.push_back(e.changes);
                if (key == "masked") {
                    EXPECT_TRUE(e.empty()) << fault_site_name(site);
                }
            }
            masked += key == "masked";
            auto it = first_effect.find(key);
            if (it == first_effect.end()) {
                first_effect.emplace(key, eff);
                continue;
            }
            ++shared;
            shared_adder_const += key.rfind("adder+", 0) == 0;
            for (int i = 0; i < batch.count; ++i) {
                ASSERT_EQ(eff[size_t(i)].size(), it->second[size_t(i)].size()) << fault_site_name(site);
                for (size_t k = 0; k < eff[size_t(i)].size(); ++k) {
                    EXPECT_EQ(eff[size_t(i)][k].idx, it->second[size_t(i)][k].idx);
                    EXPECT_EQ(eff[size_t(i)][k].new_code, it->second[size_t(i)][k].new_code);
                }
            }
        }
        EXPECT_GT(masked, 0);
        EXPECT_GT(shared, 0);
        if (bits == 1) {
            EXPECT_GT(shared_adder_const, 0);
        }
    }
}

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// map-faults results do not depend on the thread count or on a resume, and
// the summary counts what the rows say.
TEST(PhysicalCampaign, DeterministicAndResumable) {
    namespace fs = std::filesystem;
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 21);
    const AccelConfig accel = make_accel(topo, kFoldings[2], 2);
    const InputBatch batch = batch_of(topo, 5, 8);
    const fs::path dir = fs::temp_directory_path() / ("fatsim_map_faults_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    PhysicalCampaignOptions opt;
    opt.sample = 40;
    opt.seed = 3;
    opt.show_progress = false;
    opt.threads = 1;
    opt.output = (dir / "a").string();
    const auto a = run_physical_campaign(m, accel, batch, opt);
    EXPECT_EQ(a.faults, size_t(kDataflowClasses - 1) * 40 + size_t(a.summary_json["classes"][4]["faults"].get<int>()));
    opt.threads = 2;
    opt.output = (dir / "b").string();
    const auto b = run_physical_campaign(m, accel, batch, opt);
    const std::string rows = read_text(a.csv);
    EXPECT_EQ(rows, read_text(b.csv));
    // Cut b's file in the middle of a row, then resume.
    fs::resize_file(b.csv, rows.size() / 2);
    const auto c = run_physical_campaign(m, accel, batch, opt);
    EXPECT_GT(c.resumed_from, 0u);
    EXPECT_EQ(rows, read_text(b.csv));
    EXPECT_EQ(read_text(a.summary), read_text(b.summary));
    // Resumed right after statically masked rows: they do not make a later
    // evaluated fault with no effect "reused" (only evaluated rows count).
    {
        std::istringstream in(rows);
        std::string line;
        std::getline(in, line);
        size_t end = line.size() + 1;
        int cuts = 0;
        for (size_t k = 2; std::getline(in, line) && cuts < 8; ++k) {
            end += line.size() + 1;
            const auto r = physical_csv::parse_row(line, a.csv, k);
            if (r.eval != "collapsed" || !r.masked) continue;
            ++cuts;
            fs::resize_file(b.csv, end);
            EXPECT_EQ(run_physical_campaign(m, accel, batch, opt).resumed_from, k - 1);
            EXPECT_EQ(rows, read_text(b.csv)) << "resumed after row " << k;
        }
        EXPECT_GT(cuts, 0);
    }
    // Per class, the summary's fault count and masked fraction match the rows.
    size_t masked_wmem = 0, wmem = 0;
    std::istringstream in(rows);
    std::string line;
    std::getline(in, line);
    for (size_t k = 2; std::getline(in, line); ++k) {
        const auto r = physical_csv::parse_row(line, a.csv, k);
        if (r.cls == "wmem") ++wmem, masked_wmem += r.masked;
    }
    const auto& w = a.summary_json["classes"][2];
    EXPECT_EQ(w["class"], "wmem");
    EXPECT_EQ(w["faults"].get<size_t>(), wmem);
    EXPECT_DOUBLE_EQ(w["fraction_masked"]["value"].get<double>(), double(masked_wmem) / double(wmem));
    // Images in chunks of 2: the same rows but for the effect hash (another
    // combination), and the same summary.
    opt.image_chunk = 2;
    opt.output = (dir / "d").string();
    const auto d = run_physical_campaign(m, accel, batch, opt);
    auto without_hash = [](const std::string& text) {
        std::istringstream lines(text);
        std::string out;
        for (std::string l; std::getline(lines, l);) {
            auto cells = fault_csv::split(l);
            cells.erase(cells.begin() + 4);  // the effect hash
            for (const auto& cell : cells) out += cell + ",";
            out += "\n";
        }
        return out;
    };
    EXPECT_EQ(without_hash(rows), without_hash(read_text(d.csv)));
    EXPECT_EQ(a.summary_json.dump(), d.summary_json.dump());
    fs::remove_all(dir);
}

// Every non-weight fault and a sample of weight faults (map-faults --all
// --weight-margin E): the non-weight rows are those of a run of only those
// classes, the weight rows those of a run sampling that many weight faults.
TEST(PhysicalCampaign, WeightMarginSamplesOnlyTheWeightFaults) {
    namespace fs = std::filesystem;
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 22);
    const AccelConfig accel = make_accel(topo, kFoldings[2], 2);
    const InputBatch batch = batch_of(topo, 4, 9);
    const fs::path dir = fs::temp_directory_path() / ("fatsim_weight_margin_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    PhysicalCampaignOptions opt;
    opt.seed = 5;
    opt.show_progress = false;
    opt.threads = 2;
    opt.weight_margin = 0.2;
    opt.output = (dir / "mixed").string();
    const auto mixed = run_physical_campaign(m, accel, batch, opt);
    opt.weight_margin = 0;
    for (int k = 0; k < kDataflowClasses; ++k)
        if (SiteClass(k) != SiteClass::WeightWord) opt.classes.push_back(SiteClass(k));
    opt.output = (dir / "rest").string();
    const auto rest = run_physical_campaign(m, accel, batch, opt);
    const auto& classes = mixed.summary_json["classes"];
    uint64_t weight_sample = 0;
    for (const auto& c : classes) {
        const uint64_t population = c["population"], faults = c["faults"];
        if (c["class"] == "wmem") {
            weight_sample = faults;
            EXPECT_EQ(faults, sample_size(population, 0.2, 0.99));
            EXPECT_LT(faults, population);
        } else {
            EXPECT_EQ(faults, population) << c["class"];
        }
    }
    opt.classes = {SiteClass::WeightWord};
    opt.sample = weight_sample;
    opt.output = (dir / "weights").string();
    const auto weights = run_physical_campaign(m, accel, batch, opt);
    // Rows compared by what the fault did (the eval column names reuse across classes).
    auto rows_of = [](const std::string& path, bool wmem) {
        std::istringstream in(read_text(path));
        std::string line, out;
        std::getline(in, line);
        for (size_t k = 2; std::getline(in, line); ++k) {
            const auto r = physical_csv::parse_row(line, path, k);
            if ((r.cls == "wmem") != wmem) continue;
            out += r.site + "," + r.effect + "," + std::to_string(r.correct) + "," + std::to_string(r.changed) + "," +
                   r.transitions + "\n";
        }
        return out;
    };
    const std::string non_weight = rows_of(rest.csv, false), weight = rows_of(weights.csv, true);
    EXPECT_FALSE(non_weight.empty());
    EXPECT_FALSE(weight.empty());
    EXPECT_EQ(rows_of(mixed.csv, false), non_weight);
    EXPECT_EQ(rows_of(mixed.csv, true), weight);
    fs::remove_all(dir);
}

TEST(PhysicalSites, ErrorsNameTheRule) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 1);
    const AccelConfig accel = make_accel(topo, kFoldings[2], 2);
    const Engine engine(m);
    auto hw_model = hw::make_accelerator(m, accel);
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    auto msg = [&](const std::string& name) {
        try {
            lowering.check(parse_fault_site(name));
        } catch (const FaultSiteError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(msg("cX.pe[0].acc.bit[0]:sa1").find("no layer named 'cX'"), std::string::npos);
    EXPECT_NE(msg("c0.pe[9].acc.bit[0]:sa1").find("pe 9 out of range"), std::string::npos);
    EXPECT_NE(msg("c0.pe[0].acc.bit[0]:flip@100").find("transient"), std::string::npos);
    EXPECT_NE(msg("fifo[9].slot[0].bit[0]:sa1").find("no fifo[9]"), std::string::npos);
    EXPECT_NE(msg("f1.pe[0].thr[0].bit[0]:sa1").find("no thresholds"), std::string::npos);
    EXPECT_EQ(msg("c0.pe[0].acc.bit[0]:sa1"), "no error");
    EXPECT_NE(msg("engine.fmbuf[0].word[0].bit[0]:sa1").find("loopback"), std::string::npos);
    EXPECT_THROW(parse_site_classes("acc,bogus"), std::invalid_argument);
    // A model that does not match the accelerator.
    const Topology other = small_topology(1, 1, true);
    const QnnModel m2 = random_model(other, 1);
    const Engine e2(m2);
    EXPECT_THROW(Lowering(e2, accel, fifo_geometry(*hw_model, engine.layers())), std::invalid_argument);
}

TEST(PhysicalStatistics, LeveugleSampleSize) {
    EXPECT_NEAR(normal_quantile(0.95), 1.959964, 1e-5);
    EXPECT_NEAR(normal_quantile(0.99), 2.575829, 1e-5);
    // N = 1e6, e = 1 %, 99 %: n = N / (1 + e^2 (N-1) / (t^2 / 4)) = 16317.
    EXPECT_EQ(sample_size(1000000, 0.01, 0.99), 16317u);
    EXPECT_EQ(sample_size(100, 0.01, 0.99), 100u);  // small populations: (nearly) all
    const auto iv = proportion_interval(0.5, 16317, 1000000, 0.99);
    EXPECT_NEAR(iv.second - 0.5, 0.01, 0.0005);
    EXPECT_EQ(proportion_interval(0.3, 50, 50, 0.99), std::make_pair(0.3, 0.3));
    EXPECT_THROW(sample_size(10, 0.0, 0.99), std::invalid_argument);
}

}  // namespace
