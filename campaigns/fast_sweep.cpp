#include "fast_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels.hpp"
#include "sweep.hpp"

namespace fatsim::campaigns {

using namespace kernels;

namespace {

// Golden accumulators are cached as int16 when the layer's accumulator range
// (LayerGeometry::acc_bound) allows it.
bool acc_fits_int16(const PreparedLayer& Y) { return Y.geo.acc_bound <= std::numeric_limits<int16_t>::max(); }

}  // namespace

struct FastSweep::Scratch {
    std::unique_ptr<Engine::Workspace> ws;  // dense fall-back: the engine runs the rest
    std::vector<int8_t> in;                 // modified input of the current layer (dirty recompute)
    Im2colBuffers im2col;
    std::vector<int32_t> acc;     // per output pixel: MHP accumulators (valid at dirty pixels)
    std::vector<int16_t> acc16;   // the same, while a delta step runs in 16 bits
    std::vector<int32_t> scores;  // classifier: every score, new at dirty pixels, golden elsewhere
    std::vector<int8_t> act;      // new activation codes of dirty pixels
    std::vector<int8_t> pool;     // one pooled output pixel
    std::vector<uint32_t> mark, pmark;  // == stamp: output pixel dirty / pooled pixel dirty
    std::vector<uint16_t> taps;         // per dirty output pixel: its window taps that changed
    bool act_ready = false;             // this layer's step left the dirty pixels' codes in act
    uint64_t macs = 0;                  // FastSweep::macs
    uint32_t stamp = 0;
    std::vector<int> dirty, pdirty;
    // Marks output pixel q dirty; true the first time in this layer.
    bool mark_dirty(int q) {
        if (mark[q] == stamp) return false;
        mark[q] = stamp;
        dirty.push_back(q);
        return true;
    }
    using Change = CodeChange;  // of an element of the layer output (pixel*MH + channel)
    std::vector<Change> changes, next;  // of the previous layer's output / of this layer's
    // Instead of `next`, where the next layer has no cached accumulators (it
    // takes its input whole): the output pixels that differ from the golden
    // ones, with their codes in `in`.
    bool whole_input = false;
    // A layer input as the golden one overlaid by the pixels in changed_px:
    // their codes are in `in` (at the pixel's place), marked in_mark ==
    // in_stamp; the golden codes stand everywhere else.
    std::vector<int> changed_px;
    std::vector<uint32_t> in_mark;
    uint32_t in_stamp = 0;
    void begin_overlay() {
        next_stamp(in_stamp, in_mark);
        changed_px.clear();
    }
    // A new stamp for the marks that compare with it; when the counter wraps,
    // they are cleared (a mark left from 2^32 stamps ago must not read as current).
    template <class... Marks>
    static void next_stamp(uint32_t& stamp, Marks&... marks) {
        if (++stamp == 0) {
            (std::fill(marks.begin(), marks.end(), 0), ...);
            stamp = 1;
        }
    }
    // The input pixels a recomputation reads (need_mark == need_stamp) and
    // where each one's codes are.
    std::vector<uint32_t> need_mark;
    uint32_t need_stamp = 0;
    std::vector<int> need_px;
    std::vector<const int8_t*> need_src;
    std::vector<int8_t> whole;  // an overlaid input made whole (the dense path)
};

struct FastSweep::Impl {
    const Engine& engine;
    const InputBatch& batch;
    ErrorModelKind kind;
    int n_layers;
    // cache
    int layer = -2, first = 0, count = 0;        // layer -1: changes of the network input
    std::vector<int> out_off, act_off, acc_off;  // per layer, -1 = not stored
    int in_off = -1;                             // the network input (layer -1 only)
    size_t stride8 = 0, stride16 = 0, stride32 = 0;
    std::vector<int8_t> b8;
    std::vector<int16_t> b16;
    std::vector<int32_t> b32;
    std::vector<int16_t> gold;

    // Channel faults of a layer L with binary outputs into a conv layer L+1:
    // every change of such a fault moves a code the same way (one d), so an
    // output pixel's accumulators change by d times the sum of the weight
    // columns of the window taps whose input changed. tap_sums[c][m] = that
    // sum for input channel c and tap set m (2^(K*K) sets, mhp lanes each;
    // empty: unused).
    std::vector<int16_t> tap_sums;
    int tap_sets = 0;
    void build_tap_sums();
    void delta_from_tap_sums(Scratch& s, int l, int image) const;

    // Per pooling layer: the pooled pixel each pre-pool pixel falls in (-1:
    // a row or column the pool drops).
    std::vector<std::vector<int>> pooled_of;
    // MACs of layers l.. to the classifier, run dense (macs_from[n_layers] = 0).
    std::vector<uint64_t> macs_from;

    Impl(const Engine& e, const InputBatch& b, ErrorModelKind k)
        : engine(e), batch(b), kind(k), n_layers(e.layers()), pooled_of(size_t(n_layers)),
          macs_from(size_t(n_layers) + 1, 0) {
        for (int l = n_layers - 1; l >= 0; --l) macs_from[size_t(l)] = macs_from[size_t(l) + 1] + uint64_t(prepared(l).macs());
        for (int l = 0; l < n_layers; ++l) {
            const PreparedLayer& Y = prepared(l);
            // The overlays take a conv layer's input as D x D pixels of the previous layer's output.
            if (!Y.fc && !Y.last && (Y.C != pixel_codes(l) || size_t(Y.D) * Y.D * Y.C != out_size(l - 1)))
                throw std::logic_error("FastSweep: layer " + std::to_string(l) + "'s input is not its predecessor's pixels");
            if (Y.P == 1) continue;
            pooled_of[size_t(l)].resize(size_t(Y.O) * Y.O);
            for (int q = 0; q < Y.O * Y.O; ++q) {
                const int py = q / Y.O / Y.P, px = q % Y.O / Y.P;
                pooled_of[size_t(l)][size_t(q)] = py < Y.Q && px < Y.Q ? py * Y.Q + px : -1;
            }
        }
    }

    const PreparedLayer& prepared(int l) const { return engine.prepared_layer(l); }

    // What the cache holds per image for faults in layer L: the golden output
    // of L and later layers, the pre-pool codes of pooling layers after L, and
    // the accumulators of the layers the delta path may run on (L+1, FC
    // layers, the classifier).
    // (L = -1: the network input, then every layer as after a fault in "layer -1".)
    void layout(int L, size_t& s8, size_t& s16, size_t& s32, std::vector<int>* oo, std::vector<int>* ao,
                std::vector<int>* co, int* io = nullptr) const {
        s8 = s16 = s32 = 0;
        if (oo) oo->assign(n_layers, -1), ao->assign(n_layers, -1), co->assign(n_layers, -1);
        if (io) *io = L < 0 ? 0 : -1;
        if (L < 0) s8 += engine.input_size();
        for (int l = std::max(L, 0); l < n_layers; ++l) {
            const PreparedLayer& Y = prepared(l);
            if (!Y.last) {
                if (oo) (*oo)[l] = int(s8);
                s8 += Y.out_size();
            }
            if (l == L) continue;
            if (!Y.last && Y.P > 1) {
                if (ao) (*ao)[l] = int(s8);
                s8 += Y.acc_size();
            }
            if (l == L + 1 || Y.fc || Y.last) {
                if (acc_fits_int16(Y)) {
                    if (co) (*co)[l] = int(s16);
                    s16 += Y.acc_size();
                } else {
                    if (co) (*co)[l] = int(s32);
                    s32 += Y.acc_size();
                }
            }
        }
    }

    const int8_t* out(int image, int l) const {
        return b8.data() + size_t(image - first) * stride8 + (l < 0 ? in_off : out_off[l]);
    }
    size_t out_size(int l) const { return l < 0 ? engine.input_size() : prepared(l).out_size(); }
    const int8_t* act(int image, int l) const { return b8.data() + size_t(image - first) * stride8 + act_off[l]; }
    // a[o] += golden accumulator (base + o) for o < MH.
    void add_gacc(int image, int l, size_t base, int32_t* a, int MH) const {
        if (acc_fits_int16(prepared(l))) {
            const int16_t* g = b16.data() + size_t(image - first) * stride16 + acc_off[l] + base;
            for (int o = 0; o < MH; ++o) a[o] += g[o];
        } else {
            const int32_t* g = b32.data() + size_t(image - first) * stride32 + acc_off[l] + base;
            for (int o = 0; o < MH; ++o) a[o] += g[o];
        }
    }

    // predict = the change at the faulty layer, then propagate it.
    void fault_changes(Scratch& s, const SweepFault& f, int image) const;
    int propagate(Scratch& s, int first_layer, int image, bool channel_fault = false) const;
    // Steps of propagate at layer l: new accumulators at the dirty pixels ...
    void delta_accumulators(Scratch& s, int l, int image) const;
    template <class Acc>
    void add_changes(Scratch& s, const PreparedLayer& Y, Acc* acc, const Acc* gacc) const;
    // Layer l's input under the change list s.changes, as an overlay.
    void overlay_changes(Scratch& s, int l, int image) const;
    // Codes per input pixel of layer l (the previous layer's output pixel).
    int pixel_codes(int l) const { return l == 0 ? prepared(0).C : prepared(l - 1).MH; }
    const int8_t* input_made_whole(Scratch& s, int l, int image) const;
    void mark_dirty_from_pixels(Scratch& s, int l) const;
    void recompute_dirty(Scratch& s, int l, int image) const;
    // ... then the classifier's decision, or the changed outputs (s.next, or
    // s.in and s.changed_px where s.whole_input).
    int classify_dirty(Scratch& s, int l, int image) const;
    void activate_dirty(Scratch& s, int l, int image) const;
};

FastSweep::FastSweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind)
    : impl_(new Impl(engine, batch, kind)) {}

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
uint64_t FastSweep::macs(const Scratch& s) { return s.macs; }

void FastSweep::prepare(int layer, int first, int count, int threads, bool for_predict) {
    Impl& I = *impl_;
    if (layer < -1 || layer + 1 >= I.n_layers) throw std::invalid_argument("FastSweep: bad fault layer");
    if (first < 0 || count < 0 || first + count > I.batch.count) throw std::invalid_argument("FastSweep: bad images");
    if (I.layer == layer && I.first == first && I.count == count) return;
    I.layer = layer;
    I.first = first;
    I.count = count;
    I.layout(layer, I.stride8, I.stride16, I.stride32, &I.out_off, &I.act_off, &I.acc_off, &I.in_off);
    I.tap_sums.clear();
    I.tap_sets = 0;
    if (for_predict && layer >= 0) I.build_tap_sums();
    I.b8.assign(I.stride8 * count, 0);
    I.b16.assign(I.stride16 * count, 0);
    I.b32.assign(I.stride32 * count, 0);
    I.gold.assign(count, 0);
    const int n = I.n_layers;
    const int nt = std::max(1, std::min(resolve_threads(threads), count));
    std::atomic<int> next{0};
    auto work = [&]() {
        auto ws = I.engine.make_workspace();
        Trace t;
        for (int k; (k = next.fetch_add(1)) < count;) {
            const int img = first + k;
            I.gold[k] = int16_t(I.engine.classify(*ws, I.batch.image(img), {}, &t));
            int8_t* p8 = I.b8.data() + size_t(k) * I.stride8;
            if (I.in_off >= 0) std::copy_n(I.batch.image(img), I.engine.input_size(), p8 + I.in_off);
            for (int l = std::max(layer, 0); l < n; ++l) {
                const LayerTrace& lt = t.layers[l];
                if (I.out_off[l] >= 0) std::copy(lt.out.begin(), lt.out.end(), p8 + I.out_off[l]);
                if (I.act_off[l] >= 0) std::copy(lt.act.begin(), lt.act.end(), p8 + I.act_off[l]);
                if (I.acc_off[l] >= 0) {
                    if (acc_fits_int16(I.prepared(l)))
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
    size_t in = 0, acc = 0, act = 0, px = 0, ppx = 0;
    for (int l = 0; l < impl_->n_layers; ++l) {
        const PreparedLayer& Y = impl_->prepared(l);
        in = std::max(in, size_t(Y.D) * Y.D * Y.C);
        acc = std::max(acc, size_t(Y.O) * Y.O * Y.mhp);
        act = std::max(act, Y.acc_size());
        px = std::max(px, size_t(Y.O) * Y.O);
        ppx = std::max(ppx, size_t(Y.Q) * Y.Q);
        s->im2col.fit(Y);
    }
    s->ws = impl_->engine.make_workspace();
    s->in.resize(in);
    s->whole.resize(in);
    s->in_mark.assign(in, 0);  // (at least one entry per input pixel)
    s->need_mark.assign(in, 0);
    s->acc.resize(acc);
    s->acc16.resize(acc);
    s->scores.resize(act);
    s->act.resize(act);
    s->pool.resize(act);
    s->mark.assign(px, 0);
    s->taps.assign(px, 0);
    s->pmark.assign(ppx, 0);
    return s;
}

int FastSweep::predict(Scratch& s, const SweepFault& f, int image) const {
    const Impl& I = *impl_;
    if (f.layer != I.layer || f.layer < 0)
        throw std::logic_error("FastSweep::predict: fault layer is not the prepared layer");
    I.fault_changes(s, f, image);
    if (s.changes.empty()) return I.gold[image - I.first];
    return I.propagate(s, f.layer + 1, image, I.kind == ErrorModelKind::Channel);
}

int FastSweep::predict_changes(Scratch& s, const std::vector<CodeChange>& changes, int image) const {
    const Impl& I = *impl_;
    if (image < I.first || image >= I.first + I.count)
        throw std::logic_error("FastSweep::predict_changes: image outside the prepared range");
    if (changes.empty()) return I.gold[image - I.first];
    s.changes.assign(changes.begin(), changes.end());
    return I.propagate(s, I.layer + 1, image);
}

// s.changes = the elements of the faulty layer's output that the stuck code changes.
void FastSweep::Impl::fault_changes(Scratch& s, const SweepFault& f, int image) const {
    const PreparedLayer& F = prepared(f.layer);
    const int8_t* g = out(image, f.layer);
    const int8_t v = int8_t(f.code);
    s.changes.clear();
    if (kind == ErrorModelKind::Channel) {
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
}

void FastSweep::Impl::build_tap_sums() {
    const PreparedLayer& Y = prepared(layer + 1);
    const int taps = Y.K * Y.K;
    // (Binary codes out of layer L: two levels, so every change moves the same way.)
    if (kind != ErrorModelKind::Channel || prepared(layer).T != 1 || Y.fc || taps < 2 || taps > 9 || Y.D > 64 ||
        !acc_fits_int16(Y))
        return;
    // (At most 32 MB: the full-width CNV's conv1 to conv4 take 4 to 32 MB.)
    const size_t sets = size_t(1) << taps, mhp = size_t(Y.mhp);
    if (size_t(Y.C) * sets * mhp * sizeof(int16_t) > (size_t(32) << 20)) return;
    tap_sets = int(sets);
    tap_sums.assign(size_t(Y.C) * sets * mhp, 0);
    for (int c = 0; c < Y.C; ++c) {
        int16_t* t = tap_sums.data() + size_t(c) * sets * mhp;
        for (size_t m = 1; m < sets; ++m) {  // the set without its lowest tap, plus that tap's column
            int16_t* row = t + m * mhp;
            std::copy_n(t + (m & (m - 1)) * mhp, mhp, row);
            add_weight_column(Y, __builtin_ctzll(m) * Y.C + c, 1, row);
        }
    }
}

// New codes (into s.act) of the pixels that see a channel fault's changes:
// their accumulators, golden + d * tap_sums[c][taps that changed], each
// pixel's thresholded at once.
void FastSweep::Impl::delta_from_tap_sums(Scratch& s, int l, int image) const {
    const PreparedLayer& Y = prepared(l);
    const int mhp = Y.mhp, C = Y.C, MH = Y.MH;
    const CodeChange& first_change = s.changes.front();
    const int c = first_change.idx % C, d = Y.acc_delta(first_change.old_code, first_change.new_code);
    // The changed input pixels as one bit row per input row (D <= 64), so an
    // output pixel's taps are K slices of K bits: tap ky*K + kx is input
    // pixel (oy + ky, ox + kx), as in for_each_window_output.
    const int D = Y.D, K = Y.K, O = Y.O;
    uint64_t rows[64] = {};
    for (const auto& ch : s.changes) {
        const int pix = ch.idx / C;
        rows[pix / D] |= uint64_t(1) << (pix % D);
    }
    const uint64_t slice = (uint64_t(1) << K) - 1;
    for (int oy = 0; oy < O; ++oy)
        for (int ox = 0; ox < O; ++ox) {
            uint32_t m = 0;
            for (int ky = 0; ky < K; ++ky) m |= uint32_t((rows[oy + ky] >> ox) & slice) << (K * ky);
            if (m == 0) continue;
            const int q = oy * O + ox;
            s.mark_dirty(q);
            s.taps[q] = uint16_t(m);
        }
    // Each pixel's accumulators in one short row, thresholded at once.
    const int16_t* sums = tap_sums.data() + size_t(c) * tap_sets * mhp;
    const int16_t* gacc = b16.data() + size_t(image - first) * stride16 + acc_off[l];
    int32_t* a = s.acc.data();
    s.macs += uint64_t(s.dirty.size()) * uint64_t(MH);
    for (int q : s.dirty) {
        const int16_t* g = gacc + size_t(q) * MH;
        const int16_t* t = sums + size_t(s.taps[q]) * mhp;
        for (int o = 0; o < MH; ++o) a[o] = g[o] + d * t[o];
        threshold_row(Y, a, s.act.data() + size_t(q) * MH);
    }
    s.act_ready = true;
}

// Prediction when the output of layer first_layer - 1 differs from the golden
// one by s.changes (non-empty; a channel fault's changes where channel_fault).
int FastSweep::Impl::propagate(Scratch& s, int first_layer, int image, bool channel_fault) const {
    const int gold_pred = gold[image - first];
    s.whole_input = false;
    for (int l = first_layer; l < n_layers; ++l) {
        const PreparedLayer& Y = prepared(l);
        s.next_stamp(s.stamp, s.mark, s.pmark);
        s.dirty.clear();
        s.act_ready = false;
        // Costs in vector-op units: delta per change, recompute per pixel,
        // dense layer (the AVX-512 XNOR kernel does 8 channels' words at once).
        const double xnor_lanes = active_isa() == Isa::Avx512 ? 8.0 : 1.0;
        const double per_pixel =
            Y.geo.xnor ? double(Y.MH) * Y.words / xnor_lanes : double(Y.MW) * (Y.mhp / kLanes);
        const double dense = double(Y.O) * Y.O * per_pixel;
        const bool use_delta =
            acc_off[l] >= 0 && 2.0 * double(s.changes.size()) * Y.K * Y.K * (Y.mhp / kLanes) < dense;
        if (channel_fault && l == first_layer && !tap_sums.empty()) {
            delta_from_tap_sums(s, l, image);
        } else if (use_delta) {
            delta_accumulators(s, l, image);
        } else {
            if (!s.whole_input) overlay_changes(s, l, image);
            const auto run_dense = [&] {  // the engine runs the rest
                s.macs += macs_from[size_t(l)];
                return engine.classify_from(*s.ws, l, input_made_whole(s, l, image));
            };
            if (Y.last || Y.fc) return run_dense();
            mark_dirty_from_pixels(s, l);
            if (2.0 * double(s.dirty.size()) * per_pixel > dense) return run_dense();  // dense is cheaper
            recompute_dirty(s, l, image);
        }
        if (Y.last) return classify_dirty(s, l, image);
        s.whole_input = acc_off[l + 1] < 0;  // the next layer cannot take the delta step
        activate_dirty(s, l, image);
        if (s.whole_input ? s.changed_px.empty() : s.next.empty()) return gold_pred;  // masked at this layer
        if (!s.whole_input) std::swap(s.changes, s.next);
    }
    return gold_pred;  // unreachable: the last layer returns above
}

// Accumulators of the pixels that see a change: golden + sum of d * weight
// column, in 16-bit lanes (half the vector work) where the layer's
// accumulators fit int16 and are cached so; the sums are exact because each
// final one fits (add_weight_column), and are then widened into s.acc.
void FastSweep::Impl::delta_accumulators(Scratch& s, int l, int image) const {
    const PreparedLayer& Y = prepared(l);
    if (!acc_fits_int16(Y))
        return add_changes(s, Y, s.acc.data(), b32.data() + size_t(image - first) * stride32 + acc_off[l]);
    add_changes(s, Y, s.acc16.data(), b16.data() + size_t(image - first) * stride16 + acc_off[l]);
    for (int q : s.dirty) {
        const int16_t* a = s.acc16.data() + size_t(q) * Y.mhp;
        int32_t* w = s.acc.data() + size_t(q) * Y.mhp;
        for (int o = 0; o < Y.MH; ++o) w[o] = a[o];
    }
}

// acc (mhp per output pixel) at the dirty pixels: each starts from its golden
// accumulators (gacc, MH per pixel), then adds d * weight column per change in
// its window.
template <class Acc>
void FastSweep::Impl::add_changes(Scratch& s, const PreparedLayer& Y, Acc* acc, const Acc* gacc) const {
    const int mhp = Y.mhp, C = Y.C, MH = Y.MH;
    for (const auto& ch : s.changes) {
        const int d = Y.acc_delta(ch.old_code, ch.new_code);
        const int pix = ch.idx / C, c = ch.idx - pix * C;
        for_each_window_output(pix, Y.D, Y.K, Y.O, [&](int q, int tap) {
            Acc* a = acc + size_t(q) * mhp;
            if (s.mark_dirty(q)) {
                std::memcpy(a, gacc + size_t(q) * MH, sizeof(Acc) * size_t(MH));
                std::fill(a + MH, a + mhp, Acc(0));
            }
            add_weight_column(Y, tap * C + c, d, a);
            s.macs += uint64_t(MH);
        });
    }
}

void FastSweep::Impl::overlay_changes(Scratch& s, int l, int image) const {
    const int C = pixel_codes(l);
    const int8_t* gin = out(image, l - 1);
    s.begin_overlay();
    for (const auto& ch : s.changes) {
        const int pixel = ch.idx / C;
        if (s.in_mark[size_t(pixel)] != s.in_stamp) {
            s.in_mark[size_t(pixel)] = s.in_stamp;
            std::memcpy(s.in.data() + size_t(pixel) * C, gin + size_t(pixel) * C, size_t(C));
            s.changed_px.push_back(pixel);
        }
        s.in[size_t(ch.idx)] = ch.new_code;
    }
}

// Layer l's input overlay made whole: the golden input with the changed pixels.
const int8_t* FastSweep::Impl::input_made_whole(Scratch& s, int l, int image) const {
    const int C = pixel_codes(l);
    std::memcpy(s.whole.data(), out(image, l - 1), out_size(l - 1));
    for (int pixel : s.changed_px)
        std::memcpy(s.whole.data() + size_t(pixel) * C, s.in.data() + size_t(pixel) * C, size_t(C));
    return s.whole.data();
}

void FastSweep::Impl::mark_dirty_from_pixels(Scratch& s, int l) const {
    const PreparedLayer& Y = prepared(l);
    for (int pixel : s.changed_px) for_each_window_output(pixel, Y.D, Y.K, Y.O, [&](int q, int) { s.mark_dirty(q); });
}

// Accumulators of the dirty pixels, from the input overlay: only the input
// pixels their windows cover are loaded.
void FastSweep::Impl::recompute_dirty(Scratch& s, int l, int image) const {
    const PreparedLayer& Y = prepared(l);
    const int C = Y.C, D = Y.D, K = Y.K, O = Y.O;
    const int8_t* gin = out(image, l - 1);
    s.next_stamp(s.need_stamp, s.need_mark);
    s.need_px.clear();
    s.need_src.clear();
    for (int q : s.dirty)
        for_each_window_input(q, D, K, O, [&](int pixel) {
            if (s.need_mark[size_t(pixel)] == s.need_stamp) return;
            s.need_mark[size_t(pixel)] = s.need_stamp;
            s.need_px.push_back(pixel);
            s.need_src.push_back((s.in_mark[size_t(pixel)] == s.in_stamp ? s.in.data() : gin) + size_t(pixel) * C);
        });
    load_input_pixels(Y, s.need_src.data(), s.need_px.data(), int(s.need_px.size()), s.im2col);
    accumulate_loaded(Y, s.im2col, s.dirty.data(), int(s.dirty.size()), s.acc.data(), Y.mhp);
    s.macs += uint64_t(s.dirty.size()) * uint64_t(Y.MH) * uint64_t(Y.MW);
}

// The classifier's decision on the new scores at dirty pixels and the golden ones elsewhere.
int FastSweep::Impl::classify_dirty(Scratch& s, int l, int image) const {
    const PreparedLayer& Y = prepared(l);
    const int np = Y.O * Y.O, MH = Y.MH;
    int32_t* scores = s.scores.data();
    for (int q = 0; q < np; ++q) {
        int32_t* sq = scores + size_t(q) * MH;
        if (s.mark[q] == s.stamp) {
            std::memcpy(sq, s.acc.data() + size_t(q) * Y.mhp, sizeof(int32_t) * size_t(MH));
        } else {
            std::fill(sq, sq + MH, 0);
            add_gacc(image, l, size_t(q) * MH, sq, MH);
        }
    }
    return first_max(scores, Y.acc_size());
}

// Thresholds (and max pool) at the dirty pixels; s.next = the output elements
// that differ from the golden output (or, where s.whole_input, s.in = the
// whole output and s.changed_px = the pixels that differ).
void FastSweep::Impl::activate_dirty(Scratch& s, int l, int image) const {
    const PreparedLayer& Y = prepared(l);
    const int MH = Y.MH;
    const int8_t* gout = out(image, l);
    s.next.clear();
    if (s.whole_input) s.begin_overlay();  // (the next layer's input: this layer's input is used up)
    int8_t* nact = s.act.data();
    if (!s.act_ready)
        for (int q : s.dirty) threshold_row(Y, s.acc.data() + size_t(q) * Y.mhp, nact + size_t(q) * MH);
    auto collect = [&](int pixel, const int8_t* now) {
        const int8_t* go = gout + size_t(pixel) * MH;
        if (s.whole_input) {
            if (std::memcmp(now, go, size_t(MH)) == 0) return;
            std::memcpy(s.in.data() + size_t(pixel) * MH, now, size_t(MH));
            s.in_mark[size_t(pixel)] = s.in_stamp;
            s.changed_px.push_back(pixel);
            return;
        }
        for_each_differing_code(go, now, size_t(MH),
                                [&](size_t e) { s.next.push_back({pixel * MH + int(e), go[e], now[e]}); });
    };
    if (Y.P == 1) {
        for (int q : s.dirty) collect(q, nact + size_t(q) * MH);
        return;
    }
    const int8_t* gact = act(image, l);
    s.pdirty.clear();
    const int* pooled = pooled_of[size_t(l)].data();
    for (int q : s.dirty) {
        const int r = pooled[q];
        if (r >= 0 && s.pmark[r] != s.stamp) {
            s.pmark[r] = s.stamp;
            s.pdirty.push_back(r);
        }
    }
    const auto act_at = [&](int q) { return (s.mark[q] == s.stamp ? nact : gact) + size_t(q) * MH; };
    for (int r : s.pdirty) {
        max_pool_pixel(Y, r, act_at, s.pool.data());
        collect(r, s.pool.data());
    }
}

}  // namespace fatsim::campaigns
