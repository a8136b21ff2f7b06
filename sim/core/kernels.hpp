// Inner-loop kernels shared by the golden engine and the fast campaign sweep:
// bit packing and XNOR-popcount for binary layers, vectorised integer MACs.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

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
inline void mac_row(int32_t* acc, const int32_t* row, const int32_t* wT, int mw, int mh, int mhp) {
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

}  // namespace fatsim::kernels
