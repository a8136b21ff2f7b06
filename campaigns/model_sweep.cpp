#include "model_sweep.hpp"

#include <algorithm>
#include <stdexcept>

namespace fatsim::campaigns {

namespace {

// The units of one layer at the model's granularity: channels, pixels or
// channel groups (a class narrows them further through its own sets).
int unit_count(const ErrorModel& m, const LayerSpec& s) {
    switch (m.granularity) {
        case ErrorModelKind::Channel: return s.mh();
        case ErrorModelKind::Pixel: return s.pooled_dim * s.pooled_dim;
        case ErrorModelKind::Group: return m.group_modulus;
        case ErrorModelKind::Element: break;
    }
    throw std::invalid_argument("element granularity: one failure per activation is too many to enumerate");
}

// The class's pattern on `layer` narrowed to unit u; false when the unit and
// the class's sets do not meet on that layer (nothing would fail).
bool narrow(const ErrorModel& m, ErrorPattern& p, int u, const LayerSpec& s) {
    auto keep = [](std::vector<int>& set, int universe, auto pred) {
        std::vector<int> out;
        if (set.empty()) {
            for (int i = 0; i < universe; ++i)
                if (pred(i)) out.push_back(i);
        } else {
            for (int i : set)
                if (pred(i)) out.push_back(i);
        }
        set = std::move(out);
        return !set.empty();
    };
    switch (m.granularity) {
        case ErrorModelKind::Channel: return keep(p.channels, s.mh(), [&](int c) { return c == u; });
        case ErrorModelKind::Pixel:
            return keep(p.pixels, s.pooled_dim * s.pooled_dim, [&](int px) { return px == u; });
        case ErrorModelKind::Group:
            return keep(p.channels, s.mh(), [&](int c) { return c % m.group_modulus == u; });
        case ErrorModelKind::Element: break;
    }
    return false;
}

}  // namespace

std::string layer_names(const Topology& topo, const std::vector<int>& layers) {
    std::string s;
    for (int l : layers) s += (s.empty() ? "" : "+") + topo.layers[size_t(l)].name;
    return s;
}

std::vector<ModelFault> expand_error_model(const ErrorModel& m, const Topology& topo) {
    std::vector<ModelFault> out;
    for (size_t ci = 0; ci < m.classes.size(); ++ci) {
        const PatternClass& c = m.classes[ci];
        const std::vector<int> all = class_layers(c, topo);
        std::vector<std::vector<int>> sets;
        if (c.layer_scope == LayerScope::Any)
            for (int l : all) sets.push_back({l});
        else if (!all.empty())
            sets.push_back(all);
        for (const auto& set : sets) {
            const LayerSpec& first = topo.layers[size_t(set[0])];
            const ActRange range = act_range(first.act_bits);
            std::vector<int> codes{c.effect == Effect::Stuck ? c.stuck_code : 0};
            if (c.effect == Effect::StuckUniform) {
                codes.clear();
                for (int v = range.lo; v <= range.hi; ++v) codes.push_back(v);
                for (int l : set)
                    if (topo.layers[size_t(l)].act_bits != first.act_bits)
                        throw std::invalid_argument("class " + std::to_string(ci) +
                                                    ": uniform stuck levels on layers of different activation "
                                                    "ranges (" + layer_names(topo, set) + ")");
            }
            int units = 0;
            for (int l : set) units = std::max(units, unit_count(m, topo.layers[size_t(l)]));
            for (int u = 0; u < units; ++u)
                for (int code : codes) {
                    ModelFault f;
                    f.cls = int(ci);
                    f.layers = set;
                    f.index = u;
                    f.code = c.effect == Effect::Transition ? 0 : code;
                    for (int l : set) {
                        const LayerSpec& s = topo.layers[size_t(l)];
                        if (u >= unit_count(m, s) || !class_reaches(c, s)) continue;
                        ErrorPattern p = to_error_pattern(c, topo, l, code);
                        if (narrow(m, p, u, s)) f.patterns.push_back(std::move(p));
                    }
                    if (!f.patterns.empty()) out.push_back(std::move(f));
                }
        }
    }
    return out;
}

std::vector<ModelFaultResult> run_model_sweep(const Engine& engine, const InputBatch& batch,
                                              const std::vector<ModelFault>& faults,
                                              const std::vector<int16_t>& golden, int threads, Progress* progress) {
    std::vector<ModelFaultResult> results(faults.size());
    for (size_t i = 0; i < faults.size(); ++i) {
        const EvalResult r = engine.evaluate(batch, faults[i].patterns, threads);
        results[i].correct = r.correct;
        for (int k = 0; k < batch.count; ++k) results[i].changed += r.predictions[size_t(k)] != golden[size_t(k)];
        if (progress) progress->add(1);
    }
    return results;
}

}  // namespace fatsim::campaigns
