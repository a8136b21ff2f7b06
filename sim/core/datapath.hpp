// The datapath of one compute layer as the hardware sees it, written once:
// the geometry (register widths, signedness, code <-> value) and the folding
// map of a PE x SIMD array (which PE and fold computes which output channel,
// where a weight or threshold word sits, the order of the output stream).
// The golden engine, the fast sweep, the cycle models and the RTL all take
// these numbers from here, so they cannot disagree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "topology.hpp"

namespace fatsim {

// How a layer's output channels are spread over the PEs.
enum class Schedule {
    Interleaved,  // channel c on PE c mod PE, fold c / PE (FINN's)
    Blocked,      // PE p computes the contiguous block p*NF .. p*NF+NF-1
    Pixel,        // PE p computes output pixels p, p+PE, ... for every channel
};
const char* schedule_name(Schedule s);  // the YAML spelling
// The schedule a YAML spelling names; false when none does.
bool parse_schedule(const std::string& name, Schedule& out);

// Output code of an accumulator against T ascending thresholds: the
// comparator bank of a PE, lo + #{t : thr[t] <= acc}.
inline int8_t threshold_code(int32_t acc, const int32_t* thr, int T, int lo) {
    int level = 0;
    for (int k = 0; k < T; ++k) level += thr[k] <= acc;
    return int8_t(lo + level);
}

// Register widths and value encodings of one compute layer.
struct LayerGeometry {
    int mw = 0, mh = 0;
    bool xnor = false;        // 1-bit weights on bipolar inputs: XNOR-popcount
    int weight_bits = 1;      // 1 = bipolar {-1,+1}, else narrow signed
    int in_bits = 0;          // bits of one input element on the stream
    bool in_bipolar = false;  // input bit 0/1 means -1/+1
    bool in_signed = false;   // input fields are two's complement
    int64_t in_max = 0;       // largest |input value| the field can hold
    // Accumulator: XNOR layers count matches in [0, MW] (unsigned); others
    // hold the signed dot product. acc_bound is the largest |accumulator|.
    int64_t acc_bound = 0;
    int acc_bits = 0;
    bool acc_signed = false;
    int thr_bits = 0;         // threshold words: signed, one bit wider than the accumulator
    bool has_act = false;     // false for the classifier (raw accumulators out)
    ActRange act;             // output code range when has_act
    int thresholds = 0;       // T per output channel
    int out_bits = 0;         // output stream field: act bits, or 16/32-bit class scores
    bool out_signed = false;  // output fields are two's complement

    // Arithmetic value of an input code (bipolar bit -> -1/+1).
    int input_value(int code) const { return in_bipolar ? 2 * code - 1 : code; }
    // Accumulator change per unit of (weight * input value change): XNOR
    // popcounts move by half the dot product.
    int acc_delta_divisor() const { return xnor ? 2 : 1; }
    // Output code of an accumulator against a channel's T ascending thresholds.
    int8_t threshold(int32_t acc, const int32_t* thr) const { return threshold_code(acc, thr, thresholds, act.lo); }
};

// Geometry of compute layer `layer` of a finalized topology (its input
// encoding follows the previous layer's output, or the network input).
LayerGeometry layer_geometry(const Topology& topo, int layer);
// Number of bits needed for an unsigned value in [0, max].
int bits_for_unsigned(int64_t max);

// Where each output channel, weight and threshold of one layer sits in a
// PE x SIMD array. NF = rows / PE folds of output channels, SF = MW / SIMD
// folds of the input vector; rows = MH, or MH padded (BNN-PYNQ's classifier).
struct FoldingMap {
    int pe = 1, simd = 1;
    int mh = 0, mw = 0, rows = 0;
    int nf = 0, sf = 0;
    int cols = 0;  // MW padded to SF * SIMD (== mw unless built with partial folds)
    Schedule schedule = Schedule::Interleaved;

    FoldingMap() = default;
    // rows = 0: MH. Throws std::invalid_argument when PE does not divide the
    // rows or SIMD does not divide MW.
    FoldingMap(int mh, int mw, int pe, int simd, int rows = 0, Schedule s = Schedule::Interleaved);
    // Loopback engines (QNN-MO-PYNQ): PE and SIMD need not divide MH and MW;
    // the last fold of each is partial, its padding rows / lanes idle.
    // Pixel schedule: the weights and thresholds are stored as interleaved
    // (channel c in bank c mod PE) and broadcast to every PE.
    static FoldingMap with_partial_folds(int mh, int mw, int pe, int simd, Schedule s = Schedule::Interleaved);
    // Input lanes that carry a column in fold sf (SIMD except in a partial last fold).
    int lanes_in_fold(int s) const { return s + 1 < sf ? simd : mw - s * simd; }

    // Output channel computed by (PE p, fold f); >= mh for a padding row.
    // Pixel: where the weights and thresholds of a channel are stored (as
    // interleaved); which PE computes an output is outputs_of_pe's answer.
    int row_of(int p, int f) const { return schedule == Schedule::Blocked ? p * nf + f : f * pe + p; }
    int pe_of(int row) const { return schedule == Schedule::Blocked ? row / nf : row % pe; }
    int fold_of(int row) const { return schedule == Schedule::Blocked ? row % nf : row / pe; }
    // The output channels one PE computes, in the order it computes them.
    std::vector<int> rows_of_pe(int p) const;
    // Output stream order: position f*PE + p within one pixel -> output channel.
    std::vector<int> stream_perm() const;
    // Weight memory of a PE: word (f, s) holds the SIMD weights of row
    // row_of(p, f) at stream columns s*SIMD .. s*SIMD+SIMD-1.
    int weight_words() const { return nf * sf; }
    int weight_word(int f, int s) const { return f * sf + s; }
    // Threshold memory of a PE: word f*T + t holds threshold t of row_of(p, f).
    int threshold_word(int f, int t, int T) const { return f * T + t; }
};

// One output of a layer: channel and pixel (oy * OFM + ox) of its map
// before pooling.
struct OutputPos {
    int channel = 0, pixel = 0;
    bool operator==(const OutputPos& o) const { return channel == o.channel && pixel == o.pixel; }
    bool operator<(const OutputPos& o) const { return pixel != o.pixel ? pixel < o.pixel : channel < o.channel; }
};
// The outputs of one layer pass (`pixels` = OFM^2) that PE p computes, so
// the only ones a fault inside PE p can change: its channels at every pixel
// (interleaved, blocked) or its pixels p, p+PE, ... in every channel (pixel).
// A dataflow PE runs one layer; a loopback engine's PE runs every layer.
std::vector<OutputPos> outputs_of_pe(const FoldingMap& f, int pixels, int p);

// Stream column k of a layer's input (sliding-window order, channels in the
// producer's stream order `producer_perm`) -> weight matrix column.
std::vector<int> stream_column_map(int mw, const std::vector<int>& producer_perm);

}  // namespace fatsim
