#include "pe_array.hpp"

#include <algorithm>
#include <stdexcept>

#include "kernels.hpp"
#include "stream.hpp"

namespace fatsim::hw {

// ---------------------------------------------------------------- LayerProgram
LayerProgram::LayerProgram(std::string name_, const LayerGeometry& geom_, const FoldingMap& fold_, int reps_,
                           const LayerParams& params, const std::vector<int>& colmap)
    : name(std::move(name_)), geom(geom_), fold(fold_), reps(reps_), word_limbs(limbs_for(fold_.simd)) {
    const int words = fold.weight_words(), simd = fold.simd, mh = geom.mh, mw = geom.mw;
    const auto& W = params.weights;
    if (geom.xnor) wbits.assign(size_t(fold.pe) * words * word_limbs, 0);
    else wvals.assign(size_t(fold.pe) * words * simd, 0);
    for (int pe = 0; pe < fold.pe; ++pe)
        for (int f = 0; f < fold.nf; ++f) {
            const int row = fold.row_of(pe, f);
            for (int s = 0; s < fold.sf; ++s) {
                const size_t word = size_t(pe) * words + fold.weight_word(f, s);
                for (int e = 0; e < simd; ++e) {
                    // padding rows and the idle lanes of a partial last fold hold 0
                    const int col = s * simd + e;
                    const int v = row < mh && col < mw ? W[size_t(row) * mw + colmap[size_t(col)]] : 0;
                    if (geom.xnor) {
                        if (v > 0) wbits[word * word_limbs + (e >> 6)] |= uint64_t(1) << (e & 63);
                    } else {
                        wvals[word * simd + e] = int16_t(v);
                    }
                }
            }
        }
    const int last_lanes = fold.lanes_in_fold(fold.sf - 1);
    if (geom.xnor && last_lanes < simd) {
        last_mask.assign(size_t(word_limbs), 0);
        for (int e = 0; e < last_lanes; ++e) last_mask[size_t(e >> 6)] |= uint64_t(1) << (e & 63);
    }
    if (geom.xnor) {
        dense_limbs = limbs_for(fold.sf * simd);
        wdense.assign(size_t(fold.pe) * fold.nf * dense_limbs, 0);
        for (int pe = 0; pe < fold.pe; ++pe)
            for (int f = 0; f < fold.nf; ++f)
                for (int s = 0; s < fold.sf; ++s)
                    pack_dense(weight_bits(pe, fold.weight_word(f, s)), s, &wdense[(size_t(pe) * fold.nf + f) * dense_limbs]);
    } else {
        const int n = fold.sf * simd;
        dense_values = (n + 31) / 32 * 32;
        wvdense.assign(size_t(fold.pe) * fold.nf * dense_values, 0);
        for (int pe = 0; pe < fold.pe; ++pe)
            for (int f = 0; f < fold.nf; ++f)
                std::copy(weight_values(pe, fold.weight_word(f, 0)), weight_values(pe, fold.weight_word(f, 0)) + n,
                          &wvdense[(size_t(pe) * fold.nf + f) * dense_values]);
    }
    if (geom.has_act) {
        const int T = geom.thresholds;
        thr.assign(size_t(fold.pe) * fold.nf * T, 0);
        for (int pe = 0; pe < fold.pe; ++pe)
            for (int f = 0; f < fold.nf; ++f) {
                const int row = fold.row_of(pe, f);
                for (int t = 0; t < T; ++t)
                    thr[size_t(pe) * fold.nf * T + fold.threshold_word(f, t, T)] =
                        row < mh ? params.thresholds[size_t(row) * T + t] : 0;
            }
    }
}

void LayerProgram::pack_dense(const uint64_t* word, int s, uint64_t* dense) const {
    const int simd = fold.simd, lanes = fold.lanes_in_fold(s);
    for (int done = 0; done < lanes; done += 64) {
        const int n = std::min(64, lanes - done);
        or_bits(dense, s * simd + done, n, get_bits(word, done, n));
    }
}

int64_t LayerProgram::weight(int pe, int word, int e) const {
    if (geom.xnor) return int64_t((weight_bits(pe, word)[e >> 6] >> (e & 63)) & 1);
    return weight_values(pe, word)[e];
}

uint64_t LayerProgram::weight_field(int64_t v) const {
    if (geom.xnor) return uint64_t(v) & 1;
    if (geom.weight_bits == 1) return v > 0 ? 1 : 0;
    return to_field(v, geom.weight_bits);
}

int64_t LayerProgram::weight_of_field(uint64_t field) const {
    if (geom.xnor) return int64_t(field & 1);
    if (geom.weight_bits == 1) return (field & 1) ? 1 : -1;
    return sign_extend(field, geom.weight_bits);
}

std::vector<int> adder_tree_levels(int simd) {
    std::vector<int> levels{simd};
    for (int n = simd; n > 1;) {
        n = (n + 1) / 2;
        levels.push_back(n);
    }
    return levels;
}

// ---------------------------------------------------------------- PeArray
PeArray::PeArray(int pe, int simd) : pe_(pe), simd_(simd), acc_(size_t(pe), 0), tree_(size_t(simd), 0) {}

void PeArray::check_fits(const LayerProgram& p) const {
    if (p.fold.pe > pe_ || p.fold.simd > simd_)
        throw std::invalid_argument(p.name + ": needs PE=" + std::to_string(p.fold.pe) + " x SIMD=" +
                                    std::to_string(p.fold.simd) + ", the array has " + std::to_string(pe_) + " x " +
                                    std::to_string(simd_));
}

void PeArray::clear() { std::fill(acc_.begin(), acc_.end(), 0); }

namespace {
// Matching lanes of n XNOR words of `wl` limbs (x against w); the last word
// counts only the lanes of `mask` (a partial last fold) when mask is set.
inline int32_t xnor_matches(const uint64_t* x, const uint64_t* w, int n, int wl, int simd, const uint64_t* mask,
                            int last_lanes) {
    if (!mask) return n * simd - kernels::mismatches(x, w, n * wl);
    const int head = (n - 1) * wl;
    int mis = kernels::mismatches(x, w, head);
    for (int j = 0; j < wl; ++j) mis += __builtin_popcountll((x[head + j] ^ w[head + j]) & mask[j]);
    return (n - 1) * simd + last_lanes - mis;
}
inline int32_t mac_sum(const int16_t* x, const int16_t* w, int n) {
    int32_t sum = 0;
    for (int e = 0; e < n; ++e) sum += int32_t(w[e]) * x[e];
    return sum;
}
}  // namespace

void PeArray::accumulate_fast(const LayerProgram& p, int nf, int sf, const PeInput& x) {
    const bool first = sf == 0;
    const int PE = p.fold.pe, SIMD = p.fold.simd, word = p.fold.weight_word(nf, sf);
    if (p.geom.xnor) {
        // A partial last fold counts matches of its active lanes only.
        const uint64_t* mask = sf + 1 == p.fold.sf && !p.last_mask.empty() ? p.last_mask.data() : nullptr;
        const int lanes = p.fold.lanes_in_fold(sf);
        for (int pe = 0; pe < PE; ++pe) {
            const int32_t sum = xnor_matches(x.bits, p.weight_bits(pe, word), 1, p.word_limbs, SIMD, mask, lanes);
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    } else {
        for (int pe = 0; pe < PE; ++pe) {
            const int32_t sum = mac_sum(x.values, p.weight_values(pe, word), SIMD);
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    }
}

void PeArray::accumulate_fold(const LayerProgram& p, int nf, const PeInput& x) {
    const int PE = p.fold.pe, SIMD = p.fold.simd, SF = p.fold.sf;
    if (p.geom.xnor) {
        const int lanes = (SF - 1) * SIMD + p.fold.lanes_in_fold(SF - 1);  // idle lanes are 0 on both sides
        for (int pe = 0; pe < PE; ++pe)
            acc_[pe] = lanes - kernels::mismatches(x.bits, p.dense_weights(pe, nf), p.dense_limbs);
    } else {
        for (int pe = 0; pe < PE; ++pe) acc_[pe] = mac_sum(x.values, p.dense_weight_values(pe, nf), p.dense_values);
    }
}

// Every value through the hook: weight word, products (l0), adder-tree nodes,
// accumulator register.
void PeArray::accumulate_hooked(const LayerProgram& p, int nf, int sf, const PeInput& x) {
    const int word = p.fold.weight_word(nf, sf);
    for (int pe = 0; pe < p.fold.pe; ++pe) {
        if (datapath_faulty(pe, pe))
            dot_hooked(p, pe, pe, word, sf, x);
        else
            dot_plain(p, pe, pe, word, sf, x);
    }
}

bool PeArray::datapath_faulty(int pe, int bank) const {
    for (const ArmedFault& f : hook.faults())
        if (((f.type == SiteType::Acc || f.type == SiteType::AdderNode) && f.pe == pe) ||
            (f.type == SiteType::WeightWord && f.pe == bank))
            return true;
    return false;
}

// The fast path's arithmetic for one PE (a PE no armed fault reaches).
void PeArray::dot_plain(const LayerProgram& p, int pe, int bank, int word, int sf, const PeInput& x) {
    int32_t sum = 0;
    if (p.geom.xnor) {
        const uint64_t* mask = sf + 1 == p.fold.sf && !p.last_mask.empty() ? p.last_mask.data() : nullptr;
        sum = xnor_matches(x.bits, p.weight_bits(bank, word), 1, p.word_limbs, p.fold.simd, mask,
                           p.fold.lanes_in_fold(sf));
    } else {
        sum = mac_sum(x.values, p.weight_values(bank, word), p.fold.simd);
    }
    acc_[pe] = sf == 0 ? sum : acc_[pe] + sum;
}

void PeArray::dot_hooked(const LayerProgram& p, int pe, int bank, int word, int sf, const PeInput& x) {
    const bool first = sf == 0;
    const int SIMD = p.fold.simd, lanes = p.fold.lanes_in_fold(sf);
    const int wb = p.geom.weight_bits, acc_bits = p.geom.acc_bits;
    const bool xnor = p.geom.xnor, acc_signed = p.geom.acc_signed;
    // A faulty weight word is read lane by lane through the armed weight faults.
    bool wfault = false;
    if (hook.has(SiteType::WeightWord))
        for (ArmedFault& f : hook.faults_mut()) {
            if (f.type != SiteType::WeightWord || f.pe != bank || f.a != word || f.bit / wb >= SIMD) continue;
            if (!wfault) {
                wfault_.resize(size_t(SIMD));
                for (int e = 0; e < SIMD; ++e) wfault_[e] = p.weight(bank, word, e);
                wfault = true;
            }
            const int e = f.bit / wb, b = f.bit % wb;
            const int64_t field = hook.force(f, b, int64_t(p.weight_field(wfault_[e])), wb, false);
            wfault_[e] = p.weight_of_field(uint64_t(field));
        }
    // Idle lanes of a partial last fold put 0 on their product node.
    if (xnor) {
        const uint64_t* w = p.weight_bits(bank, word);
        for (int e = 0; e < SIMD; ++e) {
            const uint64_t wbit = wfault ? uint64_t(wfault_[e]) : (w[e >> 6] >> (e & 63)) & 1;
            const uint64_t xbit = (x.bits[e >> 6] >> (e & 63)) & 1;
            const int64_t prod = e < lanes && wbit == xbit ? 1 : 0;
            tree_[e] = hook.pass(SiteType::AdderNode, pe, 0, e, prod, acc_bits, acc_signed);
        }
    } else {
        const int16_t* w = p.weight_values(bank, word);
        for (int e = 0; e < SIMD; ++e) {
            const int64_t wv = wfault ? wfault_[e] : w[e];
            const int64_t prod = e < lanes ? wv * x.values[e] : 0;
            tree_[e] = hook.pass(SiteType::AdderNode, pe, 0, e, prod, acc_bits, acc_signed);
        }
    }
    int n = SIMD, level = 0;
    while (n > 1) {
        ++level;
        const int m = (n + 1) / 2;
        for (int k = 0; k < m; ++k) {
            const int64_t v = 2 * k + 1 < n ? tree_[2 * k] + tree_[2 * k + 1] : tree_[2 * k];
            tree_[k] = hook.pass(SiteType::AdderNode, pe, level, k, v, acc_bits, acc_signed);
        }
        n = m;
    }
    const int64_t nv = (first ? 0 : int64_t(acc_[pe])) + tree_[0];
    acc_[pe] = int32_t(hook.pass(SiteType::Acc, pe, 0, 0, nv, acc_bits, acc_signed));
}

void PeArray::accumulate_pixels(const LayerProgram& p, int channel, int sf, const PeInput* x, int pes) {
    const int bank = p.fold.pe_of(channel), word = p.fold.weight_word(p.fold.fold_of(channel), sf);
    if (__builtin_expect(hook.armed, 0)) {
        for (int pe = 0; pe < pes; ++pe) {
            if (datapath_faulty(pe, bank))
                dot_hooked(p, pe, bank, word, sf, x[pe]);
            else
                dot_plain(p, pe, bank, word, sf, x[pe]);
        }
        return;
    }
    const bool first = sf == 0;
    const int SIMD = p.fold.simd;
    if (p.geom.xnor) {
        const uint64_t* mask = sf + 1 == p.fold.sf && !p.last_mask.empty() ? p.last_mask.data() : nullptr;
        const int lanes = p.fold.lanes_in_fold(sf);
        const uint64_t* w = p.weight_bits(bank, word);
        for (int pe = 0; pe < pes; ++pe) {
            const int32_t sum = xnor_matches(x[pe].bits, w, 1, p.word_limbs, SIMD, mask, lanes);
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    } else {
        const int16_t* w = p.weight_values(bank, word);
        for (int pe = 0; pe < pes; ++pe) {
            const int32_t sum = mac_sum(x[pe].values, w, SIMD);
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    }
}

int64_t PeArray::output(const LayerProgram& p, int pe, int nf) { return output_of(p, pe, pe, nf); }

void PeArray::output_word(const LayerProgram& p, int nf, uint64_t* word) {
    const int ob = p.geom.out_bits;
    if (hook.armed || !p.geom.has_act) {
        for (int pe = 0; pe < p.fold.pe; ++pe) or_bits(word, pe * ob, ob, to_field(output_of(p, pe, pe, nf), ob));
        return;
    }
    for (int pe = 0; pe < p.fold.pe; ++pe)  // output_of without a fault, the thresholds' address per PE
        or_bits(word, pe * ob, ob, to_field(p.geom.threshold(acc_[pe], p.thresholds(pe, nf)), ob));
}

int64_t PeArray::output_of(const LayerProgram& p, int pe, int bank, int nf) {
    const int32_t a = acc_[pe];
    if (!p.geom.has_act) return a;
    const int32_t* t = p.thresholds(bank, nf);
    if (!hook.armed) return p.geom.threshold(a, t);
    const int T = p.geom.thresholds;
    int level = 0;
    for (int k = 0; k < T; ++k) {
        const int64_t th =
            hook.pass(SiteType::Threshold, bank, p.fold.threshold_word(nf, k, T), 0, t[k], p.geom.thr_bits, true);
        const int64_t c = th <= a ? 1 : 0;
        level += int(hook.pass(SiteType::Comparator, pe, k, 0, c, 1, false) & 1);
    }
    return p.geom.act.lo + level;
}
// ---------------------------------------------------------------- fault sites
void PeArray::check_site(const LayerProgram& p, const FaultSite& s) const {
    auto bad = [&](const std::string& what) {
        throw FaultSiteError("fault site '" + fault_site_name(s) + "': " + what);
    };
    const ArmedFault a = armed_fault(s);
    const int PE = p.fold.pe, T = p.geom.thresholds;
    if (a.pe < 0 || a.pe >= PE)
        bad("pe " + std::to_string(a.pe) + " out of range (layer " + p.name + " has PE=" + std::to_string(PE) + ")");
    switch (a.type) {
        case SiteType::Acc:
            if (a.bit >= p.geom.acc_bits) bad("accumulator has " + std::to_string(p.geom.acc_bits) + " bits");
            break;
        case SiteType::AdderNode: {
            const std::vector<int> levels = adder_tree_levels(p.fold.simd);
            if (a.a >= int(levels.size()))
                bad("adder tree has levels l0..l" + std::to_string(levels.size() - 1) + " (SIMD=" +
                    std::to_string(p.fold.simd) + ")");
            if (a.b >= levels[size_t(a.a)])
                bad("adder level l" + std::to_string(a.a) + " has nodes n0..n" + std::to_string(levels[size_t(a.a)] - 1));
            if (a.bit >= p.geom.acc_bits) bad("adder nodes have " + std::to_string(p.geom.acc_bits) + " bits");
            break;
        }
        case SiteType::WeightWord:
            if (a.a >= p.fold.weight_words())
                bad("weight memory has " + std::to_string(p.fold.weight_words()) + " words");
            if (a.bit >= p.fold.simd * p.geom.weight_bits)
                bad("weight word has " + std::to_string(p.fold.simd * p.geom.weight_bits) + " bits");
            break;
        case SiteType::Threshold:
            if (!p.geom.has_act) bad("layer has no thresholds");
            if (a.a >= p.fold.nf * T) bad("threshold memory has " + std::to_string(p.fold.nf * T) + " words");
            if (a.bit >= p.geom.thr_bits) bad("threshold word has " + std::to_string(p.geom.thr_bits) + " bits");
            break;
        case SiteType::Comparator:
            if (!p.geom.has_act || a.a >= T) bad("comparator index out of range");
            break;
        case SiteType::FifoSlot:
        case SiteType::FmBuf: bad("not a PE array site");
    }
}

void PeArray::for_each_site(const LayerProgram& p, const std::function<void(const SiteLocation&)>& fn) const {
    const std::string& L = p.name;
    const int PE = p.fold.pe, T = p.geom.thresholds, acc_bits = p.geom.acc_bits;
    const std::vector<int> levels = adder_tree_levels(p.fold.simd);
    for (int pe = 0; pe < PE; ++pe) {
        for (int b = 0; b < acc_bits; ++b) fn(AccBit{L, pe, b});
        for (int l = 0; l < int(levels.size()); ++l)
            for (int n = 0; n < levels[size_t(l)]; ++n)
                for (int b = 0; b < acc_bits; ++b) fn(AdderNodeBit{L, pe, l, n, b});
        for (int w = 0; w < p.fold.weight_words(); ++w)
            for (int b = 0; b < p.fold.simd * p.geom.weight_bits; ++b) fn(WeightBit{L, pe, w, b});
        if (!p.geom.has_act) continue;
        for (int w = 0; w < p.fold.nf * T; ++w)
            for (int b = 0; b < p.geom.thr_bits; ++b) fn(ThresholdBit{L, pe, w, b});
        for (int t = 0; t < T; ++t) fn(Comparator{L, pe, t});
    }
}

void PeArray::count_sites(const LayerProgram& p, uint64_t counts[kSiteClasses]) const {
    const uint64_t PE = uint64_t(p.fold.pe), T = uint64_t(p.geom.thresholds), acc_bits = uint64_t(p.geom.acc_bits);
    uint64_t nodes = 0;
    for (int n : adder_tree_levels(p.fold.simd)) nodes += uint64_t(n);
    counts[int(SiteType::Acc)] += PE * acc_bits;
    counts[int(SiteType::AdderNode)] += PE * nodes * acc_bits;
    counts[int(SiteType::WeightWord)] += PE * uint64_t(p.fold.weight_words()) * uint64_t(p.fold.simd * p.geom.weight_bits);
    if (p.geom.has_act) {
        counts[int(SiteType::Threshold)] += PE * uint64_t(p.fold.nf) * T * uint64_t(p.geom.thr_bits);
        counts[int(SiteType::Comparator)] += PE * T;
    }
}

}  // namespace fatsim::hw
