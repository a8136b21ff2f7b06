#include "fast_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "kernels.hpp"
#include "sweep.hpp"

namespace fatsim::campaigns {

using namespace kernels;

namespace {

// Calls f(q, tap) for each output pixel q (of an O x O map, K x K kernel,
// stride 1) whose window contains input pixel `pix` of a D x D map; tap is
// ky*K + kx, the kernel position pix sits at.
template <class F>
inline void for_each_window_output(int pix, int D, int K, int O, F&& f) {
    const int y = pix / D, x = pix - y * D;
    for (int ky = 0; ky < K; ++ky) {
        const int oy = y - ky;
        if (oy < 0 || oy >= O) continue;
        for (int kx = 0; kx < K; ++kx) {
            const int ox = x - kx;
            if (ox >= 0 && ox < O) f(oy * O + ox, ky * K + kx);
        }
    }
}

// One compute layer, prepared for dense recomputation of single output pixels
// and for accumulator deltas (weights transposed to [MW][MHP], MH padded to
// kLanes, so one weight column is a run of Lanes vectors).
struct FLayer {
    int K = 0, C = 0, D = 0, O = 0, P = 1, Q = 0, MH = 0, MW = 0, T = 0, lo = 0;
    bool xnor = false, fc = false, last = false;
    int div = 1;  // accumulator change = weight * value change / div (2 for XNOR popcounts)
    int words = 0, pix_words = 0;
    std::vector<uint64_t> wbits;
    int mhp = 0;
    std::vector<int32_t> wT;
    std::vector<int32_t> thr;
    bool acc16 = false;  // every accumulator fits in int16 (cache storage)
    int16_t value_of[256];

    // codes of one output pixel (MH accumulators)
    void threshold_row(const int32_t* a, int8_t* out) const {
        if (T == 1) {
            const int32_t* t = thr.data();
            for (int o = 0; o < MH; ++o) out[o] = int8_t(lo + (t[o] <= a[o]));
            return;
        }
        for (int o = 0; o < MH; ++o) out[o] = threshold(o, a[o]);
    }
    int8_t threshold(int o, int32_t a) const {
        if (T == 1) return int8_t(lo + (thr[o] <= a));
        int level = 0;
        const int32_t* t = thr.data() + size_t(o) * T;
        for (int k = 0; k < T; ++k) level += t[k] <= a;
        return int8_t(lo + level);
    }
};

}  // namespace

struct FastSweep::Scratch {
    std::unique_ptr<Engine::Workspace> ws;  // dense fall-back: the engine runs the rest
    std::vector<int8_t> in;        // modified input of the current layer (dirty recompute)
    std::vector<uint64_t> pix, row;
    std::vector<int32_t> row32;
    std::vector<int32_t> acc;      // per dirty output pixel: MHP accumulators
    std::vector<int8_t> act;       // new activation codes of dirty pixels
    std::vector<int8_t> pool;      // one pooled output pixel
    std::vector<uint32_t> mark, pmark;
    uint32_t stamp = 0;
    std::vector<int> dirty, pdirty;
    struct Change {
        int idx;
        int8_t old_code, new_code;
    };
    std::vector<Change> changes, next;
};

struct FastSweep::Impl {
    const Engine& engine;
    const InputBatch& batch;
    ErrorModelKind kind;
    std::vector<FLayer> layers;
    // cache
    int layer = -1, first = 0, count = 0;
    std::vector<int> out_off, act_off, acc_off;  // per layer, -1 = not stored
    size_t stride8 = 0, stride16 = 0, stride32 = 0;
    std::vector<int8_t> b8;
    std::vector<int16_t> b16;
    std::vector<int32_t> b32;
    std::vector<int16_t> gold;

    Impl(const Engine& e, const InputBatch& b, ErrorModelKind k) : engine(e), batch(b), kind(k) {}

    void layout(int L, size_t& s8, size_t& s16, size_t& s32, std::vector<int>* oo, std::vector<int>* ao,
                std::vector<int>* co) const {
        const int n = int(layers.size());
        s8 = s16 = s32 = 0;
        if (oo) oo->assign(n, -1), ao->assign(n, -1), co->assign(n, -1);
        for (int l = L; l < n; ++l) {
            const FLayer& Y = layers[l];
            if (!Y.last) {
                if (oo) (*oo)[l] = int(s8);
                s8 += size_t(Y.Q) * Y.Q * Y.MH;
            }
            if (l == L) continue;
            if (!Y.last && Y.P > 1) {
                if (ao) (*ao)[l] = int(s8);
                s8 += size_t(Y.O) * Y.O * Y.MH;
            }
            if (l == L + 1 || Y.fc || Y.last) {
                const size_t n_acc = size_t(Y.O) * Y.O * Y.MH;
                if (Y.acc16) {
                    if (co) (*co)[l] = int(s16);
                    s16 += n_acc;
                } else {
                    if (co) (*co)[l] = int(s32);
                    s32 += n_acc;
                }
            }
        }
    }

    const int8_t* out(int image, int l) const { return b8.data() + size_t(image - first) * stride8 + out_off[l]; }
    const int8_t* act(int image, int l) const { return b8.data() + size_t(image - first) * stride8 + act_off[l]; }
    // a[o] += golden accumulator (q*MH + o) for o < MH.
    void add_gacc(int image, int l, size_t base, int32_t* a, int MH) const {
        if (layers[l].acc16) {
            const int16_t* g = b16.data() + size_t(image - first) * stride16 + acc_off[l] + base;
            for (int o = 0; o < MH; ++o) a[o] += g[o];
        } else {
            const int32_t* g = b32.data() + size_t(image - first) * stride32 + acc_off[l] + base;
            for (int o = 0; o < MH; ++o) a[o] += g[o];
        }
    }
    int32_t gacc(int image, int l, size_t i) const {
        return layers[l].acc16 ? int32_t(b16[size_t(image - first) * stride16 + acc_off[l] + i])
                               : b32[size_t(image - first) * stride32 + acc_off[l] + i];
    }
};

FastSweep::FastSweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind)
    : impl_(new Impl(engine, batch, kind)) {
    const QnnModel& m = engine.model();
    const auto& topo = m.topology;
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        FLayer Y;
        Y.K = s.kernel;
        Y.C = s.in_channels;
        Y.D = s.in_dim;
        Y.O = s.out_dim;
        Y.P = s.pool;
        Y.Q = s.pooled_dim;
        Y.MH = s.mh();
        Y.MW = s.mw();
        Y.fc = s.kind == LayerKind::Fc;
        Y.last = l + 1 == topo.layers.size();
        Y.xnor = s.binary_xnor();
        Y.div = Y.xnor ? 2 : 1;
        if (s.act_bits) {
            const ActRange ar = act_range(s.act_bits);
            Y.T = ar.thresholds();
            Y.lo = ar.lo;
            Y.thr = m.layers[l].thresholds;
        }
        int max_in = 0;
        for (int c = 0; c < 256; ++c) {
            const int code = int8_t(uint8_t(c));
            Y.value_of[c] = int16_t(s.in_bipolar ? 2 * code - 1 : code);
        }
        if (l == 0)
            max_in = 1 << (topo.in_bits - 1);
        else {
            const ActRange ar = act_range(topo.layers[l - 1].act_bits);
            max_in = std::max(std::abs(ar.value(ar.lo)), std::abs(ar.value(ar.hi)));
        }
        const long bound = Y.xnor ? long(Y.MW) : long(Y.MW) * weight_max(s.weight_bits) * max_in;
        Y.acc16 = bound <= 32767;
        const auto& w = m.layers[l].weights;
        if (Y.xnor) {
            Y.words = (Y.MW + 63) / 64;
            Y.pix_words = (Y.C + 63) / 64;
            Y.wbits.assign(size_t(Y.MH) * Y.words, 0);
            for (int r = 0; r < Y.MH; ++r)
                for (int k = 0; k < Y.MW; ++k)
                    if (w[size_t(r) * Y.MW + k] > 0) Y.wbits[size_t(r) * Y.words + k / 64] |= 1ull << (k % 64);
        }
        Y.mhp = (Y.MH + kLanes - 1) / kLanes * kLanes;
        Y.wT.assign(size_t(Y.MW) * Y.mhp, 0);
        for (int r = 0; r < Y.MH; ++r)
            for (int k = 0; k < Y.MW; ++k) Y.wT[size_t(k) * Y.mhp + r] = w[size_t(r) * Y.MW + k];
        impl_->layers.push_back(std::move(Y));
    }
}

FastSweep::~FastSweep() = default;

size_t FastSweep::bytes_per_image(int layer) const {
    size_t s8, s16, s32;
    impl_->layout(layer, s8, s16, s32, nullptr, nullptr, nullptr);
    return s8 + 2 * s16 + 4 * s32 + 2;
}

int FastSweep::prepared_layer() const { return impl_->layer; }
int FastSweep::prepared_first() const { return impl_->first; }
int FastSweep::prepared_count() const { return impl_->count; }
int FastSweep::golden(int image) const { return impl_->gold[image - impl_->first]; }

void FastSweep::prepare(int layer, int first, int count, int threads) {
    Impl& I = *impl_;
    if (layer < 0 || layer + 1 >= int(I.layers.size())) throw std::invalid_argument("FastSweep: bad fault layer");
    if (first < 0 || count < 0 || first + count > I.batch.count) throw std::invalid_argument("FastSweep: bad images");
    if (I.layer == layer && I.first == first && I.count == count) return;
    I.layer = layer;
    I.first = first;
    I.count = count;
    I.layout(layer, I.stride8, I.stride16, I.stride32, &I.out_off, &I.act_off, &I.acc_off);
    I.b8.assign(I.stride8 * count, 0);
    I.b16.assign(I.stride16 * count, 0);
    I.b32.assign(I.stride32 * count, 0);
    I.gold.assign(count, 0);
    const int n = int(I.layers.size());
    const int nt = std::max(1, std::min(resolve_threads(threads), count));
    std::atomic<int> next{0};
    auto work = [&]() {
        auto ws = I.engine.make_workspace();
        Trace t;
        for (int k; (k = next.fetch_add(1)) < count;) {
            const int img = first + k;
            I.gold[k] = int16_t(I.engine.classify(*ws, I.batch.image(img), {}, &t));
            int8_t* p8 = I.b8.data() + size_t(k) * I.stride8;
            for (int l = layer; l < n; ++l) {
                const LayerTrace& lt = t.layers[l];
                if (I.out_off[l] >= 0) std::copy(lt.out.begin(), lt.out.end(), p8 + I.out_off[l]);
                if (I.act_off[l] >= 0) std::copy(lt.act.begin(), lt.act.end(), p8 + I.act_off[l]);
                if (I.acc_off[l] >= 0) {
                    if (I.layers[l].acc16)
                        std::copy(lt.acc.begin(), lt.acc.end(), I.b16.begin() + size_t(k) * I.stride16 + I.acc_off[l]);
                    else
                        std::copy(lt.acc.begin(), lt.acc.end(), I.b32.begin() + size_t(k) * I.stride32 + I.acc_off[l]);
                }
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
}

std::unique_ptr<FastSweep::Scratch, void (*)(FastSweep::Scratch*)> FastSweep::make_scratch() const {
    std::unique_ptr<Scratch, void (*)(Scratch*)> s(new Scratch, [](Scratch* p) { delete p; });
    size_t in = 0, pix = 0, row = 0, row32 = 0, acc = 0, act = 0, px = 0, ppx = 0;
    for (const auto& Y : impl_->layers) {
        in = std::max(in, size_t(Y.D) * Y.D * Y.C);
        pix = std::max(pix, size_t(Y.D) * Y.D * std::max(1, Y.pix_words) + 1);
        row = std::max(row, size_t(Y.words) + size_t(Y.pix_words) + 1);
        row32 = std::max(row32, size_t(Y.MW));
        acc = std::max(acc, size_t(Y.O) * Y.O * Y.mhp);
        act = std::max(act, size_t(Y.O) * Y.O * Y.MH);
        px = std::max(px, size_t(Y.O) * Y.O);
        ppx = std::max(ppx, size_t(Y.Q) * Y.Q);
    }
    s->ws = impl_->engine.make_workspace();
    s->in.resize(in);
    s->pix.resize(pix);
    s->row.resize(row);
    s->row32.resize(row32);
    s->acc.resize(acc);
    s->act.resize(act);
    s->pool.resize(act);
    s->mark.assign(px, 0);
    s->pmark.assign(ppx, 0);
    return s;
}

int FastSweep::predict(Scratch& s, const SweepFault& f, int image) const {
    const Impl& I = *impl_;
    if (f.layer != I.layer) throw std::logic_error("FastSweep::predict: fault layer is not the prepared layer");
    const int gold = I.gold[image - I.first];
    const int n = int(I.layers.size());
    const FLayer& F = I.layers[f.layer];
    const int8_t* g = I.out(image, f.layer);
    const int8_t v = int8_t(f.code);
    s.changes.clear();
    if (I.kind == ErrorModelKind::Channel) {
        const int np = F.Q * F.Q;
        for (int p = 0; p < np; ++p) {
            const int idx = p * F.MH + f.index;
            if (g[idx] != v) s.changes.push_back({idx, g[idx], v});
        }
    } else {
        const int base = f.index * F.MH;
        for (int c = 0; c < F.MH; ++c)
            if (g[base + c] != v) s.changes.push_back({base + c, g[base + c], v});
    }
    if (s.changes.empty()) return gold;

    for (int l = f.layer + 1; l < n; ++l) {
        const FLayer& Y = I.layers[l];
        const int O = Y.O, K = Y.K, C = Y.C, D = Y.D, MH = Y.MH, mhp = Y.mhp;
        const uint32_t stamp = ++s.stamp;
        s.dirty.clear();
        int32_t* acc = s.acc.data();
        // Costs in vector-op units: delta per change, recompute per pixel, dense layer.
        const double per_pixel = Y.xnor ? double(MH) * Y.words : double(Y.MW) * (mhp / kLanes);
        const double dense = double(O) * O * per_pixel;
        const bool use_delta =
            I.acc_off[l] >= 0 && 2.0 * double(s.changes.size()) * K * K * (mhp / kLanes) < dense;
        if (!use_delta) {
            // This layer's whole input, modified.
            const LayerSpec& prev = I.engine.model().topology.layers[l - 1];
            const size_t sz = size_t(prev.pooled_dim) * prev.pooled_dim * prev.mh();
            std::memcpy(s.in.data(), I.out(image, l - 1), sz);
            for (const auto& ch : s.changes) s.in[ch.idx] = ch.new_code;
        }
        if (use_delta) {
            // Accumulator deltas from the golden accumulators.
            for (const auto& ch : s.changes) {
                const int d = (Y.value_of[uint8_t(ch.new_code)] - Y.value_of[uint8_t(ch.old_code)]) / Y.div;
                const int pix = ch.idx / C, c = ch.idx - pix * C;
                for_each_window_output(pix, D, K, O, [&](int q, int tap) {
                    int32_t* a = acc + size_t(q) * mhp;
                    if (s.mark[q] != stamp) {
                        s.mark[q] = stamp;
                        s.dirty.push_back(q);
                        std::fill(a, a + mhp, 0);
                    }
                    const int32_t* w = Y.wT.data() + size_t(tap * C + c) * mhp;
                    for (int j = 0; j < mhp; j += kLanes) {
                        Lanes av, wv;
                        std::memcpy(&av, a + j, sizeof av);
                        std::memcpy(&wv, w + j, sizeof wv);
                        av += wv * d;
                        std::memcpy(a + j, &av, sizeof av);
                    }
                });
            }
            for (int q : s.dirty) {
                int32_t* a = acc + size_t(q) * mhp;
                I.add_gacc(image, l, size_t(q) * MH, a, MH);
            }
        } else {
            // Recompute the output pixels that see a changed input, from the
            // modified input tensor in s.in.
            for (const auto& ch : s.changes) {
                for_each_window_output(ch.idx / C, D, K, O, [&](int q, int) {
                    if (s.mark[q] != stamp) {
                        s.mark[q] = stamp;
                        s.dirty.push_back(q);
                    }
                });
            }
            if (Y.last || Y.fc || 2.0 * double(s.dirty.size()) * per_pixel > dense)
                return I.engine.classify_from(*s.ws, l, s.in.data());  // dense is cheaper: the engine runs the rest
            const int8_t* in = s.in.data();
            if (Y.xnor) {
                const int pw = Y.pix_words;
                uint64_t* pixb = s.pix.data();
                std::fill(pixb, pixb + size_t(D) * D * pw, 0);
                for (int i = 0; i < D * D; ++i) pack_bits(in + size_t(i) * C, C, pixb + size_t(i) * pw);
                uint64_t* row = s.row.data();
                for (int q : s.dirty) {
                    const int oy = q / O, ox = q - oy * O;
                    std::fill(s.row.begin(), s.row.end(), 0);
                    int pos = 0;
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx) {
                            const uint64_t* src = pixb + (size_t(oy + ky) * D + (ox + kx)) * pw;
                            for (int j = 0; j < pw; ++j) put_bits(row, pos + 64 * j, src[j]);
                            pos += C;
                        }
                    int32_t* a = acc + size_t(q) * mhp;
                    const uint64_t* wb = Y.wbits.data();
                    for (int o = 0; o < MH; ++o, wb += Y.words) a[o] = Y.MW - mismatches(row, wb, Y.words);
                }
            } else {
                int32_t* row = s.row32.data();
                for (int q : s.dirty) {
                    const int oy = q / O, ox = q - oy * O;
                    int k = 0;
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx) {
                            const int8_t* src = in + (size_t(oy + ky) * D + (ox + kx)) * C;
                            for (int c = 0; c < C; ++c) row[k++] = Y.value_of[uint8_t(src[c])];
                        }
                    int32_t* a = acc + size_t(q) * mhp;
                    for (int cb = 0; cb < MH; cb += kLanes) {
                        Lanes t = {};
                        const int32_t* w = Y.wT.data() + cb;
                        for (int kk = 0; kk < Y.MW; ++kk, w += mhp) {
                            Lanes wv;
                            std::memcpy(&wv, w, sizeof wv);
                            t += wv * row[kk];
                        }
                        std::memcpy(a + cb, &t, sizeof t);
                    }
                }
            }
        }

        if (Y.last) {
            // Classifier: first maximum over every accumulator, like Engine.
            const size_t np = size_t(O) * O;
            int best = 0;
            int32_t best_v = 0;
            bool have = false;
            for (size_t q = 0; q < np; ++q) {
                const bool dq = s.mark[q] == stamp;
                for (int o = 0; o < MH; ++o) {
                    const int32_t a = dq ? acc[q * mhp + o] : I.gacc(image, l, q * MH + o);
                    if (!have || a > best_v) {
                        best_v = a;
                        best = int(q * MH + o);
                        have = true;
                    }
                }
            }
            return best;
        }

        // Thresholds (and max pool) at the dirty pixels; collect the output
        // elements that differ from the golden output.
        const int8_t* gout = I.out(image, l);
        s.next.clear();
        int8_t* nact = s.act.data();
        for (int q : s.dirty) Y.threshold_row(acc + size_t(q) * mhp, nact + size_t(q) * MH);
        if (Y.P == 1) {
            for (int q : s.dirty) {
                const int8_t* na = nact + size_t(q) * MH;
                const int8_t* go = gout + size_t(q) * MH;
                if (std::memcmp(na, go, MH) == 0) continue;
                for (int o = 0; o < MH; ++o)
                    if (na[o] != go[o]) s.next.push_back({q * MH + o, go[o], na[o]});
            }
        } else {
            const int P = Y.P, Q = Y.Q;
            const int8_t* gact = I.act(image, l);
            s.pdirty.clear();
            for (int q : s.dirty) {
                const int oy = q / O, ox = q - oy * O;
                const int r = (oy / P) * Q + ox / P;
                if (s.pmark[r] != stamp) {
                    s.pmark[r] = stamp;
                    s.pdirty.push_back(r);
                }
            }
            int8_t* m = s.pool.data();
            for (int r : s.pdirty) {
                const int qy = r / Q, qx = r - qy * Q;
                const int8_t* go = gout + size_t(r) * MH;
                for (int py = 0; py < P; ++py)
                    for (int px = 0; px < P; ++px) {
                        const int q = (qy * P + py) * O + qx * P + px;
                        const int8_t* src = (s.mark[q] == stamp ? nact : gact) + size_t(q) * MH;
                        if (py == 0 && px == 0)
                            std::memcpy(m, src, MH);
                        else
                            for (int o = 0; o < MH; ++o) m[o] = std::max(m[o], src[o]);
                    }
                if (std::memcmp(m, go, MH) == 0) continue;
                for (int o = 0; o < MH; ++o)
                    if (m[o] != go[o]) s.next.push_back({r * MH + o, go[o], m[o]});
            }
        }
        if (s.next.empty()) return gold;  // the fault was masked at this layer
        std::swap(s.changes, s.next);
    }
    return gold;  // unreachable: the last layer returns above
}

}  // namespace fatsim::campaigns
