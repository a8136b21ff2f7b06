#include "physical.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "kernels.hpp"

namespace fatsim::campaigns {

GoldenTraces::GoldenTraces(const Engine& engine, const InputBatch& batch, int first, int count, int threads)
    : batch_(batch), first_(first), count_(count), traces_(size_t(std::max(count, 0))), predictions_(size_t(std::max(count, 0))) {
    if (first < 0 || count < 0 || first + count > batch.count)
        throw std::invalid_argument("GoldenTraces: images " + std::to_string(first) + ".." +
                                    std::to_string(first + count) + " outside the batch of " + std::to_string(batch.count));
    std::atomic<int> next{0};
    auto work = [&]() {
        auto ws = engine.make_workspace();
        for (int k; (k = next.fetch_add(1)) < count;)
            predictions_[size_t(k)] = engine.classify(*ws, batch.image(first + k), {}, &traces_[size_t(k)]);
    };
    const int nt = std::max(1, std::min(resolve_threads(threads), count));
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
}

std::vector<std::vector<int32_t>> lowered_layer_outputs(const Engine& engine, const GoldenImage& g,
                                                        const LoweredEffect& effect, int* prediction) {
    const int L = engine.layers();
    std::vector<std::vector<int32_t>> outs(static_cast<size_t>(L));
    auto golden_of = [&](int l) {
        const LayerTrace& t = g.trace->layers[size_t(l)];
        return l + 1 == L ? t.acc : std::vector<int32_t>(t.out.begin(), t.out.end());
    };
    const int e = effect.layer;
    for (int l = 0; l < std::max(e, 0); ++l) outs[size_t(l)] = golden_of(l);
    auto ws = engine.make_workspace();
    Trace t;
    auto run_from = [&](int first, const int8_t* in) {
        ClassifyOptions opt;
        opt.trace = &t;
        const int pred = engine.classify_with(*ws, first, in, opt);
        for (int l = first; l < L; ++l) {
            const LayerTrace& lt = t.layers[size_t(l)];
            outs[size_t(l)] = l + 1 == L ? lt.acc : std::vector<int32_t>(lt.out.begin(), lt.out.end());
        }
        return pred;
    };
    int pred;
    if (effect.propagated) {  // every layer's output under the fault is in the effect
        auto apply = [&](int l, const std::vector<CodeChange>& changes) {
            for (const CodeChange& c : changes) outs[size_t(l)][size_t(c.idx)] = c.new_code;
        };
        for (int l = std::max(e, 0); l < L; ++l) outs[size_t(l)] = golden_of(l);
        if (e + 1 < L) apply(e, effect.changes);
        for (size_t k = 0; k < effect.later.size(); ++k) apply(e + 1 + int(k), effect.later[k]);
        if (!effect.scores.empty()) outs[size_t(L) - 1] = effect.scores;
        pred = kernels::first_max(outs.back().data(), outs.back().size());
    } else if (e + 1 == L) {  // the classifier's scores
        outs[size_t(e)] = effect.scores.empty() ? golden_of(e) : effect.scores;
        pred = kernels::first_max(outs[size_t(e)].data(), outs[size_t(e)].size());
    } else {
        std::vector<int8_t> in = e < 0 ? std::vector<int8_t>(g.input, g.input + engine.input_size())
                                       : g.trace->layers[size_t(e)].out;
        for (const CodeChange& c : effect.changes) in[size_t(c.idx)] = c.new_code;
        if (e >= 0) outs[size_t(e)].assign(in.begin(), in.end());
        pred = run_from(e + 1, in.data());
    }
    if (prediction) *prediction = pred;
    return outs;
}

std::string ErrorPatternStats::shape() const {
    if (masked()) return "masked";
    if (effect_layer >= 0 && transitions.empty()) return "scores";
    if (channels.size() == 1) return elements == images_touched && pixels.size() == 1 ? "element" : "channel";
    if (pixels.size() == 1) return "pixel";
    return "channels";
}

void ErrorPatternStats::merge(const ErrorPatternStats& o) {
    images += o.images;
    correct += o.correct;
    changed += o.changed;
    images_touched += o.images_touched;
    elements += o.elements;
    std::vector<int> u;
    std::set_union(layers.begin(), layers.end(), o.layers.begin(), o.layers.end(), std::back_inserter(u));
    layers.swap(u);
    u.clear();
    std::set_union(channels.begin(), channels.end(), o.channels.begin(), o.channels.end(), std::back_inserter(u));
    channels.swap(u);
    u.clear();
    std::set_union(pixels.begin(), pixels.end(), o.pixels.begin(), o.pixels.end(), std::back_inserter(u));
    pixels.swap(u);
    for (const auto& [t, n] : o.transitions) transitions[t] += n;
    effect_hash = combine_effect_hash(effect_hash, o.effect_hash);
}

namespace {
// A set of small non-negative ints (channels, pixels): a flag per value and
// the values in insertion order, cheaper than a tree per changed element.
struct IntSet {
    std::vector<uint8_t> in;
    std::vector<int> values;
    void insert(int v) {
        if (size_t(v) >= in.size()) in.resize(size_t(v) + 1, 0);
        if (!in[size_t(v)]) in[size_t(v)] = 1, values.push_back(v);
    }
    // The values, sorted; the set is empty afterwards.
    std::vector<int> take_sorted() {
        for (int v : values) in[size_t(v)] = 0;
        std::vector<int> r;
        r.swap(values);
        std::sort(r.begin(), r.end());
        return r;
    }
};
constexpr uint64_t kHashBasis = 1469598103934665603ull, kHashPrime = 1099511628211ull;
// Every bit of v moves every bit of the result (MurmurHash3's finaliser).
// Without it the chain's multiplications carry only upward, so the element
// index (bits 16.. of a mixed word) never reached the hash's low 16 bits:
// effects that differ only in which elements changed were told apart by 48
// bits, not 64 - and equal hashes mean "propagated once, results shared".
uint64_t avalanche(uint64_t v) {
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ull;
    return v ^ (v >> 33);
}
}

uint64_t combine_effect_hash(uint64_t earlier, uint64_t later) {
    return later == kHashBasis ? earlier : (earlier ^ avalanche(later)) * kHashPrime;
}

uint64_t effect_hash(const std::vector<LoweredEffect>& effects, int first) {
    uint64_t h = kHashBasis;
    auto mix = [&](uint64_t v) { h = (h ^ avalanche(v)) * kHashPrime; };
    for (size_t i = 0; i < effects.size(); ++i) {
        const LoweredEffect& e = effects[i];
        if (e.empty()) continue;
        mix(uint64_t(first) + i + 1);
        mix(uint64_t(int64_t(e.layer)));
        auto mix_changes = [&](const std::vector<CodeChange>& changes) {
            for (const CodeChange& c : changes)
                mix((uint64_t(uint32_t(c.idx)) << 16) ^ (uint64_t(uint8_t(c.old_code)) << 8) ^ uint8_t(c.new_code));
        };
        mix_changes(e.changes);
        for (size_t k = 0; k < e.later.size(); ++k) {
            mix(uint64_t(k + 1) << 48);  // the layer the changes are in
            mix_changes(e.later[k]);
        }
        for (size_t k = 0; k < e.direct.size(); ++k) {
            mix((uint64_t(k + 1) << 48) ^ (uint64_t(1) << 40));
            mix_changes(e.direct[k]);
        }
        for (size_t k = 0; k < e.scores.size(); ++k) mix(uint64_t(uint32_t(e.scores[k])) ^ (uint64_t(k) << 32));
    }
    return h;
}

PhysicalEvaluator::PhysicalEvaluator(const Engine& engine, const Lowering& lowering, const GoldenTraces& golden,
                                     int threads)
    : engine_(engine), lowering_(lowering), golden_(golden), threads_(threads) {}

void PhysicalEvaluator::prepare(int layer, bool windows) {
    const int L = engine_.layers(), first = golden_.first(), count = golden_.count();
    if (fast_layer_ != layer) {
        fast_.reset();
        // (layer -1: changes of the network input; a loopback lowering
        // propagates its effects itself)
        if (layer + 1 < L && !lowering_.propagates()) {
            fast_ = std::make_unique<FastSweep>(engine_, golden_.batch(), ErrorModelKind::Channel);
            fast_->prepare(layer, first, count, threads_, /*for_predict=*/false);  // (predict_changes only)
        }
        fast_layer_ = layer;
    }
    if (windows && layer >= 0 && streams_layer_ != layer) {
        streams_.assign(size_t(count), StreamInputs());
        std::atomic<int> next_image{0};
        auto build = [&]() {
            for (int i; (i = next_image.fetch_add(1)) < count;)
                lowering_.stream_inputs(layer, golden_.image(first + i).layer_input(layer), streams_[size_t(i)]);
        };
        std::vector<std::thread> pool;
        for (int t = 1; t < std::min(resolve_threads(threads_), count); ++t) pool.emplace_back(build);
        build();
        for (auto& t : pool) t.join();
        streams_layer_ = layer;
    }
}

size_t PhysicalEvaluator::run(const std::vector<FaultSite>& sites, Progress* progress,
                              const std::function<bool(size_t, const ErrorPatternStats&)>& on_done) {
    static const std::vector<StreamInputs> no_streams;
    const int L = engine_.layers(), first = golden_.first(), count = golden_.count();
    const InputBatch& batch = golden_.batch();
    // Sites by the layer their effect is in: one fast-sweep cache per layer.
    std::map<int, std::vector<size_t>> by_layer;
    for (size_t i = 0; i < sites.size(); ++i) {
        lowering_.check(sites[i]);
        by_layer[lowering_.effect_layer(sites[i])].push_back(i);
    }
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::atomic<size_t> propagations{0};
    std::unordered_map<uint64_t, ErrorPatternStats> seen;  // effect hash -> results (guarded by mu)
    for (const auto& entry : by_layer) {
        // Named copies, not a structured binding: clang 14 cannot capture bindings in lambdas.
        const auto layer = entry.first;
        const auto& positions = entry.second;
        if (stop) break;
        const bool recompute = std::any_of(positions.begin(), positions.end(), [&](size_t p) {
            const SiteClass c = site_class(sites[p].where);
            return c == SiteClass::Acc || c == SiteClass::AdderNode;
        });
        prepare(layer, recompute);
        const FastSweep* fast = fast_.get();
        const std::vector<StreamInputs>& streams = streams_layer_ == layer ? streams_ : no_streams;
        // Work units: one fault, or (loopback) the faults of one
        // after_first_key, in one thread so that they share its memos.
        std::vector<std::vector<size_t>> units;
        {
            std::map<std::string, size_t> unit_of;
            for (size_t p : positions) {
                const std::string key = lowering_.propagates() ? lowering_.after_first_key(sites[p]) : "";
                if (key.empty()) {
                    units.push_back({p});
                    continue;
                }
                const auto it = unit_of.emplace(key, units.size()).first;
                if (it->second == units.size()) units.emplace_back();
                units[it->second].push_back(p);
            }
        }
        std::atomic<size_t> next{0};
        auto work = [&]() {
            Lowering::Scratch ls;
            auto fs = fast ? fast->make_scratch() : decltype(fast->make_scratch())(nullptr, [](FastSweep::Scratch*) {});
            std::vector<LoweredEffect> effects(static_cast<size_t>(count));
            std::vector<Lowering::AfterFirstMemo> memos(static_cast<size_t>(count));
            // Fault j of a unit: lowered on every image, its statistics, on_done.
            const auto evaluate = [&](const std::vector<size_t>& unit, size_t j) {
                const size_t pos = unit[j];
                const FaultSite& site = sites[pos];
                for (int i = 0; i < count; ++i) {
                    GoldenImage g = golden_.image(first + i);
                    if (!streams.empty()) g.stream = &streams[size_t(i)];
                    if (j == 0) memos[size_t(i)].clear();
                    ls.after_first = unit.size() > 1 ? &memos[size_t(i)] : nullptr;
                    lowering_.lower(site, first + i, g, ls, effects[size_t(i)]);
                }
                ls.after_first = nullptr;
                const uint64_t h = effect_hash(effects, first);
                ErrorPatternStats st;
                bool cached = false;
                {
                    std::lock_guard<std::mutex> lock(mu);
                    auto it = seen.find(h);
                    if (it != seen.end()) st = it->second, cached = true;
                }
                st.effect_layer = layer;  // (every empty effect hashes alike, whatever its layer)
                if (!cached) {
                    st.effect_layer = layer;
                    st.effect_hash = h;
                    st.images = count;
                    IntSet layers, channels, pixels;
                    for (int i = 0; i < count; ++i) {
                        const int img = first + i;
                        const LoweredEffect& e = effects[size_t(i)];
                        const int gold = golden_.prediction(img);
                        int pred = gold;
                        if (!e.empty()) {
                            ++st.images_touched;
                            // One changed element of layer l's output (loopback: of every layer, one channel set).
                            auto touch = [&](int l, int idx) {
                                if (e.propagated) layers.insert(l);
                                const int mh = l >= 0 ? engine_.prepared_layer(l).MH : batch.channels;
                                ++st.elements;
                                channels.insert(idx % mh);
                                pixels.insert(idx / mh);
                            };
                            auto count_changes = [&](int l, const std::vector<CodeChange>& changes) {
                                for (const CodeChange& c : changes) {
                                    touch(l, c.idx);
                                    ++st.transitions[{c.old_code, c.new_code}];
                                }
                            };
                            // The classifier's scores under the fault: changed elements, prediction.
                            auto count_scores = [&](const std::vector<int32_t>& scores) {
                                const auto& gacc = golden_.image(img).trace->layers.back().acc;
                                for (size_t k = 0; k < scores.size(); ++k)
                                    if (scores[k] != gacc[k]) touch(L - 1, int(k));
                                const auto& final_scores = scores.empty() ? gacc : scores;
                                return kernels::first_max(final_scores.data(), final_scores.size());
                            };
                            if (e.propagated) {
                                // The pattern: what the fault itself changes in each layer.
                                for (int l = 0; l + 1 < L; ++l) count_changes(l, e.direct[size_t(l)]);
                                for (const CodeChange& c : e.direct[size_t(L) - 1]) touch(L - 1, c.idx);
                                const auto& gacc = golden_.image(img).trace->layers.back().acc;
                                const auto& final_scores = e.scores.empty() ? gacc : e.scores;
                                pred = kernels::first_max(final_scores.data(), final_scores.size());
                            } else if (layer + 1 == L) {
                                pred = count_scores(e.scores);
                            } else {
                                count_changes(layer, e.changes);
                                pred = fast->predict_changes(*fs, e.changes, img);
                            }
                        }
                        st.correct += pred == batch.labels[size_t(img)];
                        st.changed += pred != gold;
                    }
                    st.layers = layers.take_sorted();
                    st.channels = channels.take_sorted();
                    st.pixels = pixels.take_sorted();
                    ++propagations;
                    std::lock_guard<std::mutex> lock(mu);
                    seen.emplace(h, st);
                }
                std::lock_guard<std::mutex> lock(mu);
                if (progress) progress->add(1);
                if (!on_done(pos, st)) stop = true;
            };
            for (size_t u; !stop && (u = next.fetch_add(1)) < units.size();)
                for (size_t j = 0; !stop && j < units[u].size(); ++j) evaluate(units[u], j);
            if (fs) {
                std::lock_guard<std::mutex> lock(mu);
                macs_ += FastSweep::macs(*fs);
            }
        };
        const int nt = std::max(1, std::min<int>(resolve_threads(threads_), int(units.size())));
        std::vector<std::thread> pool;
        for (int t = 1; t < nt; ++t) pool.emplace_back(work);
        work();
        for (auto& t : pool) t.join();
    }
    return propagations.load();
}

// ---------------------------------------------------------------- statistics
double normal_quantile(double confidence) {
    if (!(confidence > 0 && confidence < 1))
        throw std::invalid_argument("confidence " + std::to_string(confidence) + " must lie strictly between 0 and 1");
    // Inverse of the standard normal CDF at (1 + c) / 2 by bisection on erfc.
    const double target = (1.0 - confidence) / 2.0;  // upper tail
    double lo = 0, hi = 40;
    for (int it = 0; it < 200; ++it) {
        const double mid = (lo + hi) / 2;
        (0.5 * std::erfc(mid / std::sqrt(2.0)) > target ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
}

uint64_t sample_size(uint64_t population, double margin, double confidence, double p) {
    if (!(margin > 0 && margin < 1)) throw std::invalid_argument("margin " + std::to_string(margin) + " must lie in (0, 1)");
    if (population == 0) return 0;
    const double t = normal_quantile(confidence), N = double(population);
    const double n = N / (1.0 + margin * margin * (N - 1.0) / (t * t * p * (1.0 - p)));
    return std::min<uint64_t>(population, uint64_t(std::ceil(n)));
}

std::pair<double, double> proportion_interval(double p, uint64_t n, uint64_t population, double confidence) {
    if (n >= population) return {p, p};
    if (n == 0) return {0.0, 1.0};
    const double z = normal_quantile(confidence), N = double(population);
    // Finite population: the sample counts as n (N - 1) / (N - n) draws.
    const double ne = double(n) * (N - 1.0) / (N - double(n));
    const double z2n = z * z / ne;
    const double centre = (p + z2n / 2) / (1 + z2n);
    const double half = z / (1 + z2n) * std::sqrt(p * (1 - p) / ne + z2n / (4 * ne));
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace fatsim::campaigns
