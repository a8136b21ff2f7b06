#include "prepared_layer.hpp"

#include <algorithm>

#include "kernels.hpp"

namespace fatsim {

PreparedLayer prepare_layer(const Topology& topo, int layer, const LayerParams& params) {
    const LayerSpec& s = topo.layers.at(size_t(layer));
    PreparedLayer p;
    p.geo = layer_geometry(topo, layer);
    p.K = s.kernel;
    p.C = s.in_channels;
    p.D = s.in_dim;
    p.O = s.out_dim;
    p.P = s.pool;
    p.Q = s.pooled_dim;
    p.MH = p.geo.mh;
    p.MW = p.geo.mw;
    p.fc = s.kind == LayerKind::Fc;
    p.last = !p.geo.has_act;
    if (p.geo.has_act) {
        p.T = p.geo.thresholds;
        p.lo = p.geo.act.lo;
        p.thr = params.thresholds;
    }
    for (int c = 0; c < 256; ++c) p.value_of[c] = int16_t(p.geo.input_value(int8_t(uint8_t(c))));
    pack_layer_weights(p, params.weights);
    return p;
}

void pack_layer_weights(PreparedLayer& p, const std::vector<int8_t>& w) {
    p.mhp = (p.MH + kernels::kLanes - 1) / kernels::kLanes * kernels::kLanes;
    if (p.geo.xnor) {
        // Padding bits stay 0 in weights and inputs, so they never mismatch.
        p.words = (p.MW + 63) / 64;
        p.pix_words = (p.C + 63) / 64;
        p.wbits.assign(size_t(p.MH) * p.words, 0);
        for (int r = 0; r < p.MH; ++r)
            for (int k = 0; k < p.MW; ++k)
                if (w[size_t(r) * p.MW + k] > 0) p.wbits[size_t(r) * p.words + k / 64] |= 1ull << (k % 64);
        p.wlanes.assign(size_t(p.words) * p.mhp, 0);
        for (int r = 0; r < p.MH; ++r)
            for (int j = 0; j < p.words; ++j) p.wlanes[size_t(j) * p.mhp + r] = p.wbits[size_t(r) * p.words + j];
    } else {
        p.mw2 = (p.MW + 1) / 2 * 2;
        p.wpairs.assign(size_t(p.mw2) * p.mhp, 0);
        for (int r = 0; r < p.MH; ++r)
            for (int k = 0; k < p.MW; ++k)
                p.wpairs[(size_t(k / 2) * p.mhp + r) * 2 + k % 2] = w[size_t(r) * p.MW + k];
    }
    p.wT.assign(size_t(p.MW) * p.mhp, 0);
    for (int r = 0; r < p.MH; ++r)
        for (int k = 0; k < p.MW; ++k) p.wT[size_t(k) * p.mhp + r] = w[size_t(r) * p.MW + k];
    p.wT16.assign(p.wT.begin(), p.wT.end());  // weights are int8 codes
}

void Im2colBuffers::fit(const PreparedLayer& p) {
    auto grow = [](auto& v, size_t n) {
        if (v.size() < n) v.resize(n);
    };
    const size_t pixels = size_t(p.O) * p.O;
    if (p.geo.xnor) {
        grow(pix, size_t(p.D) * p.D * p.pix_words + 1);
        grow(rows, pixels * p.words + size_t(p.pix_words) + 1);
    } else {
        // (+ kWindowRun: window_values copies short runs as one fixed-size block)
        grow(values, size_t(p.D) * p.D * p.C + kWindowRun);
        grow(vals, pixels * p.mw2 + kWindowRun);
    }
    grow(acc, pixels * p.mhp);
}

}  // namespace fatsim
