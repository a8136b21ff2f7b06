// Random but sane models: for tests, benchmarks and the demo before training.
#include <algorithm>
#include <random>

#include "model.hpp"
#include "reference.hpp"

namespace fatsim {

namespace {
constexpr int kCalibrationImages = 8;
}

QnnModel random_model(const Topology& topo, uint64_t seed) {
    std::mt19937_64 rng(seed);
    QnnModel m;
    m.topology = topo;
    m.description = "random weights, seed " + std::to_string(seed) +
                    ", thresholds at per-channel accumulator quantiles of random inputs";
    m.layers.resize(topo.layers.size());
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        const int wmax = weight_max(s.weight_bits);
        std::uniform_int_distribution<int> wd(-wmax, wmax);
        std::bernoulli_distribution coin(0.5);
        auto& w = m.layers[l].weights;
        w.resize(size_t(s.mh()) * s.mw());
        for (auto& x : w) x = int8_t(s.weight_bits == 1 ? (coin(rng) ? 1 : -1) : wd(rng));
    }

    // Calibration: propagate random input images layer by layer, then place
    // each channel's thresholds at evenly spaced quantiles of its accumulators,
    // so every output level occurs and activations are not all one value.
    const size_t in_size = size_t(topo.in_dim) * topo.in_dim * topo.in_channels;
    std::uniform_int_distribution<int> px(-128, 127);
    std::vector<std::vector<int8_t>> acts(kCalibrationImages, std::vector<int8_t>(in_size));
    for (auto& a : acts)
        for (auto& v : a) v = int8_t(px(rng));
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        std::vector<std::vector<int32_t>> accs;
        for (const auto& a : acts) accs.push_back(reference_accumulate(m, int(l), a.data()));
        if (s.act_bits == 0) break;
        const int T = act_range(s.act_bits).thresholds();
        auto& thr = m.layers[l].thresholds;
        thr.resize(size_t(s.mh()) * T);
        std::vector<int32_t> col;
        for (int c = 0; c < s.mh(); ++c) {
            col.clear();
            for (const auto& acc : accs)
                for (size_t i = c; i < acc.size(); i += s.mh()) col.push_back(acc[i]);
            std::sort(col.begin(), col.end());
            for (int t = 0; t < T; ++t) {
                const size_t q = std::min(col.size() - 1, col.size() * size_t(t + 1) / size_t(T + 1));
                thr[size_t(c) * T + t] = col[q];
            }
        }
        for (size_t i = 0; i < acts.size(); ++i) {
            LayerTrace lt;
            reference_activate(m, int(l), accs[i], {}, lt);
            acts[i] = std::move(lt.out);
        }
    }
    return m;
}

}  // namespace fatsim
