// Each hardware unit of sim/hw against the golden engine or a tiny reference:
// PE array + layer program, sliding window generator, width converter, max
// pool, FIFO stream; the fault-site grammar (sim/core/fault_site) and several
// faults armed at once; the accelerator's list of fault sites.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "dataflow.hpp"
#include "engine.hpp"
#include "fault_site.hpp"
#include "hw_test_util.hpp"
#include "pe_array.hpp"
#include "small_nets.hpp"
#include "units.hpp"

using namespace fatsim;
using namespace fatsim::hw;
using namespace fatsim::hw_testing;
using fatsim::testing::small_topology;

namespace {

// ------------------------------------------------------------ harness
// Ticks one unit against a test source and sink: per cycle the sink pops
// first, then the unit ticks, then the source pushes, then both streams commit
// (the dataflow model's order).
template <class TickFn>
std::vector<std::vector<uint64_t>> drive(Stream& in, Stream& out, const std::vector<std::vector<uint64_t>>& words,
                                         size_t expect_out, TickFn tick_unit, int64_t max_cycles = 1000000) {
    std::vector<std::vector<uint64_t>> got;
    size_t next = 0;
    for (int64_t c = 0; c < max_cycles && got.size() < expect_out; ++c) {
        if (out.can_pop()) {
            got.emplace_back(out.front(), out.front() + out.limbs());
            out.pop();
        }
        tick_unit();
        if (next < words.size() && in.can_push()) in.push_word(words[next++].data());
        in.commit();
        out.commit();
    }
    return got;
}

std::vector<uint64_t> pack(const std::vector<int>& fields, int bits, int width) {
    std::vector<uint64_t> w(size_t(limbs_for(width)), 0);
    for (size_t k = 0; k < fields.size(); ++k) or_bits(w.data(), int(k) * bits, bits, to_field(fields[k], bits));
    return w;
}
int field(const std::vector<uint64_t>& w, int k, int bits, bool is_signed) {
    const uint64_t f = get_bits(w.data(), k * bits, bits);
    return is_signed ? int(sign_extend(f, bits)) : int(f);
}

// ------------------------------------------------------------ PE array
// Runs a dense layer's program on a PE array, feeding the golden engine's
// input vector, and returns [row] = (accumulator, output) per output channel.
struct RowResult {
    std::vector<int64_t> acc, out;
};
RowResult run_program(PeArray& array, const LayerProgram& p, const std::vector<int8_t>& codes) {
    const FoldingMap& f = p.fold;
    RowResult r;
    r.acc.assign(size_t(f.rows), 0);
    r.out.assign(size_t(f.rows), 0);
    std::vector<uint64_t> bits(size_t(p.word_limbs));
    std::vector<int16_t> values(size_t(f.simd));
    for (int nf = 0; nf < f.nf; ++nf)
        for (int sf = 0; sf < f.sf; ++sf) {
            PeInput x;
            std::fill(bits.begin(), bits.end(), 0);
            for (int e = 0; e < f.simd; ++e) {
                const int code = codes[size_t(sf) * f.simd + e];
                if (p.geom.xnor) bits[size_t(e >> 6)] |= uint64_t(code & 1) << (e & 63);
                else values[size_t(e)] = int16_t(p.geom.input_value(code));
            }
            if (p.geom.xnor) x.bits = bits.data();
            else x.values = values.data();
            array.accumulate(p, nf, sf, x);
            if (sf + 1 < f.sf) continue;
            for (int pe = 0; pe < f.pe; ++pe) {
                const int row = f.row_of(pe, nf);
                r.acc[size_t(row)] = array.accumulators()[size_t(pe)];
                r.out[size_t(row)] = array.output(p, pe, nf);
            }
        }
    return r;
}

LayerProgram dense_program(const Topology& topo, const QnnModel& m, int l, int pe, int simd, Schedule s) {
    const LayerSpec& spec = topo.layers[size_t(l)];
    std::vector<int> identity(size_t(spec.in_channels));
    for (size_t c = 0; c < identity.size(); ++c) identity[c] = int(c);
    return LayerProgram(spec.name, layer_geometry(topo, l), FoldingMap(spec.mh(), spec.mw(), pe, simd, 0, s), 1,
                        m.layers[size_t(l)], stream_column_map(spec.mw(), identity));
}

// One array runs f0 (PE 5 x SIMD 16) and then f1 (PE 2 x SIMD 4) in turn: every
// accumulator and output code equals the golden engine's, for XNOR and MAC
// layers under both schedules.
TEST(HwPeArray, RunsLayerProgramsInTurnLikeTheEngine) {
    for (int wa : {11, 12, 22}) {
        for (Schedule sched : {Schedule::Interleaved, Schedule::Blocked}) {
            SCOPED_TRACE("W" + std::to_string(wa / 10) + "A" + std::to_string(wa % 10) + " " + schedule_name(sched));
            const Topology topo = small_topology(wa / 10, wa % 10);
            const QnnModel m = random_model(topo, 5);
            const Engine engine(m);
            auto ws = engine.make_workspace();
            std::mt19937 rng(3);
            const auto img = fatsim::testing::random_input(topo, rng);
            Trace tr;
            engine.classify(*ws, img.data(), {}, &tr);
            const LayerProgram f0 = dense_program(topo, m, 3, 5, 16, sched);
            const LayerProgram f1 = dense_program(topo, m, 4, 2, 4, sched);
            EXPECT_EQ(f0.geom.xnor, wa == 11);
            PeArray array(5, 16);
            array.check_fits(f0);
            array.check_fits(f1);
            const RowResult r0 = run_program(array, f0, tr.layers[2].out);
            for (int row = 0; row < f0.geom.mh; ++row) {
                EXPECT_EQ(r0.acc[size_t(row)], tr.layers[3].acc[size_t(row)]) << "f0 row " << row;
                EXPECT_EQ(r0.out[size_t(row)], tr.layers[3].act[size_t(row)]) << "f0 row " << row;
            }
            std::vector<int8_t> f1_in(tr.layers[3].out.begin(), tr.layers[3].out.end());
            const RowResult r1 = run_program(array, f1, f1_in);
            for (int row = 0; row < f1.geom.mh; ++row)
                EXPECT_EQ(r1.out[size_t(row)], tr.layers[4].acc[size_t(row)]) << "f1 row " << row;
        }
    }
    PeArray small(1, 4);
    const Topology topo = small_topology(1, 1);
    EXPECT_THROW(small.check_fits(dense_program(topo, random_model(topo, 1), 3, 5, 16, Schedule::Interleaved)),
                 std::invalid_argument);
}

// A flip of a bipolar weight stored as -1 (a MAC layer with 1-bit weights)
// makes it +1: the accumulator moves by 2 * input.
TEST(HwPeArray, WeightFlipOnBipolarMacWeight) {
    const Topology topo = small_topology(1, 2);
    const QnnModel m = random_model(topo, 5);
    const LayerProgram p = dense_program(topo, m, 3, 5, 16, Schedule::Interleaved);
    ASSERT_FALSE(p.geom.xnor);
    ASSERT_EQ(p.geom.weight_bits, 1);
    int lane = -1;
    for (int e = 0; e < 16 && lane < 0; ++e)
        if (p.weight(0, 0, e) == -1) lane = e;
    ASSERT_GE(lane, 0);
    std::vector<int16_t> x(16, 1);
    PeArray array(5, 16);
    array.accumulate(p, 0, 0, PeInput{nullptr, x.data()});
    const std::vector<int32_t> golden = array.accumulators();
    int64_t clock = 0;
    const FaultSite s{WeightBit{"f0", 0, 0, lane}, FaultKind::Flip, 0};
    array.check_site(p, s);
    array.hook.arm(armed_fault(s), &clock);
    array.accumulate(p, 0, 0, PeInput{nullptr, x.data()});
    EXPECT_EQ(array.accumulators()[0], golden[0] + 2);
    for (int pe = 1; pe < 5; ++pe) EXPECT_EQ(array.accumulators()[size_t(pe)], golden[size_t(pe)]) << "PE " << pe;
    array.accumulate(p, 0, 0, PeInput{nullptr, x.data()});
    EXPECT_EQ(array.accumulators(), golden) << "a flip fires once";
}

// ------------------------------------------------------------ SWG
// Windows come out in the order oy, ox, ky, kx, channel fold, each word the
// channels of input pixel (oy+ky, ox+kx); busy cycles equal the FINN formula.
TEST(HwSwg, WindowOrderMatchesDirectIndexing) {
    const int D = 5, K = 3, C = 4, simd = 2, bits = 8, images = 2, mult = C / simd, O = D - K + 1;
    auto value = [&](int img, int y, int x, int c) { return ((img * D + y) * D + x) * C + c - 128; };
    Stream in("in", simd * bits, 2), out("out", simd * bits, 2);
    Swg swg("swg", D, K, C, simd, &in, &out, images);
    std::vector<std::vector<uint64_t>> words;
    for (int img = 0; img < images; ++img)
        for (int y = 0; y < D; ++y)
            for (int x = 0; x < D; ++x)
                for (int cf = 0; cf < mult; ++cf)
                    words.push_back(pack({value(img, y, x, cf * simd), value(img, y, x, cf * simd + 1)}, bits, simd * bits));
    const size_t n_out = size_t(images) * O * O * K * K * mult;
    const auto got = drive(in, out, words, n_out, [&] { swg.tick(); });
    ASSERT_EQ(got.size(), n_out);
    size_t k = 0;
    for (int img = 0; img < images; ++img)
        for (int oy = 0; oy < O; ++oy)
            for (int ox = 0; ox < O; ++ox)
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx)
                        for (int cf = 0; cf < mult; ++cf, ++k)
                            for (int e = 0; e < simd; ++e)
                                ASSERT_EQ(field(got[k], e, bits, true), value(img, oy + ky, ox + kx, cf * simd + e))
                                    << "word " << k;
    EXPECT_EQ(swg.stats.busy, uint64_t(images) * swg.expected_cycles_per_image());
}

// ------------------------------------------------------------ DWC
// The bit stream is preserved, least significant first, narrow -> wide,
// wide -> narrow and across 64-bit limbs.
TEST(HwDwc, BitStreamPreserved) {
    const int widths[][2] = {{12, 20}, {20, 12}, {96, 40}, {40, 96}, {8, 8}};
    std::mt19937_64 rng(9);
    for (const auto& w : widths) {
        SCOPED_TRACE(std::to_string(w[0]) + " -> " + std::to_string(w[1]));
        const int iw = w[0], ow = w[1];
        const int n_in = 3 * ow / std::gcd(iw, ow);  // n_in * iw is a multiple of ow
        Stream in("in", iw, 2), out("out", ow, 2);
        Dwc dwc("dwc", &in, &out);
        std::vector<std::vector<uint64_t>> words;
        std::vector<int> stream_bits;
        for (int k = 0; k < n_in; ++k) {
            std::vector<uint64_t> word(size_t(limbs_for(iw)), 0);
            for (int b = 0; b < iw; ++b) {
                const int bit = int(rng() & 1);
                stream_bits.push_back(bit);
                or_bits(word.data(), b, 1, uint64_t(bit));
            }
            words.push_back(word);
        }
        const size_t n_out = size_t(n_in) * iw / ow;
        const auto got = drive(in, out, words, n_out, [&] { dwc.tick(); });
        ASSERT_EQ(got.size(), n_out);
        for (size_t k = 0; k < n_out; ++k)
            for (int b = 0; b < ow; ++b)
                ASSERT_EQ(int(get_bits(got[k].data(), b, 1)), stream_bits[k * ow + b]) << "out word " << k << " bit " << b;
    }
}

// ------------------------------------------------------------ max pool
// Every output is the max of its pool window, per channel: signed 2-bit codes,
// unsigned 3-bit codes and binary codes (OR).
TEST(HwMaxPool, EqualsDirectMax) {
    struct Case {
        int D, P, C, bits;
        bool is_signed;
    };
    const Case cases[] = {{4, 2, 3, 2, true}, {6, 2, 5, 3, false}, {6, 3, 70, 1, false}};
    std::mt19937 rng(4);
    for (const Case& c : cases) {
        SCOPED_TRACE("D" + std::to_string(c.D) + " P" + std::to_string(c.P) + " bits " + std::to_string(c.bits));
        const int images = 2, Q = c.D / c.P, lo = c.is_signed ? -(1 << (c.bits - 1)) : 0, levels = 1 << c.bits;
        Stream in("in", c.C * c.bits, 2), out("out", c.C * c.bits, 2);
        MaxPool pool("pool", c.D, c.P, c.C, c.bits, c.is_signed, &in, &out, images);
        std::vector<int> px(size_t(images) * c.D * c.D * c.C);
        for (int& v : px) v = lo + int(rng() % unsigned(levels));
        std::vector<std::vector<uint64_t>> words;
        for (size_t p = 0; p < px.size(); p += size_t(c.C))
            words.push_back(pack(std::vector<int>(px.begin() + long(p), px.begin() + long(p) + c.C), c.bits, c.C * c.bits));
        const size_t n_out = size_t(images) * Q * Q;
        const auto got = drive(in, out, words, n_out, [&] { pool.tick(); });
        ASSERT_EQ(got.size(), n_out);
        for (int img = 0; img < images; ++img)
            for (int qy = 0; qy < Q; ++qy)
                for (int qx = 0; qx < Q; ++qx)
                    for (int ch = 0; ch < c.C; ++ch) {
                        int m = lo;
                        for (int dy = 0; dy < c.P; ++dy)
                            for (int dx = 0; dx < c.P; ++dx)
                                m = std::max(m, px[((size_t(img) * c.D + qy * c.P + dy) * c.D + qx * c.P + dx) * c.C + ch]);
                        ASSERT_EQ(field(got[(size_t(img) * Q + qy) * Q + qx], ch, c.bits, c.is_signed), m)
                            << "image " << img << " (" << qy << "," << qx << ") channel " << ch;
                    }
    }
}

// ------------------------------------------------------------ FIFO
// Order kept; a full FIFO refuses pushes (back-pressure); a word is visible
// one cycle after its push; a same-cycle pop frees a slot for a push.
TEST(HwStream, OrderBackPressureAndDepth) {
    Stream s("fifo", 70, 3);  // two limbs per word
    auto word = [](uint64_t v) { return std::vector<uint64_t>{v, v ^ 0x3F}; };
    for (uint64_t v = 1; v <= 3; ++v) {
        ASSERT_TRUE(s.can_push());
        s.push_word(word(v).data());
    }
    EXPECT_FALSE(s.can_push()) << "depth 3 holds 3 words";
    EXPECT_FALSE(s.can_pop()) << "valid is registered: nothing visible before commit";
    s.commit();
    EXPECT_EQ(s.occupancy(), 3);
    EXPECT_EQ(s.peak(), 3);
    ASSERT_TRUE(s.can_pop());
    EXPECT_EQ(std::vector<uint64_t>(s.front(), s.front() + 2), word(1));
    s.pop();
    EXPECT_TRUE(s.can_push()) << "a pop frees space for a push in the same cycle";
    s.push_word(word(4).data());
    EXPECT_FALSE(s.can_push());
    for (uint64_t v = 2; v <= 3; ++v) {
        ASSERT_TRUE(s.can_pop());
        EXPECT_EQ(std::vector<uint64_t>(s.front(), s.front() + 2), word(v));
        s.pop();
    }
    EXPECT_FALSE(s.can_pop()) << "word 4 was pushed this cycle";
    s.commit();
    ASSERT_TRUE(s.can_pop());
    EXPECT_EQ(std::vector<uint64_t>(s.front(), s.front() + 2), word(4));
    s.pop();
    EXPECT_EQ(s.transfers(), 4u);
    EXPECT_EQ(s.occupancy(), 0);
}

// ------------------------------------------------------------ fault grammar
TEST(FaultSiteGrammar, RoundTripEveryClass) {
    struct Case {
        const char* name;
        SiteClass cls;
        std::vector<int> fields;  // in the printed order
    };
    const Case cases[] = {
        {"conv1.pe[3].acc.bit[7]:sa1", SiteClass::Acc, {3, 7}},
        {"conv1.pe[3].adder.l2.n1.bit[3]:sa1", SiteClass::AdderNode, {3, 2, 1, 3}},
        {"conv1.wmem.pe[3].word[17].bit[2]:sa0", SiteClass::WeightWord, {3, 17, 2}},
        {"conv1.pe[3].thr[1].bit[4]:sa0", SiteClass::Threshold, {3, 1, 4}},
        {"conv1.pe[3].cmp[1]:sa1", SiteClass::Comparator, {3, 1}},
        {"fifo[2].slot[5].bit[0]:sa1", SiteClass::FifoSlot, {2, 5, 0}},
        {"fc_2.pe[0].acc.bit[0]:flip@123456789012", SiteClass::Acc, {0, 0}},
        {"engine.fmbuf[1].word[9].bit[3]:sa1", SiteClass::FmBuf, {1, 9, 3}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const FaultSite s = parse_fault_site(c.name);
        EXPECT_EQ(site_class(s.where), c.cls);
        EXPECT_EQ(fault_site_name(s), c.name);
        EXPECT_EQ(site_layer(s.where), c.cls == SiteClass::FifoSlot ? "" : std::string(c.name).substr(0, std::string(c.name).find('.')));
        std::vector<int> got;
        std::visit(
            [&](const auto& w) {
                using T = std::decay_t<decltype(w)>;
                if constexpr (std::is_same_v<T, AccBit>) got = {w.pe, w.bit};
                else if constexpr (std::is_same_v<T, AdderNodeBit>) got = {w.pe, w.level, w.node, w.bit};
                else if constexpr (std::is_same_v<T, WeightBit>) got = {w.pe, w.word, w.bit};
                else if constexpr (std::is_same_v<T, ThresholdBit>) got = {w.pe, w.word, w.bit};
                else if constexpr (std::is_same_v<T, Comparator>) got = {w.pe, w.index};
                else if constexpr (std::is_same_v<T, FifoBit>)
                    got = {w.fifo, w.slot, w.bit};
                else
                    got = {w.buffer, w.word, w.bit};
            },
            s.where);
        EXPECT_EQ(got, c.fields);
    }
    const FaultSite f = parse_fault_site("c0.pe[1].acc.bit[5]:flip@100");
    EXPECT_EQ(f.kind, FaultKind::Flip);
    EXPECT_EQ(f.cycle, 100);
    EXPECT_EQ(parse_fault_site("c0.pe[1].acc.bit[5]:sa0").kind, FaultKind::StuckAt0);
}

// Every malformed name is a FaultSiteError (never a bare std::stoi error)
// whose message names the rule it breaks.
TEST(FaultSiteGrammar, MalformedNamesNameTheRule) {
    const std::pair<const char*, const char*> cases[] = {
        {"conv1.pe[3].acc.bit[7]:flip@abc", "must be sa0, sa1 or flip@CYCLE"},
        {"conv1.pe[3].acc.bit[7]:flip@", "must be sa0, sa1 or flip@CYCLE"},
        {"conv1.pe[3].acc.bit[7]:flip@-5", "must be sa0, sa1 or flip@CYCLE"},
        {"conv1.pe[3].acc.bit[7]:sa2", "kind 'sa2' must be"},
        {"conv1.pe[3].acc.bit[7]", "missing ':KIND'"},
        {"", "missing ':KIND'"},
        {"conv1.pe[3].acc.bit[99999999999]:sa1", "bit 99999999999 out of range (0..2147483647)"},
        {"conv1.pe[2147483648].acc.bit[1]:sa1", "pe 2147483648 out of range"},
        {"fifo[99999999999].slot[0].bit[0]:sa1", "fifo 99999999999 out of range"},
        {"conv1.pe[3].acc.bit[7]:flip@99999999999999999999", "flip cycle 99999999999999999999 out of range"},
        {"conv-1.pe[3].acc.bit[7]:sa1", "layer name 'conv-1' must be"},
        {".pe[3].acc.bit[7]:sa1", "layer name '' must be"},
        {"conv1.pe[3].acc.bit[-7]:sa1", "does not match LAYER.pe[PE].acc.bit[BIT]"},
        {"conv1.pe[x].acc.bit[7]:sa1", "does not match"},
        {"conv1.pe[3].acc:sa1", "does not match"},
        {"conv1:sa1", "does not match"},
        {"fifo[2].slot[5]:sa1", "does not match"},
        {"conv1.pe[3].adder.l.n1.bit[3]:sa1", "LAYER.pe[PE].adder.lLEVEL.nNODE.bit[BIT]"},
        {"conv1.pe[3].cmp[1].bit[0]:sa1", "LAYER.pe[PE].cmp[INDEX]"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.first);
        try {
            parse_fault_site(c.first);
            ADD_FAILURE() << "accepted";
        } catch (const FaultSiteError& e) {
            EXPECT_NE(std::string(e.what()).find(c.second), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(std::string("'") + c.first + "'"), std::string::npos)
                << "the message quotes the name: " << e.what();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a FaultSiteError: " << e.what();
        }
    }
}

// ------------------------------------------------------------ accelerator faults
// Two accumulator faults on different PEs of c1, armed at once: each PE's
// channels equal that fault's single-fault run, every other channel is golden.
TEST(HwFaults, TwoFaultsArmedAtOnce) {
    const Topology topo = small_topology(1, 1);
    const QnnModel m = random_model(topo, 9);
    DataflowOptions opt;
    opt.capture = true;
    DataflowModel hw(m, make_accel(topo, kFoldings[2]), opt);  // c1: PE 7
    const auto images = random_images(topo, 1, 21);
    hw.load_images(images.data(), 1);
    auto run_with = [&](const FaultSet& faults) {
        hw.disarm_faults();
        hw.arm_faults(faults);
        hw.reset();
        hw.run();
        return hw.captured_mvtu(1, 0);
    };
    const FaultSite a = parse_fault_site("c1.pe[0].acc.bit[6]:sa1"), b = parse_fault_site("c1.pe[3].acc.bit[5]:sa0");
    const auto golden = run_with({}), only_a = run_with({a}), only_b = run_with({b}), both = run_with({a, b});
    ASSERT_NE(only_a, golden);
    ASSERT_NE(only_b, golden);
    for (size_t i = 0; i < both.size(); ++i) {
        const int pe = int(i % 70) % 7;
        const auto& expect = pe == 0 ? only_a : pe == 3 ? only_b : golden;
        ASSERT_EQ(both[i], expect[i]) << "element " << i << " (PE " << pe << ")";
    }
    // A FIFO fault and an MVTU fault together: both are armed (the MVTU one
    // still changes c1 exactly as alone).
    const FaultSite fifo = parse_fault_site("fifo[4].slot[0].bit[0]:sa1");
    EXPECT_EQ(run_with({a, fifo}), only_a);
}

// The accelerator lists every fault site: the per-class counts equal the
// enumeration, each enumerated site arms (sampled), and one past the end does not.
TEST(HwFaults, EnumeratesEveryFaultSite) {
    const Topology topo = small_topology(2, 2);
    const QnnModel m = random_model(topo, 4);
    DataflowModel hw(m, make_accel(topo, kFoldings[2]));
    std::vector<uint64_t> seen(kSiteClasses, 0);
    uint64_t k = 0;
    hw.for_each_fault_site([&](const SiteLocation& w) {
        ++seen[size_t(site_class(w))];
        if (k++ % 997 == 0) {
            const FaultSite s{w, FaultKind::StuckAt1, 0};
            EXPECT_NO_THROW(hw.arm_fault(parse_fault_site(fault_site_name(s)))) << fault_site_name(s);
            hw.disarm_faults();
        }
    });
    const FaultSiteCounts counts = hw.fault_site_counts();
    uint64_t total = 0;
    for (int c = 0; c < kSiteClasses; ++c) {
        EXPECT_EQ(counts.per_class[c], seen[size_t(c)]) << site_class_name(SiteClass(c));
        // a dataflow accelerator has every class but the loopback feature-map buffers
        if (SiteClass(c) != SiteClass::FmBuf) {
            EXPECT_GT(counts.per_class[c], 0u) << site_class_name(SiteClass(c));
        }
        total += seen[size_t(c)];
    }
    EXPECT_EQ(counts.total(), total);
    // accumulator bits: sum over layers of PE x acc_bits
    uint64_t acc = 0;
    for (int l = 0; l < hw.num_layers(); ++l) acc += uint64_t(hw.mvtu(l).pe() * hw.mvtu(l).acc_bits());
    EXPECT_EQ(counts.per_class[int(SiteClass::Acc)], acc);
    const int c0_acc = hw.mvtu(0).acc_bits();
    EXPECT_THROW(hw.arm_fault("c0.pe[0].acc.bit[" + std::to_string(c0_acc) + "]:sa1"), FaultSiteError);
    EXPECT_THROW(hw.arm_fault("c0.pe[0].adder.l9.n0.bit[0]:sa1"), FaultSiteError);
    EXPECT_THROW(hw.arm_fault("c0.pe[0].adder.l1.n2.bit[0]:sa1"), FaultSiteError);  // SIMD 3: l1 has n0, n1
    EXPECT_NO_THROW(hw.arm_fault("c0.pe[0].adder.l1.n1.bit[0]:sa1"));
    EXPECT_THROW(hw.arm_fault("fifo[1].slot[2].bit[0]:sa1"), FaultSiteError);  // depth 2
}

}  // namespace
