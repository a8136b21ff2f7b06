// Quantisers, error-injection layer, network, BN folding, streamlined eval.
#include "nn.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <omp.h>

#include "engine.hpp"
#include "threshold_fold.hpp"

namespace fatsim::trainer {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace I = torch::indexing;

uint64_t mix_seed(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFull;  // torch seeds are signed-safe
}

// ---- thread-invariant convolution ----------------------------------------------
Tensor ThreadInvariantConv::forward(AutogradContext* ctx, Tensor x, Tensor w) {
    ctx->save_for_backward({x, w});
    return torch::conv2d(x, w);
}
variable_list ThreadInvariantConv::backward(AutogradContext* ctx, variable_list g) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1];
    const Tensor go = g[0].contiguous();
    auto grads = [&](const Tensor& gs, const Tensor& xs, bool input, bool weight) {
        return at::convolution_backward(gs, xs, w, c10::nullopt, {1, 1}, {0, 0}, {1, 1}, false, {0, 0}, 1,
                                        {input, weight, false});
    };
    Tensor dx;
    if (ctx->needs_input_grad(0)) dx = std::get<0>(grads(go, x, true, false));
    const int64_t N = x.size(0);
    constexpr int K = kWeightGradChunks;
    std::array<Tensor, K> part;
    at::parallel_for(0, K, 1, [&](int64_t begin, int64_t end) {
        // One thread per slice: oneDNN below sees one thread whether this runs
        // inline (1 thread) or inside LibTorch's OpenMP team.
        omp_set_num_threads(1);
        for (int64_t k = begin; k < end; ++k) {
            const int64_t lo = N * k / K, hi = N * (k + 1) / K;
            part[size_t(k)] = hi > lo ? std::get<1>(grads(go.slice(0, lo, hi), x.slice(0, lo, hi), false, true))
                                      : torch::zeros_like(w);
        }
    });
    Tensor dw = part[0].clone();
    for (int k = 1; k < K; ++k) dw.add_(part[size_t(k)]);
    return {dx, dw};
}

// ---- quantisers --------------------------------------------------------------
Tensor SignSte::forward(AutogradContext*, Tensor x) {
    return torch::where(x >= 0, torch::ones_like(x), -torch::ones_like(x));
}
variable_list SignSte::backward(AutogradContext*, variable_list g) { return {g[0]}; }

Tensor BipolarActSte::forward(AutogradContext* ctx, Tensor x) {
    ctx->save_for_backward({x});
    return torch::where(x >= 0, torch::ones_like(x), -torch::ones_like(x));
}
variable_list BipolarActSte::backward(AutogradContext* ctx, variable_list g) {
    const Tensor x = ctx->get_saved_variables()[0];
    return {g[0] * (x.abs() <= 1).to(g[0].dtype())};
}

Tensor RoundSte::forward(AutogradContext* ctx, Tensor x, double scale, double lo, double hi) {
    ctx->save_for_backward({x});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["lo"] = lo;
    ctx->saved_data["hi"] = hi;
    return (x * scale + 0.5).floor().clamp(lo, hi);
}
variable_list RoundSte::backward(AutogradContext* ctx, variable_list g) {
    const Tensor x = ctx->get_saved_variables()[0];
    const double scale = ctx->saved_data["scale"].toDouble();
    const double lo = ctx->saved_data["lo"].toDouble(), hi = ctx->saved_data["hi"].toDouble();
    const Tensor v = x * scale;
    const Tensor inside = ((v >= lo) & (v <= hi)).to(g[0].dtype());
    return {g[0] * inside * scale, Tensor(), Tensor(), Tensor()};
}

Tensor quantize_weight(const Tensor& w, int bits) {
    if (bits == 1) return SignSte::apply(w);
    const double m = weight_max(bits);
    return RoundSte::apply(w, m, -m, m);
}

double act_scale(int act_bits) { return act_bits >= 3 ? ((1 << act_bits) - 1) / 3.0 : 1.0; }

Tensor quantize_act(const Tensor& y, int act_bits) {
    if (act_bits == 1) return BipolarActSte::apply(y);
    if (act_bits == 2) return RoundSte::apply(y, 1.0, -1.0, 1.0);
    return RoundSte::apply(y, act_scale(act_bits), 0.0, double((1 << act_bits) - 1));
}

std::vector<double> act_steps(int act_bits) {
    if (act_bits == 1) return {0.0};
    if (act_bits == 2) return {-0.5, 0.5};
    std::vector<double> s;
    const double sc = act_scale(act_bits);
    for (int k = 1; k < (1 << act_bits); ++k) s.push_back((k - 0.5) / sc);
    return s;
}

std::vector<double> act_values(int act_bits) {
    const ActRange r = act_range(act_bits);
    std::vector<double> v;
    for (int c = r.lo; c <= r.hi; ++c) v.push_back(r.value(c));
    return v;
}

// ---- injection ---------------------------------------------------------------
Tensor InjectFn::forward(AutogradContext* ctx, Tensor x, Tensor mask, Tensor values) {
    ctx->save_for_backward({mask});
    return torch::where(mask, values.to(x.dtype()), x);
}
variable_list InjectFn::backward(AutogradContext* ctx, variable_list g) {
    const Tensor mask = ctx->get_saved_variables()[0];
    return {g[0].masked_fill(mask, 0.0), Tensor(), Tensor()};
}
Tensor AffineInjectFn::forward(AutogradContext* ctx, Tensor x, Tensor mask, Tensor g, Tensor h) {
    ctx->save_for_backward({mask});
    return torch::addcmul(h, x, g);
}
variable_list AffineInjectFn::backward(AutogradContext* ctx, variable_list g) {
    const Tensor mask = ctx->get_saved_variables()[0];
    return {g[0].masked_fill(mask, 0.0), Tensor(), Tensor(), Tensor()};
}

namespace {
// Calls f(u, e) for every element e (linear index into x) under a struck unit
// u (linear index into mask); mask is bool, contiguous, with x's rank and each
// dim 1 (broadcast) or x's.
template <class F>
void for_struck_elements(const Tensor& mask, at::IntArrayRef xs, F f) {
    int64_t X[4] = {1, 1, 1, 1}, S[4] = {1, 1, 1, 1};
    const int64_t R = int64_t(xs.size());
    for (int64_t d = 0; d < R; ++d) {
        X[4 - R + d] = xs[size_t(d)];
        S[4 - R + d] = mask.size(d);
    }
    const bool* m = mask.data_ptr<bool>();
    int64_t u = 0;
    for (int64_t b = 0; b < S[0]; ++b)
        for (int64_t c = 0; c < S[1]; ++c)
            for (int64_t i = 0; i < S[2]; ++i)
                for (int64_t j = 0; j < S[3]; ++j, ++u) {
                    if (!m[u]) continue;
                    for (int64_t bb = S[0] == 1 ? 0 : b; bb < (S[0] == 1 ? X[0] : b + 1); ++bb)
                        for (int64_t cc = S[1] == 1 ? 0 : c; cc < (S[1] == 1 ? X[1] : c + 1); ++cc)
                            for (int64_t ii = S[2] == 1 ? 0 : i; ii < (S[2] == 1 ? X[2] : i + 1); ++ii) {
                                const int64_t row = ((bb * X[1] + cc) * X[2] + ii) * X[3];
                                if (S[3] == 1)
                                    for (int64_t jj = 0; jj < X[3]; ++jj) f(u, row + jj);
                                else
                                    f(u, row + j);
                            }
                }
}
// SparseInjectFn may rewrite x in place: an intermediate of the graph (a leaf
// or a caller's plain tensor keeps its values), contiguous float.
bool rewritable_in_place(const Tensor& x) {
    return x.grad_fn() && x.is_contiguous() && x.scalar_type() == torch::kFloat32;
}
}  // namespace

Tensor SparseInjectFn::forward(AutogradContext* ctx, Tensor x, Tensor mask, Tensor g, Tensor h) {
    const Tensor m = mask.contiguous(), gc = g.to(torch::kFloat32).contiguous(), hc = h.to(torch::kFloat32).contiguous();
    float* xp = x.data_ptr<float>();
    const float *gp = gc.data_ptr<float>(), *hp = hc.data_ptr<float>();
    for_struck_elements(m, x.sizes(), [&](int64_t u, int64_t e) { xp[e] = hp[u] + xp[e] * gp[u]; });
    ctx->mark_dirty({x});
    ctx->save_for_backward({m});
    return x;
}
variable_list SparseInjectFn::backward(AutogradContext* ctx, variable_list g) {
    const Tensor m = ctx->get_saved_variables()[0];
    Tensor grad = g[0];
    // Zero in place only a gradient no other tensor or view holds.
    const bool own = grad.is_contiguous() && grad.scalar_type() == torch::kFloat32 && grad.use_count() == 1 &&
                     grad.storage().use_count() == 1;
    if (!own) grad = grad.to(torch::kFloat32).contiguous().clone();
    float* gp = grad.data_ptr<float>();
    for_struck_elements(m, grad.sizes(), [&](int64_t, int64_t e) { gp[e] = 0.0f; });
    return {grad, Tensor(), Tensor(), Tensor()};
}

namespace {
// The trainer injects single-layer classes: layers any (each injection point
// alone) or exactly one named layer.
bool fires_at(const PatternClass& c, const std::string& layer) {
    return c.layer_scope == LayerScope::Any ||
           (c.layer_scope == LayerScope::Listed && c.layers.size() == 1 && c.layers[0] == layer);
}
// Classes whose occurrence strikes several layers together (drawn once per unit).
bool spans_layers(const PatternClass& c) {
    return c.layer_scope == LayerScope::All || (c.layer_scope == LayerScope::Listed && c.layers.size() > 1);
}
bool strikes_layer(const PatternClass& c, const std::string& layer) {
    return c.layer_scope != LayerScope::Listed || std::find(c.layers.begin(), c.layers.end(), layer) != c.layers.end();
}
// Channel and pixel membership of K classes at one layer shape, and whether
// class k can strike unit u of the granularity (the unit meets its channels and pixels).
struct Regions {
    int64_t C = 0, HW = 0;
    std::vector<int64_t> c, p;   // [K * C], [K * HW] 0/1
    std::vector<bool> any_c, any_p;
    void add(const PatternClass* cls) {  // nullptr: a class that cannot strike this layer
        any_c.push_back(false);
        any_p.push_back(false);
        for (int64_t ch = 0; ch < C; ++ch) {
            c.push_back(cls && cls->channels.contains(int(ch)));
            if (c.back()) any_c.back() = true;
        }
        for (int64_t px = 0; px < HW; ++px) {
            p.push_back(cls && cls->pixels.contains(int(px)));
            if (p.back()) any_p.back() = true;
        }
    }
    bool strikes(ErrorModelKind gran, int64_t G, int64_t k, int64_t u) const {
        switch (gran) {
            case ErrorModelKind::Element: return c[size_t(k * C + u / HW)] && p[size_t(k * HW + u % HW)];
            case ErrorModelKind::Channel: return c[size_t(k * C + u)] && any_p[size_t(k)];
            case ErrorModelKind::Pixel: return any_c[size_t(k)] && p[size_t(k * HW + u)];
            case ErrorModelKind::Group:
                for (int64_t ch = u; ch < C; ch += G)
                    if (c[size_t(k * C + ch)]) return any_p[size_t(k)];
                return false;
        }
        return false;
    }
    torch::Tensor channels() const {
        return torch::tensor(c, torch::kLong).view({int64_t(any_c.size()), C}).to(torch::kBool);
    }
    torch::Tensor pixels() const {
        return torch::tensor(p, torch::kLong).view({int64_t(any_p.size()), HW}).to(torch::kBool);
    }
};
std::string class_path(size_t i) { return "error model classes[" + std::to_string(i) + "]"; }
}  // namespace

InjectionImpl::InjectionImpl(int act_bits, InjectionOptions o, const std::string& layer) : opt(std::move(o)) {
    const ActRange range = act_range(act_bits);
    const int M = range.levels();
    levels = torch::tensor(act_values(act_bits), torch::kFloat32);  // not state: checkpoints hold only weights and BN
    const ErrorModel& em = opt.error_model;
    if (em.granularity == ErrorModelKind::Group && em.group_modulus < 1)
        throw std::invalid_argument("error model: granularity group needs group_modulus >= 1");
    std::vector<int64_t> maps, stuck;
    bool all_stuck = true;
    auto level_of = [&](size_t i, int code) {
        if (code < range.lo || code > range.hi)
            throw std::invalid_argument(class_path(i) + ": code " + std::to_string(code) + " is not a code of layer " +
                                        (layer.empty() ? "?" : layer) + " (" + std::to_string(range.lo) + ".." +
                                        std::to_string(range.hi) + ")");
        return int64_t(code - range.lo);
    };
    auto add = [&](size_t i, double w, const std::vector<int64_t>& map) {
        entry_class.push_back(i);
        entry_weight.push_back(w);
        maps.insert(maps.end(), map.begin(), map.end());
        const bool constant = std::all_of(map.begin(), map.end(), [&](int64_t v) { return v == map[0]; });
        all_stuck = all_stuck && constant;
        stuck.push_back(map[0]);
    };
    for (size_t i = 0; i < em.classes.size(); ++i) {
        const PatternClass& c = em.classes[i];
        if (!fires_at(c, layer)) continue;
        if (!(c.weight > 0)) throw std::invalid_argument(class_path(i) + ": weight must be > 0");
        single_all_channels = single_all_channels && c.channels.all();
        single_all_pixels = single_all_pixels && c.pixels.all();
        switch (c.effect) {
            case Effect::StuckUniform:
                for (int m = 0; m < M; ++m) add(i, c.weight, std::vector<int64_t>(size_t(M), m));
                break;
            case Effect::Stuck: add(i, c.weight * M, std::vector<int64_t>(size_t(M), level_of(i, c.stuck_code))); break;
            case Effect::Transition: {
                std::vector<int64_t> map;
                for (int code = range.lo; code <= range.hi; ++code) {
                    const auto it = c.transition.find(code);
                    map.push_back(level_of(i, it == c.transition.end() ? code : it->second));
                }
                add(i, c.weight * M, map);
                break;
            }
        }
    }
    for (const PatternClass& c : em.classes) weight_sum += c.weight;
    std::vector<double> lo, hi;
    std::vector<int64_t> mmaps, uniform;
    double mcum = 0;
    for (size_t i = 0; i < em.classes.size(); ++i) {
        const PatternClass& c = em.classes[i];
        if (!spans_layers(c)) continue;
        if (!(c.weight > 0)) throw std::invalid_argument(class_path(i) + ": weight must be > 0");
        const bool here = strikes_layer(c, layer);
        multi_class.push_back(i);
        multi_here.push_back(here);
        lo.push_back(opt.p * mcum / weight_sum);
        mcum += c.weight;
        hi.push_back(opt.p * mcum / weight_sum);
        uniform.push_back(c.effect == Effect::StuckUniform);
        for (int code = range.lo; code <= range.hi; ++code) {  // codes are checked only where the class strikes
            int faulty = code;
            if (c.effect == Effect::Stuck) faulty = c.stuck_code;
            if (c.effect == Effect::Transition && c.transition.count(code)) faulty = c.transition.at(code);
            mmaps.push_back(here ? level_of(i, faulty) : 0);
        }
    }
    whole_layer = single_all_channels && single_all_pixels;
    for (size_t i : multi_class) {
        multi_all_channels = multi_all_channels && em.classes[i].channels.all();
        multi_all_pixels = multi_all_pixels && em.classes[i].pixels.all();
    }
    multi_whole = multi_all_channels && multi_all_pixels;
    if (has_multi()) {
        whole_layer = false;  // the per-unit tables carry the multi-layer classes
        multi_lo = torch::tensor(lo, torch::kFloat64);
        multi_hi = torch::tensor(hi, torch::kFloat64);
        multi_maps = torch::tensor(mmaps, torch::kLong);
        multi_uniform = torch::tensor(uniform, torch::kLong).to(torch::kBool);
    }
    // Two levels: fit f(v) = a + b v through each table's two points, and keep the
    // affine form only if it reproduces them exactly in float.
    const std::vector<double> v = act_values(act_bits);
    affine = M == 2;
    auto fit = [&](const std::vector<int64_t>& map, std::vector<double>& as, std::vector<double>& bs) {
        for (size_t i = 0; affine && i + 1 < map.size(); i += 2) {
            const double y0 = v[size_t(map[i])], y1 = v[size_t(map[i + 1])];
            const double b = (y1 - y0) / (v[1] - v[0]), a = y0 - b * v[0];
            affine = float(a) + float(b) * float(v[0]) == float(y0) && float(a) + float(b) * float(v[1]) == float(y1);
            as.push_back(a);
            bs.push_back(b);
        }
    };
    std::vector<double> ea, eb, ma, mb;
    fit(maps, ea, eb);
    fit(mmaps, ma, mb);
    if (affine) {
        entry_a = torch::tensor(ea, torch::kFloat64);
        entry_b = torch::tensor(eb, torch::kFloat64);
        multi_a = torch::tensor(ma, torch::kFloat64);
        multi_b = torch::tensor(mb, torch::kFloat64);
    }
    if (entry_weight.empty()) return;  // no single-layer class fires here
    entry_maps = torch::tensor(maps, torch::kLong);
    if (all_stuck) entry_stuck = torch::tensor(stuck, torch::kLong);
    std::vector<double> cv;
    for (double w : entry_weight) cv.push_back(total += w);
    cum = torch::tensor(cv, torch::kFloat64);
}

const InjectionImpl::UnitTables& InjectionImpl::unit_tables(int64_t C, int64_t H, int64_t W) {
    const std::vector<int64_t> chw{C, H, W};
    if (tables.chw == chw) return tables;
    const auto& classes = opt.error_model.classes;
    const ErrorModelKind gran = opt.error_model.granularity;
    const int64_t K = int64_t(entry_weight.size()), HW = H * W, G = opt.error_model.group_modulus;
    Regions single{C, HW, {}, {}, {}, {}}, multi{C, HW, {}, {}, {}, {}};
    for (int64_t k = 0; k < K; ++k) single.add(&classes[entry_class[size_t(k)]]);
    for (size_t j = 0; j < multi_class.size(); ++j) multi.add(multi_here[j] ? &classes[multi_class[j]] : nullptr);
    int64_t U = C;
    switch (gran) {
        case ErrorModelKind::Element: U = C * HW; break;
        case ErrorModelKind::Channel: U = C; break;
        case ErrorModelKind::Pixel: U = HW; break;
        case ErrorModelKind::Group: U = G; break;
    }
    const int64_t J = int64_t(multi_class.size()), M = levels.numel();
    std::vector<double> cv(static_cast<size_t>(U * K)), tot(static_cast<size_t>(U)), single_p(static_cast<size_t>(U));
    std::vector<int64_t> last(static_cast<size_t>(U), 0), mstrike(static_cast<size_t>(U * J));
    for (int64_t u = 0; u < U; ++u) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) {
            if (single.strikes(gran, G, k, u)) {
                acc += entry_weight[size_t(k)];
                last[size_t(u)] = k;
            }
            cv[size_t(u * K + k)] = acc;
        }
        tot[size_t(u)] = acc;
        if (J == 0) continue;
        // Every class fires with p w / W at a unit it can strike: the single-layer draw
        // runs on the units no multi-layer class struck, so its threshold is divided by
        // the chance that none did.
        double p_multi = 0;
        for (int64_t j = 0; j < J; ++j)
            if ((mstrike[size_t(u * J + j)] = multi.strikes(gran, G, j, u)))
                p_multi += opt.p * classes[multi_class[size_t(j)]].weight / weight_sum;
        single_p[size_t(u)] = opt.p * acc / (double(M) * weight_sum) / (1.0 - p_multi);
    }
    tables.chw = chw;
    tables.cum = torch::tensor(cv, torch::kFloat64).view({U, K});
    tables.total = torch::tensor(tot, torch::kFloat64);
    tables.last = torch::tensor(last, torch::kLong);
    tables.region_c = single.channels();
    tables.region_p = single.pixels();
    if (J > 0) {
        tables.mstrike = torch::tensor(mstrike, torch::kLong).view({U, J}).to(torch::kBool);
        tables.mregion_c = multi.channels();
        tables.mregion_p = multi.pixels();
        tables.single_p = torch::tensor(single_p, torch::kFloat64);
    }
    return tables;
}

bool InjectionImpl::unit_loop_applies() const {
    const ErrorModelKind gran = opt.error_model.granularity;
    if (!affine || !sparse || (entry_weight.empty() && !has_multi()) || gran == ErrorModelKind::Group) return false;
    const bool all_pixels = single_all_pixels && multi_all_pixels, all_channels = single_all_channels && multi_all_channels;
    return whole_layer || gran == ErrorModelKind::Element || (gran == ErrorModelKind::Channel && all_pixels) ||
           (gran == ErrorModelKind::Pixel && all_channels);
}

std::array<Tensor, 3> InjectionImpl::draw_units_affine(const Tensor& r, int64_t C, int64_t H, int64_t W) {
    const double p = opt.p;
    const int64_t N = r.numel(), K = int64_t(entry_weight.size());
    Tensor mask = torch::empty(r.sizes(), torch::kBool), g = torch::empty(r.sizes(), torch::kFloat32),
           h = torch::empty(r.sizes(), torch::kFloat32);
    const double* rp = r.data_ptr<double>();
    const double *ea = entry_a.data_ptr<double>(), *eb = entry_b.data_ptr<double>();
    bool* mp = mask.data_ptr<bool>();
    float *gp = g.data_ptr<float>(), *hp = h.data_ptr<float>();
    auto put = [&](int64_t n, bool hit, int64_t k) {
        mp[n] = hit;
        gp[n] = hit ? float(eb[k]) : 1.0f;
        hp[n] = hit ? float(ea[k]) : 0.0f;
    };
    if (whole_layer) {  // as forward: r < p, entry #{k : cum_k <= r S / p}
        const double* cp = cum.data_ptr<double>();
        const double s = total / p;
        for (int64_t n = 0; n < N; ++n)
            put(n, rp[n] < p, std::min<int64_t>(std::upper_bound(cp, cp + K, rp[n] * s) - cp, K - 1));
        return {mask, g, h};
    }
    const UnitTables& ut = unit_tables(C, H, W);
    const int64_t U = ut.total.numel();
    const double *cp = K > 0 ? ut.cum.data_ptr<double>() : nullptr, *tp = ut.total.data_ptr<double>();
    const int64_t* lp = ut.last.data_ptr<int64_t>();
    if (has_multi()) {
        // As forward's tensor ops: the shared draw rm picks class j (its interval),
        // which strikes where it can; elsewhere the single-layer draw runs with the
        // unit's threshold single_p. A uniform class takes the level at rm's
        // relative position in its interval.
        if (!shared_draw.defined() || shared_draw.size(0) != r.size(0) || shared_draw.size(1) < U ||
            shared_draw.scalar_type() != torch::kFloat64 || !shared_draw.is_contiguous())
            throw std::logic_error("injection: a model with multi-layer classes needs the net's shared draw");
        const int64_t J = int64_t(multi_class.size()), M = levels.numel(), stride = shared_draw.size(1);
        const double* sd = shared_draw.data_ptr<double>();
        const double *mlo = multi_lo.data_ptr<double>(), *mhi = multi_hi.data_ptr<double>();
        const double *ma = multi_a.data_ptr<double>(), *mb = multi_b.data_ptr<double>();
        const bool* uniform = multi_uniform.data_ptr<bool>();
        const Tensor strike = ut.mstrike.contiguous();
        const bool* ms = strike.data_ptr<bool>();
        const double* sp = ut.single_p.data_ptr<double>();
        const float* lv = levels.data_ptr<float>();
        Tensor multi_mask = torch::empty(r.sizes(), torch::kBool);
        bool* mm = multi_mask.data_ptr<bool>();
        for (int64_t n = 0; n < N; ++n) {
            const int64_t u = n % U;
            const double rm = sd[(n / U) * stride + u];
            const int64_t j = std::min<int64_t>(std::upper_bound(mhi, mhi + J, rm) - mhi, J - 1);
            mm[n] = rm < mhi[J - 1] && ms[u * J + j];
            if (mm[n]) {
                mp[n] = true;
                if (uniform[j]) {
                    const double frac = (rm - mlo[j]) / (mhi[j] - mlo[j]);
                    const int64_t level = std::clamp<int64_t>(int64_t(std::floor(frac * double(M))), 0, M - 1);
                    gp[n] = 0.0f;
                    hp[n] = float(double(lv[level]));
                } else {
                    gp[n] = float(mb[j]);
                    hp[n] = float(ma[j]);
                }
            } else if (K == 0) {
                put(n, false, 0);
            } else {
                const double* row = cp + u * K;
                put(n, rp[n] < sp[u] && tp[u] > 0,
                    std::min<int64_t>(std::upper_bound(row, row + K, rp[n] * (tp[u] / std::max(sp[u], 1e-300))) - row,
                                      lp[u]));
            }
        }
        last_multi_mask = multi_mask;
        return {mask, g, h};
    }
    for (int64_t n = 0; n < N; ++n) {
        // The unit's entry is one that strikes it (unit_tables), and where the loop
        // applies a unit never straddles a class's region: no region check.
        const int64_t u = n % U;
        const double* row = cp + u * K;
        put(n, rp[n] < p && tp[u] > 0,
            std::min<int64_t>(std::upper_bound(row, row + K, rp[n] * (tp[u] / p)) - row, lp[u]));
    }
    return {mask, g, h};
}

Tensor InjectionImpl::forward(const Tensor& x) {
    last_mask = Tensor();
    last_multi_mask = Tensor();
    const double p = opt.p;
    if (!enabled || !is_training() || p <= 0) return x;
    const bool is4 = x.dim() == 4;
    const int64_t B = x.size(0), C = x.size(1);
    if (dropout) {  // Dropout2D baseline: whole channels to 0, survivors scaled by 1/(1-p)
        const Tensor x4 = is4 ? x : x.view({B, C, 1, 1});
        const Tensor y = torch::feature_dropout(x4, p, true);
        return is4 ? y : y.view({B, C});
    }
    const int64_t K = int64_t(entry_weight.size());
    if (K == 0 && !has_multi()) return x;
    const int64_t M = levels.numel(), H = is4 ? x.size(2) : 1, W = is4 ? x.size(3) : 1;
    const ErrorModelKind gran = opt.error_model.granularity;
    std::vector<int64_t> rs;  // one draw per unit
    switch (gran) {
        case ErrorModelKind::Element: rs = x.sizes().vec(); break;
        case ErrorModelKind::Channel: rs = is4 ? std::vector<int64_t>{B, C, 1, 1} : std::vector<int64_t>{B, C}; break;
        case ErrorModelKind::Pixel: rs = is4 ? std::vector<int64_t>{B, 1, H, W} : std::vector<int64_t>{B, 1}; break;
        case ErrorModelKind::Group: rs = {B, opt.error_model.group_modulus}; break;
    }
    // Equation (1) with p_k = p * cum_k / S: r < p injects entry #{k : cum_k <= r S / p}
    // (the paper's models: cum_k = k, S = M, entry = level floor(r M / p)).
    const Tensor r = torch::rand(rs, torch::kFloat64);
    if (unit_loop_applies()) {
        auto [mask, g, h] = draw_units_affine(r, C, H, W);
        last_mask = mask;
        if (rewritable_in_place(x)) return SparseInjectFn::apply(x, mask, g, h);
        return AffineInjectFn::apply(x, mask, g.to(x.dtype()), h.to(x.dtype()));  // (e.g. an FC layer's view)
    }
    Tensor mask, cls, mhit, mcls, mfrac;  // m*: the multi-layer classes (unit level)
    const UnitTables* ut = nullptr;
    if (whole_layer) {
        mask = r < p;
        cls = torch::searchsorted(cum, r * (total / p), /*out_int32=*/false, /*right=*/true).clamp_max(K - 1);
    } else {  // the entries that can strike differ from unit to unit
        ut = &unit_tables(C, H, W);
        const int64_t U = ut->total.numel();
        const Tensor rv = r.reshape({B, U});
        if (!has_multi()) {
            const Tensor c = torch::searchsorted(ut->cum, (rv * (ut->total / p)).t().contiguous(), false, true).t();
            cls = torch::minimum(c, ut->last).reshape(rs);
            mask = ((rv < p) & (ut->total > 0)).reshape(rs);
        } else {
            if (!shared_draw.defined() || shared_draw.size(0) != B || shared_draw.size(1) < U)
                throw std::logic_error("injection: a model with multi-layer classes needs the net's shared draw");
            const Tensor rm = shared_draw.slice(1, 0, U).contiguous();
            const int64_t J = int64_t(multi_class.size());
            const Tensor j = torch::searchsorted(multi_hi, rm, false, true).clamp_max(J - 1);
            const Tensor hit = (rm < multi_hi[J - 1]) & ut->mstrike.index({torch::arange(U).view({1, U}), j});
            const Tensor lo = multi_lo.index({j});
            mhit = hit.reshape(rs);
            mcls = j.reshape(rs);
            mfrac = ((rm - lo) / (multi_hi.index({j}) - lo)).reshape(rs);
            if (K > 0) {
                const Tensor sp = ut->single_p;
                const Tensor c =
                    torch::searchsorted(ut->cum, (rv * (ut->total / sp.clamp_min(1e-300))).t().contiguous(), false, true)
                        .t();
                cls = torch::minimum(c, ut->last).reshape(rs);
                mask = ((rv < sp) & (ut->total > 0) & ~hit).reshape(rs);
            }
        }
    }
    auto to_channels = [&](Tensor& t) {  // group units -> channel c takes group c mod G
        if (!t.defined() || gran != ErrorModelKind::Group) return;
        t = t.index_select(1, torch::arange(C, torch::kLong).remainder(opt.error_model.group_modulus));
        if (is4) t = t.view({B, C, 1, 1});
    };
    for (Tensor* t : {&mask, &cls, &mhit, &mcls, &mfrac}) to_channels(*t);
    Tensor ci, pi;
    if (ut) {  // only the elements of the unit inside the entry's channels and pixels change
        ci = torch::arange(C, torch::kLong).view({1, C, 1, 1});
        pi = torch::arange(H * W, torch::kLong).view({1, 1, H, W});
        if (!is4) {  // FC: [B, C], one pixel
            ci = ci.view({1, C});
            pi = pi.view({1, 1});
        }
        // A region covering every channel (pixel) masks nothing: skip its full-size lookup.
        if (K > 0 && !single_all_channels) mask = mask & ut->region_c.index({cls, ci});
        if (K > 0 && !single_all_pixels) mask = mask & ut->region_p.index({cls, pi});
    }
    Tensor mmask, uniform_level, muniform;  // the multi-layer class's effect replaces the single-layer one
    if (has_multi()) {
        mmask = multi_whole ? mhit : mhit & ut->mregion_c.index({mcls, ci}) & ut->mregion_p.index({mcls, pi});
        uniform_level = (mfrac * double(M)).floor().to(torch::kLong).clamp(0, M - 1);
        muniform = multi_uniform.index({mcls});
        last_multi_mask = mmask;
    }
    if (affine) {  // per unit a, b; out = x g + h
        Tensor a, b;
        if (K > 0) {
            a = entry_a.index({cls});
            b = entry_b.index({cls});
        }
        if (has_multi()) {
            const Tensor ma = torch::where(muniform, levels.index({uniform_level}).to(torch::kFloat64), multi_a.index({mcls}));
            const Tensor mb = multi_b.index({mcls}).masked_fill(muniform, 0.0);
            a = K > 0 ? torch::where(mmask, ma, a) : ma;
            b = K > 0 ? torch::where(mmask, mb, b) : mb;
            mask = mask.defined() ? (mask | mmask) : mmask;
        }
        last_mask = mask;
        const Tensor g = torch::where(mask, b, 1.0).to(x.dtype()), h = torch::where(mask, a, 0.0).to(x.dtype());
        if (sparse && rewritable_in_place(x) && mask.dim() == x.dim()) {
            const auto shape = at::infer_size(mask.sizes(), g.sizes());
            return SparseInjectFn::apply(x, mask.expand(shape), g.expand(shape), h.expand(shape));
        }
        return AffineInjectFn::apply(x, mask, g, h);
    }
    Tensor golden;  // golden level index per element, for transition tables
    auto golden_level = [&]() {
        if (!golden.defined()) {
            const double v0 = levels[0].item<double>(), step = M > 1 ? (levels[1] - levels[0]).item<double>() : 1.0;
            golden = ((x.detach() - v0) / step).round().to(torch::kLong).clamp(0, M - 1);
        }
        return golden;
    };
    Tensor values;
    if (K == 0) {
        values = x.detach();
    } else if (entry_stuck.defined()) {
        values = levels.index({entry_stuck.index({cls})});
    } else {
        values = levels.index({entry_maps.index({cls * M + golden_level()})});
    }
    if (has_multi()) {
        const Tensor mapped = muniform.all().item<bool>()
                                  ? uniform_level
                                  : torch::where(muniform, uniform_level, multi_maps.index({mcls * M + golden_level()}));
        values = torch::where(mmask, levels.index({mapped}).to(x.dtype()), values.to(x.dtype()));
        mask = mask.defined() ? (mask | mmask) : mmask;
    }
    last_mask = mask;
    return InjectFn::apply(x, mask, values.to(x.dtype()));
}

// ---- network -----------------------------------------------------------------
QLayerImpl::QLayerImpl(const LayerSpec& s, const InjectionOptions& inj, bool inject_here) : spec(s) {
    const int64_t O = s.mh();
    if (s.kind == LayerKind::Conv)
        weight = register_parameter("weight", torch::empty({O, s.in_channels, s.kernel, s.kernel}).uniform_(-1, 1));
    else
        weight = register_parameter("weight", torch::empty({O, int64_t(s.mw())}).uniform_(-1, 1));
    if (s.act_bits == 0) {
        // One positive global scale for the loss (argmax-neutral).
        out_log_scale = register_parameter("out_log_scale", torch::full({1}, -0.5 * std::log(double(s.mw()))));
    } else {
        bn = register_module("bn", torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(O).eps(1e-4).momentum(0.1)));
        if (inject_here) inject = register_module("inject", Injection(s.act_bits, inj, s.name));
    }
}

Tensor QLayerImpl::accumulate(const Tensor& x) const {
    const Tensor qw = quantize_weight(weight, spec.weight_bits);
    return spec.kind == LayerKind::Conv ? ThreadInvariantConv::apply(x, qw) : torch::linear(x, qw);
}

QnnNetImpl::QnnNetImpl(const Topology& t, const InjectionOptions& inj) : topo(t) {
    validate_error_model(inj.error_model, topo, "error model");
    const ErrorModel& em = inj.error_model;
    if (std::any_of(em.classes.begin(), em.classes.end(), spans_layers)) {
        for (const auto& s : topo.layers) {  // the largest unit count of any injection point
            if (s.act_bits == 0) continue;
            const int64_t C = s.channels, HW = int64_t(s.out_dim) * s.out_dim;
            switch (em.granularity) {
                case ErrorModelKind::Element: shared_units = std::max(shared_units, C * HW); break;
                case ErrorModelKind::Channel: shared_units = std::max(shared_units, C); break;
                case ErrorModelKind::Pixel: shared_units = std::max(shared_units, HW); break;
                case ErrorModelKind::Group: shared_units = std::max<int64_t>(shared_units, em.group_modulus); break;
            }
        }
    }
    for (const auto& name : inj.layers) {
        const int l = topo.find_layer(name);
        if (l < 0) throw std::invalid_argument("injection layer '" + name + "' is not in topology '" + topo.name + "'");
        if (topo.layers[size_t(l)].act_bits == 0)
            throw std::invalid_argument("injection layer '" + name + "' has no activation (last layer)");
    }
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const auto& s = topo.layers[l];
        bool here = s.act_bits != 0 &&
                    (inj.layers.empty() || std::find(inj.layers.begin(), inj.layers.end(), s.name) != inj.layers.end());
        layers.push_back(register_module(s.name, QLayer(s, inj, here)));
    }
}

Tensor QnnNetImpl::forward(Tensor x) {
    if (shared_units > 0) {  // one draw per (sample, unit) for the classes that span layers
        bool injecting = false;
        for (auto& L : layers) injecting = injecting || (L->inject && L->inject->enabled && !L->inject->dropout);
        const Tensor draw =
            is_training() && injecting ? torch::rand({x.size(0), shared_units}, torch::kFloat64) : Tensor();
        for (auto& L : layers)
            if (L->inject) L->inject->shared_draw = draw;
    }
    for (auto& L : layers) {
        const auto& s = L->spec;
        if (s.kind == LayerKind::Fc && x.dim() == 4) x = x.permute({0, 2, 3, 1}).contiguous().flatten(1);
        Tensor acc = L->accumulate(x);
        if (s.act_bits == 0) return acc * L->out_log_scale.exp();
        const auto& bo = L->bn->options;
        // LibTorch sums a channel of an [N, C] (or [N, C, 1, 1]) input over the
        // batch in per-thread pieces (its channels-last kernel), so the result
        // depended on the thread count; as [1, C, N] each channel is summed
        // whole by one thread. Same statistics, same count N.
        const bool per_sample = acc.dim() == 2 || (acc.dim() == 4 && acc.size(2) * acc.size(3) == 1);
        const Tensor bn_in = per_sample ? acc.reshape({acc.size(0), acc.size(1)}).t().unsqueeze(0).contiguous() : acc;
        Tensor y = torch::batch_norm(bn_in, L->bn->weight, L->bn->bias, L->bn->running_mean, L->bn->running_var,
                                     is_training(), bo.momentum().value(), bo.eps(), false);
        if (per_sample) y = y.squeeze(0).t().reshape(acc.sizes());
        Tensor a = quantize_act(y, s.act_bits);
        const bool after_pool = L->inject ? L->inject->opt.after_pool : true;
        if (L->inject && !after_pool) a = L->inject(a);
        if (s.pool > 1) a = torch::max_pool2d(a, s.pool, s.pool);
        if (L->inject && after_pool) a = L->inject(a);
        x = a;
    }
    return x;
}

void QnnNetImpl::clamp_weights() {
    torch::NoGradGuard ng;
    for (auto& L : layers) L->weight.clamp_(-1.0, 1.0);
}

std::vector<Injection> QnnNetImpl::injections() const {
    std::vector<Injection> v;
    for (const auto& L : layers)
        if (L->inject) v.push_back(L->inject);
    return v;
}
std::vector<int> QnnNetImpl::injection_layers() const {
    std::vector<int> v;
    for (size_t l = 0; l < layers.size(); ++l)
        if (layers[l]->inject) v.push_back(int(l));
    return v;
}
void QnnNetImpl::set_injection(int enabled_layer) {
    for (size_t l = 0; l < layers.size(); ++l)
        if (layers[l]->inject) layers[l]->inject->enabled = enabled_layer == -1 || enabled_layer == int(l);
}
void QnnNetImpl::set_dropout(bool d) {
    for (auto& inj : injections()) inj->dropout = d;
}

Tensor input_tensor(const InputBatch& b, int first, int n, torch::Dtype dtype) {
    const int D = b.dim, C = b.channels;
    auto* p = const_cast<int8_t*>(b.data.data()) + size_t(first) * D * D * C;
    return torch::from_blob(p, {n, D, D, C}, torch::kInt8).to(dtype).permute({0, 3, 1, 2}).contiguous();
}

// ---- folding -----------------------------------------------------------------
QnnModel fold(QnnNet& net, const std::string& description) {
    torch::NoGradGuard ng;
    QnnModel m;
    m.topology = net->topo;
    m.description = description;
    for (auto& L : net->layers) {
        const LayerSpec& s = L->spec;
        const int O = s.mh(), MW = s.mw();
        Tensor w = quantize_weight(L->weight.detach(), s.weight_bits).to(torch::kFloat64);
        if (s.kind == LayerKind::Conv) w = w.permute({0, 2, 3, 1});
        w = w.reshape({O, MW}).contiguous();
        const double* wp = w.data_ptr<double>();
        LayerParams lp;
        lp.weights.resize(size_t(O) * MW);
        for (size_t i = 0; i < lp.weights.size(); ++i) lp.weights[i] = int8_t(std::lround(wp[i]));
        if (s.act_bits != 0) {
            const auto steps = act_steps(s.act_bits);
            const Tensor g = L->bn->weight.detach().to(torch::kFloat64), b = L->bn->bias.detach().to(torch::kFloat64);
            const Tensor mu = L->bn->running_mean.to(torch::kFloat64), var = L->bn->running_var.to(torch::kFloat64);
            const Tensor A = g / (var + L->bn->options.eps()).sqrt();
            const Tensor Bt = b - mu * A;
            const auto Aa = A.accessor<double, 1>(), Ba = Bt.accessor<double, 1>();
            const bool xnor = s.binary_xnor();
            for (int o = 0; o < O; ++o) {
                const double a = Aa[o], bb = Ba[o];
                if (a < 0)
                    for (int c = 0; c < MW; ++c) lp.weights[size_t(o) * MW + c] = int8_t(-lp.weights[size_t(o) * MW + c]);
                // The one BN -> integer threshold rule, shared with the QONNX import.
                for (double t : steps) lp.thresholds.push_back(fold_step_threshold(std::fabs(a), bb, t, xnor, MW));
            }
        }
        m.layers.push_back(std::move(lp));
    }
    m.validate("trainer export");
    return m;
}

// ---- streamlined eval ----------------------------------------------------------
std::vector<int> first_argmax(const Tensor& logits) {
    const Tensor l = logits.detach().to(torch::kFloat64).contiguous();
    const int64_t N = l.size(0), K = l.size(1);
    const double* p = l.data_ptr<double>();
    std::vector<int> out(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) out[size_t(i)] = int(std::max_element(p + i * K, p + (i + 1) * K) - (p + i * K));
    return out;
}

namespace {
Tensor codes_nhwc(const Tensor& codes) {  // [N,C,H,W] or [N,C] double -> int8 [N, H*W*C]
    Tensor c = codes.dim() == 4 ? codes.permute({0, 2, 3, 1}) : codes;
    return c.contiguous().to(torch::kInt8).flatten(1);
}
}  // namespace

std::vector<int> streamlined_predict(const QnnModel& m, const Tensor& input, std::vector<Tensor>* trace_act,
                                     std::vector<Tensor>* trace_out) {
    torch::NoGradGuard ng;
    Tensor x = input;
    if (trace_act) trace_act->clear();
    if (trace_out) trace_out->clear();
    const auto& T = m.topology;
    double x_max = input.numel() ? input.abs().max().item<double>() : 0.0;  // largest |input value| of this layer
    for (size_t l = 0; l < T.layers.size(); ++l) {
        const LayerSpec& s = T.layers[l];
        const int O = s.mh(), MW = s.mw();
        // Every accumulator and partial sum is an integer of magnitude <= MW * |w|max * |x|max.
        // float32 holds every integer up to 2^24 and the sums of such products exactly in any
        // order; under 2^22 float32 (several times faster: LibTorch's float64 convolution is
        // its slow reference path) is exact with margin, and the round() below would repair
        // an algorithm that is off by less than 0.5. Above it, float64.
        const double bound = double(MW) * weight_max(s.weight_bits) * x_max;
        const auto dtype = bound <= double(1 << 22) ? torch::kFloat32 : torch::kFloat64;
        x = x.to(dtype);
        if (s.kind == LayerKind::Fc && x.dim() == 4) x = x.permute({0, 2, 3, 1}).contiguous().flatten(1);
        const auto& lw = m.layers[l].weights;
        Tensor w = torch::from_blob(const_cast<int8_t*>(lw.data()), {O, MW}, torch::kInt8).to(dtype);
        Tensor acc;
        if (s.kind == LayerKind::Conv)
            acc = torch::conv2d(x, w.view({O, s.kernel, s.kernel, s.in_channels}).permute({0, 3, 1, 2}).contiguous());
        else
            acc = torch::linear(x, w);
        acc = acc.round();
        if (s.act_bits == 0) return first_argmax(acc);
        const ActRange ar = act_range(s.act_bits);
        const int NT = ar.thresholds();
        const auto& th = m.layers[l].thresholds;
        // Thresholds beyond the bound compare the same after rounding to float32 (monotone).
        Tensor thr = torch::from_blob(const_cast<int32_t*>(th.data()), {O, NT}, torch::kInt32).to(torch::kFloat64);
        if (s.binary_xnor()) thr = thr * 2.0 - MW;  // popcount domain -> dot domain
        thr = thr.to(dtype);
        Tensor level = acc.dim() == 4 ? (acc.unsqueeze(-1) >= thr.view({1, O, 1, 1, NT})).sum(-1)
                                      : (acc.unsqueeze(-1) >= thr.view({1, O, NT})).sum(-1);
        Tensor codes = level.to(dtype) + ar.lo;
        if (trace_act) trace_act->push_back(codes_nhwc(codes));
        if (s.pool > 1) codes = torch::max_pool2d(codes, s.pool, s.pool);  // codes ordered like values
        if (trace_out) trace_out->push_back(codes_nhwc(codes));
        x = ar.bipolar ? codes * 2.0 - 1.0 : codes;
        x_max = std::max(std::abs(ar.value(ar.lo)), std::abs(ar.value(ar.hi)));
    }
    throw std::logic_error("streamlined_predict: topology has no last layer");
}

AgreementReport check_agreement(QnnNet& net, const QnnModel& m, const InputBatch& batch, int threads) {
    torch::NoGradGuard ng;
    AgreementReport rep;
    const bool was_training = net->is_training();
    net->eval();
    Engine eng(m);
    auto ws = eng.make_workspace();
    const int L = int(m.topology.layers.size());
    const int chunk = 250;
    for (int s0 = 0; s0 < batch.count; s0 += chunk) {
        const int n = std::min(chunk, batch.count - s0);
        std::vector<Tensor> ta, to;
        const Tensor in = input_tensor(batch, s0, n);  // int8 codes, exact in float32
        const auto ps = streamlined_predict(m, in, &ta, &to);
        const auto pf = first_argmax(net->forward(in));
        for (int i = 0; i < n; ++i) {
            Trace tr;
            const int pe = eng.classify(*ws, batch.image(s0 + i), {}, &tr);
            const int label = batch.labels[size_t(s0 + i)];
            ++rep.images;
            rep.pred_agree += pe == ps[size_t(i)];
            rep.float_agree += pf[size_t(i)] == ps[size_t(i)];
            rep.engine_correct += pe == label;
            rep.torch_correct += ps[size_t(i)] == label;
            rep.float_correct += pf[size_t(i)] == label;
            bool ok = true;
            for (int l = 0; l + 1 < L && ok; ++l) {
                const auto& a = tr.layers[size_t(l)].act;
                const auto& o = tr.layers[size_t(l)].out;
                const Tensor& xa = ta[size_t(l)];
                const Tensor& xo = to[size_t(l)];
                ok = size_t(xa.size(1)) == a.size() && size_t(xo.size(1)) == o.size() &&
                     std::memcmp(xa[i].data_ptr<int8_t>(), a.data(), a.size()) == 0 &&
                     std::memcmp(xo[i].data_ptr<int8_t>(), o.data(), o.size()) == 0;
            }
            rep.act_agree += ok;
        }
    }
    (void)threads;
    if (was_training) net->train();
    return rep;
}

}  // namespace fatsim::trainer
