// The Verilated dataflow top of the 1/4-width CNV-W1A1 folding against the
// C++ DataflowModel: every push of every stream in the same cycle with the
// same word, the same class scores, with no fault and with a sample of
// faults of every class set at run time.
#include <gtest/gtest.h>

#include <random>

#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "rtl_accelerator.hpp"
#include "verify.hpp"

using namespace fatsim;
using namespace fatsim::rtl;

namespace {

struct Quarter {
    Topology topo;
    AccelConfig accel;
    QnnModel model;
    Quarter() {
        Topology t;
        accel = load_accel(std::string(FATSIM_SOURCE_DIR) + "/models/accel/cnv_w1a1_quarter.yaml", &t);
        topo = load_topology(accel.topology_path, 0.25);
        bind_folding(accel, topo);
        model = random_model(topo, 11);
    }
    std::vector<int8_t> images(int n, unsigned seed) const {
        std::mt19937 rng(seed);
        std::vector<int8_t> v(size_t(n) * topo.in_dim * topo.in_dim * topo.in_channels);
        for (auto& x : v) x = int8_t(int(rng() & 0xFF) - 128);
        return v;
    }
};

const Quarter& quarter() {
    static const Quarter q;
    return q;
}

TEST(RtlDataflow, CnvQuarterMatchesCppOnEveryStreamAndTheGoldenEngine) {
    const Quarter& q = quarter();
    auto rtl = make_rtl_accelerator(q.model, q.accel);
    const auto imgs = q.images(2, 1);
    const VerifyResult r = verify_rtl(*rtl, q.model, q.accel, imgs.data(), 2, {});
    EXPECT_FALSE(r.first) << "first mismatch on " << r.first->name << " beat " << r.first->beat;
    EXPECT_EQ(r.cycles_rtl, r.cycles_cpp);
    EXPECT_EQ(r.same_scores, 2);
    EXPECT_GT(r.beats, 10000u);
    EXPECT_TRUE(r.agree());
    const Engine engine(q.model);
    auto ws = engine.make_workspace();
    for (int i = 0; i < 2; ++i) {
        Trace tr;
        engine.classify(*ws, imgs.data() + i * engine.input_size(), {}, &tr);
        EXPECT_EQ(rtl->scores(i), tr.layers.back().acc) << "image " << i;
    }
}

TEST(RtlDataflow, FaultsOfEveryClassMatchCppBeatForBeat) {
    const Quarter& q = quarter();
    auto rtl = make_rtl_accelerator(q.model, q.accel);
    const auto imgs = q.images(1, 2);
    std::vector<std::vector<SiteLocation>> by_class(kSiteClasses);
    rtl->for_each_fault_site([&](const SiteLocation& s) { by_class[size_t(site_class(s))].push_back(s); });
    const VerifyResult clean = verify_rtl(*rtl, q.model, q.accel, imgs.data(), 1, {});
    std::mt19937_64 rng(3);
    int changed = 0, runs = 0;
    for (int cls = 0; cls < kSiteClasses; ++cls) {
        if (SiteClass(cls) == SiteClass::FmBuf) continue;  // loopback's feature-map buffers: no dataflow site
        ASSERT_FALSE(by_class[size_t(cls)].empty()) << site_class_name(SiteClass(cls));
        for (int k = 0; k < 3; ++k) {
            const auto& sites = by_class[size_t(cls)];
            const FaultSite site{sites[rng() % sites.size()], FaultKind(k), int64_t(rng() % 20000)};
            SCOPED_TRACE(fault_site_name(site));
            const VerifyResult r = verify_rtl(*rtl, q.model, q.accel, imgs.data(), 1, {site});
            EXPECT_TRUE(r.agree()) << (r.first ? r.first->name + " beat " + std::to_string(r.first->beat) : "");
            ++runs;
            changed += r.rtl != clean.rtl;
        }
    }
    EXPECT_EQ(runs, 3 * (kSiteClasses - 1));  // every class but fmbuf
    EXPECT_GE(changed, 3) << "the faults must change some stream";
}

TEST(RtlDataflow, OneFaultAtATimeAndUnknownFoldingsAreRefusedByName) {
    const Quarter& q = quarter();
    auto rtl = make_rtl_accelerator(q.model, q.accel);
    rtl->arm_fault("conv1.pe[0].acc.bit[1]:sa1");
    EXPECT_THROW(rtl->arm_fault("conv1.pe[0].acc.bit[2]:sa1"), FaultSiteError);
    EXPECT_THROW(rtl->arm_fault("nosuch.pe[0].acc.bit[2]:sa1"), FaultSiteError);
    AccelConfig other = q.accel;
    other.layers[1].pe = 4;
    try {
        make_rtl_accelerator(q.model, other);
        FAIL() << "a folding without an RTL build was accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("df_cnv_w1a1_quarter"), std::string::npos) << e.what();
    }
}

}  // namespace
