// Datapath units of a FINN dataflow accelerator as plain C++ classes with a
// clocked tick(): one call = one rising clock edge. Each unit holds explicit
// state (loop counters, buffers, registers), reads and writes Streams, and
// advances at most one loop iteration per cycle; an iteration that needs a
// word that is not valid, or space that is not ready, stalls as a whole (the
// HLS pipelined loop with blocking stream accesses). tick() returns whether
// the unit's state changed; a cycle that returns false changed only its stall
// counters, and the next cycles do the same until a word arrives in its input
// stream or its output stream frees a slot (the event-driven run of
// DataflowModel sleeps the unit until then).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "model.hpp"
#include "pe_array.hpp"
#include "stream.hpp"

namespace fatsim::hw {

// Data-width converter, least significant first in both directions: a bit
// register of in+out bits; per cycle it may emit one output word and accept
// one input word.
class Dwc {
public:
    Dwc(std::string name, Stream* in, Stream* out);
    bool tick();
    void reset();
    const std::string& name() const { return name_; }
    Stream* input() const { return in_; }
    Stream* output() const { return out_; }
    UnitStats stats;

private:
    std::string name_;
    Stream *in_, *out_;
    int iw_, ow_, cap_, bits_ = 0;
    std::vector<uint64_t> buf_;
};

// ConvolutionInputGenerator (stride 1, no padding): line buffer of K+1 rows,
// emission order oy, ox, ky, kx, channel fold. Per image: an initial fill of
// K rows (IFMDim*K*IFMC/SIMD cycles), then per output row a block of
// max(OFMDim*K^2*IFMC/SIMD, IFMDim*IFMC/SIMD) cycles writing the row's windows
// while reading the next input row.
class Swg {
public:
    Swg(std::string name, int ifm_dim, int kernel, int ifm_ch, int simd, Stream* in, Stream* out, int images);
    bool tick();
    void reset(int images);
    const std::string& name() const { return name_; }
    uint64_t expected_cycles_per_image() const { return uint64_t(init_len_) + uint64_t(O_) * maxc_; }
    Stream* input() const { return in_; }
    Stream* output() const { return out_; }
    UnitStats stats;

private:
    std::string name_;
    Stream *in_, *out_;
    int D_, K_, C_, simd_, mult_, O_, wl_;
    int init_len_, wblock_, rblock_, maxc_;
    int images_ = 0, image_ = 0, phase_ = 0, cnt_ = 0, block_ = 0;
    int wcf_ = 0, wkx_ = 0, wky_ = 0, wox_ = 0;  // the window word cnt_ being written (phase 1)
    std::vector<uint64_t> buf_;  // (K+1) rows x D pixels x mult words
    uint64_t* row_words(int row) { return &buf_[size_t(row % (K_ + 1)) * D_ * mult_ * wl_]; }
    uint64_t* word(int row, int px, int cf) { return row_words(row) + (size_t(px) * mult_ + cf) * wl_; }
};

// Streaming max pool: one word carries a pixel's channels. Per output row it
// reads Pool*ImgDim words, then writes ImgDim/Pool words. Binary: bitwise OR.
class MaxPool {
public:
    MaxPool(std::string name, int img_dim, int pool, int channels, int bits, bool is_signed, Stream* in,
            Stream* out, int images);
    bool tick();
    void reset(int images);
    const std::string& name() const { return name_; }
    Stream* input() const { return in_; }
    Stream* output() const { return out_; }
    UnitStats stats;

private:
    std::string name_;
    Stream *in_, *out_;
    int D_, P_, Q_, C_, bits_, lo_;
    bool signed_, binary_;
    int wl_;
    int images_ = 0, image_ = 0, row_ = 0, phase_ = 0, cnt_ = 0;
    std::vector<uint64_t> orbuf_;   // binary: Q words
    std::vector<int32_t> maxbuf_;   // multi-bit: Q x C levels
};

// Matrix-Vector-Threshold Unit: one PE array running one layer program.
// Flat loop reps*NF*SF at one iteration per cycle; input words read while
// nf == 0 and replayed from the input buffer for nf > 0; one output word of
// PE lanes at sf == SF-1.
//
// Schedule pixel (pixel-parallel): the pixels of an image go in groups of PE
// (the last group holds the remainder); PE k computes pixel g*PE + k. Three
// stages run side by side, each at most one step a cycle, through two input
// and two output buffers (the group's parity picks the buffer):
//   gather   one input word a cycle into the next group's window buffer
//            ([pe][sf], SF words per pixel, as the window generator emits them)
//   compute  one (channel, sf) step a cycle: every PE adds its own window's
//            word sf times the channel's weight word, broadcast from the
//            channel's bank; at sf == SF-1 each PE thresholds its pixel's
//            channel; rows*SF cycles per group
//   drain    one output word a cycle in the standard stream order (pixel by
//            pixel, PE channels per word, folds in order), so downstream
//            units cannot tell the schedules apart
// Compute waits for a full input buffer and an empty output buffer. Gather
// (pes*SF words) and drain (pes*NF words) fit in a group's rows*SF compute
// cycles, so the unit needs ceil(OFM^2/PE) * rows * SF cycles per image.
class Mvtu {
public:
    Mvtu(LayerProgram program, Stream* in, Stream* out, int images = 0);
    bool tick();
    void reset(int images);
    const std::string& name() const { return prog_.name; }
    // After a tick: runs ahead over the next steps that touch no stream (at
    // most max_steps), when the fold is added up at once; returns how many.
    int run_free(int max_steps);
    // false: every step adds its products in its own cycle, armed or not.
    void set_fold_at_once(bool allowed) { fold_at_once_allowed_ = allowed; }

    const LayerProgram& program() const { return prog_; }
    const PeArray& array() const { return array_; }
    int pe() const { return prog_.fold.pe; }
    int simd() const { return prog_.fold.simd; }
    int nf() const { return prog_.fold.nf; }
    int sf() const { return prog_.fold.sf; }
    int reps() const { return prog_.reps; }
    int rows() const { return prog_.fold.rows; }
    int out_bits() const { return prog_.geom.out_bits; }
    int acc_bits() const { return prog_.geom.acc_bits; }
    bool xnor() const { return prog_.geom.xnor; }
    uint64_t expected_cycles_per_image() const { return prog_.expected_cycles_per_image(); }
    // Output channel of (pe, nf) under the layer's schedule.
    int row_of(int pe, int nf) const { return prog_.fold.row_of(pe, nf); }
    // Stream position j (within one pixel's channels) -> output channel.
    std::vector<int> stream_perm() const { return prog_.fold.stream_perm(); }

    // Adds a fault of this unit (acc, adder node, weight word, threshold,
    // comparator) to the armed set; throws FaultSiteError for a site it lacks.
    void arm(const FaultSite& s, const int64_t* clock);
    void disarm() { array_.hook.disarm(); }
    const FaultHook& hook() const { return array_.hook; }
    Stream* input() const { return in_; }
    Stream* output() const { return out_; }
    UnitStats stats;

private:
    // Pops one input word into the input buffer (XNOR: bits, MAC: values).
    void load_input(uint64_t* bits, int16_t* values);
    void write_output();
    bool tick_pixel();
    int group_pes(int group) const;  // pixels of a group (pixel schedule)

    LayerProgram prog_;
    PeArray array_;
    Stream *in_, *out_;
    int images_ = 0, vec_ = 0, nf_ = 0, sf_ = 0, total_vecs_ = 0;
    bool fold_at_once_ = false;    // this fold's steps are added up when its output is due
    bool fold_at_once_allowed_ = true;
    std::vector<uint64_t> ibits_;  // input buffer, XNOR: [sf][limb]; pixel: [buffer][pe][sf][limb]
    std::vector<int16_t> ival_;    // input buffer, MAC:  [sf][s];    pixel: [buffer][pe][sf][s]
    std::vector<uint64_t> idense_;  // XNOR: the input words packed for a fold at once (pack_dense)
    // Pixel schedule: groups per image, the stage counters (global group
    // index; compute's channel is nf_, its fold sf_) and the buffers' state.
    int groups_ = 0, total_groups_ = 0;
    int gather_g_ = 0, gather_n_ = 0, compute_g_ = 0, drain_g_ = 0, drain_k_ = 0, drain_nf_ = 0;
    bool in_full_[2] = {}, out_full_[2] = {};
    std::vector<int32_t> obuf_;     // output buffers: [buffer][pe][row]
    std::vector<PeInput> pin_;      // per PE: this step's input word
};

// Network input: one pixel (IFMC x in_bits) per word, images back to back.
class Source {
public:
    Source(Stream* out, int pixel_elems, int bits);
    void load(const int8_t* data, int images, int pixels_per_image);
    bool tick();
    void reset();
    Stream* output() const { return out_; }
    UnitStats stats;

private:
    Stream* out_;
    int elems_, bits_;
    const int8_t* data_ = nullptr;
    size_t total_ = 0, next_ = 0;
};

// Network output: reads words of `lanes` fields of `bits`, elems_per_image each image.
class Sink {
public:
    Sink(Stream* in, int bits, int elems_per_image);
    bool tick(int64_t cycle);
    void reset(int images);
    bool done() const { return image_ >= images_; }
    const std::vector<int32_t>& values() const { return values_; }  // images x elems (stream order)
    const std::vector<int64_t>& done_cycles() const { return done_cycles_; }
    Stream* input() const { return in_; }
    UnitStats stats;

private:
    Stream* in_;
    int bits_, lanes_, per_image_;
    int images_ = 0, image_ = 0, got_ = 0;
    std::vector<int32_t> values_;
    std::vector<int64_t> done_cycles_;
};

}  // namespace fatsim::hw
