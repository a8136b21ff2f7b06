// One compute layer with its parameters laid out for the inner loops of the
// golden engine and the fast campaign sweep (the kernels in kernels.hpp).
// Both evaluate a layer from the same PreparedLayer, so they cannot disagree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datapath.hpp"
#include "model.hpp"

namespace fatsim {

struct PreparedLayer {
    LayerGeometry geo;  // widths, encodings and the threshold compare
    // Shape: a K x K window (stride 1) over a D x D x C input (HWC) gives
    // O x O output pixels of MH channels, max-pooled P x P to Q x Q. An FC
    // layer is a 1 x 1 window over its flattened input (D = O = Q = 1).
    int K = 0, C = 0, D = 0, O = 0, P = 1, Q = 0, MH = 0, MW = 0;
    bool fc = false;
    bool last = false;  // the classifier: raw accumulators out, no thresholds
    int T = 0;          // thresholds per output channel
    int lo = 0;         // lowest output code
    // XNOR layers: each weight row packed into MW bits (1 = +1), 64 a word;
    // an input pixel's C channels packed into pix_words words the same way.
    int words = 0, pix_words = 0;
    std::vector<uint64_t> wbits;   // MH * words
    std::vector<uint64_t> wlanes;  // the same, [words][MHP]: word j of 8 channels is one vector (AVX-512)
    // Weight columns, [MW][MHP] with MH padded to a multiple of kernels::kLanes:
    // one column is a run of whole vectors (integer MAC and accumulator deltas).
    int mhp = 0;
    std::vector<int32_t> wT;
    std::vector<int16_t> wT16;  // the same as int16: accumulator deltas where accumulators fit 16 bits
    // Integer layers for AVX-512: MW padded to even (mw2), weights of columns
    // 2k and 2k+1 side by side per channel, [mw2/2][MHP][2] (one vpdpwssd).
    int mw2 = 0;
    std::vector<int16_t> wpairs;
    std::vector<int32_t> thr;  // MH * T, ascending per channel in the model
    int16_t value_of[256];     // input code (as uint8_t) -> arithmetic value

    size_t acc_size() const { return size_t(O) * O * MH; }  // accumulators = pre-pool codes
    size_t out_size() const { return size_t(Q) * Q * MH; }  // post-pool codes
    // Multiply-accumulates of one run (XNOR layers: one XNOR-popcount bit each).
    double macs() const { return double(O) * O * MH * MW; }
    // Accumulator change per unit of weight when one input code changes.
    int acc_delta(int8_t old_code, int8_t new_code) const {
        return (value_of[uint8_t(new_code)] - value_of[uint8_t(old_code)]) / geo.acc_delta_divisor();
    }
};

// Layer `layer` of the topology with the given weights and thresholds (sizes
// MH*MW and MH*T, checked by the caller or QnnModel::validate).
PreparedLayer prepare_layer(const Topology& topo, int layer, const LayerParams& params);
// The weight layouts above (wbits, wlanes, words, pix_words for XNOR; wT,
// mhp; mw2, wpairs for integer layers) from MH*MW weights, given p.MH, p.MW,
// p.C and p.geo.xnor.
void pack_layer_weights(PreparedLayer& p, const std::vector<int8_t>& weights);

// Window runs of integer layers up to this many values are copied as one
// block of this size (the buffers keep that much room at their ends).
constexpr int kWindowRun = 16;

// Per-thread im2col buffers of the accumulate kernels; fit() grows them for a layer.
struct Im2colBuffers {
    std::vector<uint64_t> pix;    // XNOR: every input pixel's channels, packed
    std::vector<uint64_t> rows;   // XNOR: packed windows, `words` per output pixel (and a spare word)
    std::vector<int16_t> values;  // integer layers: the value of every input element
    std::vector<int16_t> vals;    // integer layers: windows of input values, mw2 per output pixel
    std::vector<int32_t> acc;     // accumulators before they are scattered to their pixels
    void fit(const PreparedLayer& p);
};

}  // namespace fatsim
