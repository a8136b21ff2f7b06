#include "reference.hpp"

#include <algorithm>

namespace fatsim {

int input_value(const LayerSpec& layer, int code) { return layer.in_bipolar ? 2 * code - 1 : code; }

std::vector<int32_t> reference_accumulate(const QnnModel& model, int layer, const int8_t* in) {
    const LayerSpec& s = model.topology.layers[layer];
    const int D = s.in_dim, C = s.in_channels, K = s.kernel, O = s.out_dim, MW = s.mw();
    std::vector<int32_t> acc(size_t(O) * O * s.mh());
    for (int oy = 0; oy < O; ++oy)
        for (int ox = 0; ox < O; ++ox)
            for (int co = 0; co < s.mh(); ++co) {
                long dot = 0;
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx)
                        for (int c = 0; c < C; ++c) {
                            const int x = input_value(s, in[(size_t(oy + ky) * D + (ox + kx)) * C + c]);
                            const int w = model.weight(layer, co, (ky * K + kx) * C + c);
                            dot += long(x) * w;
                        }
                // XNOR layers count matches: dot = 2*matches - MW.
                acc[(size_t(oy) * O + ox) * s.mh() + co] = int32_t(s.binary_xnor() ? (dot + MW) / 2 : dot);
            }
    return acc;
}

void reference_activate(const QnnModel& model, int layer, const std::vector<int32_t>& acc,
                        const std::vector<ErrorPattern>& faults, LayerTrace& lt) {
    const LayerSpec& s = model.topology.layers[layer];
    const int O = s.out_dim, P = s.pool, Q = s.pooled_dim, MH = s.mh();
    lt.acc = acc;
    lt.act.clear();
    lt.out.clear();
    if (s.act_bits == 0) return;  // last layer: accumulators only
    lt.act.assign(acc.size(), 0);
    const ActRange ar = act_range(s.act_bits);
    const int T = ar.thresholds();
    const auto& thr = model.layers[layer].thresholds;
    for (size_t i = 0; i < acc.size(); ++i) {
        const int co = int(i % MH);
        int level = 0;
        for (int t = 0; t < T; ++t)
            if (thr[size_t(co) * T + t] <= acc[i]) ++level;
        lt.act[i] = int8_t(ar.lo + level);
    }
    lt.out.assign(size_t(Q) * Q * MH, 0);
    for (int qy = 0; qy < Q; ++qy)
        for (int qx = 0; qx < Q; ++qx)
            for (int c = 0; c < MH; ++c) {
                int m = ar.lo;  // codes are ordered like values, so max of codes is max pool
                for (int py = 0; py < P; ++py)
                    for (int px = 0; px < P; ++px)
                        m = std::max<int>(m, lt.act[(size_t(qy * P + py) * O + (qx * P + px)) * MH + c]);
                lt.out[(size_t(qy) * Q + qx) * MH + c] = int8_t(m);
            }
    for (const auto& f : faults)
        if (f.layer == layer) apply_error_pattern(f, lt.out.data(), Q, MH);
}

int reference_classify(const QnnModel& model, const int8_t* input, const std::vector<ErrorPattern>& faults,
                       Trace* trace) {
    const int L = int(model.topology.layers.size());
    std::vector<LayerTrace> layers(L);
    const int8_t* in = input;
    for (int l = 0; l < L; ++l) {
        reference_activate(model, l, reference_accumulate(model, l, in), faults, layers[l]);
        in = layers[l].out.data();
    }
    const auto& logits = layers[L - 1].acc;
    const int best = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (trace) trace->layers = std::move(layers);
    return best;
}

}  // namespace fatsim
