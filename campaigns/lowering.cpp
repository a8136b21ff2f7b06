#include "lowering.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "kernels.hpp"

namespace fatsim::campaigns {

namespace {

uint64_t field_of(int64_t v, int bits) { return bits >= 64 ? uint64_t(v) : uint64_t(v) & ((uint64_t(1) << bits) - 1); }
int64_t sign_extend_field(uint64_t v, int bits) {
    if (bits >= 64) return int64_t(v);
    const uint64_t s = uint64_t(1) << (bits - 1);
    return int64_t((v ^ s) - s);
}

// Node counts per adder-tree level (level 0 = the SIMD products).
int adder_levels(int simd) {
    int levels = 1;
    for (int n = simd; n > 1; n = (n + 1) / 2) ++levels;
    return levels;
}
int adder_nodes(int simd, int level) {
    int n = simd;
    for (int k = 0; k < level; ++k) n = (n + 1) / 2;
    return n;
}

[[noreturn]] void bad_site(const FaultSite& s, const std::string& what) {
    throw FaultSiteError("fault site '" + fault_site_name(s) + "': " + what);
}

// The PE of a PE-array site (-1 for FIFO and buffer sites).
int site_pe(const SiteLocation& where) {
    return std::visit([](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, FifoBit> || std::is_same_v<T, FmBufBit>) return -1;
        else return x.pe;
    }, where);
}

// A weight value <-> its memory field (as the PE array stores it: XNOR the
// bit itself, 1 = +1; bipolar 1-bit MAC weights 1 = +1; else two's complement).
uint64_t weight_field(const LayerGeometry& g, int64_t v) {
    if (g.xnor) return uint64_t(v) & 1;
    if (g.weight_bits == 1) return v > 0 ? 1 : 0;
    return field_of(v, g.weight_bits);
}
int64_t weight_of_field(const LayerGeometry& g, uint64_t f) {
    if (g.xnor) return int64_t(f & 1);
    if (g.weight_bits == 1) return (f & 1) ? 1 : -1;
    return sign_extend_field(f, g.weight_bits);
}

}  // namespace

BitForce::BitForce(int bit, FaultKind kind, int width, bool is_signed) {
    const uint64_t m = uint64_t(1) << bit;
    keep = kind == FaultKind::StuckAt0 ? ~m : ~uint64_t(0);
    set = kind == FaultKind::StuckAt1 ? m : 0;
    flip = kind == FaultKind::Flip ? m : 0;
    width_mask = width >= 64 ? ~uint64_t(0) : (uint64_t(1) << width) - 1;
    sign = is_signed && width < 64 ? uint64_t(1) << (width - 1) : 0;
}

int64_t force_bit(int64_t v, int bit, FaultKind kind, int width, bool is_signed) {
    return BitForce(bit, kind, width, is_signed)(v);
}

Lowering::Lowering(const Engine& engine, const AccelConfig& accel, std::vector<FifoGeometry> fifos)
    : engine_(engine), fifos_(std::move(fifos)) {
    const QnnModel& model = engine.model();
    const Topology& topo = model.topology;
    const int L = int(topo.layers.size());
    loopback_ = accel.architecture == Architecture::Loopback;
    lb_ = accel.loopback;
    if (!loopback_ && int(accel.layers.size()) != L)
        throw std::invalid_argument(accel.source + ": the accelerator has " + std::to_string(accel.layers.size()) +
                                    " layers, the model " + topo.name + " has " + std::to_string(L));
    const int want_fifos = loopback_ ? 0 : L + 1;
    if (int(fifos_.size()) != want_fifos)
        throw std::invalid_argument("Lowering: " + std::to_string(fifos_.size()) + " FIFOs given, the accelerator has " +
                                    std::to_string(want_fifos));
    std::vector<int> prev_perm(size_t(topo.in_channels));
    for (int c = 0; c < topo.in_channels; ++c) prev_perm[size_t(c)] = c;
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo.layers[size_t(l)];
        LayerLowering ll;
        ll.name = s.name;
        ll.geom = engine.prepared_layer(l).geo;
        if (loopback_) {
            // One engine, every layer: partial folds; external memory holds
            // every map in channel order.
            ll.fold = FoldingMap::with_partial_folds(s.mh(), s.mw(), lb_.pe, lb_.simd, lb_.schedule_of(s.name));
            eng_acc_bits_ = std::max(eng_acc_bits_, ll.geom.acc_bits);
            eng_thr_bits_ = std::max(eng_thr_bits_, ll.geom.has_act ? ll.geom.thr_bits : 0);
            eng_max_t_ = std::max(eng_max_t_, ll.geom.thresholds);
            eng_out_bits_ = std::max(eng_out_bits_, ll.geom.out_bits);
        } else {
            const LayerFolding& f = accel.layers[size_t(l)];
            if (!f.name.empty() && f.name != s.name)
                throw std::invalid_argument(accel.source + ": layer " + std::to_string(l) + " is '" + f.name +
                                            "' in the accelerator, '" + s.name + "' in the model " + topo.name);
            if (f.mh != 0 && f.mh != s.mh())
                throw std::invalid_argument(accel.source + ": layer " + s.name + " has MH=" + std::to_string(f.mh) +
                                            " in the accelerator, " + std::to_string(s.mh()) + " in the model");
            ll.fold = FoldingMap(s.mh(), s.mw(), f.pe, f.simd, f.mh_padded, f.schedule);
        }
        ll.colmap = stream_column_map(s.mw(), prev_perm);
        for (int k = 0; k < s.mw() && ll.identity_columns; ++k) ll.identity_columns = ll.colmap[size_t(k)] == k;
        const PreparedLayer& P = engine.prepared_layer(l);
        const int MW = P.MW, MH = P.MH;
        ll.stream_offset.resize(size_t(MW));
        for (int k = 0; k < MW; ++k) {
            const int col = ll.colmap[size_t(k)], tap = col / P.C, ch = col % P.C;
            ll.stream_offset[size_t(k)] = ((tap / P.K) * P.D + tap % P.K) * P.C + ch;
        }
        const auto& W = model.layers[size_t(l)].weights;
        ll.wstream.resize(size_t(MH) * MW);
        for (int r = 0; r < MH; ++r)
            for (int k = 0; k < MW; ++k) {
                const int w = W[size_t(r) * MW + ll.colmap[size_t(k)]];
                ll.wstream[size_t(r) * MW + k] = ll.geom.xnor ? (w > 0 ? 1 : 0) : w;
            }
        int64_t max_w = 0, max_x = 0;
        for (int32_t w : ll.wstream) max_w = std::max<int64_t>(max_w, std::abs(int64_t(w)));
        for (int32_t x : P.value_of) max_x = std::max<int64_t>(max_x, std::abs(int64_t(x)));
        ll.max_product = max_w * max_x;
        if (ll.geom.xnor) {
            ll.words = (MW + 63) / 64;
            ll.wbits.assign(size_t(MH) * ll.words, 0);
            for (int r = 0; r < MH; ++r)
                for (int k = 0; k < MW; ++k)
                    if (ll.wstream[size_t(r) * MW + k]) ll.wbits[size_t(r) * ll.words + k / 64] |= uint64_t(1) << (k % 64);
        }
        ll.stream_perm = ll.fold.stream_perm();
        if (!loopback_) prev_perm = ll.stream_perm;
        layers_.push_back(std::move(ll));
    }
    // The stream each FIFO carries, and how its consumer reads a field.
    for (int i = 0; i < int(fifos_.size()); ++i) {
        FifoStream st;
        if (i == 0) {
            st.pixels = topo.in_dim * topo.in_dim;
            st.channels = topo.in_channels;
            st.perm.resize(size_t(st.channels));
            for (int c = 0; c < st.channels; ++c) st.perm[size_t(c)] = c;
        } else {
            const PreparedLayer& P = engine.prepared_layer(i - 1);
            st.pixels = P.Q * P.Q;
            st.channels = P.MH;
            st.perm = layers_[size_t(i) - 1].stream_perm;
        }
        if (i < L) {
            st.bits = layers_[size_t(i)].geom.in_bits;
            st.is_signed = layers_[size_t(i)].geom.in_signed;
        } else {
            st.bits = layers_.back().geom.out_bits;
            st.is_signed = true;  // the sink reads class scores as signed
        }
        const FifoGeometry& fg = fifos_[size_t(i)];
        if (fg.depth < 1 || fg.width < 1)
            throw std::invalid_argument("Lowering: fifo[" + std::to_string(i) + "] has no depth or width");
        streams_.push_back(std::move(st));
    }
}

int Lowering::layer_index(const std::string& name) const {
    for (size_t l = 0; l < layers_.size(); ++l)
        if (layers_[l].name == name) return int(l);
    return -1;
}

void Lowering::check(const FaultSite& site) const {
    if (loopback_) return check_engine_site(site);
    if (site.kind == FaultKind::Flip && !schedule_)
        bad_site(site, "a transient flip hits the value passing the site at its cycle: lowering it needs the "
                       "cycle schedule of the run (Lowering::use_schedule), or run it on the cycle model "
                       "(fatsim simulate --fault)");
    if (std::holds_alternative<FmBufBit>(site.where))
        bad_site(site, "feature-map buffer sites belong to a loopback engine; this accelerator is a dataflow one "
                       "(classes acc, adder, wmem, thr, cmp, fifo)");
    if (const auto* fb = std::get_if<FifoBit>(&site.where)) {
        if (fb->fifo < 0 || fb->fifo >= int(fifos_.size()))
            bad_site(site, "no fifo[" + std::to_string(fb->fifo) + "] (there are " + std::to_string(fifos_.size()) + ")");
        const FifoGeometry& g = fifos_[size_t(fb->fifo)];
        if (fb->slot < 0 || fb->slot >= g.depth || fb->bit < 0 || fb->bit >= g.width)
            bad_site(site, "fifo[" + std::to_string(fb->fifo) + "] has " + std::to_string(g.depth) + " slots of " +
                               std::to_string(g.width) + " bits");
        return;
    }
    const int l = layer_index(site_layer(site.where));
    if (l < 0) bad_site(site, "no layer named '" + site_layer(site.where) + "'");
    const std::string problem = layer_site_problem(site, l);
    if (!problem.empty()) bad_site(site, problem);
}

std::string Lowering::layer_site_problem(const FaultSite& site, int l) const {
    const LayerLowering& L = layers_[size_t(l)];
    const FoldingMap& f = L.fold;
    const LayerGeometry& g = L.geom;
    const int T = g.thresholds;
    struct V {
        const FoldingMap& f;
        const LayerGeometry& g;
        int T;
        std::string pe(int p) const {
            return p < 0 || p >= f.pe ? "pe " + std::to_string(p) + " out of range (PE=" + std::to_string(f.pe) + ")" : "";
        }
        std::string operator()(const AccBit& s) const {
            if (!pe(s.pe).empty()) return pe(s.pe);
            if (s.bit < 0 || s.bit >= g.acc_bits) return "accumulator has " + std::to_string(g.acc_bits) + " bits";
            return "";
        }
        std::string operator()(const AdderNodeBit& s) const {
            if (!pe(s.pe).empty()) return pe(s.pe);
            if (s.level < 0 || s.level >= adder_levels(f.simd))
                return "adder tree has levels l0..l" + std::to_string(adder_levels(f.simd) - 1);
            if (s.node < 0 || s.node >= adder_nodes(f.simd, s.level))
                return "adder level l" + std::to_string(s.level) + " has " + std::to_string(adder_nodes(f.simd, s.level)) +
                       " nodes";
            if (s.bit < 0 || s.bit >= g.acc_bits) return "adder nodes have " + std::to_string(g.acc_bits) + " bits";
            return "";
        }
        std::string operator()(const WeightBit& s) const {
            if (!pe(s.pe).empty()) return pe(s.pe);
            if (s.word < 0 || s.word >= f.weight_words())
                return "weight memory has " + std::to_string(f.weight_words()) + " words";
            if (s.bit < 0 || s.bit >= f.simd * g.weight_bits)
                return "weight word has " + std::to_string(f.simd * g.weight_bits) + " bits";
            return "";
        }
        std::string operator()(const ThresholdBit& s) const {
            if (!pe(s.pe).empty()) return pe(s.pe);
            if (!g.has_act) return "layer has no thresholds";
            if (s.word < 0 || s.word >= f.nf * T) return "threshold memory has " + std::to_string(f.nf * T) + " words";
            if (s.bit < 0 || s.bit >= g.thr_bits) return "threshold word has " + std::to_string(g.thr_bits) + " bits";
            return "";
        }
        std::string operator()(const Comparator& s) const {
            if (!pe(s.pe).empty()) return pe(s.pe);
            if (!g.has_act || s.index < 0 || s.index >= T) return "comparator index out of range";
            return "";
        }
        std::string operator()(const FifoBit&) const { return "not a PE array site"; }
        std::string operator()(const FmBufBit&) const { return "not a PE array site"; }
    };
    return std::visit(V{f, g, T}, site.where);
}

// A loopback engine's site: named `engine`, within the engine's registers
// and buffers (the widest layer's widths, as LoopbackModel lays them out).
void Lowering::check_engine_site(const FaultSite& site) const {
    const std::string engine = kLoopbackEngine;
    if (site.kind == FaultKind::Flip && !schedule_)
        bad_site(site, "a transient flip hits the value passing the site at its cycle: lowering it needs the "
                       "cycle schedule of the run (Lowering::use_schedule), or run it on the cycle model "
                       "(fatsim simulate --fault)");
    if (std::holds_alternative<FifoBit>(site.where))
        bad_site(site, "a loopback accelerator has no FIFOs (its feature maps pass through engine.fmbuf[0] and [1])");
    if (site_layer(site.where) != engine)
        bad_site(site, "a loopback accelerator names its sites '" + engine + "' (one engine runs every layer), not '" +
                           site_layer(site.where) + "'");
    const auto range = [&](const char* what, int v, int n) {
        if (v < 0 || v >= n)
            bad_site(site, std::string(what) + " " + std::to_string(v) + " out of range (0.." + std::to_string(n - 1) + ")");
    };
    if (const auto* fb = std::get_if<FmBufBit>(&site.where)) {
        range("feature-map buffer", fb->buffer, 2);
        range("word", fb->word, fb->buffer == 0 ? lb_.ifm_buffer_words : lb_.ofm_buffer_words);
        range("bit", fb->bit, fb->buffer == 0 ? lb_.simd * lb_.input_bits : lb_.pe * eng_out_bits_);
        return;
    }
    range("pe", site_pe(site.where), lb_.pe);
    struct V {
        const Lowering& lw;
        const FaultSite& site;
        const decltype(range)& r;
        void operator()(const AccBit& s) const { r("accumulator bit", s.bit, lw.eng_acc_bits_); }
        void operator()(const AdderNodeBit& s) const {
            r("adder level", s.level, adder_levels(lw.lb_.simd));
            r("adder node", s.node, adder_nodes(lw.lb_.simd, s.level));
            r("adder node bit", s.bit, lw.eng_acc_bits_);
        }
        void operator()(const WeightBit& s) const {
            r("weight buffer word", s.word, lw.lb_.weight_buffer_words);
            r("weight word bit", s.bit, lw.lb_.simd * lw.lb_.weight_bits);
        }
        void operator()(const ThresholdBit& s) const {
            if (lw.eng_thr_bits_ == 0) bad_site(site, "no layer has thresholds");
            r("threshold buffer word", s.word, lw.lb_.threshold_buffer_words);
            r("threshold bit", s.bit, lw.eng_thr_bits_);
        }
        void operator()(const Comparator& s) const { r("comparator", s.index, lw.eng_max_t_); }
        void operator()(const FifoBit&) const {}
        void operator()(const FmBufBit&) const {}
    };
    std::visit(V{*this, site, range}, site.where);
}

int Lowering::effect_layer(const FaultSite& site) const {
    if (const auto* fb = std::get_if<FifoBit>(&site.where)) return fb->fifo - 1;
    if (loopback_) {
        for (int l = 0; l < layers(); ++l)
            if (engine_site_reaches(site, l)) return l;
        return 0;
    }
    return layer_index(site_layer(site.where));
}

namespace {
// The elements where `now` differs from `golden`.
std::vector<CodeChange> code_changes(const std::vector<int8_t>& golden, const std::vector<int8_t>& now) {
    std::vector<CodeChange> r;
    for_each_differing_code(golden.data(), now.data(), golden.size(),
                            [&](size_t k) { r.push_back({int(k), golden[k], now[k]}); });
    return r;
}

// The site with its layer name replaced (a loopback engine site as layer l's).
FaultSite renamed(const FaultSite& site, const std::string& layer) {
    FaultSite r = site;
    std::visit([&](auto& x) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, FifoBit>) x.layer = layer;
    }, r.where);
    return r;
}
}  // namespace

// fmbuf[0]: whether layer l's input load writes the bit (it writes every word
// of the layer's map, lanes past its channels too).
bool Lowering::fmbuf_written(const FmBufBit& fb, int l) const {
    const PreparedLayer& P = engine_.prepared_layer(l);
    const int cf = (P.C + lb_.simd - 1) / lb_.simd;
    return fb.word < P.D * P.D * cf && fb.bit % lb_.input_bits < layers_[size_t(l)].geom.in_bits;
}

// Whether layer l reads or writes the element of a (checked) engine site.
bool Lowering::engine_site_reaches(const FaultSite& site, int l) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    if (const auto* fb = std::get_if<FmBufBit>(&site.where)) {
        if (fb->buffer == 0) {  // written, and a lane of one of the layer's channels
            const int cf = (P.C + lb_.simd - 1) / lb_.simd, lane = fb->bit / lb_.input_bits;
            return fmbuf_written(*fb, l) && (fb->word % cf) * lb_.simd + lane < P.C;
        }
        const int lane = fb->bit / eng_out_bits_;
        return fb->word < P.Q * P.Q * L.fold.nf && fb->bit % eng_out_bits_ < L.geom.out_bits &&
               L.fold.row_of(lane, fb->word % L.fold.nf) < L.fold.mh;
    }
    return layer_site_problem(renamed(site, L.name), l).empty();
}

std::vector<int> Lowering::channels_touched(const FaultSite& site) const {
    std::vector<int> rows;
    if (loopback_ && site_layer(site.where) == kLoopbackEngine) {
        // The first layer it reaches (a PE's channels are alike in every layer).
        const int l = effect_layer(site);
        if (std::holds_alternative<FmBufBit>(site.where)) {
            for (int c = 0; c < layers_[size_t(l)].fold.mh; ++c) rows.push_back(c);
            return rows;
        }
        return channels_touched(renamed(site, layers_[size_t(l)].name));
    }
    if (const auto* fb = std::get_if<FifoBit>(&site.where)) {
        const FifoStream& st = streams_[size_t(fb->fifo)];
        for (int c = 0; c < st.channels; ++c) rows.push_back(c);
        return rows;
    }
    const int l = layer_index(site_layer(site.where));
    const FoldingMap& f = layers_[size_t(l)].fold;
    const int T = layers_[size_t(l)].geom.thresholds;
    switch (site_class(site.where)) {
        case SiteClass::WeightWord: {
            const auto& s = std::get<WeightBit>(site.where);
            rows.push_back(f.row_of(s.pe, s.word / f.sf));
            break;
        }
        case SiteClass::Threshold: {
            const auto& s = std::get<ThresholdBit>(site.where);
            rows.push_back(f.row_of(s.pe, s.word / T));
            break;
        }
        default:
            // Pixel schedule: a PE computes every channel (of its own pixels).
            if (f.schedule == Schedule::Pixel)
                for (int r = 0; r < f.rows; ++r) rows.push_back(r);
            else
                rows = f.rows_of_pe(site_pe(site.where));
    }
    rows.erase(std::remove_if(rows.begin(), rows.end(), [&](int r) { return r >= f.mh; }), rows.end());
    return rows;
}

std::string Lowering::collapse_key(const FaultSite& site) const {
    if (site.kind == FaultKind::Flip || std::holds_alternative<FifoBit>(site.where)) return "";
    if (std::holds_alternative<FmBufBit>(site.where)) {
        // A buffer bit no layer uses (a word past every layer's map, a lane
        // or bit above its width) is never read.
        for (int l = 0; l < layers(); ++l)
            if (engine_site_reaches(site, l)) return "";
        return "masked";
    }
    if (!loopback_) return layer_collapse_key(site, layer_index(site_layer(site.where)));
    // Loopback: an engine site acts in each layer it reaches as that layer's
    // own site (lower_loopback), and each layer's output depends only on its
    // input and that effect; so sites whose keys agree in every layer have
    // equal effects, and a site masked in every layer it reaches is masked.
    bool masked = true;
    const std::string key = engine_keys(site, 0, masked);
    return masked && !key.empty() ? "masked" : key;
}

std::string Lowering::engine_keys(const FaultSite& site, int first, bool& masked) const {
    std::string key = "engine";
    masked = true;
    for (int l = first; l < layers(); ++l) {
        if (!engine_site_reaches(site, l)) {
            key += "|-";
            continue;
        }
        const std::string k = layer_collapse_key(renamed(site, layers_[size_t(l)].name), l);
        if (k.empty()) return "";
        masked = masked && k == "masked";
        key += "|" + k;
    }
    return key;
}

std::string Lowering::after_first_key(const FaultSite& site) const {
    if (!loopback_ || layers() < 2 || site.kind == FaultKind::Flip || std::holds_alternative<FmBufBit>(site.where))
        return "";
    bool masked = true;
    return engine_keys(site, 1, masked);
}

std::string Lowering::layer_collapse_key(const FaultSite& site, int l) const {
    const LayerLowering& L = layers_[size_t(l)];
    const LayerGeometry& g = L.geom;
    const FoldingMap& f = L.fold;
    const std::string kind = site.kind == FaultKind::StuckAt0 ? "0" : "1";
    const std::string at = L.name + ":" + kind + ":";
    switch (site_class(site.where)) {
        case SiteClass::WeightWord: {
            const auto& w = std::get<WeightBit>(site.where);
            const int row = f.row_of(w.pe, w.word / f.sf);
            const int k = (w.word % f.sf) * f.simd + w.bit / g.weight_bits;
            if (row >= f.mh || k >= f.mw) return "masked";  // (a padding row; an idle lane of a partial last fold)
            const uint64_t field = weight_field(g, L.wstream[size_t(row) * f.mw + k]);
            const uint64_t bit = (field >> (w.bit % g.weight_bits)) & 1;
            return bit == (site.kind == FaultKind::StuckAt1 ? 1u : 0u) ? "masked" : "";
        }
        case SiteClass::Threshold: {
            const auto& t = std::get<ThresholdBit>(site.where);
            const int T = g.thresholds, row = f.row_of(t.pe, t.word / T), k = t.word % T;
            if (row >= f.mh) return "masked";
            const int64_t th = engine_.model().layers[size_t(l)].thresholds[size_t(row) * T + k];
            const int64_t forced = force_bit(th, t.bit, site.kind, g.thr_bits, true);
            // Every accumulator lies in [lo, hi]: thresholds at or below lo
            // (above hi) always (never) pass, so only the clamped value counts.
            const int64_t lo = g.acc_signed ? -g.acc_bound : 0, hi = g.acc_bound;
            const auto clamp = [&](int64_t v) { return std::min(std::max(v, lo), hi + 1); };
            if (clamp(forced) == clamp(th)) return "masked";
            return "thr:" + L.name + ":" + std::to_string(row) + ":" + std::to_string(k) + ":" +
                   std::to_string(clamp(forced));
        }
        case SiteClass::AdderNode: {
            AdderNodeBit n = std::get<AdderNodeBit>(site.where);
            // A pass-through node holds the value of the node below it.
            while (n.level > 0) {
                const int below = adder_nodes(f.simd, n.level - 1);
                if (2 * n.node + 1 < below) break;
                --n.level;
                n.node *= 2;
            }
            const int lane_lo = n.node << n.level;
            const int lanes = std::min(f.simd, (n.node + 1) << n.level) - lane_lo;
            // A node whose lanes are idle in every fold (a layer narrower than
            // one fold) holds 0.
            bool idle = true;
            for (int sf = 0; sf < f.sf && idle; ++sf) idle = lane_lo >= f.lanes_in_fold(sf);
            if (idle || (!g.acc_signed && n.bit >= bits_for_unsigned(lanes))) {
                // The bit is 0 in every value the node holds: the tree sum of
                // every step changes by force(0), whichever node of the PE
                // holds the bit (stuck at 0: nothing).
                const int64_t d = force_bit(0, n.bit, site.kind, g.acc_bits, g.acc_signed);
                if (d == 0) return "masked";
                return "adder+" + std::to_string(d) + ":" + L.name + ":" + std::to_string(n.pe);
            }
            return "adder:" + at + std::to_string(n.pe) + ":" + std::to_string(n.level) + ":" +
                   std::to_string(n.node) + ":" + std::to_string(n.bit);
        }
        default: return "";
    }
}

void Lowering::lower(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s, LoweredEffect& out) const {
    out.changes.clear();
    out.scores.clear();
    out.later.clear();
    out.direct.clear();
    out.propagated = false;
    out.layer = effect_layer(site);
    if (loopback_ && site.kind == FaultKind::Flip && std::holds_alternative<FmBufBit>(site.where))
        lower_loopback_fmbuf_flip(site, image_pos, g, s, out);
    else if (loopback_ && site.kind == FaultKind::Flip) lower_loopback_flip(site, image_pos, g, s, out);
    else if (loopback_) lower_loopback(site, g, s, out);
    else if (const auto* fb = std::get_if<FifoBit>(&site.where)) lower_fifo(*fb, site, image_pos, g, out);
    else if (site.kind == FaultKind::Flip) lower_pe_flip(site, image_pos, g, s, out);
    else lower_pe(site, g, s, out);
}

// Loopback: layer by layer, the layer's input under the fault (the faulty
// output of the layer before it, through fmbuf[0]), the layer rerun on it
// when it differs from the golden one, then the fault in this layer (a PE
// site as the layer's own; fmbuf[1] on the stored outputs). s.trace holds
// the layers the fault changed; the others are read from the golden trace.
// The changes of every layer against the golden trace are the effect.
void Lowering::lower_loopback(const FaultSite& site, const GoldenImage& g, Scratch& s, LoweredEffect& out,
                              int only_layer, int flip_write) const {
    const int L = layers();
    const auto* fb = std::get_if<FmBufBit>(&site.where);
    const auto buffer_acts = [&](int l) { return engine_site_reaches(site, l) && (only_layer < 0 || l == only_layer); };
    if (!s.ws) s.ws = engine_.make_workspace();
    s.trace.layers.resize(size_t(L));
    out.propagated = true;
    out.direct.assign(size_t(L), {});
    bool input_changed = false;  // layer l's input differs from the golden one (s.trace holds layer l-1)
    s.in_changes = nullptr;
    s.in_forced = -1;
    int first = -1;              // the first layer whose output changed
    AfterFirstMemo* memo = !fb && only_layer < 0 && L > 1 ? s.after_first : nullptr;
    std::vector<CodeChange> first_changes;  // layer 0's, for the memo
    for (int l = 0; l < L; ++l) {
        const LayerTrace& gt = g.trace->layers[size_t(l)];
        const int8_t* in = input_changed ? s.trace.layers[size_t(l) - 1].out.data() : g.layer_input(l);
        const size_t in_size = l == 0 ? size_t(engine_.input_size()) : g.trace->layers[size_t(l) - 1].out.size();
        bool dirty = input_changed;  // the layer runs on a faulty input
        size_t forced = 0;  // the input element an fmbuf[0] fault changes
        if (fb && fb->buffer == 0 && buffer_acts(l) &&
            fmbuf_input(*fb, site.kind, l, in, in_size, s.input, forced)) {
            if (l > 0) out.direct[size_t(l) - 1].push_back({int(forced), in[forced], s.input[forced]});
            s.in_forced = int(forced);
            in = s.input.data();
            dirty = true;
        }
        // t holds this layer's data under the fault once `own` (before: gt
        // is); when the layer ran on its golden input, only its outputs (the
        // classifier: its scores) are copied, the one thing later layers read.
        LayerTrace& t = s.trace.layers[size_t(l)];
        // (fmbuf[0]: later steps read only the outputs; fmbuf[1] the pre-pool
        // codes; a PE site the accumulators too.)
        const bool windows = dirty && rerun_layer(l, in, g, s, t, !fb || fb->buffer == 1);
        bool own = dirty;
        const bool classifier = l + 1 == L;
        const auto take = [&]() {
            if (own) return;
            if (classifier) t.acc = gt.acc;
            else t.out = gt.out;
            own = true;
        };
        std::vector<CodeChange>& direct = out.direct[size_t(l)];
        if (fb) {
            if (fb->buffer == 1 && buffer_acts(l)) {
                const BufferSlot slot = fmbuf_output(*fb, site.kind, l, own ? t : gt, flip_write);
                const int64_t was = classifier ? (own ? t : gt).acc[slot.k] : (own ? t : gt).out[slot.k];
                if (slot.value != was) {
                    take();
                    if (classifier) {
                        t.acc[slot.k] = int32_t(slot.value);
                        direct.push_back({int(slot.k), 0, 0});
                    } else {
                        t.out[slot.k] = int8_t(slot.value);
                        direct.push_back({int(slot.k), int8_t(was), int8_t(slot.value)});
                    }
                }
            }
        } else if (engine_site_reaches(site, l)) {
            const FaultSite at = renamed(site, layers_[size_t(l)].name);
            GoldenImage fg{l == 0 ? in : g.input, own ? &s.trace : g.trace, nullptr};
            if (!own && g.stream && g.stream->layer == l) fg.stream = g.stream;
            if (own && windows && rows_are_stream(l)) {  // the rerun's windows: this faulty input's stream
                stream_from_rows(l, s.ws->im2col.rows.data(), s.stream);
                s.stream_of = fg.input;
            } else if (own) {
                s.stream.layer = -1;  // windows of a faulty input: built by lower_pe, never reused
            }
            LoweredEffect& e = s.layer_effect;
            e.changes.clear();
            e.scores.clear();
            lower_pe(at, fg, s, e);
            if (own) s.stream.layer = -1;
            if (!e.changes.empty()) {
                take();
                for (const CodeChange& c : e.changes) t.out[size_t(c.idx)] = c.new_code;
            }
            direct = e.changes;
            if (!e.scores.empty()) {
                take();
                for (size_t k = 0; k < t.acc.size(); ++k)
                    if (t.acc[k] != e.scores[k]) direct.push_back({int(k), 0, 0});
                t.acc = e.scores;
            }
        }
        // Against the golden trace: this layer's changes.
        if (classifier) {
            if (own && t.acc != gt.acc) out.scores = t.acc;
            if (first < 0 && !out.scores.empty()) out.layer = l;
            break;
        }
        // (On its golden input the layer changed exactly what the fault did here.)
        std::vector<CodeChange> changes = !own ? std::vector<CodeChange>{} : dirty ? code_changes(gt.out, t.out) : direct;
        input_changed = !changes.empty();
        if (l == 0 && memo) {  // the rest is what an earlier fault of the key did after the same layer 0
            for (const AfterFirstMemo::Entry& m : memo->entries)
                if (m.first.size() == changes.size() &&
                    std::equal(changes.begin(), changes.end(), m.first.begin(), [](const CodeChange& a, const CodeChange& b) {
                        return a.idx == b.idx && a.new_code == b.new_code;
                    })) {
                    const int unchanged_layer = out.layer;  // (the site's own, when nothing changes)
                    out = m.effect;
                    if (out.changes.empty() && out.scores.empty()) out.layer = unchanged_layer;
                    ++memo->hits;
                    return;
                }
            first_changes = changes;
        }
        s.in_forced = -1;
        s.in_changes = nullptr;
        if (first >= 0) {
            out.later.push_back(std::move(changes));
            if (input_changed) s.in_changes = &out.later.back();  // (read by the next rerun, before the next push)
        } else if (input_changed) {
            first = out.layer = l;
            out.changes = std::move(changes);
            s.in_changes = &out.changes;
        }
    }
    // Trailing layers without changes need no entry.
    while (!out.later.empty() && out.later.back().empty()) out.later.pop_back();
    if (memo) {
        if (memo->entries.size() < AfterFirstMemo::kEntries) memo->entries.emplace_back();
        AfterFirstMemo::Entry& m = memo->entries[memo->next];
        memo->next = (memo->next + 1) % AfterFirstMemo::kEntries;
        m.first.swap(first_changes);
        m.effect = out;
    }
}

bool Lowering::rerun_layer(int l, const int8_t* in, const GoldenImage& g, Scratch& s, LayerTrace& t,
                           bool whole) const {
    const PreparedLayer& Y = engine_.prepared_layer(l);
    const int O = Y.O, D = Y.D, K = Y.K, C = Y.C, MH = Y.MH;
    if (!Y.fc && !Y.last) {
        // The output pixels whose windows read an input pixel that differs
        // (the marking stops once the dense pass would cost less).
        const size_t most = size_t(O) * O / 4;
        s.rerun_mark.assign(size_t(O) * O, 0);
        s.rerun_q.clear();
        const auto mark = [&](int px) {
            kernels::for_each_window_output(px, D, K, O, [&](int q, int) {
                if (!s.rerun_mark[size_t(q)]) {
                    s.rerun_mark[size_t(q)] = 1;
                    s.rerun_q.push_back(q);
                }
            });
        };
        if (s.in_forced >= 0) mark(s.in_forced / C);
        if (s.in_changes && l > 0) {
            int next_px = 0;  // changes come in element order: one division per pixel
            for (const CodeChange& c : *s.in_changes) {
                if (c.idx < next_px) continue;
                if (s.rerun_q.size() > most) break;
                const int px = c.idx / C;
                next_px = (px + 1) * C;
                mark(px);
            }
        }
        if (s.rerun_q.size() <= most) {
            const LayerTrace& gt = g.trace->layers[size_t(l)];
            t.out = gt.out;
            // The recomputed pixels' accumulators and codes: in t over golden
            // copies (whole), else in scratch (their other pixels never read).
            int32_t* acc = nullptr;
            int8_t* act = nullptr;
            if (whole) {
                t.acc = gt.acc;
                t.act = gt.act;
                acc = t.acc.data();
                act = t.act.data();
            } else {
                s.rerun_acc.resize(Y.acc_size());
                s.rerun_act.resize(Y.acc_size());
                acc = s.rerun_acc.data();
                act = s.rerun_act.data();
            }
            s.rerun_need_mark.assign(size_t(D) * D, 0);
            s.rerun_need.clear();
            s.rerun_src.clear();
            for (int q : s.rerun_q)
                kernels::for_each_window_input(q, D, K, O, [&](int px) {
                    if (s.rerun_need_mark[size_t(px)]) return;
                    s.rerun_need_mark[size_t(px)] = 1;
                    s.rerun_need.push_back(px);
                    s.rerun_src.push_back(in + size_t(px) * C);
                });
            Im2colBuffers& b = s.ws->im2col;
            b.fit(Y);
            kernels::load_input_pixels(Y, s.rerun_src.data(), s.rerun_need.data(), int(s.rerun_need.size()), b);
            kernels::accumulate_loaded(Y, b, s.rerun_q.data(), int(s.rerun_q.size()), acc, MH);
            for (int q : s.rerun_q) kernels::threshold_row(Y, acc + size_t(q) * MH, act + size_t(q) * MH);
            const int P = Y.P, Q = Y.Q;
            s.rerun_pmark.assign(size_t(Q) * Q, 0);
            const auto act_at = [&](int q) {
                return (s.rerun_mark[size_t(q)] ? act : gt.act.data()) + size_t(q) * MH;
            };
            for (int q : s.rerun_q) {
                const int oy = q / O, ox = q - oy * O;
                if (oy / P >= Q || ox / P >= Q) continue;  // a row / column the pool drops
                const int r = (oy / P) * Q + ox / P;
                if (s.rerun_pmark[size_t(r)]) continue;
                s.rerun_pmark[size_t(r)] = 1;
                kernels::max_pool_pixel(Y, r, act_at, t.out.data() + size_t(r) * MH);
            }
            return false;
        }
    }
    // The engine's step for one layer, straight into t (its windows stay in
    // the workspace: rows_are_stream layers take them as their stream inputs).
    const size_t n = Y.acc_size();
    t.acc.resize(n);
    kernels::accumulate_all(Y, in, s.ws->im2col, t.acc.data());
    if (Y.last) {
        t.act.clear();
        t.out.clear();
        return true;
    }
    t.act.resize(n);
    t.out.resize(Y.out_size());
    kernels::activate_all(Y, t.acc.data(), t.act.data(), t.out.data());
    return true;
}

// A flip fires once: at the first pass in or after its cycle, in whichever
// layer the engine runs then (each layer's own pass rule, find_flip); that
// layer's one value changes, and the rest of the network runs fault-free on
// its output.
void Lowering::lower_loopback_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s,
                                   LoweredEffect& out) const {
    const int L = layers();
    out.propagated = true;
    out.direct.assign(size_t(L), {});
    int fire = -1;
    FlipHit hit;
    for (int l = 0; l < L; ++l) {
        FlipHit h;
        if (find_flip(renamed(site, layers_[size_t(l)].name), l, h) && (fire < 0 || h.cycle < hit.cycle)) {
            fire = l;
            hit = h;
        }
    }
    if (fire < 0) return;  // it never fires in this run
    LoweredEffect& e = s.layer_effect;
    e.changes.clear();
    e.scores.clear();
    apply_flip(renamed(site, layers_[size_t(fire)].name), fire, hit, image_pos, g, s, e);
    if (e.empty()) return;
    out.layer = fire;
    if (fire + 1 == L) {
        out.scores = e.scores;
        const auto& gacc = g.trace->layers.back().acc;
        for (size_t k = 0; k < gacc.size(); ++k)
            if (e.scores[k] != gacc[k]) out.direct.back().push_back({int(k), 0, 0});
        return;
    }
    out.changes = e.changes;
    out.direct[size_t(fire)] = e.changes;
    s.input = g.trace->layers[size_t(fire)].out;
    for (const CodeChange& c : e.changes) s.input[size_t(c.idx)] = c.new_code;
    if (!s.ws) s.ws = engine_.make_workspace();
    ClassifyOptions opt;
    opt.trace = &s.layer_run;
    engine_.classify_with(*s.ws, fire + 1, s.input.data(), opt);
    for (int l = fire + 1; l + 1 < L; ++l)
        out.later.push_back(code_changes(g.trace->layers[size_t(l)].out, s.layer_run.layers[size_t(l)].out));
    if (s.layer_run.layers.back().acc != g.trace->layers.back().acc) out.scores = s.layer_run.layers.back().acc;
    while (!out.later.empty() && out.later.back().empty()) out.later.pop_back();
}

// fmbuf[0] word px*CF + c/SIMD, lane c mod SIMD: bit b of input code (px, c)
// forced as the layer loads it, read back as the layer reads a field.
bool Lowering::fmbuf_input(const FmBufBit& fb, FaultKind kind, int l, const int8_t* in, size_t n,
                           std::vector<int8_t>& out, size_t& changed) const {
    const LayerSpec& spec = engine_.model().topology.layers[size_t(l)];
    const LayerGeometry& geo = layers_[size_t(l)].geom;
    const int C = spec.in_channels, cf = (C + lb_.simd - 1) / lb_.simd, ib = geo.in_bits;
    const int px = fb.word / cf, c = (fb.word % cf) * lb_.simd + fb.bit / lb_.input_bits;
    const size_t idx = size_t(px) * C + c;
    const int8_t old = in[idx];
    const uint64_t field = uint64_t(force_bit(int64_t(field_of(old, ib)), fb.bit % lb_.input_bits, kind, ib, false));
    const int8_t now = int8_t(geo.in_signed ? sign_extend_field(field, ib) : int64_t(field));
    if (now == old) return false;
    out.assign(in, in + n);
    out[idx] = now;
    changed = idx;
    return true;
}

// fmbuf[1] word q*NF + fold, lane = the channel's PE bank: the pool unit's
// running maximum (from the lowest code) forced on every write, the window's
// pixels written in pixel order; a layer uses the low out_bits of a lane.
Lowering::BufferSlot Lowering::fmbuf_output(const FmBufBit& fb, FaultKind kind, int l, const LayerTrace& t,
                                            int flip_write) const {
    const LayerLowering& L = layers_[size_t(l)];
    const LayerSpec& spec = engine_.model().topology.layers[size_t(l)];
    const LayerGeometry& geo = L.geom;
    const int MH = spec.mh(), O = spec.out_dim, Q = spec.pooled_dim, Pp = spec.pool, ob = geo.out_bits;
    const int q = fb.word / L.fold.nf, ch = L.fold.row_of(fb.bit / eng_out_bits_, fb.word % L.fold.nf);
    const int bit = fb.bit % eng_out_bits_;
    const auto force = [&](int64_t v) {
        const uint64_t f = uint64_t(force_bit(int64_t(field_of(v, ob)), bit, kind, ob, false));
        return geo.out_signed ? sign_extend_field(f, ob) : int64_t(f);
    };
    const bool scores = !geo.has_act;
    const auto pre = [&](int pixel) {
        const size_t k = size_t(pixel) * MH + ch;
        return scores ? int64_t(t.acc[k]) : int64_t(t.act[k]);
    };
    int64_t slot;
    if (Pp > 1) {
        slot = geo.has_act ? geo.act.lo : std::numeric_limits<int32_t>::min();
        const int qy = q / Q, qx = q % Q;
        int w = 0;  // the write's position in the window
        for (int py = 0; py < Pp; ++py)
            for (int px = 0; px < Pp; ++px, ++w) {
                slot = std::max(slot, pre((qy * Pp + py) * O + qx * Pp + px));
                if (flip_write < 0 || w == flip_write) slot = force(slot);
            }
    } else {
        slot = force(pre(q));
    }
    return {size_t(q) * MH + ch, slot};
}

int64_t Lowering::iterations_per_image(int l) const {
    const FoldingMap& fold = layers_[size_t(l)].fold;
    const int reps = engine_.prepared_layer(l).O * engine_.prepared_layer(l).O;
    const int rows = loopback_ ? fold.mh : fold.rows;  // channels the pixel loop runs over
    return fold.schedule == Schedule::Pixel ? int64_t((reps + fold.pe - 1) / fold.pe) * rows * fold.sf
                                            : int64_t(reps) * fold.nf * fold.sf;
}

// A flip in a feature-map buffer fires once, at the first write of its bit at
// or after its cycle by a layer that uses the bit (LoopbackModel forces the
// buffers as they are written). fmbuf[0]: a layer's input load, which writes
// every word once at the cycle of the layer's first compute step; fmbuf[1]:
// the pool unit writing an output into the slot, at the step that finishes
// it (sf = SF - 1), once per pre-pool pixel of the window in pixel order.
// That one write of that one image is flipped (the pool's later writes take
// the max with it), and the rest of the network runs on the stored result.
void Lowering::lower_loopback_fmbuf_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s,
                                         LoweredEffect& out) const {
    const FmBufBit& fb = std::get<FmBufBit>(site.where);
    int fire = -1, fire_write = 0;
    int64_t fire_cycle = 0, fire_image = 0;
    for (int l = 0; l < layers(); ++l) {
        if (!(fb.buffer == 0 ? fmbuf_written(fb, l) : engine_site_reaches(site, l))) continue;
        const std::vector<int64_t>& cycles = schedule_->iteration_cycle.at(size_t(l));
        const int64_t per_image = iterations_per_image(l), images = int64_t(cycles.size()) / per_image;
        // The slot's writes within one image: (iteration, position in the window).
        std::vector<int64_t> writes;
        if (fb.buffer == 0) {
            writes.push_back(0);
        } else {
            const LayerSpec& spec = engine_.model().topology.layers[size_t(l)];
            const FoldingMap& fold = layers_[size_t(l)].fold;
            const int q = fb.word / fold.nf, ch = fold.row_of(fb.bit / eng_out_bits_, fb.word % fold.nf);
            const int O = spec.out_dim, Q = spec.pooled_dim, P = spec.pool;
            for (int py = 0; py < P; ++py)
                for (int px = 0; px < P; ++px) {
                    const int pixel = P > 1 ? ((q / Q) * P + py) * O + (q % Q) * P + px : q;
                    writes.push_back(fold.schedule == Schedule::Pixel
                                         ? (int64_t(pixel / fold.pe) * fold.mh + ch) * fold.sf + fold.sf - 1
                                         : (int64_t(pixel) * fold.nf + fold.fold_of(ch)) * fold.sf + fold.sf - 1);
                }
        }
        // The first image whose last write of the slot comes at or after the
        // flip, then its first such write.
        int64_t lo = 0, hi = images;
        while (lo < hi) {
            const int64_t mid = (lo + hi) / 2;
            if (cycles[size_t(mid * per_image + writes.back())] >= site.cycle) hi = mid;
            else lo = mid + 1;
        }
        if (lo == images) continue;  // no write in this run
        int w = 0;
        while (cycles[size_t(lo * per_image + writes[size_t(w)])] < site.cycle) ++w;
        const int64_t c = cycles[size_t(lo * per_image + writes[size_t(w)])];
        if (fire < 0 || c < fire_cycle) fire = l, fire_write = w, fire_cycle = c, fire_image = lo;
    }
    if (fire < 0 || fire_image != image_pos) return;  // it never fires, or fires in another image
    lower_loopback(site, g, s, out, fire, fire_write);
}

void Lowering::stream_inputs(int l, const int8_t* in, StreamInputs& out) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const int MW = P.MW, O = P.O;
    out.layer = l;
    out.words = L.geom.xnor ? L.words : 0;
    if (rows_are_stream(l)) {
        thread_local Im2colBuffers b;
        kernels::window_rows(P, in, b);
        stream_from_rows(l, b.rows.data(), out);
        return;
    }
    if (!L.geom.xnor) {
        // Integer lanes, by column: each input channel's values as a plane,
        // then column k (input channel c, window offset ky * D + kx) row by
        // row from its plane.
        const int D = P.D, C = P.C, npx = D * D, np = O * O;
        thread_local std::vector<int32_t> plane;
        plane.resize(size_t(C) * npx);
        for (int px = 0; px < npx; ++px)
            for (int c = 0; c < C; ++c) plane[size_t(c) * npx + px] = P.value_of[uint8_t(in[size_t(px) * C + c])];
        out.values_t.resize(size_t(np) * MW);
        for (int k = 0; k < MW; ++k) {
            const int off = L.stream_offset[size_t(k)];
            const int32_t* from = &plane[size_t(off % C) * npx + off / C];
            int32_t* to = &out.values_t[size_t(k) * np];
            for (int oy = 0; oy < O; ++oy) std::copy_n(from + size_t(oy) * D, O, to + size_t(oy) * O);
        }
        return;
    }
    out.bits.assign(size_t(O) * O * out.words, 0);
    for (int q = 0; q < O * O; ++q) {
        const int8_t* base = in + (size_t(q / O) * P.D + q % O) * P.C;
        uint64_t* b = &out.bits[size_t(q) * out.words];
        for (int k = 0; k < MW; ++k) b[k >> 6] |= uint64_t(base[L.stream_offset[size_t(k)]] & 1) << (k & 63);
    }
    transpose_bits(out, O * O);
}

bool Lowering::rows_are_stream(int l) const {
    const LayerLowering& L = layers_[size_t(l)];
    return L.geom.xnor && L.identity_columns && L.words == engine_.prepared_layer(l).words;
}

void Lowering::stream_from_rows(int l, const uint64_t* rows, StreamInputs& out) const {
    const int pixels = engine_.prepared_layer(l).O * engine_.prepared_layer(l).O;
    out.layer = l;
    out.words = layers_[size_t(l)].words;
    out.bits.assign(rows, rows + size_t(pixels) * size_t(out.words));
    transpose_bits(out, pixels);
}

void Lowering::transpose_bits(StreamInputs& out, int pixels) {
    out.bits_t.resize(out.bits.size());
    for (int q = 0; q < pixels; ++q)
        for (int i = 0; i < out.words; ++i) out.bits_t[size_t(i) * pixels + q] = out.bits[size_t(q) * out.words + i];
}


// Accumulators of one output channel under an acc / adder fault, recomputed as
// the PE computes them: per output pixel, SF partial sums of SIMD lanes in
// stream-column order into the (forced) accumulator register. Pixels q with
// q % q_step != q_first keep their golden accumulators.
void Lowering::recompute_row(const FaultSite& site, int l, int row, const GoldenImage& g, Scratch& s, int q_first,
                             int q_step) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const StreamInputs* in = g.stream;
    if (!in || in->layer != l) {
        if (s.stream.layer != l || s.stream_of != g.input) {
            stream_inputs(l, g.layer_input(l), s.stream);
            s.stream_of = g.input;
        }
        in = &s.stream;
    }
    RowPass r{site, L, row, q_first, q_step, P.O * P.O, *in, g.trace->layers[size_t(l)].acc, P.MH};
    r.acc_site = std::get_if<AccBit>(&site.where);
    r.node = std::get_if<AdderNodeBit>(&site.where);
    if (r.node) {
        r.lane_lo = r.node->node << r.node->level;
        r.lane_hi = std::min(L.fold.simd, (r.node->node + 1) << r.node->level);
    }
    s.acc.resize(size_t(r.np));
    if (q_step > 1)  // the pixels left out keep their golden accumulators
        for (int q = 0; q < r.np; ++q) s.acc[size_t(q)] = r.gacc[size_t(q) * r.MH + row];
    if (lane_by_lane_) recompute_lane_by_lane(r, s);
    else if (!L.geom.xnor) recompute_integer(r, s);
    else recompute_xnor(r, s);
}

// Lane by lane, fold by fold: the obvious path (tests compare the others with it).
void Lowering::recompute_lane_by_lane(const RowPass& r, Scratch& s) const {
    const LayerLowering& L = r.L;
    const LayerGeometry& geo = L.geom;
    const int SIMD = L.fold.simd, SF = L.fold.sf, MW = L.fold.mw;
    const FaultKind kind = r.site.kind;
    for (int q = r.q_first; q < r.np; q += r.q_step) {
        const uint64_t* xb = geo.xnor ? &r.in.bits[size_t(q) * r.in.words] : nullptr;
        const uint64_t* wb = geo.xnor ? &L.wbits[size_t(r.row) * L.words] : nullptr;
        const int32_t* xv = geo.xnor ? nullptr : &r.in.values_t[size_t(q)];  // column k at xv[k * np]
        const int32_t* wv = geo.xnor ? nullptr : &L.wstream[size_t(r.row) * MW];
        const auto product = [&](int k) -> int64_t {
            if (geo.xnor) return ((xb[k >> 6] ^ wb[k >> 6]) >> (k & 63) & 1) == 0;  // XNOR: a match counts 1
            return int64_t(wv[k]) * xv[size_t(k) * r.np];
        };
        int64_t acc = 0;
        for (int sf = 0; sf < SF; ++sf) {
            // A partial last fold (loopback): its idle lanes put 0 on their product nodes.
            const int a = sf * SIMD, lanes = L.fold.lanes_in_fold(sf);
            int64_t tree = 0, nodev = 0;
            for (int e = 0; e < lanes; ++e) tree += product(a + e);
            if (r.node) {
                for (int e = std::min(r.lane_lo, lanes); e < std::min(r.lane_hi, lanes); ++e) nodev += product(a + e);
                tree += force_bit(nodev, r.node->bit, kind, geo.acc_bits, geo.acc_signed) - nodev;
            }
            acc += tree;
            if (r.acc_site) acc = force_bit(acc, r.acc_site->bit, kind, geo.acc_bits, geo.acc_signed);
            acc = int32_t(acc);
        }
        s.acc[size_t(q)] = int32_t(acc);
    }
}

// Integer layers. The accumulator register: each fold's tree sum added, then
// forced. An adder node: the golden accumulator plus, per fold, force(v) - v
// of the node's value v (the register wraps at 32 bits each step, which a sum
// wrapped once matches).
void Lowering::recompute_integer(const RowPass& r, Scratch& s) const {
    const LayerLowering& L = r.L;
    const LayerGeometry& geo = L.geom;
    const int SIMD = L.fold.simd, SF = L.fold.sf, MW = L.fold.mw, np = r.np;
    const int32_t* wv = &L.wstream[size_t(r.row) * MW];
    // Fold by fold, every pixel at once (the inputs by column, values_t).
    const auto fold_values = [&](int lo, int hi) {  // s.fold[q] = sum of lanes [lo, hi) at pixel q
        s.fold.assign(size_t(np), 0);
        for (int e = lo; e < hi; ++e) {
            const int64_t w = wv[e];
            const int32_t* col = &r.in.values_t[size_t(e) * np];
            if (w != 0)
                for (int q = 0; q < np; ++q) s.fold[size_t(q)] += w * col[q];
        }
    };
    if (!r.node) {
        const BitForce force(r.acc_site->bit, r.site.kind, geo.acc_bits, geo.acc_signed);
        s.reg.assign(size_t(np), 0);
        for (int a = 0; a < MW; a += SIMD) {  // (a partial last fold: its idle lanes add 0)
            fold_values(a, std::min(a + SIMD, MW));
            for (int q = 0; q < np; ++q) s.reg[size_t(q)] = int32_t(force(s.reg[size_t(q)] + s.fold[size_t(q)]));
        }
        for (int q = r.q_first; q < np; q += r.q_step) s.acc[size_t(q)] = int32_t(s.reg[size_t(q)]);
        return;
    }
    // A stuck bit b below the sign of a signed register that v always fits:
    // force(v) - v is +-2^b where bit b of v differs from the stuck value, else 0.
    const int b = r.node->bit, width = geo.acc_bits;
    const bool counted = r.site.kind != FaultKind::Flip && geo.acc_signed && b + 1 < width && width < 63 &&
                         int64_t(r.lane_hi - r.lane_lo) * L.max_product < (int64_t(1) << (width - 1)) && MW == SF * SIMD;
    const int64_t stuck = r.site.kind == FaultKind::StuckAt1, d = stuck ? int64_t(1) << b : -(int64_t(1) << b);
    s.reg.assign(size_t(np), 0);  // counted: folds whose node value has bit b != the stuck value; else the changes
    for (int sf = 0; sf < SF; ++sf) {
        const int a = sf * SIMD, lanes = L.fold.lanes_in_fold(sf);
        fold_values(a + std::min(r.lane_lo, lanes), a + std::min(r.lane_hi, lanes));
        if (counted)
            for (int q = 0; q < np; ++q) s.reg[size_t(q)] += ((s.fold[size_t(q)] >> b) & 1) != stuck;
        else
            for (int q = 0; q < np; ++q) {
                const int64_t v = s.fold[size_t(q)];
                s.reg[size_t(q)] += force_bit(v, b, r.site.kind, geo.acc_bits, geo.acc_signed) - v;
            }
    }
    for (int q = r.q_first; q < np; q += r.q_step)
        s.acc[size_t(q)] = int32_t(r.gacc[size_t(q) * r.MH + r.row] + (counted ? d * s.reg[size_t(q)] : s.reg[size_t(q)]));
}

// XNOR layers, words of lanes at once.
void Lowering::recompute_xnor(const RowPass& r, Scratch& s) const {
    const LayerLowering& L = r.L;
    const LayerGeometry& geo = L.geom;
    const int SIMD = L.fold.simd, SF = L.fold.sf;
    const AdderNodeBit* node = r.node;
    const FaultKind kind = r.site.kind;
    // Per fold, the (word, mask) pieces of the lanes summed: the node's lanes
    // (adder) or the whole tree's (acc). A partial last fold (loopback): its
    // idle lanes put 0 on their product nodes. They (and an adder node's
    // change table) depend on the folding, the node and the forced bit only:
    // kept for the next call.
    const std::array<int, 9> key{SIMD, SF, L.fold.mw, node ? r.lane_lo : 0, node ? r.lane_hi : -1,
                                 node ? node->bit : -1, int(kind), geo.acc_bits, int(geo.acc_signed)};
    if (s.pieces_key != key) {
        s.pieces_key = key;
        s.pieces.clear();
        s.fold_pieces.assign(1, 0);
        int most = 0;  // the most lanes one fold's sum covers
        for (int sf = 0; sf < SF; ++sf) {
            const int a = sf * SIMD, lanes = L.fold.lanes_in_fold(sf);
            int lo = a, hi = a + lanes;
            if (node) lo = a + std::min(r.lane_lo, lanes), hi = a + std::min(r.lane_hi, lanes);
            most = std::max(most, hi - lo);
            while (lo < hi) {
                const int i = lo >> 6, o = lo & 63, n = std::min(64 - o, hi - lo);
                s.pieces.push_back({i, (n == 64 ? ~uint64_t(0) : ((uint64_t(1) << n) - 1)) << o});
                lo += n;
            }
            s.fold_pieces.push_back(int(s.pieces.size()));
        }
        if (node) {
            // The node's change force(v) - v per value v; two-valued when it
            // is d where bit b of v is `hit` and 0 elsewhere (hit -1: 0
            // everywhere).
            const int b = node->bit;
            s.node_delta.resize(size_t(most) + 1);
            for (int v = 0; v <= most; ++v) s.node_delta[size_t(v)] = force_bit(v, b, kind, geo.acc_bits, geo.acc_signed) - v;
            const auto bit_of = [&](int v) { return b < 62 ? int((v >> b) & 1) : 0; };
            s.node_hit = -1;
            s.node_d = 0;
            for (int v = 0; v <= most && s.node_hit < 0; ++v)
                if (s.node_delta[size_t(v)] != 0) s.node_hit = bit_of(v), s.node_d = s.node_delta[size_t(v)];
            bool two_valued = true;
            for (int v = 0; v <= most && two_valued; ++v)
                two_valued = s.node_delta[size_t(v)] == (s.node_hit >= 0 && bit_of(v) == s.node_hit ? s.node_d : 0);
            // Word-parallel node values: with power-of-two SIMD <= 64
            // dividing MW, every fold lies in one word and the node's lanes
            // are an aligned 2^level-bit field of it, so a partial popcount
            // of the masked word leaves each fold's node value in that field.
            const int width = r.lane_hi - r.lane_lo;
            s.node_masks.clear();
            s.node_level = -1;
            if (two_valued && SIMD <= 64 && (SIMD & (SIMD - 1)) == 0 && L.fold.mw == SF * SIMD &&
                width == (1 << node->level)) {
                s.node_level = node->level;
                s.node_masks.assign(size_t(L.words) * 2, 0);  // per word: the node's lanes, the fields' lowest bits
                for (int sf = 0; sf < SF; ++sf) {
                    const int a = sf * SIMD + r.lane_lo;
                    for (int k = a; k < a + width; ++k) s.node_masks[size_t(k >> 6) * 2] |= uint64_t(1) << (k & 63);
                    s.node_masks[size_t(a >> 6) * 2 + 1] |= uint64_t(1) << (a & 63);
                }
            }
        }
    }
    // Fold by fold, every pixel at once (the input words by column, bits_t).
    const int np = r.np;
    const uint64_t* w = &L.wbits[size_t(r.row) * L.words];
    const Scratch::Piece* pc = s.pieces.data();
    const int* fp = s.fold_pieces.data();
    const auto fold_sums = [&](int sf) {  // s.fold[q] = fold sf's matches at pixel q
        s.fold.assign(size_t(np), 0);
        for (int k = fp[sf]; k < fp[sf + 1]; ++k) {
            const uint64_t* col = &r.in.bits_t[size_t(pc[k].word) * np];
            const uint64_t wd = w[pc[k].word], mask = pc[k].mask;
            for (int q = 0; q < np; ++q) s.fold[size_t(q)] += __builtin_popcountll(~(col[q] ^ wd) & mask);
        }
    };
    s.reg.assign(size_t(np), 0);
    if (!node) {  // the accumulator register, forced at every fold
        const BitForce force(r.acc_site->bit, kind, geo.acc_bits, geo.acc_signed);
        for (int sf = 0; sf < SF; ++sf) {
            fold_sums(sf);
            for (int q = 0; q < np; ++q) s.reg[size_t(q)] = int32_t(force(s.reg[size_t(q)] + s.fold[size_t(q)]));
        }
        for (int q = r.q_first; q < np; q += r.q_step) s.acc[size_t(q)] = int32_t(s.reg[size_t(q)]);
        return;
    }
    // An adder node: the golden accumulator (every lane's matches) plus each
    // fold's node change (the register wraps at 32 bits each step, which a sum
    // wrapped once matches). Word-parallel: d times the number of folds whose
    // node value has bit b == hit.
    if (s.node_level >= 0) {
        const int b = node->bit, hit = s.node_hit;
        const bool readable = hit >= 0 && b < (1 << s.node_level);  // else bit b of v (<= 2^level) is always 0
        const auto count = [&](auto level_constant) {  // s.reg[q] = folds whose node value has bit b set
            constexpr int level = decltype(level_constant)::value;
            constexpr uint64_t kPairs[6] = {0x5555555555555555ull, 0x3333333333333333ull, 0x0f0f0f0f0f0f0f0full,
                                            0x00ff00ff00ff00ffull, 0x0000ffff0000ffffull, 0x00000000ffffffffull};
            for (int i = 0; i < L.words; ++i) {
                const uint64_t lanes = s.node_masks[2 * size_t(i)], lowest = s.node_masks[2 * size_t(i) + 1];
                if (!lanes) continue;
                const uint64_t* col = &r.in.bits_t[size_t(i) * np];
                const uint64_t wd = w[i];
                for (int q = 0; q < np; ++q) {
                    uint64_t f = ~(col[q] ^ wd) & lanes;
                    for (int j = 0; j < level; ++j) f = (f & kPairs[j]) + ((f >> (1 << j)) & kPairs[j]);
                    s.reg[size_t(q)] += __builtin_popcountll((f >> b) & lowest);
                }
            }
        };
        if (readable) switch (s.node_level) {
                case 0: count(std::integral_constant<int, 0>()); break;
                case 1: count(std::integral_constant<int, 1>()); break;
                case 2: count(std::integral_constant<int, 2>()); break;
                case 3: count(std::integral_constant<int, 3>()); break;
                case 4: count(std::integral_constant<int, 4>()); break;
                case 5: count(std::integral_constant<int, 5>()); break;
                default: count(std::integral_constant<int, 6>()); break;
            }
        for (int q = r.q_first; q < np; q += r.q_step) {
            const int64_t folds_hit = hit == 1 ? s.reg[size_t(q)] : SF - s.reg[size_t(q)];
            s.acc[size_t(q)] = int32_t(r.gacc[size_t(q) * r.MH + r.row] + (hit >= 0 ? s.node_d * folds_hit : 0));
        }
        return;
    }
    for (int sf = 0; sf < SF; ++sf) {
        fold_sums(sf);
        for (int q = 0; q < np; ++q) s.reg[size_t(q)] += s.node_delta[size_t(s.fold[size_t(q)])];
    }
    for (int q = r.q_first; q < np; q += r.q_step)
        s.acc[size_t(q)] = int32_t(r.gacc[size_t(q) * r.MH + r.row] + s.reg[size_t(q)]);
}

void Lowering::lower_pe(const FaultSite& site, const GoldenImage& g, Scratch& s, LoweredEffect& out) const {
    const int l = layer_index(site_layer(site.where));
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const LayerGeometry& geo = L.geom;
    const FoldingMap& fold = L.fold;
    const LayerTrace& gt = g.trace->layers[size_t(l)];
    const int O = P.O, MH = P.MH, T = P.T, np = O * O;
    const SiteClass cls = site_class(site.where);
    const std::vector<int32_t>& thr = engine_.model().layers[size_t(l)].thresholds;
    s.acc.resize(size_t(np));
    s.codes.resize(size_t(np));
    s.pooled_rows.clear();
    // Pixel schedule: PE p's accumulator, adder tree and comparators serve
    // only its pixels p, p+PE, ... (weight and threshold words are broadcast).
    const bool pixel_local = fold.schedule == Schedule::Pixel &&
                             (cls == SiteClass::Acc || cls == SiteClass::AdderNode || cls == SiteClass::Comparator);
    const int owner = pixel_local ? site_pe(site.where) : -1;
    const auto faulty_at = [&](int q) { return !pixel_local || q % fold.pe == owner; };
    for (int row : channels_touched(site)) {
        // Faulty accumulators of channel `row` at every pre-pool pixel.
        if (cls == SiteClass::Acc || cls == SiteClass::AdderNode) {
            recompute_row(site, l, row, g, s, pixel_local ? owner : 0, pixel_local ? fold.pe : 1);
        } else {
            for (int q = 0; q < np; ++q) s.acc[size_t(q)] = gt.acc[size_t(q) * MH + row];
            if (cls == SiteClass::WeightWord) {
                // One lane of one word: golden accumulator + the product's change.
                const auto& wbit = std::get<WeightBit>(site.where);
                const int sfi = wbit.word % fold.sf, e = wbit.bit / geo.weight_bits, b = wbit.bit % geo.weight_bits;
                const int k = sfi * fold.simd + e;
                if (k >= P.MW) continue;  // an idle lane of a partial last fold
                const int64_t w = L.wstream[size_t(row) * P.MW + k];
                const int64_t w2 =
                    weight_of_field(geo, uint64_t(force_bit(int64_t(weight_field(geo, w)), b, site.kind, geo.weight_bits, false)));
                if (w2 == w) continue;
                const int8_t* in = g.layer_input(l);
                const int off = L.stream_offset[size_t(k)];
                for (int q = 0; q < np; ++q) {
                    const int oy = q / O, ox = q % O;
                    const int8_t code = in[(size_t(oy) * P.D + ox) * P.C + off];
                    const int64_t d = geo.xnor ? int64_t(w2 == (code & 1)) - int64_t(w == (code & 1))
                                               : (w2 - w) * P.value_of[uint8_t(code)];
                    s.acc[size_t(q)] += int32_t(d);
                }
            }
        }
        if (!geo.has_act) {  // the classifier: its scores are the accumulators
            if (out.scores.empty()) out.scores = gt.acc;
            for (int q = 0; q < np; ++q) out.scores[size_t(q) * MH + row] = s.acc[size_t(q)];
            continue;
        }
        // The PE's comparators: threshold words (maybe one faulty) against the
        // accumulator, each compare (maybe one forced) adds one level.
        const int f = fold.fold_of(row);
        int thr_k = -1, cmp_k = -1, thr_bit = 0;
        if (cls == SiteClass::Threshold) {
            const auto& t = std::get<ThresholdBit>(site.where);
            if (t.word / T == f) thr_k = t.word % T, thr_bit = t.bit;
        }
        if (cls == SiteClass::Comparator) cmp_k = std::get<Comparator>(site.where).index;
        s.thr_row.resize(size_t(T));
        for (int k = 0; k < T; ++k) {
            const int64_t th = thr[size_t(row) * T + k];
            s.thr_row[size_t(k)] = k == thr_k ? force_bit(th, thr_bit, site.kind, geo.thr_bits, true) : th;
        }
        const int64_t* th = s.thr_row.data();
        const int32_t* acc = s.acc.data();
        int8_t* codes = s.codes.data();
        if (T == 1) {  // (binary outputs: one compare, vectorised)
            const int64_t t0 = th[0];
            const int8_t lo = int8_t(P.lo);
            for (int q = 0; q < np; ++q) codes[q] = int8_t(lo + (t0 <= int64_t(acc[q])));
        } else {
            for (int q = 0; q < np; ++q) {
                int level = 0;
                for (int k = 0; k < T; ++k) level += th[k] <= int64_t(acc[q]);
                codes[q] = int8_t(P.lo + level);
            }
        }
        if (cmp_k >= 0 && cmp_k < T)  // the forced compare replaces its true result where the comparator serves
            for (int q = 0; q < np; ++q) {
                if (!faulty_at(q)) continue;
                const int64_t c = th[cmp_k] <= int64_t(acc[q]) ? 1 : 0;
                codes[q] = int8_t(codes[q] + int((force_bit(c, 0, site.kind, 1, false) & 1) - c));
            }
        // Max pool of this channel.
        const int Pp = P.P, Q = P.Q;
        s.pooled_rows.push_back(row);
        s.pooled.resize(s.pooled_rows.size() * size_t(Q) * Q);
        int8_t* pooled = &s.pooled[(s.pooled_rows.size() - 1) * size_t(Q) * Q];
        if (Pp == 1) {
            std::copy_n(codes, size_t(Q) * Q, pooled);
        } else {
            for (int qy = 0; qy < Q; ++qy)
                for (int qx = 0; qx < Q; ++qx) {
                    const int8_t* c = codes + size_t(qy * Pp) * O + qx * Pp;
                    int8_t m = c[0];
                    for (int py = 0; py < Pp; ++py, c += O)
                        for (int px = 0; px < Pp; ++px) m = std::max(m, c[px]);
                    pooled[qy * Q + qx] = m;
                }
        }
    }
    if (!out.scores.empty() && out.scores == gt.acc) out.scores.clear();
    // The elements that differ, in element order (pixel, then channel: the
    // rows come ascending from channels_touched); written unconditionally and
    // kept where they differ (no branch on data).
    const int pixels = P.Q * P.Q, rows = int(s.pooled_rows.size());
    const size_t base = out.changes.size();
    out.changes.resize(base + size_t(pixels) * size_t(rows));
    CodeChange* w = out.changes.data() + base;
    const int8_t* gout = gt.out.data();
    for (int r = 0; r < pixels; ++r)
        for (int k = 0; k < rows; ++k) {
            const int idx = r * MH + s.pooled_rows[size_t(k)];
            const int8_t m = s.pooled[size_t(k) * pixels + r], was = gout[idx];
            *w = {idx, was, m};
            w += m != was;
        }
    out.changes.resize(size_t(w - out.changes.data()));
}

void Lowering::emit_pixel(int l, int row, int q, int64_t a, const FaultSite& site, int thr_k, int cmp_k,
                          const GoldenImage& g, LoweredEffect& out) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const LayerTrace& gt = g.trace->layers[size_t(l)];
    const int MH = P.MH, T = P.T, O = P.O;
    if (!L.geom.has_act) {
        out.scores = gt.acc;
        out.scores[size_t(q) * MH + row] = int32_t(a);
        if (out.scores == gt.acc) out.scores.clear();
        return;
    }
    const std::vector<int32_t>& thr = engine_.model().layers[size_t(l)].thresholds;
    int level = 0;
    for (int k = 0; k < T; ++k) {
        int64_t th = thr[size_t(row) * T + k];
        if (k == thr_k) th = force_bit(th, std::get<ThresholdBit>(site.where).bit, site.kind, L.geom.thr_bits, true);
        int64_t c = th <= a ? 1 : 0;
        if (k == cmp_k) c = force_bit(c, 0, site.kind, 1, false);
        level += int(c & 1);
    }
    // The pooled pixel q falls in: its other pixels keep their golden codes.
    const int8_t code = int8_t(P.lo + level);
    const int oy = q / O, ox = q % O, Pp = P.P, Q = P.Q;
    if (oy / Pp >= Q || ox / Pp >= Q) return;  // a row / column the pool drops
    const int r = (oy / Pp) * Q + ox / Pp;
    int8_t m = code;
    for (int py = 0; py < Pp; ++py)
        for (int px = 0; px < Pp; ++px) {
            const int qq = ((oy / Pp) * Pp + py) * O + (ox / Pp) * Pp + px;
            if (qq != q) m = std::max(m, gt.act[size_t(qq) * MH + row]);
        }
    const int idx = r * MH + row;
    if (m != gt.out[size_t(idx)]) out.changes.push_back({idx, gt.out[size_t(idx)], m});
}

// A flip hits one MVTU iteration: the first in or after its cycle at which
// the value passes (acc, adder: every iteration; a weight word: its (nf, sf);
// a threshold word: the outputs of its fold; a comparator: every output).
// The iteration of layer l a flip of `site` (named for layer l) fires in:
// the first in or after its cycle at which the value passes the site.
// Loopback: the engine loops over the real channels only (no padding row
// is computed in the pixel schedule, nor output in the others), a layer
// without thresholds reads no threshold or comparator, a comparator beyond
// the layer's T and a weight lane beyond its SIMD * weight bits are not read.
bool Lowering::find_flip(const FaultSite& site, int l, FlipHit& h) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const FoldingMap& fold = L.fold;
    const LayerGeometry& geo = L.geom;
    const int SF = fold.sf, NF = fold.nf, reps = P.O * P.O, T = P.T;
    const SiteClass cls = site_class(site.where);
    const std::vector<int64_t>& cycles = schedule_->iteration_cycle.at(size_t(l));
    const int pe = site_pe(site.where);
    const bool pixel = fold.schedule == Schedule::Pixel;
    // Pixel schedule: iteration ((image*G + group)*rows + channel)*SF + sf, G =
    // ceil(reps/PE); PE k computes pixel group*PE + k (k < the group's pixels).
    // A word read by every PE (weight, threshold) is forced first for PE 0.
    const int rows = loopback_ ? fold.mh : fold.rows;  // channels the pixel loop runs over
    const int64_t per_image = iterations_per_image(l);
    if (loopback_) {
        if ((cls == SiteClass::Threshold || cls == SiteClass::Comparator) && !geo.has_act) return false;
        if (cls == SiteClass::Comparator && std::get<Comparator>(site.where).index >= T) return false;
        if (cls == SiteClass::WeightWord && std::get<WeightBit>(site.where).bit >= fold.simd * geo.weight_bits) return false;
    }
    // Iteration i: whether the value passes the site, and then the step,
    // output channel and pixel it hits.
    auto decode = [&](int64_t i, int& sf, int& row, int& q) {
        sf = int(i % SF);
        if (pixel) {
            const int64_t j = i % per_image;
            const int grp = int(j / (int64_t(rows) * SF));
            row = int((j / SF) % rows);
            const int pes = std::min(fold.pe, reps - grp * fold.pe);
            switch (cls) {
                case SiteClass::WeightWord:
                    q = grp * fold.pe;
                    return fold.pe_of(row) == pe &&
                           fold.weight_word(fold.fold_of(row), sf) == std::get<WeightBit>(site.where).word;
                case SiteClass::Threshold:
                    q = grp * fold.pe;
                    return sf == SF - 1 && fold.pe_of(row) == pe &&
                           fold.fold_of(row) == std::get<ThresholdBit>(site.where).word / T;
                case SiteClass::Comparator: q = grp * fold.pe + pe; return sf == SF - 1 && pe < pes;
                default: q = grp * fold.pe + pe; return pe < pes;
            }
        }
        const int nf = int((i / SF) % NF);
        row = fold.row_of(pe, nf);
        q = int((i / (int64_t(SF) * NF)) % reps);
        const bool output = sf == SF - 1 && (!loopback_ || row < fold.mh);  // a loopback engine outputs real rows only
        switch (cls) {
            case SiteClass::WeightWord: return nf * SF + sf == std::get<WeightBit>(site.where).word;
            case SiteClass::Threshold: return output && nf == std::get<ThresholdBit>(site.where).word / T;
            case SiteClass::Comparator: return output;
            default: return true;
        }
    };
    int64_t i = std::lower_bound(cycles.begin(), cycles.end(), site.cycle) - cycles.begin();
    const int64_t n = int64_t(cycles.size());
    int sf = 0, row = 0, q = 0;
    // The next passing iteration lies within one image's schedule.
    bool hit = false;
    for (int64_t tries = 0; i < n && tries <= per_image; ++tries, ++i)
        if ((hit = decode(i, sf, row, q))) break;
    if (!hit) return false;  // the flip never fires in this run
    h.iteration = i;
    h.cycle = cycles[size_t(i)];
    h.per_image = per_image;
    h.sf = sf;
    h.row = row;
    h.q = q;
    return true;
}

void Lowering::lower_pe_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s,
                             LoweredEffect& out) const {
    const int l = layer_index(site_layer(site.where));
    FlipHit h;
    if (find_flip(site, l, h)) apply_flip(site, l, h, image_pos, g, s, out);
}

// The flip's one value in layer l (named for layer l): the iteration h hits.
void Lowering::apply_flip(const FaultSite& site, int l, const FlipHit& h, int image_pos, const GoldenImage& g,
                          Scratch& s, LoweredEffect& out) const {
    const LayerLowering& L = layers_[size_t(l)];
    const PreparedLayer& P = engine_.prepared_layer(l);
    const FoldingMap& fold = L.fold;
    const LayerGeometry& geo = L.geom;
    const int T = P.T, SIMD = fold.simd, np = P.O * P.O;
    const SiteClass cls = site_class(site.where);
    const int64_t per_image = h.per_image, i = h.iteration;
    const int sf = h.sf, row = h.row, q = h.q;
    if (i / per_image != image_pos) return;  // it fires in another image
    if (row >= fold.mh) return;              // a padding row
    const LayerTrace& gt = g.trace->layers[size_t(l)];
    int64_t a = gt.acc[size_t(q) * P.MH + row];
    int thr_k = -1, cmp_k = -1;
    if (cls == SiteClass::Acc || cls == SiteClass::AdderNode || cls == SiteClass::WeightWord) {
        const StreamInputs* in = g.stream;
        if (!in || in->layer != l) {
            if (s.stream.layer != l || s.stream_of != g.input) {
                stream_inputs(l, g.layer_input(l), s.stream);
                s.stream_of = g.input;
            }
            in = &s.stream;
        }
        // Products of lanes [lo, hi) of step t at pixel q (XNOR: matches); the
        // idle lanes of a partial last fold (loopback) give 0.
        const int32_t* wrow = &L.wstream[size_t(row) * P.MW];
        auto products = [&](int t, int lo, int hi) {
            int64_t sum = 0;
            for (int e = lo; e < std::min(hi, fold.lanes_in_fold(t)); ++e) {
                const int k = t * SIMD + e;
                if (geo.xnor) sum += int64_t(wrow[k] == int32_t((in->bits[size_t(q) * in->words + k / 64] >> (k % 64)) & 1));
                else sum += int64_t(wrow[k]) * in->values_t[size_t(k) * np + q];
            }
            return sum;
        };
        if (cls == SiteClass::Acc) {
            // The register after step sf, flipped; later steps add on from it.
            int64_t partial = 0;
            for (int t = 0; t <= sf; ++t) partial += products(t, 0, SIMD);
            a += force_bit(partial, std::get<AccBit>(site.where).bit, site.kind, geo.acc_bits, geo.acc_signed) - partial;
        } else if (cls == SiteClass::AdderNode) {
            const auto& nd = std::get<AdderNodeBit>(site.where);
            const int lo = nd.node << nd.level, hi = std::min(SIMD, (nd.node + 1) << nd.level);
            const int64_t v = products(sf, lo, hi);
            a += force_bit(v, nd.bit, site.kind, geo.acc_bits, geo.acc_signed) - v;
        } else {
            const auto& wb = std::get<WeightBit>(site.where);
            const int e = wb.bit / geo.weight_bits, k = sf * SIMD + e;
            if (e >= fold.lanes_in_fold(sf)) return;  // an idle lane: its product stays 0
            const int64_t w = wrow[k];
            const int64_t w2 = weight_of_field(
                geo, uint64_t(force_bit(int64_t(weight_field(geo, w)), wb.bit % geo.weight_bits, site.kind, geo.weight_bits, false)));
            const int64_t before = products(sf, e, e + 1);
            const int32_t w2v = int32_t(w2);
            const int64_t after = geo.xnor ? int64_t(w2v == int32_t((in->bits[size_t(q) * in->words + k / 64] >> (k % 64)) & 1))
                                           : int64_t(w2v) * in->values_t[size_t(k) * np + q];
            a += after - before;
        }
        a = int32_t(a);
    } else if (cls == SiteClass::Threshold) {
        thr_k = std::get<ThresholdBit>(site.where).word % T;
    } else {
        cmp_k = std::get<Comparator>(site.where).index;
    }
    emit_pixel(l, row, q, a, site, thr_k, cmp_k, g, out);
}

// The words written to the slot: the k-th word pushed since reset sits in
// slot k mod depth; bit b of word k is bit k*width + b of the stream, which
// carries each image's fields back to back.
void Lowering::lower_fifo(const FifoBit& fb, const FaultSite& site, int image_pos, const GoldenImage& g,
                          LoweredEffect& out) const {
    const FaultKind kind = site.kind;
    const FifoStream& st = streams_[size_t(fb.fifo)];
    const FifoGeometry& geom = fifos_[size_t(fb.fifo)];
    const int64_t W = geom.width, depth = geom.depth;
    const int64_t bpi = st.bits_per_image(), start = int64_t(image_pos) * bpi, end = start + bpi;
    const int cs = int(st.perm.size());
    const bool scores = fb.fifo == int(layers_.size());
    const int32_t* gscores = scores ? g.trace->layers.back().acc.data() : nullptr;
    const int8_t* gcodes = fb.fifo == 0 ? g.input : (scores ? nullptr : g.trace->layers[size_t(fb.fifo) - 1].out.data());
    if (scores) out.scores = g.trace->layers.back().acc;
    int64_t k = start - fb.bit <= 0 ? 0 : (start - fb.bit + W - 1) / W;
    k += ((fb.slot - k) % depth + depth) % depth;
    int64_t step = depth;
    if (kind == FaultKind::Flip) {
        // The first word written to the slot in or after the flip's cycle.
        const std::vector<int64_t>& pushes = schedule_->push_cycle.at(size_t(fb.fifo));
        int64_t w = std::lower_bound(pushes.begin(), pushes.end(), site.cycle) - pushes.begin();
        w += ((fb.slot - w) % depth + depth) % depth;
        if (w >= int64_t(pushes.size()) || w * W + fb.bit < start || w * W + fb.bit >= end) k = end;  // not this image
        else k = w;
        step = end;  // one word at most
    }
    for (; k * W + fb.bit < end; k += step) {
        const int64_t local = k * W + fb.bit - start;
        const int64_t e = local / st.bits;
        const int fbit = int(local % st.bits);
        const int pixel = int(e / cs), ch = st.perm[size_t(e % cs)];
        if (ch >= st.channels) continue;  // a padding row: nobody reads it
        const int idx = pixel * st.channels + ch;
        const int64_t old = scores ? gscores[idx] : gcodes[idx];
        const uint64_t field = uint64_t(force_bit(int64_t(field_of(old, st.bits)), fbit, kind, st.bits, false));
        const int64_t now = st.is_signed ? sign_extend_field(field, st.bits) : int64_t(field);
        if (scores) out.scores[size_t(idx)] = int32_t(now);
        else if (int8_t(now) != int8_t(old)) out.changes.push_back({idx, int8_t(old), int8_t(now)});
    }
    if (scores && out.scores == g.trace->layers.back().acc) out.scores.clear();
}

}  // namespace fatsim::campaigns
