#include "sweep.hpp"

#include <atomic>
#include <map>
#include <thread>

namespace fatsim::campaigns {

ErrorPattern SweepFault::pattern(ErrorModelKind kind) const {
    ErrorPattern p;
    p.layer = layer;
    p.stuck_code = code;
    (kind == ErrorModelKind::Channel ? p.channels : p.pixels).push_back(index);
    return p;
}

std::vector<SweepFault> enumerate_faults(const Topology& topo, ErrorModelKind kind, const std::vector<int>& layers,
                                         const std::vector<int>& values) {
    std::vector<int> all_values = values;
    if (all_values.empty()) {
        // Union of every listed layer's codes, in ascending order.
        std::map<int, bool> codes;
        for (int l : layers) {
            if (topo.layers[l].act_bits == 0) continue;
            const ActRange ar = act_range(topo.layers[l].act_bits);
            for (int c = ar.lo; c <= ar.hi; ++c) codes[c] = true;
        }
        for (const auto& kv : codes) all_values.push_back(kv.first);
    }
    std::vector<SweepFault> faults;
    for (int v : all_values)
        for (int l : layers) {
            const LayerSpec& s = topo.layers[l];
            if (s.act_bits == 0) continue;  // the classifier's accumulators are not activations
            const ActRange ar = act_range(s.act_bits);
            if (v < ar.lo || v > ar.hi) continue;
            const int n = kind == ErrorModelKind::Channel ? s.mh() : s.pooled_dim * s.pooled_dim;
            for (int i = 0; i < n; ++i) faults.push_back({l, i, v});
        }
    return faults;
}

std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, int threads, Progress* progress) {
    std::vector<FaultResult> results(faults.size());
    const int nt = resolve_threads(threads);
    const EvalResult clean = engine.evaluate(batch, {}, nt);

    // Group faults by layer so each layer's fault-free outputs are computed once.
    std::map<int, std::vector<size_t>> by_layer;
    for (size_t i = 0; i < faults.size(); ++i) by_layer[faults[i].layer].push_back(i);
    for (const auto& [layer, idx] : by_layer) {
        const size_t out_size = engine.output_size(layer);
        std::vector<int8_t> cache(out_size * batch.count);
        {
            std::atomic<int> next{0};
            auto fill = [&]() {
                auto ws = engine.make_workspace();
                Trace trace;
                for (int i; (i = next.fetch_add(1)) < batch.count;) {
                    engine.classify(*ws, batch.image(i), {}, &trace);
                    std::copy(trace.layers[layer].out.begin(), trace.layers[layer].out.end(),
                              cache.begin() + size_t(i) * out_size);
                }
            };
            std::vector<std::thread> pool;
            for (int t = 1; t < nt; ++t) pool.emplace_back(fill);
            fill();
            for (auto& t : pool) t.join();
        }
        const LayerSpec& s = engine.model().topology.layers[layer];
        std::atomic<size_t> next{0};
        auto work = [&]() {
            auto ws = engine.make_workspace();
            std::vector<int8_t> buf(out_size);
            for (size_t k; (k = next.fetch_add(1)) < idx.size();) {
                const size_t fi = idx[k];
                const ErrorPattern p = faults[fi].pattern(kind);
                FaultResult r{faults[fi], 0, 0};
                for (int i = 0; i < batch.count; ++i) {
                    std::copy(cache.begin() + size_t(i) * out_size, cache.begin() + size_t(i + 1) * out_size,
                              buf.begin());
                    apply_error_pattern(p, buf.data(), s.pooled_dim, s.mh());
                    const int pred = engine.classify_from(*ws, layer + 1, buf.data());
                    r.correct += pred == batch.labels[i];
                    r.changed += pred != clean.predictions[i];
                }
                results[fi] = r;
                if (progress) progress->add();
            }
        };
        std::vector<std::thread> pool;
        for (int t = 1; t < nt; ++t) pool.emplace_back(work);
        work();
        for (auto& t : pool) t.join();
    }
    return results;
}

}  // namespace fatsim::campaigns
