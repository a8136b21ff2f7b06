#include "kernels.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace fatsim::kernels {

const char* isa_name(Isa isa) { return isa == Isa::Avx512 ? "AVX-512 VPOPCNTDQ" : "portable"; }

bool cpu_has(Isa isa) {
    if (isa == Isa::Portable) return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // (These also check that the OS saves the AVX-512 registers.)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

Isa best_isa() {
    const char* env = std::getenv("FATSIM_ISA");
    if (env && std::string(env) == "portable") return Isa::Portable;
    return cpu_has(Isa::Avx512) ? Isa::Avx512 : Isa::Portable;
}

namespace {
std::atomic<int>& active() {
    static std::atomic<int> isa{int(best_isa())};
    return isa;
}
}  // namespace

Isa active_isa() { return Isa(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
    if (!cpu_has(isa)) throw std::runtime_error(std::string("this CPU lacks ") + isa_name(isa));
    active().store(int(isa));
}

void pack_pixels_portable(const int8_t* in, int pixels, int C, int pw, uint64_t* out) {
    std::fill(out, out + size_t(pixels) * pw, 0);
    for (int i = 0; i < pixels; ++i) pack_bits(in + size_t(i) * C, C, out + size_t(i) * pw);
}

void load_input(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b) {
    if (!p.geo.xnor) return;
    if (active_isa() == Isa::Avx512)
        pack_pixels_avx512(in, p.D * p.D, p.C, p.pix_words, b.pix.data());
    else
        pack_pixels_portable(in, p.D * p.D, p.C, p.pix_words, b.pix.data());
}

uint64_t peak_xnor_loop(Isa isa, uint64_t iters, uint64_t& checksum) {
    if (isa == Isa::Avx512) return peak_xnor_loop_avx512(iters, checksum);
    uint64_t s[12] = {}, w[12];
    for (int k = 0; k < 12; ++k) w[k] = 0x9e3779b97f4a7c15ull * uint64_t(k + 1);
    for (uint64_t i = 0; i < iters; ++i) {
        const uint64_t x = i * 0x2545f4914f6cdd1dull;
        for (int k = 0; k < 12; ++k) s[k] += uint64_t(__builtin_popcountll(x ^ w[k]));
    }
    checksum = 0;
    for (uint64_t v : s) checksum += v;
    return iters * 12 * 64;
}

void xnor_rows_portable(const PreparedLayer& p, const uint64_t* rows, int n, int32_t* acc, int stride) {
    const int MH = p.MH, MW = p.MW, words = p.words;
    for (int i = 0; i < n; ++i, rows += words, acc += stride) {
        const uint64_t* wb = p.wbits.data();
        for (int co = 0; co < MH; ++co, wb += words) acc[co] = MW - mismatches(rows, wb, words);
    }
}

void mac_rows_portable(const PreparedLayer& p, const int16_t* rows, int n, int32_t* acc, int stride) {
    for (int i = 0; i < n; ++i, rows += p.mw2, acc += stride) mac_row(acc, rows, p.wT.data(), p.MW, p.MH, p.mhp);
}

namespace {

// The packed window of output pixel q into row (words + a spare word).
void window_bits(const PreparedLayer& p, const uint64_t* pix, int q, uint64_t* row) {
    const int K = p.K, C = p.C, D = p.D, pw = p.pix_words, words = p.words;
    const int oy = q / p.O, ox = q - oy * p.O;
    if ((C & 63) == 0) {  // whole words (every conv layer of CNV): K runs of K pixels, copied
        const int run = K * pw;
        for (int ky = 0; ky < K; ++ky, row += run) {
            const uint64_t* src = pix + (size_t(oy + ky) * D + ox) * pw;
            for (int j = 0; j < run; ++j) row[j] = src[j];
        }
        return;
    }
    if (pw == 1 && 64 % C == 0) {  // (C = 1, 2, ..., 32: a tap's bits never straddle a word)
        uint64_t v = 0;  // the word being filled, in a register
        int fill = 0, w = 0;
        for (int ky = 0; ky < K; ++ky) {
            const uint64_t* src = pix + size_t(oy + ky) * D + ox;
            for (int kx = 0; kx < K; ++kx) {
                v |= src[kx] << fill;
                fill += C;
                if (fill == 64) row[w++] = v, v = 0, fill = 0;
            }
        }
        if (fill) row[w++] = v;
        for (; w <= words; ++w) row[w] = 0;  // (and the spare word)
        return;
    }
    std::fill(row, row + words + 1, 0);
    int pos = 0;
    for (int ky = 0; ky < K; ++ky)
        for (int kx = 0; kx < K; ++kx) {
            const uint64_t* src = pix + (size_t(oy + ky) * D + (ox + kx)) * pw;
            for (int j = 0; j < pw; ++j) put_bits(row, pos + 64 * j, src[j]);
            pos += C;
        }
}

// The input values of output pixel q's window into row (mw2 values), from
// the values of every input pixel (values, HWC): K runs of K*C values.
void window_values(const PreparedLayer& p, const int16_t* values, int q, int16_t* row) {
    const int K = p.K, C = p.C, D = p.D, run = K * C;
    const int oy = q / p.O, ox = q - oy * p.O;
    if (run <= kWindowRun) {  // (a short run, e.g. 3 x 3 RGB: one fixed-size copy, the excess overwritten next)
        for (int ky = 0; ky < K; ++ky, row += run)
            std::memcpy(row, values + (size_t(oy + ky) * D + ox) * C, sizeof(int16_t) * kWindowRun);
    } else {
        for (int ky = 0; ky < K; ++ky, row += run) {
            const int16_t* src = values + (size_t(oy + ky) * D + ox) * C;
            for (int j = 0; j < run; ++j) row[j] = src[j];
        }
    }
    if (p.MW < p.mw2) *row = 0;
}

}  // namespace

void window_rows(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b) {
    b.fit(p);
    load_input(p, in, b);
    for (int q = 0; q < p.O * p.O; ++q) window_bits(p, b.pix.data(), q, b.rows.data() + size_t(q) * p.words);
}

void accumulate_pixels(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b, const int* pix, int n,
                       int32_t* acc, int stride) {
    if (!p.geo.xnor) {  // (XNOR layers: load_input packed the bits)
        int16_t* values = b.values.data();
        const size_t nin = size_t(p.D) * p.D * p.C;
        for (size_t k = 0; k < nin; ++k) values[k] = p.value_of[uint8_t(in[k])];
    }
    accumulate_loaded(p, b, pix, n, acc, stride);
}

void load_input_pixels(const PreparedLayer& p, const int8_t* const* src, const int* pixels, int n, Im2colBuffers& b) {
    const int C = p.C;
    if (p.geo.xnor) {
        const int pw = p.pix_words;
        const bool avx = active_isa() == Isa::Avx512;
        for (int i = 0; i < n; ++i) {
            uint64_t* out = b.pix.data() + size_t(pixels[i]) * pw;
            if (avx)
                pack_pixels_avx512(src[i], 1, C, pw, out);
            else
                pack_pixels_portable(src[i], 1, C, pw, out);
        }
        return;
    }
    for (int i = 0; i < n; ++i) {
        int16_t* v = b.values.data() + size_t(pixels[i]) * C;
        for (int c = 0; c < C; ++c) v[c] = p.value_of[uint8_t(src[i][c])];
    }
}

void accumulate_loaded(const PreparedLayer& p, Im2colBuffers& b, const int* pix, int n, int32_t* acc, int stride) {
    const bool avx = active_isa() == Isa::Avx512;
    // Scattered pixels are computed side by side, then copied to their places.
    int32_t* out = pix ? b.acc.data() : acc;
    const int ostride = pix ? p.mhp : stride;
    if (p.geo.xnor) {
        uint64_t* rows = b.rows.data();
        for (int i = 0; i < n; ++i) window_bits(p, b.pix.data(), pix ? pix[i] : i, rows + size_t(i) * p.words);
        if (avx)
            xnor_rows_avx512(p, rows, n, out, ostride);
        else
            xnor_rows_portable(p, rows, n, out, ostride);
    } else {
        const int16_t* values = b.values.data();
        int16_t* rows = b.vals.data();
        for (int i = 0; i < n; ++i) window_values(p, values, pix ? pix[i] : i, rows + size_t(i) * p.mw2);
        if (avx)
            mac_rows_avx512(p, rows, n, out, ostride);
        else
            mac_rows_portable(p, rows, n, out, ostride);
    }
    if (pix)
        for (int i = 0; i < n; ++i)
            std::memcpy(acc + size_t(pix[i]) * stride, out + size_t(i) * ostride, sizeof(int32_t) * size_t(p.MH));
}

void accumulate_all(const PreparedLayer& p, const int8_t* in, Im2colBuffers& b, int32_t* acc) {
    load_input(p, in, b);
    accumulate_pixels(p, in, b, nullptr, p.O * p.O, acc, p.MH);
}

void activate_all(const PreparedLayer& p, const int32_t* acc, int8_t* act, int8_t* out) {
    const size_t n = p.acc_size(), MH = size_t(p.MH);
    threshold_rows(p, acc, act, size_t(p.O) * p.O);
    if (p.P == 1) {
        std::memcpy(out, act, n);
        return;
    }
    const auto act_at = [act, MH](int q) { return act + size_t(q) * MH; };
    const int pooled = p.Q * p.Q;
    for (int r = 0; r < pooled; ++r) max_pool_pixel(p, r, act_at, out + size_t(r) * MH);
}

}  // namespace fatsim::kernels
