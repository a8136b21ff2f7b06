// AVX-512 versions of the accumulate kernels (kernels.hpp), compiled for
// that instruction set whatever the build's -march, and called only when the
// CPU has it (kernels::active_isa()). Both compute exactly the portable
// kernels' integers: popcounts of XOR are counts, and vpdpwssd's int16
// products of an input value and a weight (both 8-bit fields) cannot overflow
// (it adds them to the int32 accumulator without saturation).
//
// Register blocking: NP output pixels x NC vectors of output channels at a
// time, so every weight vector loaded serves NP pixels and every broadcast
// input word NC vectors.
#include "kernels.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define FATSIM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vnni")))

namespace fatsim::kernels {

namespace {

constexpr int kMaxNP = 4, kMaxNC = 4;

// XNOR: 8 channels per vector (one 64-bit word of each); acc = MW - mismatches.
template <int NP, int NC>
FATSIM_AVX512 void xnor_block(const PreparedLayer& p, const uint64_t* rows, int cb, int32_t* acc, int stride) {
    const int words = p.words, mhp = p.mhp;
    __m512i s[NP][NC];
    for (int i = 0; i < NP; ++i)
        for (int c = 0; c < NC; ++c) s[i][c] = _mm512_setzero_si512();
    const uint64_t* w = p.wlanes.data() + cb;
    for (int j = 0; j < words; ++j, w += mhp) {
        __m512i wv[NC];
        for (int c = 0; c < NC; ++c) wv[c] = _mm512_loadu_si512(w + 8 * c);
        for (int i = 0; i < NP; ++i) {
            const __m512i x = _mm512_set1_epi64(int64_t(rows[size_t(i) * words + j]));
            for (int c = 0; c < NC; ++c)
                s[i][c] = _mm512_add_epi64(s[i][c], _mm512_popcnt_epi64(_mm512_xor_si512(x, wv[c])));
        }
    }
    const __m256i mw = _mm256_set1_epi32(p.MW);
    for (int c = 0; c < NC; ++c) {
        const int left = p.MH - (cb + 8 * c);  // channels of this vector that exist (> 0)
        const __mmask8 m = left >= 8 ? __mmask8(0xff) : __mmask8((1u << left) - 1);
        for (int i = 0; i < NP; ++i)
            _mm256_mask_storeu_epi32(acc + size_t(i) * stride + cb + 8 * c, m,
                                     _mm256_sub_epi32(mw, _mm512_mask_cvtepi64_epi32(_mm256_setzero_si256(), 0xff, s[i][c])));
    }
}

// Integer MAC: 16 channels per vector, two input columns per vpdpwssd.
template <int NP, int NC>
FATSIM_AVX512 void mac_block(const PreparedLayer& p, const int16_t* rows, int cb, int32_t* acc, int stride) {
    const int pairs = p.mw2 / 2, mhp = p.mhp, mw2 = p.mw2;
    __m512i s[NP][NC];
    for (int i = 0; i < NP; ++i)
        for (int c = 0; c < NC; ++c) s[i][c] = _mm512_setzero_si512();
    const int16_t* w = p.wpairs.data() + size_t(cb) * 2;
    for (int k = 0; k < pairs; ++k, w += 2 * mhp) {
        __m512i wv[NC];
        for (int c = 0; c < NC; ++c) wv[c] = _mm512_loadu_si512(w + 32 * c);
        for (int i = 0; i < NP; ++i) {
            int32_t two;  // input columns 2k, 2k+1 of pixel i
            std::memcpy(&two, rows + size_t(i) * mw2 + 2 * k, sizeof two);
            const __m512i x = _mm512_set1_epi32(two);
            for (int c = 0; c < NC; ++c) s[i][c] = _mm512_dpwssd_epi32(s[i][c], x, wv[c]);
        }
    }
    for (int c = 0; c < NC; ++c) {
        const int left = p.MH - (cb + 16 * c);
        const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
        for (int i = 0; i < NP; ++i) _mm512_mask_storeu_epi32(acc + size_t(i) * stride + cb + 16 * c, m, s[i][c]);
    }
}

// Calls Block<np, nc> for np, nc in 1..4 (the remainders of a layer's pixels and channels).
template <template <int, int> class Block, class... A>
FATSIM_AVX512 void dispatch(int np, int nc, const A&... a) {
#define FATSIM_NC(NP)                               \
    switch (nc) {                                   \
        case 1: Block<NP, 1>::run(a...); break;     \
        case 2: Block<NP, 2>::run(a...); break;     \
        case 3: Block<NP, 3>::run(a...); break;     \
        default: Block<NP, 4>::run(a...); break;    \
    }
    switch (np) {
        case 1: FATSIM_NC(1) break;
        case 2: FATSIM_NC(2) break;
        case 3: FATSIM_NC(3) break;
        default: FATSIM_NC(4) break;
    }
#undef FATSIM_NC
}

template <int NP, int NC>
struct XnorBlock {
    FATSIM_AVX512 static void run(const PreparedLayer& p, const uint64_t* rows, int cb, int32_t* acc, int stride) {
        xnor_block<NP, NC>(p, rows, cb, acc, stride);
    }
};
template <int NP, int NC>
struct MacBlock {
    FATSIM_AVX512 static void run(const PreparedLayer& p, const int16_t* rows, int cb, int32_t* acc, int stride) {
        mac_block<NP, NC>(p, rows, cb, acc, stride);
    }
};

// Channel blocks outside (their weights stay in L1), pixels inside.
template <template <int, int> class Block, class Row>
FATSIM_AVX512 void blocked(const PreparedLayer& p, const Row* rows, size_t row_len, int n, int32_t* acc, int stride,
                           int lanes) {
    const int vecs = (p.MH + lanes - 1) / lanes;
    for (int v = 0; v < vecs; v += kMaxNC) {
        const int nc = std::min(kMaxNC, vecs - v), cb = v * lanes;
        for (int i = 0; i < n; i += kMaxNP)
            dispatch<Block>(std::min(kMaxNP, n - i), nc, p, rows + size_t(i) * row_len, cb,
                            acc + size_t(i) * stride, stride);
    }
}

}  // namespace

FATSIM_AVX512 void pack_pixels_avx512(const int8_t* in, int pixels, int C, int pw, uint64_t* out) {
    const __m512i one = _mm512_set1_epi8(1);
    for (int i = 0; i < pixels; ++i, in += C, out += pw)
        for (int j = 0; j < pw; ++j) {  // 64 codes -> their low bits (masked: nothing read past C)
            const int left = C - 64 * j;
            const __mmask64 m = left >= 64 ? ~__mmask64(0) : (__mmask64(1) << left) - 1;
            out[j] = _mm512_test_epi8_mask(_mm512_maskz_loadu_epi8(m, in + 64 * j), one);
        }
}

FATSIM_AVX512 uint64_t peak_xnor_loop_avx512(uint64_t iters, uint64_t& checksum) {
    __m512i s[12], w[12];
    for (int k = 0; k < 12; ++k) {
        s[k] = _mm512_setzero_si512();
        w[k] = _mm512_set1_epi64(int64_t(0x9e3779b97f4a7c15ull * uint64_t(k + 1)));
    }
    __m512i x = _mm512_set_epi64(1, 2, 3, 4, 5, 6, 7, 8);
    const __m512i step = _mm512_set1_epi64(0x2545f4914f6cdd1dll);
    for (uint64_t i = 0; i < iters; ++i) {
        x = _mm512_add_epi64(x, step);  // (one add per 12 triples: the input broadcast of the real loop)
        for (int k = 0; k < 12; ++k) s[k] = _mm512_add_epi64(s[k], _mm512_popcnt_epi64(_mm512_xor_si512(x, w[k])));
    }
    __m512i t = s[0];
    for (int k = 1; k < 12; ++k) t = _mm512_add_epi64(t, s[k]);
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, t);
    checksum = 0;
    for (uint64_t v : lanes) checksum += v;
    return iters * 12 * 512;
}

void xnor_rows_avx512(const PreparedLayer& p, const uint64_t* rows, int n, int32_t* acc, int stride) {
    blocked<XnorBlock>(p, rows, size_t(p.words), n, acc, stride, 8);
}

void mac_rows_avx512(const PreparedLayer& p, const int16_t* rows, int n, int32_t* acc, int stride) {
    blocked<MacBlock>(p, rows, size_t(p.mw2), n, acc, stride, 16);
}

}  // namespace fatsim::kernels

#else  // not x86-64: cpu_has(Isa::Avx512) is false, so these are never called

#include <stdexcept>

namespace fatsim::kernels {
uint64_t peak_xnor_loop_avx512(uint64_t, uint64_t&) { throw std::logic_error("AVX-512 kernel on a CPU without it"); }
void pack_pixels_avx512(const int8_t*, int, int, int, uint64_t*) {
    throw std::logic_error("AVX-512 kernel on a CPU without it");
}
void xnor_rows_avx512(const PreparedLayer&, const uint64_t*, int, int32_t*, int) {
    throw std::logic_error("AVX-512 kernel on a CPU without it");
}
void mac_rows_avx512(const PreparedLayer&, const int16_t*, int, int32_t*, int) {
    throw std::logic_error("AVX-512 kernel on a CPU without it");
}
}  // namespace fatsim::kernels

#endif
