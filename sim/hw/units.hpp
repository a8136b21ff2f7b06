// Datapath units of a FINN dataflow accelerator as plain C++ classes with a
// clocked tick(): one call = one rising clock edge. Each unit holds explicit
// state (loop counters, buffers, registers), reads and writes Streams, and
// advances at most one loop iteration per cycle; an iteration that needs a
// word that is not valid, or space that is not ready, stalls as a whole (the
// HLS pipelined loop with blocking stream accesses).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "model.hpp"
#include "stream.hpp"

namespace fatsim::hw {

// Data-width converter, least significant first in both directions: a bit
// register of in+out bits; per cycle it may emit one output word and accept
// one input word.
class Dwc {
public:
    Dwc(std::string name, Stream* in, Stream* out);
    void tick();
    void reset();
    const std::string& name() const { return name_; }
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
    void tick();
    void reset(int images);
    const std::string& name() const { return name_; }
    uint64_t expected_cycles_per_image() const { return uint64_t(init_len_) + uint64_t(O_) * maxc_; }
    UnitStats stats;

private:
    std::string name_;
    Stream *in_, *out_;
    int D_, K_, C_, simd_, mult_, O_, wl_;
    int init_len_, wblock_, rblock_, maxc_;
    int images_ = 0, image_ = 0, phase_ = 0, cnt_ = 0, block_ = 0;
    std::vector<uint64_t> buf_;  // (K+1) rows x D pixels x mult words
    uint64_t* word(int row, int px, int cf) {
        return &buf_[((size_t(row % (K_ + 1)) * D_ + px) * mult_ + cf) * wl_];
    }
};

// Streaming max pool: one word carries a pixel's channels. Per output row it
// reads Pool*ImgDim words, then writes ImgDim/Pool words. Binary: bitwise OR.
class MaxPool {
public:
    MaxPool(std::string name, int img_dim, int pool, int channels, int bits, bool is_signed, Stream* in,
            Stream* out, int images);
    void tick();
    void reset(int images);
    const std::string& name() const { return name_; }
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

// Matrix-Vector-Threshold Unit. PE x SIMD, flat loop reps*NF*SF at one
// iteration per cycle; input words read while nf == 0 and replayed from the
// input buffer for nf > 0; per-PE weight memory (NF*SF words of SIMD*WW bits),
// one adder tree per PE, accumulator, per-PE threshold memory (NF*T words)
// and comparators; one output word of PE lanes at sf == SF-1.
class Mvtu {
public:
    struct Params {
        std::string name;
        const LayerSpec* spec = nullptr;
        const LayerFolding* fold = nullptr;
        const LayerParams* params = nullptr;
        std::vector<int> colmap;  // stream column -> weight matrix column
        bool in_signed = false;   // input codes are two's complement
        int images = 0;
    };
    Mvtu(const Params& p, Stream* in, Stream* out);
    void tick();
    void reset(int images);
    const std::string& name() const { return name_; }

    int pe() const { return PE_; }
    int simd() const { return SIMD_; }
    int nf() const { return NF_; }
    int sf() const { return SF_; }
    int reps() const { return reps_; }
    int rows() const { return rows_; }
    int out_bits() const { return ob_; }
    int acc_bits() const { return acc_bits_; }
    bool xnor() const { return xnor_; }
    uint64_t expected_cycles_per_image() const { return uint64_t(reps_) * NF_ * SF_; }
    // Output channel of (pe, nf) under the layer's schedule.
    int row_of(int pe, int nf) const { return blocked_ ? pe * NF_ + nf : nf * PE_ + pe; }
    // Stream position j (within one pixel's channels) -> output channel.
    std::vector<int> stream_perm() const;

    // Arms a fault in this unit (acc, adder node, weight word, threshold, comparator).
    void arm(const FaultSite& s, const int64_t* clock);
    void disarm() { hook.disarm(); }
    FaultHook hook;
    UnitStats stats;

private:
    void load_input();
    void compute_fast();
    void compute_slow();
    void write_output();

    std::string name_;
    Stream *in_, *out_;
    int PE_, SIMD_, NF_, SF_, reps_, rows_, mh_, T_, wb_, ib_, ob_, acc_bits_, thr_bits_;
    bool xnor_, blocked_, has_act_, in_signed_, in_bipolar_, acc_signed_;
    int act_lo_;
    int wl_;  // limbs of one XNOR word (SIMD bits)
    int images_ = 0, vec_ = 0, nf_ = 0, sf_ = 0, total_vecs_ = 0;
    std::vector<uint64_t> wbits_;   // XNOR: [pe][nf][sf][limb]
    std::vector<int16_t> w16_;      // MAC:  [pe][nf][sf][s]
    std::vector<int32_t> thr_;      // [pe][nf][t]
    std::vector<uint64_t> ibits_;   // input buffer, XNOR: [sf][limb]
    std::vector<int16_t> ival_;     // input buffer, MAC:  [sf][s]
    std::vector<int32_t> acc_;      // [pe]
    std::vector<int64_t> tree_;     // slow path scratch
};

// Network input: one pixel (IFMC x in_bits) per word, images back to back.
class Source {
public:
    Source(Stream* out, int pixel_elems, int bits);
    void load(const int8_t* data, int images, int pixels_per_image);
    void tick();
    void reset();
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
    void tick(int64_t cycle);
    void reset(int images);
    bool done() const { return image_ >= images_; }
    const std::vector<int32_t>& values() const { return values_; }  // images x elems (stream order)
    const std::vector<int64_t>& done_cycles() const { return done_cycles_; }
    UnitStats stats;

private:
    Stream* in_;
    int bits_, lanes_, per_image_;
    int images_ = 0, image_ = 0, got_ = 0;
    std::vector<int32_t> values_;
    std::vector<int64_t> done_cycles_;
};

}  // namespace fatsim::hw
