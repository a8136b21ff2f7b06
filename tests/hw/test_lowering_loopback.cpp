// Physical faults of a loopback engine lowered onto the golden engine
// (campaigns/lowering.hpp) against the loopback cycle model with the fault
// armed: every class (acc, adder, wmem, thr, cmp, fmbuf), W1A1 / W2A2 /
// W1A2, engines whose PE and SIMD divide the layers and engines whose do
// not, every schedule; random samples of sites plus sites that change
// something, every layer's output and the scores image by image (100 %
// agreement). Also: one fault changes several layers; the campaign path
// (PhysicalEvaluator) predicts what a full re-inference predicts; clear
// errors for sites a loopback engine does not have.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "config.hpp"
#include "engine.hpp"
#include "hw_test_util.hpp"
#include "lowering_test_util.hpp"
#include "loopback.hpp"
#include "physical_hw.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;
using fatsim::testing::small_topology;
using namespace fatsim::hw_testing;

namespace {

constexpr int kImages = 3;
constexpr int kSitesPerClass = 6;
constexpr int kEffective = 3;

const std::vector<SiteClass> kClasses = {SiteClass::Acc,       SiteClass::AdderNode,  SiteClass::WeightWord,
                                         SiteClass::Threshold, SiteClass::Comparator, SiteClass::FmBuf};

// Buffers just large enough for the layers, so that sampled sites land in
// words the layers use.
AccelConfig tight_loopback(const Topology& topo, int pe, int simd, Schedule s) {
    AccelConfig a = make_loopback(topo, pe, simd, s);
    LoopbackConfig& lb = a.loopback;
    lb.weight_buffer_words = lb.threshold_buffer_words = lb.ifm_buffer_words = lb.ofm_buffer_words = 1;
    for (int l = 0; l < int(topo.layers.size()); ++l) {
        const LayerSpec& sp = topo.layers[size_t(l)];
        const FoldingMap f = FoldingMap::with_partial_folds(sp.mh(), sp.mw(), pe, simd, s);
        const int T = layer_geometry(topo, l).thresholds;
        lb.weight_buffer_words = std::max(lb.weight_buffer_words, f.weight_words());
        lb.threshold_buffer_words = std::max(lb.threshold_buffer_words, f.nf * std::max(T, 1));
        lb.ifm_buffer_words = std::max(lb.ifm_buffer_words, sp.in_dim * sp.in_dim * ((sp.in_channels + simd - 1) / simd));
        lb.ofm_buffer_words = std::max(lb.ofm_buffer_words, sp.pooled_dim * sp.pooled_dim * f.nf);
    }
    const auto errs = validate_folding(a, topo);
    EXPECT_TRUE(errs.empty()) << (errs.empty() ? "" : errs[0]);
    return a;
}

struct Case {
    int w, a, pe, simd;
    Schedule schedule;
};
std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    const Case& c = i.param;
    return "W" + std::to_string(c.w) + "A" + std::to_string(c.a) + "_pe" + std::to_string(c.pe) + "_simd" +
           std::to_string(c.simd) + "_" + schedule_name(c.schedule);
}

class LoopbackLoweringVsCycleModel : public ::testing::TestWithParam<Case> {};

// A loopback engine on the small network: its model, images and cycle model.
struct CaseSetup {
    Topology topo;
    QnnModel m;
    AccelConfig accel;
    Engine engine;
    InputBatch batch;
    std::unique_ptr<hw::Accelerator> hw_model;
    CaseSetup(int w, int a, uint64_t model_seed, int pe, int simd, Schedule schedule, int images, unsigned image_seed)
        : topo(small_topology(w, a)),
          m(random_model(topo, model_seed)),
          accel(tight_loopback(topo, pe, simd, schedule)),
          engine(m),
          batch(batch_of(topo, images, image_seed)),
          hw_model(hw::make_accelerator(m, accel)) {}
    // One case's (seeded per test).
    CaseSetup(const Case& c, uint64_t seed)
        : CaseSetup(c.w, c.a, seed + 10 * c.w + c.a + c.pe, c.pe, c.simd, c.schedule, kImages,
                    unsigned(seed / 10 + c.pe)) {}
};

TEST_P(LoopbackLoweringVsCycleModel, EveryClassAgreesLayerByLayer) {
    const Case c = GetParam();
    const CaseSetup x(c, 300);
    auto sites = physical_faults(*x.hw_model, kClasses, kSitesPerClass, 42 + c.pe * 7 + c.simd);
    // Per class the sample, or every fault of a smaller class (2 per location).
    const auto counts = x.hw_model->fault_site_counts();
    const auto sampled = [&](SiteClass k) { return std::min<uint64_t>(kSitesPerClass, 2 * counts.per_class[int(k)]); };
    uint64_t total = 0;
    for (SiteClass k : kClasses) total += sampled(k);
    ASSERT_EQ(sites.size(), total);
    const Lowering lowering(x.engine, x.accel, fifo_geometry(*x.hw_model, x.engine.layers()));
    ASSERT_TRUE(lowering.propagates());
    const GoldenTraces golden(x.engine, x.batch, 0, kImages, 1);
    // Per class a few sites that do change something, so that agreement is
    // not on golden outputs only; and faults that change several layers.
    int effective[kSiteClasses] = {}, multi_layer = 0;
    Lowering::Scratch s;
    LoweredEffect e;
    for (const FaultSite& site : physical_faults(*x.hw_model, kClasses, 300, 5 + c.pe)) {
        lowering.check(site);
        int& n = effective[int(site_class(site.where))];
        if (n >= kEffective) continue;
        for (int i = 0; i < kImages; ++i) {
            lowering.lower(site, i, golden.image(i), s, e);
            if (!e.empty()) {
                ++n;
                multi_layer += !e.later.empty() || (!e.changes.empty() && !e.scores.empty());
                sites.push_back(site);
                break;
            }
        }
    }
    for (SiteClass k : kClasses) EXPECT_EQ(effective[int(k)], kEffective) << site_class_name(k);
    EXPECT_GT(multi_layer, 0) << "no fault changed more than one layer";
    const auto agreement = verify_lowering(x.m, x.accel, x.engine, x.batch, kImages, sites);
    ASSERT_EQ(agreement.size(), kClasses.size());
    for (const ClassAgreement& a : agreement) {
        EXPECT_EQ(uint64_t(a.sites), sampled(a.cls) + kEffective) << site_class_name(a.cls);
        EXPECT_EQ(a.agree, a.sites) << site_class_name(a.cls) << ": " << a.first_mismatch;
    }
}

// Layers: c0 27x8, c1 72x70, c2 280x16, f0 144x20, f1 20x10 (MW x MH).
// PE 2 divides every MH and SIMD 9 the MW of c0, c1, f0; PE 3 x SIMD 5
// divides none (partial folds of channels and lanes).
INSTANTIATE_TEST_SUITE_P(Engines, LoopbackLoweringVsCycleModel,
                         ::testing::Values(Case{1, 1, 2, 9, Schedule::Interleaved}, Case{1, 1, 3, 5, Schedule::Interleaved},
                                           Case{2, 2, 2, 9, Schedule::Interleaved}, Case{2, 2, 3, 5, Schedule::Interleaved},
                                           Case{1, 2, 3, 5, Schedule::Blocked}, Case{2, 2, 3, 5, Schedule::Pixel},
                                           Case{1, 1, 2, 9, Schedule::Pixel}),
                         case_name);

// Transient flips: the one value passing the site at the first pass in or
// after the flip's cycle, in whichever layer the engine runs then (the
// captured loopback schedule); in a feature-map buffer, the first write of
// the bit (a layer's input load, an output through the pool unit).
TEST_P(LoopbackLoweringVsCycleModel, TransientFlipsAgree) {
    const Case c = GetParam();
    const CaseSetup x(c, 400);
    const CycleSchedule schedule = capture_schedule(x.m, x.accel, x.batch, kImages);
    const int64_t last = last_cycle(schedule);
    Lowering lowering(x.engine, x.accel, fifo_geometry(*x.hw_model, x.engine.layers()));
    EXPECT_THROW(lowering.check(parse_fault_site("engine.pe[0].acc.bit[0]:flip@5")), FaultSiteError);  // no schedule yet
    lowering.use_schedule(&schedule);
    lowering.check(parse_fault_site("engine.fmbuf[0].word[0].bit[0]:flip@5"));
    const GoldenTraces golden(x.engine, x.batch, 0, kImages, 1);
    const std::vector<SiteClass>& classes = kClasses;
    std::mt19937_64 rng(91 + c.pe);
    std::vector<FaultSite> sites;
    int effective[kSiteClasses] = {}, sampled[kSiteClasses] = {}, effective_buffer[2] = {};
    Lowering::Scratch s;
    LoweredEffect e;
    for (FaultSite site : physical_faults(*x.hw_model, classes, 300, 17 + c.pe)) {
        site.kind = FaultKind::Flip;
        site.cycle = int64_t(rng() % uint64_t(last + 1));
        const int k = int(site_class(site.where));
        const bool changes = changes_something(lowering, site, golden, kImages, s, e);
        if (const auto* fb = std::get_if<FmBufBit>(&site.where); fb && changes) {
            // Both buffers: an input load, an output written through the pool unit.
            if (effective_buffer[fb->buffer]++ < 3) ++effective[k], sites.push_back(site);
            continue;
        }
        if (sampled[k] < 4) ++sampled[k], effective[k] += changes, sites.push_back(site);
        else if (changes && effective[k] < 4) ++effective[k], sites.push_back(site);
    }
    for (SiteClass k : classes) EXPECT_GT(effective[int(k)], 0) << site_class_name(k);
    EXPECT_GT(effective_buffer[0], 0) << "no fmbuf[0] flip changes anything";
    EXPECT_GT(effective_buffer[1], 0) << "no fmbuf[1] flip changes anything";
    // Flips at the very cycle a layer loads its input (they fire there) and
    // one cycle later (they wait for the next load).
    for (size_t l = 0; l < schedule.iteration_cycle.size(); ++l)
        for (int64_t late : {0, 1})
            for (int word : {0, 1, 2})
                sites.push_back(parse_fault_site("engine.fmbuf[0].word[" + std::to_string(word) + "].bit[0]:flip@" +
                                                 std::to_string(schedule.iteration_cycle[l][0] + late)));
    for (const ClassAgreement& a : verify_lowering(x.m, x.accel, x.engine, x.batch, kImages, sites))
        EXPECT_EQ(a.agree, a.sites) << site_class_name(a.cls) << ": " << a.first_mismatch;
}

// The campaign path predicts what a full re-inference of the lowered effect
// predicts; its pattern is what the fault itself changes in each layer: a
// PE's acc / adder / cmp fault only that PE's channels {c : c mod PE = p}.
TEST(LoopbackLowering, EvaluatorMatchesReinference) {
    const Topology topo = small_topology(2, 2);
    const QnnModel m = random_model(topo, 5);
    const int PE = 3;
    const AccelConfig accel = tight_loopback(topo, PE, 5, Schedule::Interleaved);
    const Engine engine(m);
    const InputBatch batch = batch_of(topo, 6, 3);
    auto hw_model = hw::make_accelerator(m, accel);
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    const GoldenTraces golden(engine, batch, 0, batch.count, 1);
    const auto sites = physical_faults(*hw_model, kClasses, 10, 9);
    PhysicalEvaluator ev(engine, lowering, golden, 2);
    std::vector<ErrorPatternStats> stats(sites.size());
    ev.run(sites, nullptr, [&](size_t k, const ErrorPatternStats& st) {
        stats[k] = st;
        return true;
    });
    Lowering::Scratch s;
    LoweredEffect e;
    int several_layers = 0;
    for (size_t k = 0; k < sites.size(); ++k) {
        const SiteClass cls = site_class(sites[k].where);
        const bool pe_local = cls == SiteClass::Acc || cls == SiteClass::AdderNode || cls == SiteClass::Comparator;
        const int pe = std::visit([](const auto& x) {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, FifoBit> ||
                          std::is_same_v<std::decay_t<decltype(x)>, FmBufBit>) return -1;
            else return x.pe;
        }, sites[k].where);
        int correct = 0;
        int64_t elements = 0;
        for (int i = 0; i < batch.count; ++i) {
            lowering.lower(sites[k], i, golden.image(i), s, e);
            int pred = 0;
            lowered_layer_outputs(engine, golden.image(i), e, &pred);
            correct += pred == batch.labels[size_t(i)];
            for (size_t l = 0; l < e.direct.size(); ++l) {
                elements += int64_t(e.direct[l].size());
                if (!pe_local) continue;
                // Only outputs the PE computes in that layer (outputs_of_pe, pre-pool).
                const LayerSpec& sp = topo.layers[l];
                std::set<int> own;
                for (const OutputPos& o : outputs_of_pe(lowering.folding(int(l)), sp.out_dim * sp.out_dim, pe))
                    own.insert(o.channel);
                for (const CodeChange& c : e.direct[l])
                    EXPECT_TRUE(own.count(c.idx % sp.mh())) << fault_site_name(sites[k]) << " layer " << l;
            }
        }
        EXPECT_EQ(stats[k].correct, correct) << fault_site_name(sites[k]);
        EXPECT_EQ(stats[k].elements, elements) << fault_site_name(sites[k]);
        several_layers += stats[k].layers.size() > 1;
        if (pe_local) {  // interleaved: channels c mod PE = p in every layer
            for (int c : stats[k].channels) EXPECT_EQ(c % PE, pe) << fault_site_name(sites[k]) << " channel " << c;
        }
    }
    EXPECT_GT(several_layers, 0) << "no fault's pattern spans several layers";
}

// A Scratch keeps caches from one fault to the next (windows of a layer's
// input, a rerun layer's data): on one image, fault after fault, every
// effect must equal the one a fresh Scratch gives.
TEST(LoopbackLowering, ScratchReusedFaultAfterFaultOnOneImage) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 7);
    // (SIMD 4 divides c1's 8 input channels: its stream order is the engine's
    // column order, so a rerun's windows serve as the faulty input's stream.)
    const AccelConfig accel = tight_loopback(topo, 3, 4, Schedule::Interleaved);
    const Engine engine(m);
    const InputBatch batch = batch_of(topo, 1, 4);
    auto hw_model = hw::make_accelerator(m, accel);
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    const GoldenTraces golden(engine, batch, 0, 1, 1);
    const auto flat = [](const LoweredEffect& e) {
        std::vector<int> v;
        for (const auto& layer : e.direct) {
            v.push_back(-1);
            for (const CodeChange& c : layer) v.insert(v.end(), {c.idx, c.old_code, c.new_code});
        }
        return v;
    };
    const auto sites = physical_faults(*hw_model, kClasses, 8, 3);
    std::vector<LoweredEffect> fresh(sites.size());
    int changed = 0;
    for (size_t k = 0; k < sites.size(); ++k) {
        Lowering::Scratch s;
        lowering.lower(sites[k], 0, golden.image(0), s, fresh[k]);
        changed += !fresh[k].empty();
    }
    EXPECT_GT(changed, 5);
    // Every ordered pair: fault j, then fault k in the same Scratch.
    Lowering::Scratch shared;
    LoweredEffect e;
    for (size_t j = 0; j < sites.size(); ++j)
        for (size_t k = 0; k < sites.size(); ++k) {
            lowering.lower(sites[j], 0, golden.image(0), shared, e);
            lowering.lower(sites[k], 0, golden.image(0), shared, e);
            ASSERT_EQ(flat(e), flat(fresh[k])) << fault_site_name(sites[j]) << " then " << fault_site_name(sites[k]);
            ASSERT_EQ(lowered_layer_outputs(engine, golden.image(0), e, nullptr),
                      lowered_layer_outputs(engine, golden.image(0), fresh[k], nullptr))
                << fault_site_name(sites[j]) << " then " << fault_site_name(sites[k]);
        }
}

TEST(LoopbackLowering, SitesTheEngineLacksAreClearErrors) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 1);
    const AccelConfig accel = tight_loopback(topo, 2, 9, Schedule::Interleaved);
    const Engine engine(m);
    auto hw_model = hw::make_accelerator(m, accel);
    const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
    auto message = [&](const std::string& site) {
        try {
            lowering.check(parse_fault_site(site));
        } catch (const FaultSiteError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(message("engine.pe[0].acc.bit[0]:flip@5").find("needs the cycle schedule"), std::string::npos);
    EXPECT_NE(message("engine.fmbuf[1].word[0].bit[0]:flip@5").find("needs the cycle schedule"), std::string::npos);
    EXPECT_NE(message("c0.pe[0].acc.bit[0]:sa1").find("names its sites 'engine'"), std::string::npos);
    EXPECT_NE(message("fifo[1].slot[0].bit[0]:sa1").find("no FIFOs"), std::string::npos);
    EXPECT_NE(message("engine.pe[2].acc.bit[0]:sa1").find("pe 2 out of range"), std::string::npos);
    EXPECT_NE(message("engine.fmbuf[2].word[0].bit[0]:sa1").find("feature-map buffer 2"), std::string::npos);
    EXPECT_NE(message("engine.wmem.pe[0].word[99999].bit[0]:sa1").find("weight buffer word"), std::string::npos);
    EXPECT_EQ(message("engine.fmbuf[1].word[0].bit[0]:sa1"), "");
    // The dataflow lowering names the architecture a buffer site belongs to.
    const AccelConfig df = make_accel(topo, kFoldings[2], 2);
    auto df_model = hw::make_accelerator(m, df);
    const Lowering dfl(engine, df, fifo_geometry(*df_model, engine.layers()));
    EXPECT_THROW(dfl.check(parse_fault_site("engine.fmbuf[0].word[0].bit[0]:sa1")), FaultSiteError);
}

}  // namespace

// Static collapsing on a loopback engine: a site acts in every layer it
// reaches as that layer's own, so a "masked" site changes nothing and sites
// sharing a key have identical effects in every layer, image by image. The
// counts: masked sites, masked buffer sites, sites sharing a key, of which
// keyed as a constant added by an adder node in the first layer (its input
// is signed: only a node idle in every fold is constant there).
namespace {
struct CollapseCounts {
    int masked = 0, masked_buffer = 0, shared = 0, shared_idle_first = 0, changing = 0;
};
CollapseCounts check_static_keys(const Lowering& lowering, const GoldenTraces& golden, int images,
                                 const std::vector<FaultSite>& sites) {
    // Everything the lowered effect says, per image.
    const auto signature = [](const LoweredEffect& e) {
        std::string s = std::to_string(e.layer) + ";";
        const auto add = [&](const std::vector<CodeChange>& cs) {
            for (const CodeChange& c : cs) s += std::to_string(c.idx) + ":" + std::to_string(c.new_code) + ",";
            s += ";";
        };
        add(e.changes);
        for (const auto& later : e.later) add(later);
        for (int32_t v : e.scores) s += std::to_string(v) + ",";
        return s;
    };
    std::map<std::string, std::vector<std::string>> first_effect;
    CollapseCounts n;
    Lowering::Scratch s;
    LoweredEffect e;
    for (const FaultSite& site : sites) {
        const std::string key = lowering.collapse_key(site);
        if (key.empty()) continue;
        SCOPED_TRACE(fault_site_name(site) + " key " + key);
        std::vector<std::string> eff;
        for (int i = 0; i < images; ++i) {
            lowering.lower(site, i, golden.image(i), s, e);
            eff.push_back(signature(e));
            if (key == "masked") {
                EXPECT_TRUE(e.empty());
            }
            n.changing += key != "masked" && !e.empty();
        }
        n.masked += key == "masked";
        n.masked_buffer += key == "masked" && std::holds_alternative<FmBufBit>(site.where);
        if (key == "masked") continue;  // empty, checked above
        const auto it = first_effect.find(key);
        if (it == first_effect.end()) {
            first_effect.emplace(key, eff);
            continue;
        }
        ++n.shared;
        n.shared_idle_first += key.rfind("engine|adder+", 0) == 0;
        EXPECT_EQ(eff, it->second);
    }
    return n;
}
// A SIMD-32, 2-PE loopback engine (wider than c0's 27 columns and f1's 20)
// on the small network, with the golden traces of a few images.
struct WideEngine : CaseSetup {
    Lowering lowering;
    GoldenTraces golden;
    WideEngine(int w, int a, uint64_t model_seed, int images, unsigned image_seed)
        : CaseSetup(w, a, model_seed, 2, 32, Schedule::Interleaved, images, image_seed),
          lowering(engine, accel, fifo_geometry(*hw_model, engine.layers())),
          golden(engine, batch, 0, batch.count, 1) {}
};
}  // namespace

TEST(LoopbackLowering, StaticCollapseKeysAreExact) {
    for (const auto& [w, a] : {std::pair{1, 1}, std::pair{2, 2}}) {
        SCOPED_TRACE("W" + std::to_string(w) + "A" + std::to_string(a));
        const Topology topo = small_topology(w, a);
        const QnnModel m = random_model(topo, 11);
        AccelConfig accel = tight_loopback(topo, 3, 5, Schedule::Interleaved);
        accel.loopback.ifm_buffer_words *= 2;  // words no layer uses: masked
        accel.loopback.ofm_buffer_words *= 2;
        const Engine engine(m);
        const InputBatch batch = batch_of(topo, 2, 4);
        auto hw_model = hw::make_accelerator(m, accel);
        const Lowering lowering(engine, accel, fifo_geometry(*hw_model, engine.layers()));
        const GoldenTraces golden(engine, batch, 0, batch.count, 1);
        const auto sites = physical_faults(
            *hw_model, {SiteClass::WeightWord, SiteClass::Threshold, SiteClass::AdderNode, SiteClass::FmBuf}, 300, 3);
        const CollapseCounts n = check_static_keys(lowering, golden, batch.count, sites);
        EXPECT_GT(n.masked, 0);
        EXPECT_GT(n.masked_buffer, 0);
        EXPECT_GT(n.shared, 0);
        EXPECT_GT(n.changing, 0) << "no keyed fault changes anything";
    }
}

// An engine wider than a layer (SIMD 32 against c0's 27 columns and f1's 20):
// adder nodes idle in every fold of a layer hold 0 there, so their faults
// add force(0) to each tree sum whichever node they are in. Every adder site.
TEST(LoopbackLowering, IdleAdderNodesCollapseExactly) {
    for (const auto& [w, a] : {std::pair{1, 1}, std::pair{2, 2}}) {
        SCOPED_TRACE("W" + std::to_string(w) + "A" + std::to_string(a));
        const WideEngine x(w, a, 12, 2, 5);
        const auto sites = physical_faults(*x.hw_model, {SiteClass::AdderNode}, 1000000, 3);
        const CollapseCounts n = check_static_keys(x.lowering, x.golden, x.batch.count, sites);
        EXPECT_GT(n.masked, 0);
        EXPECT_GT(n.shared_idle_first, 0);
        EXPECT_GT(n.changing, 0);
    }
}

// Faults sharing an after_first_key, lowered one after another through one
// memo per image, have exactly the effects each has lowered alone; and the
// memo answers some of them (a layer 0 output seen before).
TEST(LoopbackLowering, AfterFirstMemoMatchesLoweringAlone) {
    for (const auto& [w, a] : {std::pair{1, 1}, std::pair{2, 2}}) {
        SCOPED_TRACE("W" + std::to_string(w) + "A" + std::to_string(a));
        const WideEngine x(w, a, 13, 3, 6);
        const Lowering& lowering = x.lowering;
        const GoldenTraces& golden = x.golden;
        const InputBatch& batch = x.batch;
        const auto sites = physical_faults(
            *x.hw_model, {SiteClass::AdderNode, SiteClass::Acc, SiteClass::WeightWord, SiteClass::Threshold}, 1500, 5);
        std::map<std::string, std::vector<const FaultSite*>> groups;
        for (const FaultSite& site : sites) {
            const std::string key = lowering.after_first_key(site);
            if (!key.empty()) groups[key].push_back(&site);
        }
        ASSERT_GT(groups.size(), 1u);
        std::vector<Lowering::AfterFirstMemo> memos(size_t(batch.count));
        Lowering::Scratch with, alone;
        LoweredEffect e, f;
        int64_t hits = 0, compared = 0;
        for (const auto& [key, members] : groups) {
            for (auto& memo : memos) memo.clear();
            for (const FaultSite* site : members) {
                SCOPED_TRACE(fault_site_name(*site));
                for (int i = 0; i < batch.count; ++i) {
                    with.after_first = &memos[size_t(i)];
                    lowering.lower(*site, i, golden.image(i), with, e);
                    lowering.lower(*site, i, golden.image(i), alone, f);
                    ASSERT_EQ(e.layer, f.layer);
                    ASSERT_EQ(e.scores, f.scores);
                    const auto same = [](const std::vector<CodeChange>& u, const std::vector<CodeChange>& v) {
                        return u.size() == v.size() && std::equal(u.begin(), u.end(), v.begin(), [](auto& p, auto& q) {
                                   return p.idx == q.idx && p.old_code == q.old_code && p.new_code == q.new_code;
                               });
                    };
                    EXPECT_TRUE(same(e.changes, f.changes));
                    ASSERT_EQ(e.later.size(), f.later.size());
                    for (size_t k = 0; k < e.later.size(); ++k) EXPECT_TRUE(same(e.later[k], f.later[k]));
                    ASSERT_EQ(e.direct.size(), f.direct.size());
                    for (size_t k = 0; k < e.direct.size(); ++k) EXPECT_TRUE(same(e.direct[k], f.direct[k]));
                    ++compared;
                }
            }
        }
        for (const auto& memo : memos) hits += memo.hits;  // (clear() keeps the count)
        EXPECT_GT(hits, 0);
        EXPECT_LT(hits, compared);
        // An entry answers only the same layer 0 codes: one whose first change
        // names another code is passed over.
        bool tampered = false;
        for (const auto& [key, members] : groups) {
            Lowering::AfterFirstMemo memo;
            with.after_first = &memo;
            lowering.lower(*members[0], 0, golden.image(0), with, e);
            if (memo.entries.empty() || memo.entries[0].first.empty()) continue;
            memo.entries[0].first[0].new_code ^= 1;
            lowering.lower(*members[0], 0, golden.image(0), with, e);
            EXPECT_EQ(memo.hits, 0);
            tampered = true;
            break;
        }
        EXPECT_TRUE(tampered);
    }
}
