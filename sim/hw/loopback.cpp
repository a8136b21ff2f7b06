#include "loopback.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace fatsim::hw {

namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Cycles of one burst of `bytes` through external memory.
uint64_t mem_cycles(const LoopbackConfig& lb, uint64_t bytes) {
    return bytes == 0 ? 0 : uint64_t(lb.mem_latency) + ceil_div(bytes, uint64_t(lb.mem_bytes_per_cycle));
}

// The folding of layer l on the engine (partial last folds where PE / SIMD do not divide).
FoldingMap engine_folding(const LayerSpec& s, const LoopbackConfig& lb) {
    return FoldingMap::with_partial_folds(s.mh(), s.mw(), lb.pe, lb.simd, lb.schedule_of(s.name));
}

}  // namespace

std::vector<LoopbackTiming> loopback_timing(const Topology& topo, const LoopbackConfig& lb) {
    std::vector<LoopbackTiming> t;
    const int L = int(topo.layers.size());
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo.layers[size_t(l)];
        const LayerGeometry g = layer_geometry(topo, l);
        const FoldingMap f = engine_folding(s, lb);
        LoopbackTiming x;
        x.name = s.name;
        x.schedule = f.schedule;
        const uint64_t pixels = uint64_t(s.out_dim) * s.out_dim;
        if (f.schedule == Schedule::Pixel) {
            x.reps = int(ceil_div(pixels, uint64_t(lb.pe)));
            x.nf = s.mh();
        } else {
            x.reps = int(pixels);
            x.nf = f.nf;
        }
        x.sf = f.sf;
        x.compute = uint64_t(x.reps) * x.nf * x.sf;
        const uint64_t banks_words = uint64_t(lb.pe) * f.nf;
        x.weight_load = mem_cycles(lb, ceil_div(banks_words * f.sf * lb.simd * g.weight_bits, 8)) +
                        mem_cycles(lb, ceil_div(banks_words * g.thresholds * (g.has_act ? g.thr_bits : 0), 8));
        x.ifm_load = mem_cycles(lb, ceil_div(uint64_t(s.in_dim) * s.in_dim * s.in_channels * g.in_bits, 8));
        x.ofm_store = mem_cycles(lb, ceil_div(uint64_t(s.pooled_dim) * s.pooled_dim * s.mh() * g.out_bits, 8));
        t.push_back(x);
    }
    for (int l = 0; l < L; ++l) {
        LoopbackTiming& x = t[size_t(l)];
        if (lb.double_buffer) {
            const uint64_t next_w = l + 1 < L ? t[size_t(l) + 1].weight_load : 0;
            x.total = (l == 0 ? x.weight_load : 0) + x.ifm_load + std::max(x.compute, next_w) + x.ofm_store;
        } else {
            x.total = x.weight_load + x.ifm_load + x.compute + x.ofm_store;
        }
    }
    return t;
}

std::string format_loopback_report(const LoopbackReport& r, int pe, int simd) {
    std::ostringstream o;
    char line[256];
    std::snprintf(line, sizeof line, "engine %d PE x %d SIMD; cycles per image (measured over %d images):\n", pe, simd,
                  r.images);
    o << line;
    std::snprintf(line, sizeof line, "%-8s %-11s %4s %5s %6s %10s %10s %10s %10s %10s %10s\n", "layer", "schedule",
                  "NF", "SF", "reps", "compute", "wgt_load", "fm_load", "fm_store", "stall", "total");
    o << line;
    const double n = r.images > 0 ? double(r.images) : 1.0;
    for (size_t l = 0; l < r.measured.size(); ++l) {
        const LoopbackTiming& m = r.measured[l];
        const LoopbackTiming& f = r.formula[l];
        std::snprintf(line, sizeof line, "%-8s %-11s %4d %5d %6d %10.0f %10.0f %10.0f %10.0f %10.0f %10.0f\n",
                      f.name.c_str(), schedule_name(f.schedule), f.nf, f.sf, f.reps, double(m.compute) / n,
                      double(m.weight_load) / n, double(m.ifm_load) / n, double(m.ofm_store) / n, double(m.stall()) / n,
                      double(m.total) / n);
        o << line;
    }
    std::snprintf(line, sizeof line, "images %d, total %lld cycles; %llu cycles per image (formula)\n", r.images,
                  (long long)r.total_cycles, (unsigned long long)r.cycles_per_image);
    o << line;
    std::snprintf(line, sizeof line, "throughput %.0f FPS at %.0f MHz\n", r.fps(), r.clock_mhz);
    o << line;
    return o.str();
}

// ---------------------------------------------------------------- model

struct LoopbackModel::Layer {
    LayerSpec spec;
    LayerProgram prog;
    LoopbackTiming t;
    int cf = 0;  // fmbuf[0] words per input pixel: ceil(IFMC / SIMD)
    Layer(const LayerSpec& s, LayerProgram p, const LoopbackTiming& timing, int simd)
        : spec(s), prog(std::move(p)), t(timing), cf(int(ceil_div(uint64_t(s.in_channels), uint64_t(simd)))) {}
};

LoopbackModel::LoopbackModel(const QnnModel& model, const AccelConfig& accel, DataflowOptions opt)
    : model_(model),
      topo_(model.topology),
      accel_(accel),
      lb_(accel.loopback),
      opt_(opt),
      array_(accel.loopback.pe, accel.loopback.simd) {
    if (accel.architecture != Architecture::Loopback)
        throw std::invalid_argument("LoopbackModel: accelerator " + accel.source + " is not a loopback architecture");
    const std::vector<std::string> errs = validate_folding(accel, topo_);
    if (!errs.empty()) throw ConfigError(accel.source, errs);
    const std::vector<LoopbackTiming> timing = loopback_timing(topo_, lb_);
    const int L = int(topo_.layers.size());
    int ifm_bits = 0;
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo_.layers[size_t(l)];
        const LayerGeometry g = layer_geometry(topo_, l);
        // External memory holds every map in channel order, so each layer reads its columns as they are.
        std::vector<int> colmap(size_t(s.mw()));
        for (int k = 0; k < s.mw(); ++k) colmap[size_t(k)] = k;
        LayerProgram prog(s.name, g, engine_folding(s, lb_), s.out_dim * s.out_dim, model.layers[size_t(l)], colmap);
        array_.check_fits(prog);
        acc_bits_ = std::max(acc_bits_, g.acc_bits);
        thr_bits_ = std::max(thr_bits_, g.has_act ? g.thr_bits : 0);
        max_t_ = std::max(max_t_, g.thresholds);
        out_bits_ = std::max(out_bits_, g.out_bits);
        ifm_bits = std::max(ifm_bits, g.in_bits);
        layers_.push_back(std::make_unique<Layer>(s, std::move(prog), timing[size_t(l)], lb_.simd));
    }
    ifm_wl_ = limbs_for(lb_.simd * ifm_bits);
    int row_limbs = 0, row_vals = 0;
    for (const auto& lay : layers_) {
        row_limbs = std::max(row_limbs, lay->prog.fold.sf * lay->prog.word_limbs);
        row_vals = std::max(row_vals, lay->prog.fold.sf * lb_.simd);
    }
    row_bits_.assign(size_t(lb_.pe) * row_limbs, 0);
    row_vals_.assign(size_t(lb_.pe) * row_vals, 0);
    inputs_.assign(size_t(lb_.pe), PeInput{});
}

LoopbackModel::~LoopbackModel() = default;

const LayerProgram& LoopbackModel::program(int l) const { return layers_.at(size_t(l))->prog; }

std::vector<OutputPos> LoopbackModel::outputs_of_pe(int layer, int pe) const {
    const Layer& lay = *layers_.at(size_t(layer));
    return fatsim::outputs_of_pe(lay.prog.fold, lay.spec.out_dim * lay.spec.out_dim, pe);
}

void LoopbackModel::load_images(const int8_t* data, int count) {
    data_ = data;
    images_ = count;
    reset();
}

void LoopbackModel::reset() {
    cycle_ = 0;
    image_ = layer_ = 0;
    params_ready_ = false;
    prefetch_ = 0;
    array_.clear();
    array_.hook.rearm_transients();
    buf_hook_.rearm_transients();
    fmbuf0_words_ = fmbuf1_writes_ = 0;
    for (uint64_t& c : mem_cycles_) c = 0;
    const int L = int(layers_.size());
    measured_.assign(size_t(L), LoopbackTiming{});
    for (int l = 0; l < L; ++l) {
        measured_[size_t(l)].name = layers_[size_t(l)]->t.name;
        measured_[size_t(l)].schedule = layers_[size_t(l)]->t.schedule;
    }
    scores_.assign(size_t(images_), {});
    image_done_.assign(size_t(images_), -1);
    cap_out_.assign(opt_.capture ? size_t(L) : 0, std::vector<std::vector<int32_t>>(size_t(images_)));
    cap_pre_.assign(opt_.capture ? size_t(L) : 0, std::vector<std::vector<int32_t>>(size_t(images_)));
    if (images_ > 0) start_layer();
}

void LoopbackModel::start_layer() {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerSpec& s = lay.spec;
    if (layer_ == 0) {
        const size_t n = size_t(topo_.in_dim) * topo_.in_dim * topo_.in_channels;
        const int8_t* img = data_ + size_t(image_) * n;
        ext_in_.assign(img, img + n);
    }
    // The pool unit keeps its running maximum in fmbuf[1]: start at the lowest code.
    const LayerGeometry& g = lay.prog.geom;
    const int32_t lowest = s.pool > 1 ? (g.has_act ? g.act.lo : std::numeric_limits<int32_t>::min()) : 0;
    ofm_.assign(size_t(s.pooled_dim) * s.pooled_dim * lay.prog.fold.nf * lb_.pe, lowest);
    if (opt_.capture) cap_pre_[size_t(layer_)][size_t(image_)].assign(size_t(s.out_dim) * s.out_dim * s.mh(), 0);
    array_.clear();
    rep_ = nf_ = sf_ = 0;
    fmbuf0_words_ = fmbuf1_writes_ = 0;
    if (params_ready_) {
        phase_ = Phase::Ifm;
        left_ = lay.t.ifm_load;
    } else {
        phase_ = Phase::Params;
        left_ = lay.t.weight_load;
    }
    params_ready_ = false;
    if (left_ == 0) next_phase();
}

void LoopbackModel::next_phase() {
    const Layer& lay = *layers_[size_t(layer_)];
    const int L = int(layers_.size());
    switch (phase_) {
        case Phase::Params:
            phase_ = Phase::Ifm;
            left_ = lay.t.ifm_load;
            if (left_ == 0) next_phase();
            return;
        case Phase::Ifm:
            fill_ifm();
            phase_ = Phase::Compute;
            prefetch_ = lb_.double_buffer && layer_ + 1 < L ? layers_[size_t(layer_) + 1]->t.weight_load : 0;
            return;
        case Phase::Compute:
            if (prefetch_ > 0) {
                phase_ = Phase::Wait;
                left_ = prefetch_;
                prefetch_ = 0;
                return;
            }
            [[fallthrough]];
        case Phase::Wait:
            store_ofm();
            phase_ = Phase::Store;
            left_ = lay.t.ofm_store;
            if (left_ == 0) next_phase();
            return;
        case Phase::Store:
            params_ready_ = lb_.double_buffer && layer_ + 1 < L;
            if (++layer_ == L) {
                image_done_[size_t(image_)] = cycle_;
                ++image_;
                layer_ = 0;
            }
            if (image_ < images_) start_layer();
            return;
    }
}

void LoopbackModel::tick() {
    if (image_ >= images_) return;
    LoopbackTiming& m = measured_[size_t(layer_)];
    ++m.total;
    bool finished;
    if (phase_ == Phase::Compute) {
        ++m.compute;
        if (prefetch_) {
            --prefetch_;
            ++mem_cycles_[0];  // the next layer's parameters load meanwhile
        }
        compute_step();
        finished = rep_ == (layers_[size_t(layer_)]->t.reps);
    } else {
        const int k = phase_ == Phase::Ifm ? 1 : phase_ == Phase::Store ? 2 : 0;
        ++(k == 1 ? m.ifm_load : k == 2 ? m.ofm_store : m.weight_load);
        ++mem_cycles_[k];
        finished = --left_ == 0;
    }
    ++cycle_;
    if (finished) next_phase();
    phase_code_ = int(phase_);
    busy_ = phase_ == Phase::Compute;
}

std::vector<TraceSignal> LoopbackModel::trace_signals() const {
    auto i = [](const char* n, const int& v, int w) { return TraceSignal{n, &v, nullptr, nullptr, w}; };
    auto u = [](const char* n, const uint64_t& v) { return TraceSignal{n, nullptr, &v, nullptr, 32}; };
    return {i("engine_image", image_, 16),          i("engine_layer", layer_, 8),
            i("engine_phase", phase_code_, 4),      TraceSignal{"engine_busy", nullptr, nullptr, &busy_, 1},
            i("engine_rep", rep_, 16),              i("engine_nf", nf_, 16),
            i("engine_sf", sf_, 16),                u("mem_weight_cycles", mem_cycles_[0]),
            u("mem_ifm_cycles", mem_cycles_[1]),    u("mem_ofm_cycles", mem_cycles_[2]),
            i("fmbuf0_words", fmbuf0_words_, 24),   i("fmbuf1_writes", fmbuf1_writes_, 24)};
}

// External memory -> fmbuf[0]: word px*CF + c/SIMD holds element c at lane
// c mod SIMD. The buffer is written when the load completes; its faults
// corrupt the words as they are written.
void LoopbackModel::fill_ifm() {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerSpec& s = lay.spec;
    const int ib = lay.prog.geom.in_bits, C = s.in_channels, SIMD = lb_.simd, pixels = s.in_dim * s.in_dim;
    const size_t words = size_t(pixels) * lay.cf;
    ifm_.assign(words * ifm_wl_, 0);
    fmbuf0_words_ = int(words);
    for (int px = 0; px < pixels; ++px)
        for (int c = 0; c < C; ++c)
            or_bits(&ifm_[(size_t(px) * lay.cf + c / SIMD) * ifm_wl_], (c % SIMD) * ib, ib,
                    to_field(ext_in_[size_t(px) * C + c], ib));
    if (!buf_hook_.has(SiteType::FmBuf)) return;
    for (ArmedFault& f : buf_hook_.faults_mut()) {
        // Lanes are input_bits wide; a layer uses their low in_bits bits.
        const int lane = f.bit / lb_.input_bits, lane_bit = f.bit % lb_.input_bits;
        if (f.pe != 0 || size_t(f.a) >= words || lane_bit >= ib) continue;
        const int pos = lane * ib + lane_bit;
        uint64_t& limb = ifm_[size_t(f.a) * ifm_wl_ + (pos >> 6)];
        const int b = pos & 63;
        const int64_t v = int64_t(limb & (uint64_t(1) << b));
        const uint64_t nb = (uint64_t(buf_hook_.force(f, b, v, 64, false)) >> b) & 1;
        limb = (limb & ~(uint64_t(1) << b)) | (nb << b);
    }
}

// The sliding window: the input vector of output pixel `pixel`, columns in
// weight order (ky, kx, c), laid out per fold sf (XNOR: [sf][limb] bits; MAC:
// [sf][lane] values); the idle lanes of a partial last fold stay 0.
void LoopbackModel::build_row(int pixel, uint64_t* bits, int16_t* values) const {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerSpec& s = lay.spec;
    const LayerGeometry& g = lay.prog.geom;
    const int K = s.kernel, C = s.in_channels, D = s.in_dim, O = s.out_dim, SIMD = lb_.simd, ib = g.in_bits;
    const int wl = lay.prog.word_limbs, SF = lay.prog.fold.sf;
    const int oy = pixel / O, ox = pixel % O;
    if (g.xnor)
        std::fill(bits, bits + size_t(SF) * wl, 0);
    else
        std::fill(values, values + size_t(SF) * SIMD, 0);
    for (int ky = 0; ky < K; ++ky)
        for (int kx = 0; kx < K; ++kx) {
            const size_t src = size_t(oy + ky) * D + (ox + kx);
            const int k0 = (ky * K + kx) * C;
            if (g.xnor) {
                for (int c = 0; c < C;) {
                    const int lane = c % SIMD, k = k0 + c, klane = k % SIMD;
                    const int n = std::min({64, SIMD - lane, SIMD - klane, C - c});
                    const uint64_t v = get_bits(&ifm_[(src * lay.cf + c / SIMD) * ifm_wl_], lane, n);
                    or_bits(&bits[size_t(k / SIMD) * wl], klane, n, v);
                    c += n;
                }
            } else {
                for (int c = 0; c < C; ++c) {
                    const uint64_t f = get_bits(&ifm_[(src * lay.cf + c / SIMD) * ifm_wl_], (c % SIMD) * ib, ib);
                    const int v = g.in_bipolar ? g.input_value(int(f)) : g.in_signed ? int(sign_extend(f, ib)) : int(f);
                    values[k0 + c] = int16_t(v);  // [sf][lane] with SIMD lanes is column order
                }
            }
        }
}

void LoopbackModel::compute_step() {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerProgram& p = lay.prog;
    const FoldingMap& f = p.fold;
    const int SF = f.sf, SIMD = lb_.simd, wl = p.word_limbs;
    const size_t row_limbs = size_t(SF) * wl, row_vals = size_t(SF) * SIMD;
    if (f.schedule != Schedule::Pixel) {
        if (nf_ == 0 && sf_ == 0) build_row(rep_, row_bits_.data(), row_vals_.data());
        PeInput x;
        if (p.geom.xnor)
            x.bits = &row_bits_[size_t(sf_) * wl];
        else
            x.values = &row_vals_[size_t(sf_) * SIMD];
        array_.accumulate(p, nf_, sf_, x);
        if (sf_ == SF - 1)
            for (int pe = 0; pe < f.pe; ++pe) {
                const int ch = f.row_of(pe, nf_);
                if (ch < f.mh) write_output(rep_, ch, array_.output(p, pe, nf_));
            }
        if (++sf_ == SF) {
            sf_ = 0;
            if (++nf_ == f.nf) {
                nf_ = 0;
                ++rep_;
            }
        }
        return;
    }
    // Pixel: PE k computes output pixel rep*PE + k, channel nf_, for every channel in turn.
    const int pixels = lay.spec.out_dim * lay.spec.out_dim, first = rep_ * f.pe;
    const int pes = std::min(f.pe, pixels - first);
    if (nf_ == 0 && sf_ == 0)
        for (int k = 0; k < pes; ++k) build_row(first + k, &row_bits_[k * row_limbs], &row_vals_[k * row_vals]);
    for (int k = 0; k < pes; ++k) {
        if (p.geom.xnor)
            inputs_[size_t(k)].bits = &row_bits_[k * row_limbs + size_t(sf_) * wl];
        else
            inputs_[size_t(k)].values = &row_vals_[k * row_vals + size_t(sf_) * SIMD];
    }
    array_.accumulate_pixels(p, nf_, sf_, inputs_.data(), pes);
    if (sf_ == SF - 1) {
        const int bank = f.pe_of(nf_), fold = f.fold_of(nf_);
        for (int k = 0; k < pes; ++k) write_output(first + k, nf_, array_.output_of(p, k, bank, fold));
    }
    if (++sf_ == SF) {
        sf_ = 0;
        if (++nf_ == f.mh) {
            nf_ = 0;
            ++rep_;
        }
    }
}

// An output through the pool unit into fmbuf[1]: word q*NF + fold of the
// channel, lane = its PE bank (read-modify-write when pooling).
void LoopbackModel::write_output(int pixel, int channel, int64_t v) {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerSpec& s = lay.spec;
    const FoldingMap& f = lay.prog.fold;
    ++fmbuf1_writes_;
    if (opt_.capture) cap_pre_[size_t(layer_)][size_t(image_)][size_t(pixel) * s.mh() + channel] = int32_t(v);
    int q = pixel;
    if (s.pool > 1) {
        const int oy = pixel / s.out_dim, ox = pixel % s.out_dim, Q = s.pooled_dim, P = s.pool;
        if (oy >= Q * P || ox >= Q * P) return;  // rows / columns the pool drops
        q = (oy / P) * Q + ox / P;
    }
    const int word = q * f.nf + f.fold_of(channel), lane = f.pe_of(channel);
    int32_t& slot = ofm_[size_t(word) * lb_.pe + lane];
    int64_t nv = s.pool > 1 ? std::max<int64_t>(slot, v) : v;
    if (buf_hook_.has(SiteType::FmBuf)) {
        const int ob = lay.prog.geom.out_bits;
        for (ArmedFault& a : buf_hook_.faults_mut()) {
            // Lanes are as wide as the widest layer output; a layer uses their low out_bits bits.
            if (a.pe != 1 || a.a != word || a.bit / out_bits_ != lane || a.bit % out_bits_ >= ob) continue;
            const int64_t field = buf_hook_.force(a, a.bit % out_bits_, int64_t(to_field(nv, ob)), ob, false);
            nv = lay.prog.geom.out_signed ? sign_extend(uint64_t(field), ob) : field;
        }
    }
    slot = int32_t(nv);
}

// fmbuf[1] -> external memory, in channel order.
void LoopbackModel::store_ofm() {
    const Layer& lay = *layers_[size_t(layer_)];
    const LayerSpec& s = lay.spec;
    const FoldingMap& f = lay.prog.fold;
    const int Q2 = s.pooled_dim * s.pooled_dim, mh = s.mh();
    ext_out_.assign(size_t(Q2) * mh, 0);
    for (int q = 0; q < Q2; ++q)
        for (int nf = 0; nf < f.nf; ++nf)
            for (int pe = 0; pe < f.pe; ++pe) {
                const int ch = f.row_of(pe, nf);
                if (ch < mh) ext_out_[size_t(q) * mh + ch] = ofm_[(size_t(q) * f.nf + nf) * lb_.pe + pe];
            }
    if (opt_.capture) cap_out_[size_t(layer_)][size_t(image_)] = ext_out_;
    if (layer_ + 1 == int(layers_.size())) scores_[size_t(image_)] = ext_out_;
    ext_in_.swap(ext_out_);  // the next layer's input
}

// ---------------------------------------------------------------- fault sites

int LoopbackModel::fmbuf_width(int buffer) const {
    return buffer == 0 ? lb_.simd * lb_.input_bits : lb_.pe * out_bits_;
}
int LoopbackModel::fmbuf_words(int buffer) const { return buffer == 0 ? lb_.ifm_buffer_words : lb_.ofm_buffer_words; }

void LoopbackModel::arm_fault(const FaultSite& site) {
    auto bad = [&](const std::string& what) {
        throw FaultSiteError("fault site '" + fault_site_name(site) + "': " + what);
    };
    if (std::holds_alternative<FifoBit>(site.where))
        bad("a loopback accelerator has no FIFOs (its feature maps pass through engine.fmbuf[0] and [1])");
    if (site_layer(site.where) != kEngine)
        bad("a loopback accelerator names its sites '" + std::string(kEngine) +
            "' (one engine runs every layer), not '" + site_layer(site.where) + "'");
    const ArmedFault a = armed_fault(site);
    const auto range = [&](const char* what, int v, int n) {
        if (v < 0 || v >= n)
            bad(std::string(what) + " " + std::to_string(v) + " out of range (0.." + std::to_string(n - 1) + ")");
    };
    if (a.type == SiteType::FmBuf) {
        range("feature-map buffer", a.pe, 2);
        range("word", a.a, fmbuf_words(a.pe));
        range("bit", a.bit, fmbuf_width(a.pe));
        buf_hook_.arm(a, &cycle_);
        return;
    }
    range("pe", a.pe, lb_.pe);
    switch (a.type) {
        case SiteType::Acc: range("accumulator bit", a.bit, acc_bits_); break;
        case SiteType::AdderNode: {
            const std::vector<int> levels = adder_tree_levels(lb_.simd);
            range("adder level", a.a, int(levels.size()));
            range("adder node", a.b, levels[size_t(a.a)]);
            range("adder node bit", a.bit, acc_bits_);
            break;
        }
        case SiteType::WeightWord:
            range("weight buffer word", a.a, lb_.weight_buffer_words);
            range("weight word bit", a.bit, lb_.simd * lb_.weight_bits);
            break;
        case SiteType::Threshold:
            if (thr_bits_ == 0) bad("no layer has thresholds");
            range("threshold buffer word", a.a, lb_.threshold_buffer_words);
            range("threshold bit", a.bit, thr_bits_);
            break;
        case SiteType::Comparator: range("comparator", a.a, max_t_); break;
        default: bad("not a loopback engine site");
    }
    array_.hook.arm(a, &cycle_);
}

void LoopbackModel::disarm_faults() {
    array_.hook.disarm();
    buf_hook_.disarm();
}

void LoopbackModel::for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const {
    const std::string E = kEngine;
    const std::vector<int> levels = adder_tree_levels(lb_.simd);
    for (int pe = 0; pe < lb_.pe; ++pe) {
        for (int b = 0; b < acc_bits_; ++b) fn(AccBit{E, pe, b});
        for (int l = 0; l < int(levels.size()); ++l)
            for (int n = 0; n < levels[size_t(l)]; ++n)
                for (int b = 0; b < acc_bits_; ++b) fn(AdderNodeBit{E, pe, l, n, b});
        for (int w = 0; w < lb_.weight_buffer_words; ++w)
            for (int b = 0; b < lb_.simd * lb_.weight_bits; ++b) fn(WeightBit{E, pe, w, b});
        if (thr_bits_ == 0) continue;
        for (int w = 0; w < lb_.threshold_buffer_words; ++w)
            for (int b = 0; b < thr_bits_; ++b) fn(ThresholdBit{E, pe, w, b});
        for (int t = 0; t < max_t_; ++t) fn(Comparator{E, pe, t});
    }
    for (int buf = 0; buf < 2; ++buf)
        for (int w = 0; w < fmbuf_words(buf); ++w)
            for (int b = 0; b < fmbuf_width(buf); ++b) fn(FmBufBit{E, buf, w, b});
}

FaultSiteCounts LoopbackModel::fault_site_counts() const {
    FaultSiteCounts c;
    const uint64_t PE = uint64_t(lb_.pe);
    uint64_t nodes = 0;
    for (int n : adder_tree_levels(lb_.simd)) nodes += uint64_t(n);
    c.per_class[int(SiteClass::Acc)] = PE * uint64_t(acc_bits_);
    c.per_class[int(SiteClass::AdderNode)] = PE * nodes * uint64_t(acc_bits_);
    c.per_class[int(SiteClass::WeightWord)] =
        PE * uint64_t(lb_.weight_buffer_words) * uint64_t(lb_.simd * lb_.weight_bits);
    if (thr_bits_ > 0) {
        c.per_class[int(SiteClass::Threshold)] = PE * uint64_t(lb_.threshold_buffer_words) * uint64_t(thr_bits_);
        c.per_class[int(SiteClass::Comparator)] = PE * uint64_t(max_t_);
    }
    for (int buf = 0; buf < 2; ++buf)
        c.per_class[int(SiteClass::FmBuf)] += uint64_t(fmbuf_words(buf)) * uint64_t(fmbuf_width(buf));
    return c;
}

// ---------------------------------------------------------------- results

std::vector<int32_t> LoopbackModel::scores(int image) const { return scores_.at(size_t(image)); }

std::vector<int32_t> LoopbackModel::captured_output(int layer, int image) const {
    if (!opt_.capture) throw std::logic_error("LoopbackModel: built without DataflowOptions::capture");
    return cap_out_.at(size_t(layer)).at(size_t(image));
}

std::vector<int32_t> LoopbackModel::captured_mvtu(int layer, int image) const {
    if (!opt_.capture) throw std::logic_error("LoopbackModel: built without DataflowOptions::capture");
    return cap_pre_.at(size_t(layer)).at(size_t(image));
}

LoopbackReport LoopbackModel::loopback_report() const {
    LoopbackReport r;
    r.images = images_;
    r.total_cycles = cycle_;
    r.clock_mhz = accel_.clock_mhz;
    r.measured = measured_;
    for (const auto& lay : layers_) {
        r.formula.push_back(lay->t);
        r.cycles_per_image += lay->t.total;
    }
    return r;
}

CycleReport LoopbackModel::report() const {
    const LoopbackReport lr = loopback_report();
    CycleReport r;
    r.images = images_;
    r.total_cycles = cycle_;
    r.clock_mhz = accel_.clock_mhz;
    if (!image_done_.empty() && image_done_[0] >= 0) r.first_latency = image_done_[0];
    const size_t n = image_done_.size();
    if (n >= 2 && image_done_[n - 1] >= 0) r.steady_interval = image_done_[n - 1] - image_done_[n - 2];
    r.bottleneck = lr.cycles_per_image;  // one engine: an image's layers run one after the other
    r.bottleneck_layer = kEngine;
    for (size_t l = 0; l < layers_.size(); ++l) {
        const Layer& lay = *layers_[l];
        LayerCycles c;
        c.name = lay.spec.name;
        c.pe = lb_.pe;
        c.simd = lb_.simd;
        c.nf = lay.t.nf;
        c.sf = lay.t.sf;
        c.reps = lay.t.reps;
        c.expected = lay.t.compute;
        c.busy = measured_[l].compute;
        c.stall_in = measured_[l].stall();
        r.layers.push_back(c);
    }
    return r;
}

}  // namespace fatsim::hw
