// The datapath written once (sim/core/datapath.hpp): layer geometry against
// widths worked out by hand, and the folding map's round trips.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "config.hpp"
#include "datapath.hpp"
#include "prepared_layer.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using fatsim::testing::small_topology;

namespace {

// small_topology: c0 (3x3 over 3 channels, MW 27, 8 channels), c1 (3x3 over
// 8, MW 72, 70 channels), c2 (2x2 over 70), f0 (20), f1 (10, classifier).

TEST(LayerGeometry, XnorLayerCountsMatches) {
    const LayerGeometry g = layer_geometry(small_topology(1, 1), 1);
    EXPECT_TRUE(g.xnor);
    EXPECT_EQ(g.mw, 72);
    EXPECT_EQ(g.mh, 70);
    EXPECT_TRUE(g.in_bipolar);
    EXPECT_EQ(g.in_max, 1);
    EXPECT_EQ(g.acc_bound, 72);  // matches in [0, MW]
    EXPECT_EQ(g.acc_bits, 7);    // 64 <= 72 < 128
    EXPECT_FALSE(g.acc_signed);
    EXPECT_EQ(g.thr_bits, 8);
    EXPECT_EQ(g.thresholds, 1);
    EXPECT_EQ(g.out_bits, 1);
    EXPECT_FALSE(g.out_signed);
    EXPECT_EQ(g.input_value(0), -1);
    EXPECT_EQ(g.input_value(1), 1);
    EXPECT_EQ(g.acc_delta_divisor(), 2);
}

TEST(LayerGeometry, EightBitInputLayer) {
    const LayerGeometry g = layer_geometry(small_topology(1, 1), 0);
    EXPECT_FALSE(g.xnor);  // 1-bit weights, but the input is 8-bit fixed point
    EXPECT_EQ(g.in_bits, 8);
    EXPECT_TRUE(g.in_signed);
    EXPECT_EQ(g.in_max, 128);
    EXPECT_EQ(g.acc_bound, 27 * 1 * 128);  // 3456
    EXPECT_EQ(g.acc_bits, 13);             // 12 magnitude bits (2048 <= 3456 < 4096) + sign
    EXPECT_TRUE(g.acc_signed);
    EXPECT_EQ(g.thr_bits, 14);
    EXPECT_EQ(g.input_value(-5), -5);
    EXPECT_EQ(g.acc_delta_divisor(), 1);
}

TEST(LayerGeometry, W2A2ReadsSignedCodes) {
    const LayerGeometry g = layer_geometry(small_topology(2, 2), 1);
    EXPECT_FALSE(g.xnor);
    EXPECT_EQ(g.weight_bits, 2);
    EXPECT_EQ(g.in_bits, 2);
    EXPECT_TRUE(g.in_signed);
    EXPECT_EQ(g.in_max, 2);                // a 2-bit signed field holds -2
    EXPECT_EQ(g.acc_bound, 72 * 1 * 2);    // 144
    EXPECT_EQ(g.acc_bits, 9);              // 128 <= 144 < 256, + sign
    EXPECT_EQ(g.thresholds, 2);            // codes -1, 0, 1
    EXPECT_EQ(g.act.lo, -1);
    EXPECT_EQ(g.out_bits, 2);
    EXPECT_TRUE(g.out_signed);
}

TEST(LayerGeometry, W1A4ReadsUnsignedLevels) {
    const LayerGeometry g = layer_geometry(small_topology(1, 4), 1);
    EXPECT_FALSE(g.xnor);
    EXPECT_EQ(g.in_bits, 4);
    EXPECT_FALSE(g.in_signed);
    EXPECT_EQ(g.in_max, 15);
    EXPECT_EQ(g.acc_bound, 72 * 1 * 15);  // 1080
    EXPECT_EQ(g.acc_bits, 12);            // 1024 <= 1080 < 2048, + sign
    EXPECT_EQ(g.thr_bits, 13);
    EXPECT_EQ(g.thresholds, 15);
    EXPECT_EQ(g.out_bits, 4);
    EXPECT_FALSE(g.out_signed);
    // Threshold compare: code = lo + #{t <= acc}.
    int32_t thr[15];
    for (int t = 0; t < 15; ++t) thr[t] = 10 * t;
    EXPECT_EQ(g.threshold(-1, thr), 0);
    EXPECT_EQ(g.threshold(0, thr), 1);
    EXPECT_EQ(g.threshold(25, thr), 3);
    EXPECT_EQ(g.threshold(140, thr), 15);
}

TEST(LayerGeometry, ClassifierScoresAre16Or32Bits) {
    const LayerGeometry g16 = layer_geometry(small_topology(1, 1), 4);
    EXPECT_FALSE(g16.has_act);
    EXPECT_EQ(g16.thresholds, 0);
    EXPECT_EQ(g16.acc_bound, 20);
    EXPECT_EQ(g16.out_bits, 16);
    EXPECT_TRUE(g16.out_signed);
    // 4-bit weights on 4-bit activations: 400 * 7 * 15 = 42000 > 32767.
    const Topology wide = parse_topology(
        "name: wide\ninput: {channels: 3, dim: 4, bits: 8}\nweight_bits: 4\nact_bits: 4\nlayers:\n"
        "  - {name: c0, type: conv, channels: 40}\n"
        "  - {name: f0, type: fc, channels: 400}\n"
        "  - {name: f1, type: fc, channels: 10, act_bits: 0}\n",
        "wide.yaml");
    const LayerGeometry f0 = layer_geometry(wide, 1);
    EXPECT_EQ(f0.mw, 2 * 2 * 40);  // flattened 2x2x40 map
    EXPECT_EQ(f0.acc_bound, 160 * 7 * 15);
    const LayerGeometry g32 = layer_geometry(wide, 2);
    EXPECT_EQ(g32.acc_bound, 42000);
    EXPECT_EQ(g32.acc_bits, 17);  // 32768 <= 42000 < 65536, + sign
    EXPECT_EQ(g32.out_bits, 32);
}

TEST(PreparedLayer, AccumulatorDeltaFollowsTheGeometry) {
    const Topology t11 = small_topology(1, 1), t24 = small_topology(2, 4);
    const QnnModel m11 = random_model(t11, 1), m24 = random_model(t24, 1);
    const PreparedLayer x = prepare_layer(t11, 1, m11.layers[1]);
    EXPECT_EQ(x.acc_delta(0, 1), 1);  // -1 -> +1 moves the popcount by one match
    EXPECT_EQ(x.acc_delta(1, 0), -1);
    const PreparedLayer a4 = prepare_layer(t24, 1, m24.layers[1]);
    EXPECT_EQ(a4.acc_delta(3, 11), 8);
    EXPECT_EQ(a4.mhp % 16, 0);
    EXPECT_GE(a4.mhp, a4.MH);
    // Weight columns hold the model's weights, transposed.
    for (int r = 0; r < a4.MH; r += 7)
        for (int k = 0; k < a4.MW; k += 5) EXPECT_EQ(a4.wT[size_t(k) * a4.mhp + r], m24.weight(1, r, k));
}

void expect_round_trips(const FoldingMap& m) {
    std::set<int> seen;
    for (int p = 0; p < m.pe; ++p)
        for (int f = 0; f < m.nf; ++f) {
            const int r = m.row_of(p, f);
            EXPECT_EQ(m.pe_of(r), p);
            EXPECT_EQ(m.fold_of(r), f);
            seen.insert(r);
        }
    EXPECT_EQ(int(seen.size()), m.rows);  // every row computed exactly once
    EXPECT_EQ(*seen.rbegin(), m.rows - 1);
    for (int r = 0; r < m.rows; ++r) EXPECT_EQ(m.row_of(m.pe_of(r), m.fold_of(r)), r);
    const std::vector<int> perm = m.stream_perm();
    for (int f = 0; f < m.nf; ++f)
        for (int p = 0; p < m.pe; ++p) EXPECT_EQ(perm[size_t(f) * m.pe + p], m.row_of(p, f));
    for (int p = 0; p < m.pe; ++p) {
        const std::vector<int> rows = m.rows_of_pe(p);
        ASSERT_EQ(int(rows.size()), m.nf);
        for (int f = 0; f < m.nf; ++f) EXPECT_EQ(rows[size_t(f)], m.row_of(p, f));
    }
    std::set<int> words;
    for (int f = 0; f < m.nf; ++f)
        for (int s = 0; s < m.sf; ++s) words.insert(m.weight_word(f, s));
    EXPECT_EQ(int(words.size()), m.weight_words());
    EXPECT_EQ(*words.rbegin(), m.weight_words() - 1);
}

TEST(FoldingMap, InterleavedSchedule) {
    const FoldingMap m(8, 12, 4, 3);
    EXPECT_EQ(m.nf, 2);
    EXPECT_EQ(m.sf, 4);
    EXPECT_EQ(m.row_of(1, 1), 5);  // channel c on PE c mod PE, fold c / PE
    EXPECT_EQ(m.pe_of(6), 2);
    EXPECT_EQ(m.fold_of(6), 1);
    EXPECT_EQ(m.stream_perm(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(m.weight_word(1, 2), 6);
    EXPECT_EQ(m.threshold_word(1, 2, 3), 5);
    expect_round_trips(m);
}

TEST(FoldingMap, BlockedSchedule) {
    const FoldingMap m(8, 12, 4, 3, 0, Schedule::Blocked);
    EXPECT_EQ(m.row_of(1, 1), 3);  // PE p computes p*NF .. p*NF+NF-1
    EXPECT_EQ(m.pe_of(6), 3);
    EXPECT_EQ(m.fold_of(6), 0);
    EXPECT_EQ(m.stream_perm(), (std::vector<int>{0, 2, 4, 6, 1, 3, 5, 7}));
    EXPECT_EQ(m.rows_of_pe(2), (std::vector<int>{4, 5}));
    expect_round_trips(m);
}

TEST(FoldingMap, PaddedRowsAndBadFolding) {
    const FoldingMap m(10, 4, 4, 1, 12);  // 10 classes padded to 12 rows
    EXPECT_EQ(m.nf, 3);
    EXPECT_GE(m.row_of(3, 2), m.mh);  // a padding row
    expect_round_trips(m);
    expect_round_trips(FoldingMap(10, 4, 4, 1, 12, Schedule::Blocked));
    EXPECT_THROW(FoldingMap(8, 12, 3, 1), std::invalid_argument);  // PE does not divide MH
    EXPECT_THROW(FoldingMap(8, 12, 4, 5), std::invalid_argument);  // SIMD does not divide MW
}

TEST(FoldingMap, StreamColumnMapFollowsTheProducerOrder) {
    // A 2-pixel window over 4 channels that arrive in order 0, 2, 1, 3.
    EXPECT_EQ(stream_column_map(8, {0, 2, 1, 3}), (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));
    const FoldingMap producer(4, 4, 2, 1, 0, Schedule::Blocked);
    EXPECT_EQ(stream_column_map(8, producer.stream_perm()), (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));
}

}  // namespace
