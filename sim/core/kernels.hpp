// The kernels of the golden engine and the fast campaign sweep, written once:
// accumulate (all pixels or a list of output pixels: bit-packed
// XNOR-popcount or integer MAC over im2col windows, AVX-512 or portable,
// chosen at run time; kernels_avx512.cpp), threshold a pixel's
// accumulators, max-pool a region, add a weight column times an input change.
// All operate on a PreparedLayer.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "prepared_layer.hpp"

namespace fatsim::kernels {

// ORs the 64 bits of v into dst at bit offset pos (dst must have a spare word).
inline void put_bits(uint64_t* dst, int pos, uint64_t v) {
    const int w = pos >> 6, o = pos & 63;
    dst[w] |= v << o;
    if (o) dst[w + 1] |= v >> (64 - o);
}

// Packs codes 0/1 (one byte each) into bits, least significant first.
inline void pack_bits(const int8_t* src, int n, uint64_t* dst) {
    int c = 0;
    for (; c + 8 <= n; c += 8) {
        uint64_t v;
        std::memcpy(&v, src + c, 8);
        // Gathers the low bit of each byte into the top byte (no carries).
        const uint64_t byte = ((v & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56;
        dst[c >> 6] |= byte << (c & 63);
    }
    for (; c < n; ++c) dst[c >> 6] |= uint64_t(src[c] & 1) << (c & 63);
}

inline int mismatches(const uint64_t* a, const uint64_t* b, int n) {
    int m = 0;
    for (int j = 0; j < n; ++j) m += __builtin_popcountll(a[j] ^ b[j]);
    return m;
}

constexpr int kLanes = 16;
// GCC/Clang vector extension: one AVX-512 register, or two AVX2 ones.
typedef int32_t Lanes __attribute__((vector_size(kLanes * sizeof(int32_t))));

// acc[0..mh) = row . wT[:, block] for each block of kLanes output channels;
// wT is [mw][mhp] with mhp a multiple of kLanes.
inline void mac_row(int32_t* acc, const int16_t* row, const int32_t* wT, int mw, int mh, int mhp) {
    for (int cb = 0; cb < mh; cb += kLanes) {
        Lanes t = {};
        const int32_t* w = wT + cb;
        for (int k = 0; k < mw; ++k, w += mhp) {
            Lanes wv;
            std::memcpy(&wv, w, sizeof wv);
            t += wv * row[k];
        }
        const int n = std::min(kLanes, mh - cb);
        for (int j = 0; j < n; ++j) acc[cb + j] = t[j];
    }
}

// Calls f(q, tap) for each output pixel q (of an O x O map, K x K window,
// stride 1) whose window contains input pixel `pix` of a D x D map; tap is
// ky*K + kx, the window position pix sits at.
template <class F>
inline void for_each_window_output(int pix, int D, int K, int O, F&& f) {
    const int y = pix / D, x = pix - y * D;
    for (int ky = 0; ky < K; ++ky) {
        const int oy = y - ky;
        if (oy < 0 || oy >= O) continue;
        for (int kx = 0; kx < K; ++kx) {
            const int ox = x - kx;
            if (ox >= 0 && ox < O) f(oy * O + ox, ky * K + kx);
        }
    }
}

// Calls f(pix) for each input pixel (of a D x D map) in output pixel q's
// K x K window (of an O x O map, stride 1), row by row.
template <class F>
inline void for_each_window_input(int q, int D, int K, int O, F&& f) {
    const int oy = q / O, ox = q - oy * O;
    for (int ky = 0; ky < K; ++ky)
        for (int kx = 0; kx < K; ++kx) f((oy + ky) * D + ox + kx);
}

// Instruction set of the accumulate kernels, chosen at run time, so a build
// without -march=native still uses AVX-512 where the CPU has it.
enum class Isa {
    Portable,  // plain C++ (whatever the compiler makes of it)
    Avx512,    // AVX-512 F, BW, VL, VPOPCNTDQ and VNNI
};
const char* isa_name(Isa isa);
bool cpu_has(Isa isa);
// The fastest the CPU offers, unless the environment says FATSIM_ISA=portable.
Isa best_isa();
// What accumulate_pixels uses (best_isa() at start-up). set_active_isa
// throws std::runtime_error when the CPU lacks it (tests, benchmarks).
Isa active_isa();
void set_active_isa(Isa isa);

// Readies a layer's input (codes, HWC) for accumulate_pixels: XNOR layers
// pack every pixel's channels into bits. b must fit the layer.
void load_input(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b);
// load_input's packing, per ISA: `pixels` runs of C codes into pw words each.
void pack_pixels_portable(const int8_t* in, int pixels, int C, int pw, uint64_t* out);
void pack_pixels_avx512(const int8_t* in, int pixels, int C, int pw, uint64_t* out);

// The matrix kernels behind accumulate_pixels, per ISA; one row per output
// pixel, acc[i * stride + co] for co < MH.
//  XNOR: rows of `words` packed bits; portable reads p.wbits, AVX-512 p.wlanes.
void xnor_rows_portable(const PreparedLayer& p, const uint64_t* rows, int n, int32_t* acc, int stride);
void xnor_rows_avx512(const PreparedLayer& p, const uint64_t* rows, int n, int32_t* acc, int stride);
//  Integer: rows of p.mw2 input values (MW padded to even with 0); portable
//  reads p.wT, AVX-512 p.wpairs.
void mac_rows_portable(const PreparedLayer& p, const int16_t* rows, int n, int32_t* acc, int stride);
void mac_rows_avx512(const PreparedLayer& p, const int16_t* rows, int n, int32_t* acc, int stride);

// The machine's peak for XNOR-popcount on one thread: `iters` rounds of 12
// independent XOR + POPCOUNT + ADD on register-resident words (the inner
// loop of xnor_rows_*, with no memory traffic), 64-bit words (portable) or
// 512-bit vectors (AVX-512). Returns the binary ops (bits) done; the checksum
// keeps the loop from being optimised away.
uint64_t peak_xnor_loop(Isa isa, uint64_t iters, uint64_t& checksum);
uint64_t peak_xnor_loop_avx512(uint64_t iters, uint64_t& checksum);

// Accumulators of output pixels pix[0..n) (q = oy*O + ox; pix == nullptr:
// pixels 0..n-1) after load_input(in): pixel pix[i] (or i) goes to
// acc + (pix ? pix[i] : i) * stride, MH values.
void accumulate_pixels(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b, const int* pix, int n,
                       int32_t* acc, int stride);
// The same from the input pixels loaded one by one (load_input_pixels): only
// those the windows of pix[0..n) cover are read.
void load_input_pixels(const PreparedLayer& p, const int8_t* const* src, const int* pixels, int n, Im2colBuffers& b);
void accumulate_loaded(const PreparedLayer& p, Im2colBuffers& b, const int* pix, int n, int32_t* acc, int stride);

// XNOR layers: the packed window of every output pixel (q = oy*O + ox) into
// b.rows, p.words words each, as accumulate_pixels builds them (bit k = weight
// column k, column = tap*C + channel).
void window_rows(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b);

// Accumulators of every output pixel and channel (HWC, acc_size() values).
void accumulate_all(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b, int32_t* acc);

// Output codes of `pixels` consecutive pixels' accumulators, MH each
// (threshold_code; fields are copied to locals: the int8_t stores could
// alias them and would block vectorisation).
inline void threshold_rows(const PreparedLayer& p, const int32_t* acc, int8_t* out, size_t pixels) {
    const int32_t* thr = p.thr.data();
    const int MH = p.MH, T = p.T, lo = p.lo;
    for (size_t q = 0; q < pixels; ++q, acc += MH, out += MH) {
        if (T == 1) {  // binary activations: one compare, vectorised 16 channels at a time
            int co = 0;
            for (; co + 16 <= MH; co += 16)
                for (int i = 0; i < 16; ++i) out[co + i] = int8_t(lo + (thr[co + i] <= acc[co + i]));
            for (; co < MH; ++co) out[co] = int8_t(lo + (thr[co] <= acc[co]));
        } else {
            for (int co = 0; co < MH; ++co) out[co] = threshold_code(acc[co], thr + size_t(co) * T, T, lo);
        }
    }
}
inline void threshold_row(const PreparedLayer& p, const int32_t* acc, int8_t* out) { threshold_rows(p, acc, out, 1); }

// out[0..MH) = max over the P x P pre-pool pixels of pooled pixel r; act_at(q)
// gives the MH codes of pre-pool pixel q (codes are ordered like values).
template <class ActAt>
inline void max_pool_pixel(const PreparedLayer& p, int r, ActAt&& act_at, int8_t* out) {
    const int P = p.P, O = p.O, MH = p.MH;
    const int qy = r / p.Q, qx = r - qy * p.Q;
    std::memcpy(out, act_at(qy * P * O + qx * P), size_t(MH));
    for (int py = 0; py < P; ++py)
        for (int px = 0; px < P; ++px) {  // (the first again: cheaper than a branch)
            const int8_t* a = act_at((qy * P + py) * O + (qx * P + px));
            int c = 0;
            for (; c + 16 <= MH; c += 16)  // (a fixed count: one vector max)
                for (int i = 0; i < 16; ++i) out[c + i] = std::max(out[c + i], a[c + i]);
            for (; c < MH; ++c) out[c] = std::max(out[c], a[c]);
        }
}

// Thresholds every pixel (act, acc_size() codes), then max pool into out.
void activate_all(const PreparedLayer& p, const int32_t* acc, int8_t* act, int8_t* out);

// acc[0..MHP) += d * weight column `column` (column = tap*C + channel).
inline void add_weight_column(const PreparedLayer& p, int column, int d, int32_t* acc) {
    const int mhp = p.mhp;
    const int32_t* w = p.wT.data() + size_t(column) * mhp;
    for (int j = 0; j < mhp; j += kLanes) {
        Lanes av, wv;
        std::memcpy(&av, acc + j, sizeof av);
        std::memcpy(&wv, w + j, sizeof wv);
        av += wv * d;
        std::memcpy(acc + j, &av, sizeof av);
    }
}

// The same on 16-bit accumulators (wT16). The lanes wrap modulo 2^16, so a
// sum of changes is exact whenever its final value fits int16, whatever the
// order of the additions.
inline void add_weight_column(const PreparedLayer& p, int column, int d, int16_t* acc) {
    typedef uint16_t Half __attribute__((vector_size(kLanes * sizeof(uint16_t))));
    const int mhp = p.mhp;
    const int16_t* w = p.wT16.data() + size_t(column) * mhp;
    const uint16_t ud = uint16_t(d);
    for (int j = 0; j < mhp; j += kLanes) {
        Half av, wv;
        std::memcpy(&av, acc + j, sizeof av);
        std::memcpy(&wv, w + j, sizeof wv);
        if (d == 1)
            av += wv;
        else if (d == -1)
            av -= wv;
        else
            av += wv * ud;
        std::memcpy(acc + j, &av, sizeof av);
    }
}

// The classifier's decision: index of the first largest score.
inline int first_max(const int32_t* v, size_t n) { return int(std::max_element(v, v + n) - v); }

}  // namespace fatsim::kernels
