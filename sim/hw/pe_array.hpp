// The compute core of an MVTU split in two: the PE array (the hardware: PE x
// SIMD lanes, XNOR-popcount / MAC adder trees, accumulators, comparators and
// the fault hook) and the layer program it runs (a layer's geometry, folding
// and memory contents). One array can run several programs in turn; the
// dataflow MVTU runs one program on its own array.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datapath.hpp"
#include "fault.hpp"
#include "model.hpp"

namespace fatsim::hw {

// One layer as a PE array runs it: geometry, folding, NF/SF loop bounds and
// the weight and threshold memories in FINN's layout (see FoldingMap).
struct LayerProgram {
    std::string name;
    LayerGeometry geom;
    FoldingMap fold;
    int reps = 0;        // input vectors per image (OFM^2)
    int word_limbs = 0;  // XNOR: 64-bit limbs of one weight word (SIMD bits)
    std::vector<uint64_t> wbits;  // XNOR: [pe][word][limb], bit 1 = +1
    std::vector<int16_t> wvals;   // MAC:  [pe][word][simd lane]
    std::vector<int32_t> thr;     // [pe][threshold word]; rows >= MH (padding) hold 0
    std::vector<uint64_t> last_mask;  // XNOR, partial last fold: its active lanes (else empty)
    // XNOR: per PE and fold, its SF weight words back to back, densely
    // (word s at bit s*SIMD; idle lanes 0): [pe][nf][dense_limbs].
    int dense_limbs = 0;
    std::vector<uint64_t> wdense;
    // MAC: the same per PE and fold as SF*SIMD values, zero-padded to
    // dense_values (a multiple of 32, so that the sum runs in whole vectors).
    int dense_values = 0;
    std::vector<int16_t> wvdense;

    // colmap: stream column -> weight matrix column (stream_column_map).
    LayerProgram(std::string name, const LayerGeometry& geom, const FoldingMap& fold, int reps,
                 const LayerParams& params, const std::vector<int>& colmap);

    const uint64_t* weight_bits(int pe, int word) const {
        return &wbits[(size_t(pe) * fold.weight_words() + word) * word_limbs];
    }
    const int16_t* weight_values(int pe, int word) const {
        return &wvals[(size_t(pe) * fold.weight_words() + word) * fold.simd];
    }
    const uint64_t* dense_weights(int pe, int f) const {
        return &wdense[(size_t(pe) * fold.nf + f) * dense_limbs];
    }
    const int16_t* dense_weight_values(int pe, int f) const {
        return &wvdense[(size_t(pe) * fold.nf + f) * dense_values];
    }
    // ORs input word s (word_limbs limbs, lanes of a partial last fold only)
    // into a zeroed dense input of dense_limbs limbs, at bit s*SIMD.
    void pack_dense(const uint64_t* word, int s, uint64_t* dense) const;
    const int32_t* thresholds(int pe, int f) const {
        return &thr[size_t(pe) * fold.nf * geom.thresholds + fold.threshold_word(f, 0, geom.thresholds)];
    }
    // Value of lane e of weight word `word` of PE pe (XNOR: the stored bit).
    int64_t weight(int pe, int word, int e) const;
    // A weight value <-> its field in a memory word (weight_bits wide; 1-bit: 1 = +1).
    uint64_t weight_field(int64_t v) const;
    int64_t weight_of_field(uint64_t field) const;  // XNOR: the bit itself
    // reps*NF*SF; pixel schedule: ceil(reps/PE) groups of rows*SF (see Mvtu).
    uint64_t expected_cycles_per_image() const {
        if (fold.schedule == Schedule::Pixel) return uint64_t((reps + fold.pe - 1) / fold.pe) * fold.rows * fold.sf;
        return uint64_t(reps) * fold.nf * fold.sf;
    }
};

// Node counts per adder-tree level: level 0 = the SIMD products, then the
// pairwise sums (an odd node passes through) down to the root.
std::vector<int> adder_tree_levels(int simd);

// One SF step's input as the PE lanes see it.
struct PeInput {
    const uint64_t* bits = nullptr;   // XNOR: SIMD bits
    const int16_t* values = nullptr;  // MAC: SIMD values
};

class PeArray {
public:
    PeArray(int pe, int simd);
    int pe() const { return pe_; }
    int simd() const { return simd_; }

    // Throws std::invalid_argument when the program needs more PEs or lanes.
    void check_fits(const LayerProgram& p) const;
    // Every PE adds the dot product of its weight word (nf, sf) and x to its
    // accumulator (restarting it at sf == 0). Armed: every value through the hook.
    void accumulate(const LayerProgram& p, int nf, int sf, const PeInput& x) {
        if (__builtin_expect(hook.armed, 0)) accumulate_hooked(p, nf, sf, x);
        else accumulate_fast(p, nf, sf, x);
    }
    // The same for a whole fold at once (no fault armed): every PE's
    // accumulator becomes the sum over sf = 0..SF-1 of the dot products of
    // weight word (nf, sf) and input word sf of x (XNOR: x.bits holds the SF
    // words packed by pack_dense; MAC: x.values SF words of SIMD values, then
    // zeros up to dense_values).
    // Equal to SF calls of accumulate(p, nf, sf, ...) on those words.
    void accumulate_fold(const LayerProgram& p, int nf, const PeInput& x);
    // Pixel schedule: PE k (< pes) adds the dot product of its own input x[k]
    // and the weight word (channel, sf) broadcast from the channel's bank.
    void accumulate_pixels(const LayerProgram& p, int channel, int sf, const PeInput* x, int pes);
    // Output of PE pe for fold nf: the threshold code, or the raw accumulator
    // for a layer without activation.
    int64_t output(const LayerProgram& p, int pe, int nf);
    // The same with the thresholds of bank `bank`, fold nf (pixel schedule: the channel's).
    int64_t output_of(const LayerProgram& p, int pe, int bank, int nf);
    // Every PE's output for fold nf ORed into a zeroed stream word (PE lanes of out_bits).
    void output_word(const LayerProgram& p, int nf, uint64_t* word);
    void clear();
    const std::vector<int32_t>& accumulators() const { return acc_; }

    // Fault sites of the array running p, named for p's layer.
    void check_site(const LayerProgram& p, const FaultSite& s) const;  // throws FaultSiteError
    void for_each_site(const LayerProgram& p, const std::function<void(const SiteLocation&)>& fn) const;
    void count_sites(const LayerProgram& p, uint64_t counts[kSiteClasses]) const;

    FaultHook hook;

private:
    void accumulate_fast(const LayerProgram& p, int nf, int sf, const PeInput& x);
    void accumulate_hooked(const LayerProgram& p, int nf, int sf, const PeInput& x);
    // PE pe's dot product of x and weight word `word` of bank `bank`, every value through the hook.
    void dot_hooked(const LayerProgram& p, int pe, int bank, int word, int sf, const PeInput& x);
    void dot_plain(const LayerProgram& p, int pe, int bank, int word, int sf, const PeInput& x);
    // Whether an armed accumulator, adder or weight fault reaches PE pe reading bank `bank`.
    bool datapath_faulty(int pe, int bank) const;

    int pe_, simd_;
    std::vector<int32_t> acc_;     // [pe]
    std::vector<int64_t> tree_;    // adder-tree scratch
    std::vector<int64_t> wfault_;  // a faulty weight word's lanes
};

}  // namespace fatsim::hw
