#include "engine.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "kernels.hpp"

namespace fatsim {

using namespace kernels;

namespace {

// One layer prepared for fast evaluation: weights packed once at load time.
struct Prepared {
    const LayerSpec* s = nullptr;
    bool xnor = false;
    int mw = 0, mh = 0, K = 0, C = 0, D = 0, O = 0, P = 1, Q = 0;
    int T = 0;
    ActRange ar;
    // XNOR path: MW bits a row, 64 lanes a word; padding bits are 0 in both
    // operands so they never count as mismatches.
    int words = 0, pix_words = 0;
    std::vector<uint64_t> wbits;
    // Integer path: weights transposed to [MW][MHP] (MH padded to a multiple
    // of kLanes) so a block of kLanes accumulators stays in one vector register
    // while the whole im2col row streams past.
    int mhp = 0;
    std::vector<int32_t> wT;
    std::vector<int32_t> thr;
    int16_t value_of[256];  // input code (as uint8) -> arithmetic value
};

}  // namespace

struct Engine::Impl {
    std::vector<Prepared> layers;
};

Engine::Engine(const QnnModel& model) : model_(model), impl_(new Impl) {
    const auto& topo = model.topology;
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        Prepared p;
        p.s = &s;
        p.xnor = s.binary_xnor();
        p.mw = s.mw();
        p.mh = s.mh();
        p.K = s.kernel;
        p.C = s.in_channels;
        p.D = s.in_dim;
        p.O = s.out_dim;
        p.P = s.pool;
        p.Q = s.pooled_dim;
        if (s.act_bits) {
            p.ar = act_range(s.act_bits);
            p.T = p.ar.thresholds();
            p.thr = model.layers[l].thresholds;
        }
        for (int c = 0; c < 256; ++c) {
            const int code = int8_t(uint8_t(c));
            p.value_of[c] = int16_t(s.in_bipolar ? 2 * code - 1 : code);
        }
        const auto& w = model.layers[l].weights;
        if (p.xnor) {
            p.words = (p.mw + 63) / 64;
            p.pix_words = (p.C + 63) / 64;
            p.wbits.assign(size_t(p.mh) * (p.words + 1), 0);
            for (int r = 0; r < p.mh; ++r)
                for (int k = 0; k < p.mw; ++k)
                    if (w[size_t(r) * p.mw + k] > 0) p.wbits[size_t(r) * p.words + k / 64] |= 1ull << (k % 64);
            p.wbits.resize(size_t(p.mh) * p.words);
        } else {
            p.mhp = (p.mh + kLanes - 1) / kLanes * kLanes;
            p.wT.assign(size_t(p.mw) * p.mhp, 0);
            for (int r = 0; r < p.mh; ++r)
                for (int k = 0; k < p.mw; ++k) p.wT[size_t(k) * p.mhp + r] = w[size_t(r) * p.mw + k];
        }
        impl_->layers.push_back(std::move(p));
    }
}

Engine::~Engine() = default;

std::unique_ptr<Engine::Workspace> Engine::make_workspace() const {
    auto ws = std::make_unique<Workspace>();
    size_t act = 0, pix = 0, row = 0, row32 = 0;
    for (const auto& p : impl_->layers) {
        ws->out.emplace_back(size_t(p.Q) * p.Q * p.mh);
        act = std::max(act, size_t(p.O) * p.O * p.mh);
        if (p.xnor) {
            pix = std::max(pix, size_t(p.D) * p.D * p.pix_words + 1);
            row = std::max(row, size_t(p.words) + size_t(p.pix_words) + 1);
        } else {
            row32 = std::max(row32, size_t(p.mw));
        }
    }
    ws->row32.resize(row32);
    ws->act.resize(act);
    ws->acc.resize(act);
    ws->pix.resize(pix);
    ws->row.resize(row);
    return ws;
}

size_t Engine::output_size(int layer) const {
    const auto& p = impl_->layers[layer];
    return size_t(p.Q) * p.Q * p.mh;
}

size_t Engine::input_size() const {
    const auto& t = model_.topology;
    return size_t(t.in_dim) * t.in_dim * t.in_channels;
}

namespace {

// Accumulators of every output pixel and channel of one layer (HWC).
void accumulate(const Prepared& p, Engine::Workspace& ws, const int8_t* in, int32_t* acc) {
    const int O = p.O, K = p.K, C = p.C, D = p.D, MH = p.mh;
    if (p.xnor) {
        const int pw = p.pix_words;
        uint64_t* pix = ws.pix.data();
        std::fill(pix, pix + size_t(D) * D * pw, 0);
        for (int i = 0; i < D * D; ++i) pack_bits(in + size_t(i) * C, C, pix + size_t(i) * pw);
        uint64_t* row = ws.row.data();
        for (int oy = 0; oy < O; ++oy)
            for (int ox = 0; ox < O; ++ox) {
                std::fill(ws.row.begin(), ws.row.end(), 0);
                int pos = 0;
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx) {
                        const uint64_t* src = pix + (size_t(oy + ky) * D + (ox + kx)) * pw;
                        for (int j = 0; j < pw; ++j) put_bits(row, pos + 64 * j, src[j]);
                        pos += C;
                    }
                int32_t* a = acc + (size_t(oy) * O + ox) * MH;
                const uint64_t* wb = p.wbits.data();
                for (int co = 0; co < MH; ++co, wb += p.words) a[co] = p.mw - mismatches(row, wb, p.words);
            }
    } else {
        int32_t* row = ws.row32.data();
        for (int oy = 0; oy < O; ++oy)
            for (int ox = 0; ox < O; ++ox) {
                int k = 0;
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx) {
                        const int8_t* src = in + (size_t(oy + ky) * D + (ox + kx)) * C;
                        for (int c = 0; c < C; ++c) row[k++] = p.value_of[uint8_t(src[c])];
                    }
                mac_row(acc + (size_t(oy) * O + ox) * MH, row, p.wT.data(), p.mw, MH, p.mhp);
            }
    }
}

// Thresholds then max pool (codes are ordered like values).
void activate(const Prepared& p, const int32_t* acc, int8_t* act, int8_t* out) {
    const int O = p.O, MH = p.mh, T = p.T;
    const size_t n = size_t(O) * O * MH;
    const int32_t* thr = p.thr.data();
    const int8_t lo = int8_t(p.ar.lo);
    for (size_t base = 0; base < n; base += MH) {
        const int32_t* a = acc + base;
        int8_t* o = act + base;
        if (T == 1) {
            for (int co = 0; co < MH; ++co) o[co] = int8_t(lo + (a[co] >= thr[co]));
        } else {
            for (int co = 0; co < MH; ++co) {
                int level = 0;
                for (int k = 0; k < T; ++k) level += thr[co * T + k] <= a[co];
                o[co] = int8_t(lo + level);
            }
        }
    }
    if (p.P == 1) {
        std::memcpy(out, act, n);
        return;
    }
    const int P = p.P, Q = p.Q;
    for (int qy = 0; qy < Q; ++qy)
        for (int qx = 0; qx < Q; ++qx) {
            int8_t* o = out + (size_t(qy) * Q + qx) * MH;
            std::memcpy(o, act + (size_t(qy * P) * O + qx * P) * MH, MH);
            for (int py = 0; py < P; ++py)
                for (int px = 0; px < P; ++px) {
                    const int8_t* a = act + (size_t(qy * P + py) * O + (qx * P + px)) * MH;
                    for (int c = 0; c < MH; ++c) o[c] = std::max(o[c], a[c]);
                }
        }
}

}  // namespace

int Engine::classify(Workspace& ws, const int8_t* input, const std::vector<ErrorPattern>& faults,
                     Trace* trace) const {
    return classify_from(ws, 0, input, faults, trace);
}

int Engine::classify_from(Workspace& ws, int first, const int8_t* layer_input,
                          const std::vector<ErrorPattern>& faults, Trace* trace) const {
    const int L = int(impl_->layers.size());
    if (trace) trace->layers.resize(L);
    const int8_t* in = layer_input;
    for (int l = first; l < L; ++l) {
        const Prepared& p = impl_->layers[l];
        accumulate(p, ws, in, ws.acc.data());
        const size_t n = size_t(p.O) * p.O * p.mh;
        if (l == L - 1 && p.T == 0) {
            if (trace) {
                trace->layers[l].acc.assign(ws.acc.begin(), ws.acc.begin() + n);
                trace->layers[l].act.clear();
                trace->layers[l].out.clear();
            }
            return int(std::max_element(ws.acc.begin(), ws.acc.begin() + n) - ws.acc.begin());
        }
        int8_t* out = ws.out[l].data();
        activate(p, ws.acc.data(), ws.act.data(), out);
        for (const auto& f : faults)
            if (f.layer == l) apply_error_pattern(f, out, p.Q, p.mh);
        if (trace) {
            auto& lt = trace->layers[l];
            lt.acc.assign(ws.acc.begin(), ws.acc.begin() + n);
            lt.act.assign(ws.act.begin(), ws.act.begin() + n);
            lt.out.assign(out, out + ws.out[l].size());
        }
        in = out;
    }
    return -1;  // unreachable for a finalized topology: the last layer has no activation
}

int resolve_threads(int requested) {
    if (requested > 0) return requested;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? int(hw) : 1;
}

EvalResult Engine::evaluate(const InputBatch& batch, const std::vector<ErrorPattern>& faults, int threads) const {
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
                r.predictions[i] = int16_t(classify(*ws, batch.image(i), faults));
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
