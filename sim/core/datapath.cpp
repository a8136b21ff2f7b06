#include "datapath.hpp"

#include <stdexcept>
#include <string>

namespace fatsim {

const char* schedule_name(Schedule s) {
    switch (s) {
        case Schedule::Interleaved: return "interleaved";
        case Schedule::Blocked: return "blocked";
        case Schedule::Pixel: return "pixel";
    }
    return "?";
}

bool parse_schedule(const std::string& name, Schedule& out) {
    for (Schedule s : {Schedule::Interleaved, Schedule::Blocked, Schedule::Pixel})
        if (name == schedule_name(s)) {
            out = s;
            return true;
        }
    return false;
}

int bits_for_unsigned(int64_t max) {
    int b = 1;
    while ((int64_t(1) << b) <= max) ++b;
    return b;
}

LayerGeometry layer_geometry(const Topology& topo, int layer) {
    const LayerSpec& s = topo.layers.at(size_t(layer));
    LayerGeometry g;
    g.mw = s.mw();
    g.mh = s.mh();
    g.xnor = s.binary_xnor();
    g.weight_bits = s.weight_bits;
    g.in_bits = s.in_bits;
    g.in_bipolar = s.in_bipolar;
    // The network input is signed fixed point; a layer's input is signed when
    // the previous layer's output codes are (A2: -1, 0, 1).
    const bool producer_signed = layer == 0 || layer_geometry(topo, layer - 1).out_signed;
    g.in_signed = producer_signed && s.in_bits > 1 && !s.in_bipolar;
    g.in_max = s.in_bipolar ? 1 : (g.in_signed ? (int64_t(1) << (s.in_bits - 1)) : (int64_t(1) << s.in_bits) - 1);
    if (g.xnor) {
        g.acc_bound = g.mw;
        g.acc_bits = bits_for_unsigned(g.mw);
        g.acc_signed = false;
    } else {
        g.acc_bound = int64_t(g.mw) * weight_max(s.weight_bits) * g.in_max;
        g.acc_bits = bits_for_unsigned(g.acc_bound) + 1;
        g.acc_signed = true;
    }
    g.thr_bits = g.acc_bits + 1;
    g.has_act = s.act_bits != 0;
    if (g.has_act) {
        g.act = act_range(s.act_bits);
        g.thresholds = g.act.thresholds();
        g.out_bits = s.act_bits;
        g.out_signed = s.act_bits == 2;
    } else {
        // BNN-PYNQ: 16-bit class scores when the accumulator fits.
        g.out_bits = g.acc_bound <= 32767 ? 16 : 32;
        g.out_signed = true;
    }
    return g;
}

FoldingMap::FoldingMap(int mh_, int mw_, int pe_, int simd_, int rows_, Schedule s)
    : pe(pe_), simd(simd_), mh(mh_), mw(mw_), rows(rows_ > 0 ? rows_ : mh_), schedule(s) {
    if (pe < 1 || simd < 1 || rows % pe || mw % simd)
        throw std::invalid_argument("PE=" + std::to_string(pe) + " must divide " + std::to_string(rows) +
                                    " rows and SIMD=" + std::to_string(simd) + " must divide MW=" + std::to_string(mw));
    nf = rows / pe;
    sf = mw / simd;
    cols = mw;
}

FoldingMap FoldingMap::with_partial_folds(int mh_, int mw_, int pe_, int simd_, Schedule s) {
    if (pe_ < 1 || simd_ < 1 || mh_ < 1 || mw_ < 1)
        throw std::invalid_argument("PE=" + std::to_string(pe_) + ", SIMD=" + std::to_string(simd_) +
                                    ", MH=" + std::to_string(mh_) + " and MW=" + std::to_string(mw_) + " must be >= 1");
    const int nf_ = (mh_ + pe_ - 1) / pe_, sf_ = (mw_ + simd_ - 1) / simd_;
    // The padded shape divides, so the checked constructor lays it out; the
    // real MW is then put back (columns >= mw are idle lanes).
    FoldingMap f(mh_, sf_ * simd_, pe_, simd_, nf_ * pe_, s);
    f.mw = mw_;
    f.cols = sf_ * simd_;
    return f;
}

std::vector<int> FoldingMap::rows_of_pe(int p) const {
    std::vector<int> r(static_cast<size_t>(nf));
    for (int f = 0; f < nf; ++f) r[size_t(f)] = row_of(p, f);
    return r;
}

std::vector<int> FoldingMap::stream_perm() const {
    std::vector<int> perm(static_cast<size_t>(rows));
    for (int f = 0; f < nf; ++f)
        for (int p = 0; p < pe; ++p) perm[size_t(f) * pe + p] = row_of(p, f);
    return perm;
}

std::vector<OutputPos> outputs_of_pe(const FoldingMap& f, int pixels, int p) {
    std::vector<OutputPos> r;
    if (p < 0 || p >= f.pe) return r;
    if (f.schedule == Schedule::Pixel) {
        for (int px = p; px < pixels; px += f.pe)
            for (int c = 0; c < f.mh; ++c) r.push_back({c, px});
        return r;
    }
    for (int c : f.rows_of_pe(p))
        if (c < f.mh)
            for (int px = 0; px < pixels; ++px) r.push_back({c, px});
    return r;
}

std::vector<int> stream_column_map(int mw, const std::vector<int>& producer_perm) {
    const int c = int(producer_perm.size());
    std::vector<int> map(static_cast<size_t>(mw));
    for (int k = 0; k < mw; ++k) map[size_t(k)] = (k / c) * c + producer_perm[size_t(k % c)];
    return map;
}

}  // namespace fatsim
