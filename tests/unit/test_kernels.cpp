// The AVX-512 accumulate kernels against the portable ones on random inputs
// of awkward sizes (channels and columns that fill no vector or word, pixel
// counts that fill no register block), and the whole engine on both.
// Skipped where the CPU lacks AVX-512 VPOPCNTDQ (and VNNI).
#include <gtest/gtest.h>

#include <random>

#include "engine.hpp"
#include "kernels.hpp"
#include "small_nets.hpp"

using namespace fatsim;
using namespace fatsim::kernels;

namespace {

#define REQUIRE_AVX512()                                                          \
    do {                                                                          \
        if (!cpu_has(Isa::Avx512)) GTEST_SKIP() << "this CPU lacks " << isa_name(Isa::Avx512); \
    } while (0)

const int kMH[] = {1, 7, 8, 9, 16, 31, 33, 64, 70};
const int kMW[] = {1, 3, 27, 63, 64, 65, 130, 577};
const int kPixels[] = {1, 3, 4, 5, 9};

PreparedLayer layer_of(bool xnor, int mh, int mw, std::mt19937& rng, int wlo, int whi) {
    PreparedLayer p;
    p.geo.xnor = xnor;
    p.MH = mh;
    p.MW = p.C = mw;
    std::uniform_int_distribution<int> u(wlo, whi);
    std::vector<int8_t> w(size_t(mh) * mw);
    for (auto& v : w) v = int8_t(xnor ? (u(rng) & 1 ? 1 : -1) : u(rng));
    pack_layer_weights(p, w);
    return p;
}

// Accumulators of n rows from both kernels, written with an awkward stride
// over a sentinel: the values must agree and nothing outside MH be written.
template <class Row, class F, class G>
void compare(const PreparedLayer& p, const std::vector<Row>& rows, int n, F portable, G avx) {
    const int stride = p.MH + 3;
    std::vector<int32_t> a(size_t(n) * stride, -7777), b(a);
    portable(p, rows.data(), n, a.data(), stride);
    avx(p, rows.data(), n, b.data(), stride);
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < stride; ++c) {
            const size_t k = size_t(i) * stride + c;
            ASSERT_EQ(a[k], b[k]) << "pixel " << i << " channel " << c << " (MH " << p.MH << ", MW " << p.MW << ")";
            if (c >= p.MH) {
                ASSERT_EQ(b[k], -7777);
            }
        }
}

TEST(Kernels, XnorAvx512EqualsPortable) {
    REQUIRE_AVX512();
    std::mt19937 rng(3);
    for (int mh : kMH)
        for (int mw : kMW)
            for (int n : kPixels) {
                const PreparedLayer p = layer_of(true, mh, mw, rng, 0, 1);
                std::vector<uint64_t> rows(size_t(n) * p.words);
                std::uniform_int_distribution<uint64_t> bits;
                for (int i = 0; i < n; ++i)
                    for (int k = 0; k < mw; ++k)  // padding bits stay 0, as load_input leaves them
                        if (bits(rng) & 1) rows[size_t(i) * p.words + k / 64] |= 1ull << (k % 64);
                compare(p, rows, n, xnor_rows_portable, xnor_rows_avx512);
            }
}

TEST(Kernels, MacAvx512EqualsPortable) {
    REQUIRE_AVX512();
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> value(-257, 257);  // bipolar 8-bit inputs reach -257
    for (int mh : kMH)
        for (int mw : kMW)
            for (int n : kPixels) {
                // Weights over the whole int8 field, extremes included.
                const PreparedLayer p = layer_of(false, mh, mw, rng, -128, 127);
                std::vector<int16_t> rows(size_t(n) * p.mw2, 0);
                for (int i = 0; i < n; ++i)
                    for (int k = 0; k < mw; ++k) rows[size_t(i) * p.mw2 + k] = int16_t(value(rng));
                compare(p, rows, n, mac_rows_portable, mac_rows_avx512);
            }
}

TEST(Kernels, PackAvx512EqualsPortable) {
    REQUIRE_AVX512();
    std::mt19937 rng(5);
    for (int C : {1, 3, 63, 64, 65, 130, 256}) {
        const int pixels = 5, pw = (C + 63) / 64;
        std::vector<int8_t> in(size_t(pixels) * C + 64, 1);  // codes past the last pixel must not be read
        for (int k = 0; k < pixels * C; ++k) in[size_t(k)] = int8_t(rng() & 1);
        std::vector<uint64_t> a(size_t(pixels) * pw, ~0ull), b(a);
        pack_pixels_portable(in.data(), pixels, C, pw, a.data());
        pack_pixels_avx512(in.data(), pixels, C, pw, b.data());
        EXPECT_EQ(a, b) << "C " << C;
    }
}

// Restores the run-time choice however the test ends.
struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_active_isa(saved); }
};

TEST(Kernels, EngineIdenticalOnBothIsas) {
    REQUIRE_AVX512();
    IsaGuard guard;
    for (int w : {1, 2})
        for (int a : {1, 2}) {
            const Topology topo = fatsim::testing::small_topology(w, a, true);
            const QnnModel m = random_model(topo, 9);
            const Engine engine(m);
            auto ws = engine.make_workspace();
            std::mt19937 rng(6);
            for (int img = 0; img < 4; ++img) {
                const auto in = fatsim::testing::random_input(topo, rng);
                Trace tp, ta;
                set_active_isa(Isa::Portable);
                const int pp = engine.classify(*ws, in.data(), {}, &tp);
                set_active_isa(Isa::Avx512);
                const int pa = engine.classify(*ws, in.data(), {}, &ta);
                ASSERT_EQ(pp, pa);
                for (size_t l = 0; l < tp.layers.size(); ++l) {
                    ASSERT_EQ(tp.layers[l].acc, ta.layers[l].acc) << "W" << w << "A" << a << " layer " << l;
                    ASSERT_EQ(tp.layers[l].out, ta.layers[l].out) << "W" << w << "A" << a << " layer " << l;
                }
            }
        }
}

}  // namespace
