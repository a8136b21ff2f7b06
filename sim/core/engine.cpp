#include "engine.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels.hpp"

namespace fatsim {

using namespace kernels;

struct Engine::Impl {
    std::vector<PreparedLayer> layers;
};

Engine::Engine(const QnnModel& model) : model_(model), impl_(new Impl) {
    for (size_t l = 0; l < model.topology.layers.size(); ++l)
        impl_->layers.push_back(prepare_layer(model.topology, int(l), model.layers[l]));
}

Engine::~Engine() = default;

std::unique_ptr<Engine::Workspace> Engine::make_workspace() const {
    auto ws = std::make_unique<Workspace>();
    size_t acc = 0;
    for (const auto& p : impl_->layers) {
        ws->out.emplace_back(p.out_size());
        acc = std::max(acc, p.acc_size());
        ws->im2col.fit(p);
    }
    ws->act.resize(acc);
    ws->acc.resize(acc);
    return ws;
}

size_t Engine::output_size(int layer) const { return impl_->layers[size_t(layer)].out_size(); }

size_t Engine::input_size() const {
    const auto& t = model_.topology;
    return size_t(t.in_dim) * t.in_dim * t.in_channels;
}

int Engine::layers() const { return int(impl_->layers.size()); }

const PreparedLayer& Engine::prepared_layer(int l) const { return impl_->layers.at(size_t(l)); }

int Engine::classify(Workspace& ws, const int8_t* input, const std::vector<ErrorPattern>& faults,
                     Trace* trace) const {
    ClassifyOptions opt;
    opt.faults = &faults;
    opt.trace = trace;
    return classify_with(ws, 0, input, opt);
}

int Engine::classify_from(Workspace& ws, int first, const int8_t* layer_input,
                          const std::vector<ErrorPattern>& faults, Trace* trace) const {
    ClassifyOptions opt;
    opt.faults = &faults;
    opt.trace = trace;
    return classify_with(ws, first, layer_input, opt);
}

int Engine::classify_with(Workspace& ws, int first, const int8_t* layer_input, const ClassifyOptions& opt) const {
    if (opt.overrides && &opt.overrides->engine() != this)
        throw std::invalid_argument("Engine::classify_with: the overrides were made for another engine");
    const int L = int(impl_->layers.size());
    Trace* trace = opt.trace;
    if (trace) trace->layers.resize(L);
    const int8_t* in = layer_input;
    for (int l = first; l < L; ++l) {
        const PreparedLayer& p = opt.overrides ? opt.overrides->layer(l, impl_->layers[l]) : impl_->layers[l];
        int32_t* acc = ws.acc.data();
        const size_t n = p.acc_size();
        accumulate_all(p, in, ws.im2col, acc);
        if (opt.hook) opt.hook->on_accumulators(l, acc, p.O * p.O, p.MH);
        if (p.last) {
            if (trace) {
                trace->layers[l].acc.assign(acc, acc + n);
                trace->layers[l].act.clear();
                trace->layers[l].out.clear();
            }
            return first_max(acc, n);
        }
        int8_t* out = ws.out[l].data();
        activate_all(p, acc, ws.act.data(), out);
        if (opt.faults)
            for (const auto& f : *opt.faults)
                if (f.layer == l) apply_error_pattern(f, out, p.Q, p.MH);
        if (trace) {
            auto& lt = trace->layers[l];
            lt.acc.assign(acc, acc + n);
            lt.act.assign(ws.act.begin(), ws.act.begin() + n);
            lt.out.assign(out, out + ws.out[l].size());
        }
        if (l == opt.last) return -1;
        in = out;
    }
    return -1;  // unreachable for a finalized topology: the last layer has no activation
}

EngineOverrides::EngineOverrides(const Engine& engine) : engine_(engine) {}

LayerParams& EngineOverrides::params_of(int layer) {
    const QnnModel& m = engine_.model();
    if (layer < 0 || layer >= int(m.layers.size()))
        throw std::invalid_argument("EngineOverrides: layer " + std::to_string(layer) + " is not a layer of " +
                                    m.topology.name);
    const size_t l = size_t(layer);
    if (layers_.size() < m.layers.size()) {
        layers_.resize(m.layers.size());
        params_.resize(m.layers.size());
    }
    if (!layers_[l]) params_[l] = m.layers[l];  // first override of this layer: start from the model
    return params_[l];
}

void EngineOverrides::prepare(int layer) {
    const size_t l = size_t(layer);
    layers_[l] = std::make_unique<PreparedLayer>(prepare_layer(engine_.model().topology, layer, params_[l]));
}

void EngineOverrides::set_weights(int layer, std::vector<int8_t> weights) {
    LayerParams& params = params_of(layer);
    const LayerSpec& s = engine_.model().topology.layers[size_t(layer)];
    const std::string where = "EngineOverrides: layer " + s.name + ": ";
    if (weights.size() != size_t(s.mh()) * s.mw())
        throw std::invalid_argument(where + "weights has " + std::to_string(weights.size()) +
                                    " entries, expected MH*MW = " + std::to_string(size_t(s.mh()) * s.mw()));
    // The range of the weight memory field, wider than a trained model's.
    const int lo = s.weight_bits == 1 ? -1 : -(1 << (s.weight_bits - 1));
    const int hi = s.weight_bits == 1 ? 1 : (1 << (s.weight_bits - 1)) - 1;
    for (size_t k = 0; k < weights.size(); ++k) {
        const int w = weights[k];
        if (w < lo || w > hi || (s.weight_bits == 1 && w == 0))
            throw std::invalid_argument(where + "weight[" + std::to_string(k) + "]=" + std::to_string(w) +
                                        " does not fit a " + std::to_string(s.weight_bits) + "-bit weight field" +
                                        (s.weight_bits == 1 ? " (-1 or +1)" : ""));
    }
    params.weights = std::move(weights);
    prepare(layer);
}

void EngineOverrides::set_thresholds(int layer, std::vector<int32_t> thresholds) {
    LayerParams& params = params_of(layer);
    const PreparedLayer& own = engine_.prepared_layer(layer);
    const size_t expected = size_t(own.MH) * own.T;
    if (thresholds.size() != expected)
        throw std::invalid_argument("EngineOverrides: layer " + engine_.model().topology.layers[size_t(layer)].name +
                                    ": thresholds has " + std::to_string(thresholds.size()) +
                                    " entries, expected MH*T = " + std::to_string(expected));
    params.thresholds = std::move(thresholds);
    prepare(layer);
}

void EngineOverrides::clear() {
    layers_.clear();
    params_.clear();
}

bool EngineOverrides::empty() const {
    for (const auto& p : layers_)
        if (p) return false;
    return true;
}

int resolve_threads(int requested) {
    if (requested > 0) return requested;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? int(hw) : 1;
}

EvalResult Engine::evaluate(const InputBatch& batch, const std::vector<ErrorPattern>& faults, int threads) const {
    ClassifyOptions opt;
    opt.faults = &faults;
    return evaluate_with(batch, opt, threads);
}

EvalResult Engine::evaluate_with(const InputBatch& batch, const ClassifyOptions& opt, int threads) const {
    if (opt.trace) throw std::invalid_argument("Engine::evaluate_with: a trace is per image, not per batch");
    EvalResult r;
    r.images = batch.count;
    r.predictions.assign(batch.count, -1);
    const int nt = std::min(resolve_threads(threads), std::max(1, batch.count));
    std::atomic<int> next{0};
    constexpr int kChunk = 16;
    auto work = [&]() {
        auto ws = make_workspace();
        for (;;) {
            const int start = next.fetch_add(kChunk);
            if (start >= batch.count) break;
            for (int i = start; i < std::min(batch.count, start + kChunk); ++i)
                r.predictions[i] = int16_t(classify_with(*ws, 0, batch.image(i), opt));
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (int i = 0; i < batch.count; ++i) r.correct += r.predictions[i] == batch.labels[i];
    return r;
}

}  // namespace fatsim
