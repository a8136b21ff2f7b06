#include "sweep.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "fast_sweep.hpp"

namespace fatsim::campaigns {

ErrorPattern SweepFault::pattern(ErrorModelKind kind) const {
    ErrorPattern p;
    p.layer = layer;
    p.stuck_code = code;
    (kind == ErrorModelKind::Channel ? p.channels : p.pixels).push_back(index);
    return p;
}

const char* to_string(SweepMode m) {
    switch (m) {
        case SweepMode::Naive: return "naive";
        case SweepMode::Prefix: return "prefix";
        case SweepMode::Fast: return "fast";
    }
    return "?";
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

namespace {

template <class F>
void parallel(int nt, F&& f) {
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) pool.emplace_back(f);
    f();
    for (auto& t : pool) t.join();
}

struct Sink {
    const SweepOptions& opt;
    std::vector<FaultResult>& results;
    std::mutex mu;
    bool cancelled() const { return opt.cancel && opt.cancel->load(); }
    void done(size_t i, const FaultResult& r) {
        std::lock_guard<std::mutex> lock(mu);
        results[i] = r;
        if (opt.on_done) opt.on_done(i, r);
        if (opt.progress) opt.progress->add();
    }
};

void sweep_naive(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                 const std::vector<SweepFault>& faults, const std::vector<int16_t>& clean, int nt, Sink& sink) {
    std::atomic<size_t> next{0};
    parallel(nt, [&]() {
        auto ws = engine.make_workspace();
        for (size_t k; !sink.cancelled() && (k = next.fetch_add(1)) < faults.size();) {
            const std::vector<ErrorPattern> p{faults[k].pattern(kind)};
            FaultResult r{faults[k], 0, 0};
            std::vector<int16_t>* preds = sink.opt.predictions ? &(*sink.opt.predictions)[k] : nullptr;
            for (int i = 0; i < batch.count; ++i) {
                const int pred = engine.classify(*ws, batch.image(i), p);
                r.correct += pred == batch.labels[i];
                r.changed += pred != clean[i];
                if (preds) (*preds)[i] = int16_t(pred);
            }
            sink.done(k, r);
        }
    });
}

void sweep_prefix(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                  const std::vector<SweepFault>& faults, const std::vector<int16_t>& clean, int nt, Sink& sink) {
    std::map<int, std::vector<size_t>> by_layer;
    for (size_t i = 0; i < faults.size(); ++i) by_layer[faults[i].layer].push_back(i);
    for (const auto& layer_faults : by_layer) {
        // Named copies: the worker lambdas below capture them, which C++17
        // (clang) does not allow for structured bindings.
        const int layer = layer_faults.first;
        const std::vector<size_t>& idx = layer_faults.second;
        const size_t out_size = engine.output_size(layer);
        std::vector<int8_t> cache(out_size * batch.count);
        std::atomic<int> next{0};
        parallel(nt, [&]() {
            auto ws = engine.make_workspace();
            Trace trace;
            for (int i; (i = next.fetch_add(1)) < batch.count;) {
                engine.classify(*ws, batch.image(i), {}, &trace);
                std::copy(trace.layers[layer].out.begin(), trace.layers[layer].out.end(),
                          cache.begin() + size_t(i) * out_size);
            }
        });
        const LayerSpec& s = engine.model().topology.layers[layer];
        std::atomic<size_t> nextf{0};
        parallel(nt, [&]() {
            auto ws = engine.make_workspace();
            std::vector<int8_t> buf(out_size);
            for (size_t k; !sink.cancelled() && (k = nextf.fetch_add(1)) < idx.size();) {
                const size_t fi = idx[k];
                const ErrorPattern p = faults[fi].pattern(kind);
                FaultResult r{faults[fi], 0, 0};
                std::vector<int16_t>* preds = sink.opt.predictions ? &(*sink.opt.predictions)[fi] : nullptr;
                for (int i = 0; i < batch.count; ++i) {
                    std::copy(cache.begin() + size_t(i) * out_size, cache.begin() + size_t(i + 1) * out_size,
                              buf.begin());
                    apply_error_pattern(p, buf.data(), s.pooled_dim, s.mh());
                    const int pred = engine.classify_from(*ws, layer + 1, buf.data());
                    r.correct += pred == batch.labels[i];
                    r.changed += pred != clean[i];
                    if (preds) (*preds)[i] = int16_t(pred);
                }
                sink.done(fi, r);
            }
        });
    }
}

void sweep_fast(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                const std::vector<SweepFault>& faults, int nt, Sink& sink) {
    FastSweep fs(engine, batch, kind);
    std::vector<FaultResult> partial(faults.size());
    // The faults of one layer (every stuck value) share a golden cache.
    std::map<int, std::vector<size_t>> by_layer;
    for (size_t i = 0; i < faults.size(); ++i) by_layer[faults[i].layer].push_back(i);
    for (const auto& layer_faults : by_layer) {
        if (sink.cancelled()) break;
        const int layer = layer_faults.first;
        const std::vector<size_t>& idx = layer_faults.second;
        const size_t per = std::max<size_t>(1, fs.bytes_per_image(layer));
        const int chunk = int(std::max<size_t>(1, std::min<size_t>(batch.count, sink.opt.cache_bytes / per)));
        for (size_t k : idx) partial[k] = FaultResult{faults[k], 0, 0};
        for (int first = 0; first < batch.count || (batch.count == 0 && first == 0); first += chunk) {
            const int count = std::min(chunk, batch.count - first);
            const bool last_chunk = first + count >= batch.count;
            fs.prepare(layer, first, count, nt);
            // A work item is a group of faults on a block of images: each
            // image runs through the group's faults in turn, so its golden
            // cache (260 KB for a full-width conv0 fault) is read from memory
            // once per group (up to 8 faults, fewer where that would leave
            // threads idle), and blocks keep both threads busy to the end of
            // a layer. The last block of a group reports its faults.
            constexpr size_t max_group = 8;
            const size_t group = std::clamp<size_t>(idx.size() / (4 * size_t(nt)), 1, max_group);
            const size_t groups = (idx.size() + group - 1) / group;
            const int block = 256;
            const size_t blocks = std::max<size_t>(1, (size_t(count) + block - 1) / block);
            std::vector<std::atomic<size_t>> blocks_left(groups);
            for (auto& n : blocks_left) n = blocks;
            std::mutex partial_mu;
            std::atomic<size_t> next{0};
            parallel(nt, [&]() {
                auto s = fs.make_scratch();
                for (size_t w; !sink.cancelled() && (w = next.fetch_add(1)) < groups * blocks;) {
                    const size_t g = w / blocks, g0 = g * group, g_end = std::min(idx.size(), g0 + group);
                    const int i0 = first + int(w % blocks) * block, i_end = std::min(first + count, i0 + block);
                    int correct[max_group] = {}, changed[max_group] = {};
                    for (int i = i0; i < i_end && !sink.cancelled(); ++i)
                        for (size_t j = g0; j < g_end; ++j) {
                            const size_t k = idx[j];
                            const int pred = fs.predict(*s, faults[k], i);
                            correct[j - g0] += pred == batch.labels[i];
                            changed[j - g0] += pred != fs.golden(i);
                            if (sink.opt.predictions) (*sink.opt.predictions)[k][i] = int16_t(pred);
                        }
                    if (sink.cancelled()) break;  // (a cancelled group is not done)
                    {
                        std::lock_guard<std::mutex> lock(partial_mu);
                        for (size_t j = g0; j < g_end; ++j) {
                            partial[idx[j]].correct += correct[j - g0];
                            partial[idx[j]].changed += changed[j - g0];
                        }
                    }
                    if (--blocks_left[g] == 0 && last_chunk)
                        for (size_t j = g0; j < g_end; ++j) sink.done(idx[j], partial[idx[j]]);
                }
            });
            if (batch.count == 0) break;
        }
    }
}

}  // namespace

std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, const SweepOptions& opt) {
    std::vector<FaultResult> results(faults.size());
    if (opt.predictions) opt.predictions->assign(faults.size(), std::vector<int16_t>(batch.count, -1));
    const int nt = resolve_threads(opt.threads);
    Sink sink{opt, results, {}};
    if (faults.empty()) return results;
    if (opt.mode == SweepMode::Fast) {
        sweep_fast(engine, batch, kind, faults, nt, sink);
    } else {
        const EvalResult clean = engine.evaluate(batch, {}, nt);
        if (opt.mode == SweepMode::Naive)
            sweep_naive(engine, batch, kind, faults, clean.predictions, nt, sink);
        else
            sweep_prefix(engine, batch, kind, faults, clean.predictions, nt, sink);
    }
    return results;
}

std::vector<FaultResult> run_sweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind,
                                   const std::vector<SweepFault>& faults, int threads, Progress* progress) {
    SweepOptions opt;
    opt.threads = threads;
    opt.progress = progress;
    return run_sweep(engine, batch, kind, faults, opt);
}

}  // namespace fatsim::campaigns
