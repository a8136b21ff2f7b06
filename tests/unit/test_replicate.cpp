// Selective channel replication: ranking, worst-case error curve, costs.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "config.hpp"
#include "replicate.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;

namespace {

Topology two_layers() {
    return parse_topology(
        "name: t\ninput: {channels: 1, dim: 6, bits: 8}\nlayers:\n"
        "  - {name: c0, type: conv, channels: 4}\n"       // 4x4 out, MW 9
        "  - {name: f0, type: fc, channels: 3, act_bits: 0}\n",  // MW 64
        "t.yaml");
}

TEST(Replicate, CriticalChannelsFirstAndErrorFallsToErrorFree) {
    const Topology t = two_layers();
    std::vector<ChannelCriticality> ch = {{0, 0, 80}, {0, 1, 40}, {0, 2, 85}, {0, 3, 60}};
    const auto curve = replication_tradeoff(t, nullptr, 90.0, ch);
    ASSERT_EQ(curve.size(), 5u);
    EXPECT_DOUBLE_EQ(curve[0].worst_error, 60.0);  // channel 1 at 40 %
    EXPECT_EQ(curve[1].added, "c0:1");
    EXPECT_DOUBLE_EQ(curve[1].worst_error, 40.0);  // next: channel 3 at 60 %
    EXPECT_EQ(curve[2].added, "c0:3");
    EXPECT_DOUBLE_EQ(curve[3].worst_error, 15.0);
    EXPECT_DOUBLE_EQ(curve[4].worst_error, 10.0);  // all protected: error-free
    EXPECT_DOUBLE_EQ(curve[2].worst_error, 20.0);
    EXPECT_EQ(channels_needed(curve, 20.0), 2);
    EXPECT_EQ(channels_needed(curve, 19.0), 3);
    EXPECT_EQ(channels_needed(curve, 5.0), -1);
    // Unrolled cost: 4 channels x 16 outputs x 9 MACs + 3 x 64 = 768 MACs; a
    // channel of c0 adds 2 x 144 MACs + 16 voters.
    EXPECT_DOUBLE_EQ(curve[0].cost_unrolled, 1.0);
    EXPECT_DOUBLE_EQ(curve[1].cost_unrolled, (768.0 + 304.0) / 768.0);
    EXPECT_DOUBLE_EQ(curve[4].cost_unrolled, (768.0 + 4 * 304.0) / 768.0);
}

TEST(Replicate, FoldedCostKeepsNFAndNeedsThreeDistinctPEs) {
    const Topology t = two_layers();
    AccelConfig a;
    a.layers = {LayerFolding{}, LayerFolding{}};
    a.layers[0].name = "c0"; a.layers[0].pe = 2; a.layers[0].simd = 3; a.layers[0].mh = 4;   // NF 2
    a.layers[1].name = "f0"; a.layers[1].pe = 1; a.layers[1].simd = 8; a.layers[1].mh = 3;
    const double base = 2 * 3 + 1 * 8;
    std::vector<ChannelCriticality> ch = {{0, 0, 10}, {0, 1, 20}};
    const auto curve = replication_tradeoff(t, &a, 90.0, ch);
    EXPECT_DOUBLE_EQ(curve[0].cost_folded, 1.0);
    // One triplicated channel: 6 rows at NF 2 need 3 PEs.
    EXPECT_DOUBLE_EQ(curve[1].cost_folded, (3 * 3 + 8) / base);
    // Two: 8 rows at NF 2 need 4 PEs.
    EXPECT_DOUBLE_EQ(curve[2].cost_folded, (4 * 3 + 8) / base);
}

TEST(Replicate, ReadsWorstValuePerChannelAndRejectsBadRows) {
    const Topology t = two_layers();
    const std::string p =
        (std::filesystem::temp_directory_path() / ("fatsim_rep_" + std::to_string(::getpid()) + ".csv")).string();
    {
        std::ofstream f(p);
        f << "layer,channel,value,accuracy,changed\nc0,0,0,70.5,3\nc0,0,1,50.25,9\nc0,2,1,88,1\n";
    }
    auto ch = read_channel_criticality(p, t);
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch[0].channel, 0);
    EXPECT_DOUBLE_EQ(ch[0].worst_accuracy, 50.25);
    {
        std::ofstream f(p);
        f << "layer,channel,value,accuracy,changed\nc0,9,0,70.5,3\n";
    }
    try {
        read_channel_criticality(p, t);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(": line 2: channel 9 out of range for c0"), std::string::npos) << e.what();
    }
    {
        std::ofstream f(p);
        f << "layer,pixel,value,accuracy\n";
    }
    EXPECT_THROW(read_channel_criticality(p, t), std::runtime_error);
    std::remove(p.c_str());
}

}  // namespace

// Selective PE replication under physical faults: a PE's criticality is the
// least accuracy among its faults; FIFO faults are in no PE and stay.
TEST(Replicate, PeReplicationMasksEveryFaultOfTheTriplicatedPe) {
    const Topology t = two_layers();
    AccelConfig a;
    a.source = "a.yaml";
    a.layers = {LayerFolding{}, LayerFolding{}};
    a.layers[0].name = "c0"; a.layers[0].pe = 2; a.layers[0].simd = 3; a.layers[0].mh = 4;
    a.layers[1].name = "f0"; a.layers[1].pe = 1; a.layers[1].simd = 8; a.layers[1].mh = 3;
    const double lanes = 2 * 3 + 1 * 8;
    const std::vector<SiteAccuracy> rows = {
        {"c0.pe[1].acc.bit[3]:sa1", 70}, {"c0.pe[1].cmp[0]:sa0", 30}, {"c0.wmem.pe[0].word[2].bit[1]:sa1", 88},
        {"f0.pe[0].thr[1].bit[0]:sa0", 50}, {"fifo[1].slot[0].bit[2]:sa1", 75}};
    const PhysicalCriticality c = pe_criticality(rows, a, t);
    ASSERT_EQ(c.pes.size(), 3u);
    EXPECT_EQ(c.outside_faults, 1);
    EXPECT_DOUBLE_EQ(c.outside_worst, 75);
    EXPECT_DOUBLE_EQ(c.total_lanes, lanes);
    const auto curve = pe_replication_tradeoff(90.0, c);
    ASSERT_EQ(curve.size(), 4u);
    EXPECT_DOUBLE_EQ(curve[0].worst_error, 70.0);  // c0.pe[1]'s cmp fault at 30 %
    EXPECT_EQ(curve[1].added, "c0.pe[1]");          // both its faults masked at once
    EXPECT_DOUBLE_EQ(curve[1].worst_error, 50.0);   // f0.pe[0] at 50 %
    EXPECT_DOUBLE_EQ(curve[1].cost_folded, (lanes + 2 * 3) / lanes);
    EXPECT_EQ(curve[2].added, "f0.pe[0]");
    EXPECT_DOUBLE_EQ(curve[2].worst_error, 25.0);   // the FIFO fault (75 %) is left
    EXPECT_DOUBLE_EQ(curve[3].worst_error, 25.0);   // c0.pe[0] (88 %) does not lower it
    EXPECT_DOUBLE_EQ(curve[3].cost_folded, (lanes + 2 * 3 + 2 * 8 + 2 * 3) / lanes);
    EXPECT_EQ(channels_needed(curve, 25.0), 2);
    EXPECT_EQ(channels_needed(curve, 20.0), -1);   // no PE masks a FIFO fault
    // A site naming a PE the accelerator lacks is an error naming it.
    try {
        pe_criticality({{"c0.pe[2].acc.bit[0]:sa0", 10}}, a, t);
        FAIL() << "expected an error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("site c0.pe[2].acc.bit[0]:sa0: no c0.pe[2] in a.yaml"), std::string::npos)
            << e.what();
    }
}

TEST(Replicate, ReadsSiteAccuracyAndRejectsBadRows) {
    const std::string p = (std::filesystem::temp_directory_path() / ("pe_rows_" + std::to_string(getpid()) + ".csv")).string();
    {
        std::ofstream f(p);
        f << "site,class,accuracy,changed\nc0.pe[0].acc.bit[1]:sa0,acc,42.5000,3\n";
    }
    const auto rows = read_site_accuracy(p);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].site, "c0.pe[0].acc.bit[1]:sa0");
    EXPECT_DOUBLE_EQ(rows[0].accuracy, 42.5);
    {
        std::ofstream f(p);
        f << "site,class,accuracy,changed\nc0.pe[0].acc.bit[1]:sa0,acc,4x,3\n";
    }
    try {
        read_site_accuracy(p);
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(p + ": line 2: accuracy '4x' is not a percentage"), std::string::npos) << e.what();
    }
    std::remove(p.c_str());
}
