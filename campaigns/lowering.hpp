// Physical fault -> activation-level change: every fault class of the
// accelerator's PE arrays and FIFOs lowered onto the golden engine's data,
// from the layer's folding (FoldingMap: which PE computes which output
// channel, where a weight or threshold word sits, the stream order) and its
// geometry (register widths and signedness). The cycle model's FaultHook is
// the specification; tests/hw/test_lowering.cpp checks every class against it.
//
// What each class changes (the README's "Physical faults" section has worked
// examples):
//  * acc     every partial sum of the PE's accumulator register is forced:
//            acc = force(acc + tree(s)) for s = 0..SF-1 (acc = 0 before s = 0),
//            for every output channel the PE computes, at every output pixel;
//  * adder   one node of the PE's adder tree (l0 = the SIMD products, then
//            pairwise sums, an odd node passes through) forced on every SF
//            step: the tree sum changes by force(node) - node;
//  * wmem    the lanes of one weight word: one weight of one output channel,
//            at the SIMD columns s*SIMD.. of the stream order;
//  * thr     one threshold of one output channel (signed, acc_bits + 1 wide);
//  * cmp     comparator t of the PE forced to 0/1 for every channel it computes;
//  * fifo    every stream word written to the slot (the k-th word pushed since
//            reset goes to slot k mod depth): the fields that bit falls in,
//            read back by the consumer (sign-extended when it is signed).
// Transient flips (`:flip@C`) invert the one value passing the site first in
// or after cycle C; which value that is comes from the cycle schedule of the
// run (CycleSchedule, captured from the cycle model: dataflow timing does not
// depend on the data or the faults). Without a schedule they are rejected.
//
// The lowering reads one architecture-independent description per site: the
// layer program (geometry + folding + memories in stream order) the PE runs;
// a loopback accelerator, whose one array runs every layer, lowers a PE site
// into one such change per layer it runs.
//
// Loopback (sites named `engine`): layer l uses an engine site as the same
// site of its own program (folding with partial folds, channel-order columns)
// when it lies within the layer's registers and memories (an accumulator bit
// below its acc_bits, a weight word below its NF*SF, ...), else not at all.
// The feature-map buffers: fmbuf[0] word px*CF + c/SIMD, lane c mod SIMD
// (input_bits wide, the layer uses the low in_bits) forces bit b of input
// code (px, c) of every layer as it is loaded; fmbuf[1] word q*NF + fold,
// lane = the channel's PE bank (as wide as the widest layer output), forces
// the pool unit's running maximum on every write (read-modify-write). One
// fault changes every layer it touches, so the lowering propagates it itself:
// layer by layer, the layer recomputed on its faulty input, then the fault
// applied again (LoweredEffect::propagated). A transient flip of a PE site
// fires once, in the layer the engine runs at its first pass (the captured
// loopback schedule); feature-map buffer flips are rejected.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "engine.hpp"
#include "fast_sweep.hpp"
#include "fault_site.hpp"

namespace fatsim::campaigns {

// Depth and width of one FIFO of the accelerator (fifo[i] in front of layer i,
// fifo[L] after the last), as its cycle model builds it.
struct FifoGeometry {
    int depth = 0, width = 0;
};

// The effect of a lowered fault on one image.
struct LoweredEffect {
    // The output the fault changes: layer `layer`'s post-pool codes (-1: the
    // network input, for fifo[0]); for the classifier, its scores.
    int layer = 0;
    std::vector<CodeChange> changes;  // codes, when layer is not the classifier
    std::vector<int32_t> scores;      // classifier: every score under the fault (empty: unchanged)
    // Loopback: the fault acts again in every later layer, so the lowering
    // has propagated it: `later[k]` holds the changes to layer layer+1+k's
    // post-pool codes (up to the layer before the classifier) and `scores`
    // the classifier's scores under the fault; nothing is left to propagate.
    bool propagated = false;
    std::vector<std::vector<CodeChange>> later;
    // ... and per layer what the fault itself changes there, against the
    // layer run fault-free on its (maybe already faulty) input: the
    // activation-level error pattern (a PE's channels in every layer). An
    // fmbuf[0] fault changes the previous layer's output as it is read back;
    // the classifier's entries name changed scores (codes 0).
    std::vector<std::vector<CodeChange>> direct;
    bool empty() const {
        if (!changes.empty() || !scores.empty()) return false;
        for (const auto& c : later)
            if (!c.empty()) return false;
        return true;
    }
};

// One image's input of one layer as the PE lanes see it: per output pixel,
// the window in stream-column order (what an acc / adder fault recomputes).
struct StreamInputs {
    int layer = -1;
    int words = 0;                // XNOR: 64-bit words per pixel
    std::vector<uint64_t> bits;   // XNOR: [pixel][words], the input bits
    std::vector<uint64_t> bits_t; // ... and by word: [words][pixel]
    std::vector<int32_t> values_t;  // otherwise: the input values by column, [MW][pixel]
};

// Golden data of one image: its input and the engine's trace of it.
struct GoldenImage {
    const int8_t* input = nullptr;
    const Trace* trace = nullptr;
    const StreamInputs* stream = nullptr;  // optional: precomputed for the faulty layer
    // Input codes of layer l (the network input for l == 0).
    const int8_t* layer_input(int l) const { return l == 0 ? input : trace->layers[size_t(l) - 1].out.data(); }
};

// When each MVTU loop iteration and each FIFO push happens in one run of
// the cycle model (images streamed from reset). Schedule pixel: iteration
// ((image*G + group)*rows + channel)*SF + sf, G = ceil(reps/PE).
struct CycleSchedule {
    std::vector<std::vector<int64_t>> iteration_cycle;  // per layer: iteration ((image*reps + pixel)*NF + nf)*SF + sf -> cycle
    std::vector<std::vector<int64_t>> push_cycle;       // per fifo: word pushed since reset -> cycle
};

// A forced bit, exactly as the cycle model's FaultHook::force (for a flip:
// the inversion it applies when it fires).
int64_t force_bit(int64_t v, int bit, FaultKind kind, int width, bool is_signed);
// The same force as masks (what force_bit applies), for loops over many values.
struct BitForce {
    BitForce(int bit, FaultKind kind, int width, bool is_signed);
    int64_t operator()(int64_t v) const {
        uint64_t u = (((uint64_t(v) & keep) | set) ^ flip) & width_mask;
        return int64_t((u ^ sign) - sign);  // sign extension (sign 0: none)
    }
    uint64_t keep, set, flip, width_mask, sign;
};

class Lowering {
public:
    // Throws std::invalid_argument when the accelerator does not match the
    // model (layer count, names, MH/MW) or the fifo list does not match the
    // accelerator (one per layer plus one; none for a loopback engine).
    Lowering(const Engine& engine, const AccelConfig& accel, std::vector<FifoGeometry> fifos);

    // Transient flips are lowered against this schedule (null: rejected);
    // it must outlive the lowering's use.
    void use_schedule(const CycleSchedule* schedule) { schedule_ = schedule; }

    // Throws FaultSiteError naming the rule broken: a site the accelerator
    // does not have, or a transient flip without a schedule.
    void check(const FaultSite& site) const;
    // The layer whose output the site changes (-1: the network input);
    // loopback: the first layer whose output it can change.
    int effect_layer(const FaultSite& site) const;
    // Whether effects are propagated by the lowering itself (a loopback engine).
    bool propagates() const { return loopback_; }
    // Tests: XNOR acc / adder faults recomputed lane by lane, fold by fold
    // (the obvious path the word-parallel one is compared with).
    void set_lane_by_lane(bool on) { lane_by_lane_ = on; }
    // Output channels of layer `layer` the site can change (empty: none; FIFO
    // sites: every channel), ascending. For grouping, reports and lower_pe.
    std::vector<int> channels_touched(const FaultSite& site) const;

    // Static fault collapsing: a key equal for faults equivalent by
    // construction ("" when the site has no static equivalent). "masked" for
    // a site that cannot change any value: a stuck-at equal to the stored
    // weight bit, a threshold forced to a value that compares like the stored
    // one over the whole accumulator range, a stuck-at-0 above an unsigned
    // adder node's range, a padding row. A pass-through adder node (an odd
    // node carried up a level unchanged) has the key of the node it carries;
    // a stuck-at-1 above an unsigned node's range adds 2^bit to every tree
    // sum, one key per PE and bit whichever node holds it; so does a node
    // whose lanes are idle in every fold (it holds 0).
    // Loopback: the keys of every layer the engine site reaches, together; a
    // feature-map buffer bit no layer uses is masked.
    std::string collapse_key(const FaultSite& site) const;
    // Loopback, a stuck PE site: the part of its key from layer 1 on ("" when
    // there is none). Faults sharing it act alike after layer 0, so on an
    // image where layer 0's output under them is the same, so is their whole
    // effect (Scratch::after_first).
    std::string after_first_key(const FaultSite& site) const;

    // The stream-order windows of layer `layer` for an input (codes, HWC).
    void stream_inputs(int layer, const int8_t* in, StreamInputs& out) const;

    // Effects on one image of faults sharing one after_first_key, by layer
    // 0's changes under them (at most kEntries kept, the oldest replaced).
    struct AfterFirstMemo {
        static constexpr size_t kEntries = 16;
        struct Entry {
            std::vector<CodeChange> first;  // layer 0's changes
            LoweredEffect effect;
        };
        std::vector<Entry> entries;
        size_t next = 0;
        int64_t hits = 0;
        void clear() { entries.clear(), next = 0; }
    };

    // Per-thread scratch.
    struct Scratch {
        StreamInputs stream;         // built here when the image brings none
        const int8_t* stream_of = nullptr;  // the image input `stream` was built for
        std::vector<int32_t> acc;    // faulty accumulators of one channel, every pre-pool pixel
        std::vector<int8_t> codes;   // faulty pre-pool codes of one channel
        std::vector<int64_t> thr_row;  // lower_pe: one channel's thresholds, the faulty word forced
        std::vector<int64_t> fold, reg;  // recompute_integer: per pixel, a fold's sum; the register (or count)
        std::vector<int8_t> pooled;   // lower_pe: the faulty post-pool codes, [row k][pixel]
        std::vector<int> pooled_rows;  // ... row k's channel
        // recompute_row (XNOR): per fold, the (word, mask) pieces it sums, and
        // an adder node's change by its value.
        struct Piece {  // matches of x and w: popcount(~(x[word] ^ w[word]) & mask)
            int word;
            uint64_t mask;
        };
        std::vector<Piece> pieces;
        std::vector<int> fold_pieces;  // fold sf: pieces [fold_pieces[sf], fold_pieces[sf + 1])
        std::array<int, 9> pieces_key{};  // (SIMD, SF, MW, node lanes, bit, kind, acc width, sign) of the above
        int node_level = -1;               // >= 0: node values word by word (node_masks apply)
        std::vector<uint64_t> node_masks;  // per word: the node's lanes, then its fields' lowest bits
        std::vector<int64_t> node_delta;   // force(v) - v of the node's value v
        int node_hit = -1;                 // node_level >= 0: node_delta[v] == (bit b of v == node_hit ? node_d : 0)
        int64_t node_d = 0;
        // Loopback: the faulty run layer by layer.
        Trace trace;                 // layers whose data the fault changed (the others: golden)
        // Where the running layer's input differs from the golden one: the
        // previous layer's changes (null: none) and an element fmbuf[0] forced (-1: none).
        const std::vector<CodeChange>* in_changes = nullptr;
        int in_forced = -1;
        // rerun_layer at a few pixels: the output pixels recomputed (and their
        // marks), the input pixels their windows read (marks, where their codes
        // are), the pooled pixels redone; the recomputed accumulators and codes
        // when the layer's trace does not take them.
        std::vector<int> rerun_q, rerun_need;
        std::vector<uint8_t> rerun_mark, rerun_need_mark, rerun_pmark;
        std::vector<const int8_t*> rerun_src;
        std::vector<int32_t> rerun_acc;
        std::vector<int8_t> rerun_act;
        Trace layer_run;             // the network after a transient flip
        std::vector<int8_t> input;   // a layer input under an fmbuf[0] fault
        LoweredEffect layer_effect;  // the fault in one layer
        std::shared_ptr<Engine::Workspace> ws;
        // Set by the caller (loopback stuck PE sites of one after_first_key,
        // this image): effects are looked up there after layer 0, and stored.
        AfterFirstMemo* after_first = nullptr;
    };
    // The effect of a (checked) site on one image. image_pos: the image's
    // position in the stream since reset (FIFO slots see words by position).
    void lower(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s, LoweredEffect& out) const;

    int layers() const { return int(layers_.size()); }
    const FoldingMap& folding(int layer) const { return layers_[size_t(layer)].fold; }
    const LayerGeometry& geometry(int layer) const { return layers_[size_t(layer)].geom; }
    const std::vector<FifoGeometry>& fifos() const { return fifos_; }
    int layer_index(const std::string& name) const;  // -1 when absent

private:
    // One layer as its PE array runs it.
    struct LayerLowering {
        std::string name;
        LayerGeometry geom;
        FoldingMap fold;
        std::vector<int> colmap;        // stream column -> weight matrix column
        bool identity_columns = true;   // colmap[k] == k
        std::vector<int> stream_offset; // stream column -> offset of its input code from the window's corner
        std::vector<int32_t> wstream;   // [row][stream column]: weight value (XNOR: the bit 0/1)
        std::vector<uint64_t> wbits;    // XNOR: [row][words] the weight bits in stream-column order
        int words = 0;                  // XNOR: 64-bit words of one stream-order row
        int64_t max_product = 0;        // the largest |weight * input value| of the layer
        std::vector<int> stream_perm;   // output stream position -> channel
    };
    // The stream a FIFO carries: per image `pixels` x `perm.size()` fields of `bits`.
    struct FifoStream {
        int pixels = 0, bits = 0, channels = 0;  // channels: of the data (MH, or the input's)
        bool is_signed = false;                  // how the consumer reads a field
        std::vector<int> perm;                   // stream position -> channel (>= channels: padding)
        int64_t bits_per_image() const { return int64_t(pixels) * int64_t(perm.size()) * bits; }
    };

    // Loopback: why `site` (named for layer l) is not a site of layer l's
    // program ("" when it is). check() reports it; an engine site a layer
    // does not reach leaves that layer alone.
    std::string layer_site_problem(const FaultSite& site, int l) const;
    void check_engine_site(const FaultSite& site) const;
    bool engine_site_reaches(const FaultSite& site, int l) const;
    bool fmbuf_written(const FmBufBit& fb, int l) const;  // fmbuf[0]: layer l's load writes the bit
    // The loopback key's layers from `first` on ("engine|k1|k2...", "|-" for a
    // layer the site does not reach); "" when a layer has no key; `masked`:
    // masked in every layer it reaches.
    std::string engine_keys(const FaultSite& site, int first, bool& masked) const;
    // collapse_key of a PE site of layer l (named for that layer).
    std::string layer_collapse_key(const FaultSite& site, int l) const;
    // only_layer >= 0: a buffer fault acts in that layer only (a flip; in
    // fmbuf[1] at the slot's write flip_write of that layer).
    void lower_loopback(const FaultSite& site, const GoldenImage& g, Scratch& s, LoweredEffect& out,
                        int only_layer = -1, int flip_write = -1) const;
    void lower_loopback_fmbuf_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s,
                                   LoweredEffect& out) const;
    // Compute iterations of layer l per image: one per cycle of its MVTU loop.
    int64_t iterations_per_image(int l) const;
    // fmbuf[0] / fmbuf[1] of layer l: the input codes as the layer reads them
    // (false: unchanged; else `changed` is the element forced), the output
    // codes (scores) as stored.
    bool fmbuf_input(const FmBufBit& fb, FaultKind kind, int l, const int8_t* in, size_t n, std::vector<int8_t>& out,
                     size_t& changed) const;
    // flip_write >= 0: forced at that write of the slot only (a flip). The
    // slot's element (of t.out; of t.acc for the classifier) and what it holds.
    struct BufferSlot {
        size_t k = 0;
        int64_t value = 0;
    };
    BufferSlot fmbuf_output(const FmBufBit& fb, FaultKind kind, int l, const LayerTrace& t, int flip_write = -1) const;
    // Loopback: layer l run on `in`, an input that differs from its golden
    // one, into t (acc, act, out; only out unless `whole`): where few input
    // pixels differ, the golden data with only the output pixels whose
    // windows read them recomputed, otherwise the engine's dense step (both
    // with the engine's kernels). True when the dense step ran: every window
    // of `in` is in s.ws->im2col.rows.
    bool rerun_layer(int l, const int8_t* in, const GoldenImage& g, Scratch& s, LayerTrace& t, bool whole) const;
    // XNOR layers whose stream order is the engine's column order: the
    // engine's packed windows (rows, `words` per output pixel) are the stream inputs.
    bool rows_are_stream(int l) const;
    void stream_from_rows(int l, const uint64_t* rows, StreamInputs& out) const;
    void lower_pe(const FaultSite& site, const GoldenImage& g, Scratch& s, LoweredEffect& out) const;
    void lower_pe_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s, LoweredEffect& out) const;
    // Where a flip fires in one layer (find_flip: false when it never does).
    struct FlipHit {
        int64_t iteration = -1, cycle = 0, per_image = 0;
        int sf = 0, row = 0, q = 0;
    };
    bool find_flip(const FaultSite& site, int l, FlipHit& h) const;
    void apply_flip(const FaultSite& site, int l, const FlipHit& h, int image_pos, const GoldenImage& g, Scratch& s,
                    LoweredEffect& out) const;
    // Loopback: the layer the flip fires in (the earliest), its one value
    // there, then the rest of the network run on the faulty output.
    void lower_loopback_flip(const FaultSite& site, int image_pos, const GoldenImage& g, Scratch& s,
                             LoweredEffect& out) const;
    // Output code (or score) of channel `row` at pre-pool pixel q from
    // accumulator a, with threshold thr_k / compare cmp_k forced as the site
    // says (-1: none), pooled with the golden neighbours; the changed element.
    void emit_pixel(int l, int row, int q, int64_t a, const FaultSite& site, int thr_k, int cmp_k,
                    const GoldenImage& g, LoweredEffect& out) const;
    void lower_fifo(const FifoBit& f, const FaultSite& site, int image_pos, const GoldenImage& g, LoweredEffect& out) const;
    // Faulty accumulators of channel `row` at pre-pool pixels q_first,
    // q_first + q_step, ... (fold by fold); the others golden.
    void recompute_row(const FaultSite& site, int layer, int row, const GoldenImage& g, Scratch& s, int q_first,
                       int q_step) const;
    // One recompute_row call: the fault, the layer, the row, the pixels.
    struct RowPass {
        const FaultSite& site;
        const LayerLowering& L;
        int row, q_first, q_step, np;
        const StreamInputs& in;
        const std::vector<int32_t>& gacc;  // golden accumulators [pixel][MH]
        int MH;
        const AccBit* acc_site = nullptr;
        const AdderNodeBit* node = nullptr;
        int lane_lo = 0, lane_hi = 0;  // the lanes below the faulty node
    };
    // recompute_row's paths.
    void recompute_lane_by_lane(const RowPass& r, Scratch& s) const;
    void recompute_integer(const RowPass& r, Scratch& s) const;
    void recompute_xnor(const RowPass& r, Scratch& s) const;
    static void transpose_bits(StreamInputs& out, int pixels);  // bits_t from bits

    const Engine& engine_;
    const CycleSchedule* schedule_ = nullptr;
    std::vector<LayerLowering> layers_;
    std::vector<FifoGeometry> fifos_;
    std::vector<FifoStream> streams_;
    // Loopback engine: its registers and buffers (the widest layer's widths).
    bool loopback_ = false;
    bool lane_by_lane_ = false;
    LoopbackConfig lb_;
    int eng_acc_bits_ = 0, eng_thr_bits_ = 0, eng_max_t_ = 0, eng_out_bits_ = 0;
};

}  // namespace fatsim::campaigns
