// Loopback (multi-layer offload) accelerator in the style of QNN-MO-PYNQ: one
// engine of PE x SIMD lanes (one PeArray) runs every layer in turn, one
// LayerProgram per layer. A sequencer walks, per image and layer:
//
//   params  weights and thresholds from external memory into the on-chip
//           buffers (skipped when double buffering loaded them already)
//   ifm     the layer's input feature map from external memory into the
//           input feature-map buffer (fmbuf[0])
//   compute the sliding window reads fmbuf[0]; the array computes; outputs
//           go through the pool unit into the output buffer (fmbuf[1])
//   wait    double buffering: the next layer's parameters, loading during
//           compute, are not complete yet
//   store   fmbuf[1] to external memory
//
// External memory moves mem_bytes_per_cycle bytes a cycle after mem_latency
// cycles per burst; each transfer (weights, thresholds, ifm, ofm) is one
// burst. The cycles of one layer (LoopbackTiming, README "Loopback"):
//
//   mem(B)  = 0 if B == 0, else mem_latency + ceil(B / mem_bytes_per_cycle)
//   W_l     = mem(weight bytes) + mem(threshold bytes)
//   I_l     = mem(ceil(IFMDim^2 * IFMC * in_bits / 8))
//   O_l     = mem(ceil(PooledDim^2 * MH * out_bits / 8))
//   C_l     = OFMDim^2 * ceil(MH/PE) * ceil(MW/SIMD)           (interleaved, blocked)
//           = ceil(OFMDim^2/PE) * MH * ceil(MW/SIMD)           (pixel)
//   T_l     = W_l + I_l + C_l + O_l                              (single buffer)
//           = [l == 0] W_0 + I_l + max(C_l, W_{l+1}) + O_l      (double buffer; W_L = 0)
//
// and an image takes sum_l T_l cycles (images run one after the other).
// Weight bytes = ceil(PE * ceil(MH/PE) * ceil(MW/SIMD) * SIMD * weight_bits / 8)
// (the engine's padded layout), threshold bytes = ceil(PE * ceil(MH/PE) * T *
// thr_bits / 8).
//
// Fault sites are named `engine` (the one engine runs every layer): the
// PeArray sites with the engine's widest register widths and buffer
// capacities, plus engine.fmbuf[0|1].word[W].bit[B]. A layer uses the low
// bits of a register and of a feature-map buffer lane (input_bits wide in
// fmbuf[0], the widest layer output in fmbuf[1]); it packs its weights at its
// own weight_bits (bit = element * weight_bits + bit), as the dataflow MVTU does.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "accelerator.hpp"
#include "config.hpp"
#include "model.hpp"
#include "pe_array.hpp"

namespace fatsim::hw {

// The cycles of one layer per image (the formula above).
struct LoopbackTiming {
    std::string name;
    Schedule schedule = Schedule::Interleaved;
    int nf = 0, sf = 0, reps = 0;  // compute loop: reps x nf x sf
    uint64_t weight_load = 0, ifm_load = 0, compute = 0, ofm_store = 0;
    uint64_t total = 0;                                 // T_l
    uint64_t stall() const { return total - compute; }  // engine idle
};
// Per-layer timing of an engine running a topology (also the test's oracle).
std::vector<LoopbackTiming> loopback_timing(const Topology& topo, const LoopbackConfig& lb);

// The report of a loopback run: per layer, the cycles measured (whole run).
struct LoopbackReport {
    int images = 0;
    int64_t total_cycles = 0;
    uint64_t cycles_per_image = 0;  // formula
    double clock_mhz = 0;
    double fps() const { return cycles_per_image ? clock_mhz * 1e6 / double(cycles_per_image) : 0.0; }
    std::vector<LoopbackTiming> formula;   // per image
    std::vector<LoopbackTiming> measured;  // whole run
};
std::string format_loopback_report(const LoopbackReport& r, int pe, int simd);

class LoopbackModel final : public Accelerator {
public:
    static constexpr const char* kEngine = kLoopbackEngine;  // the layer name of every site

    LoopbackModel(const QnnModel& model, const AccelConfig& accel, DataflowOptions opt = {});
    ~LoopbackModel() override;
    LoopbackModel(const LoopbackModel&) = delete;
    LoopbackModel& operator=(const LoopbackModel&) = delete;

    const char* architecture() const override { return "loopback"; }
    void load_images(const int8_t* data, int count) override;
    void reset() override;
    void tick() override;
    bool done() const override { return image_ >= images_; }
    int64_t cycle() const override { return cycle_; }
    int64_t run(int64_t max_cycles = -1) override { return run_until_done(*this, max_cycles); }
    uint64_t progress() const override { return uint64_t(cycle_); }

    void arm_fault(const FaultSite& site) override;
    using Accelerator::arm_fault;
    void disarm_faults() override;
    void for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const override;
    FaultSiteCounts fault_site_counts() const override;

    int images() const override { return images_; }
    std::vector<int32_t> scores(int image) const override;
    // DataflowOptions::capture: every layer's output map (post-pool; last
    // layer: accumulators) and pre-pool map, HWC in channel order.
    std::vector<int32_t> captured_output(int layer, int image) const override;
    std::vector<int32_t> captured_mvtu(int layer, int image) const;
    CycleReport report() const override;
    LoopbackReport loopback_report() const;

    const Stream* find_stream(const std::string&) const override { return nullptr; }
    std::vector<std::string> stream_names() const override { return {}; }
    // engine_image, engine_layer, engine_phase (0 params, 1 ifm, 2 compute,
    // 3 wait, 4 store), engine_busy, the fold counters engine_rep / _nf / _sf,
    // external-memory busy cycles so far (mem_weight_cycles, mem_ifm_cycles,
    // mem_ofm_cycles) and the feature-map buffers' fill (fmbuf0_words loaded,
    // fmbuf1_writes: outputs written by the running layer).
    std::vector<TraceSignal> trace_signals() const override;

    int num_layers() const { return int(layers_.size()); }
    const LayerProgram& program(int l) const;
    const PeArray& array() const { return array_; }
    const LoopbackConfig& engine() const { return lb_; }
    // The outputs of layer l (pre-pool map) that engine PE p computes.
    std::vector<OutputPos> outputs_of_pe(int layer, int pe) const;

private:
    struct Layer;
    enum class Phase { Params, Ifm, Compute, Wait, Store };
    void start_layer();
    void fill_ifm();
    void build_row(int pixel, uint64_t* bits, int16_t* values) const;
    void compute_step();
    void write_output(int pixel, int channel, int64_t v);
    void store_ofm();
    void next_phase();
    int fmbuf_width(int buffer) const;
    int fmbuf_words(int buffer) const;

    const QnnModel& model_;
    Topology topo_;
    AccelConfig accel_;
    LoopbackConfig lb_;
    DataflowOptions opt_;
    PeArray array_;
    std::vector<std::unique_ptr<Layer>> layers_;
    int acc_bits_ = 0, thr_bits_ = 0, max_t_ = 0, out_bits_ = 0;  // engine widths: the widest layer's

    // Sequencer state.
    const int8_t* data_ = nullptr;
    int images_ = 0, image_ = 0, layer_ = 0;
    Phase phase_ = Phase::Params;
    uint64_t left_ = 0;      // cycles left in a memory phase
    uint64_t prefetch_ = 0;  // double buffering: cycles left of the next layer's parameter load
    bool params_ready_ = false;
    int rep_ = 0, nf_ = 0, sf_ = 0;  // compute loop
    int64_t cycle_ = 0;
    // Trace registers (trace_signals): mirrors of the state above, kept per cycle.
    int phase_code_ = 0, fmbuf0_words_ = 0, fmbuf1_writes_ = 0;
    bool busy_ = false;
    uint64_t mem_cycles_[3] = {};  // weights, ifm, ofm

    // Buffers and external memory.
    int ifm_wl_ = 0;                  // limbs of an fmbuf[0] word
    std::vector<uint64_t> ifm_;       // fmbuf[0]: words of SIMD elements
    std::vector<int32_t> ofm_;        // fmbuf[1]: [word][PE lane] codes
    std::vector<int32_t> ext_in_;     // external memory: the running layer's input map (HWC codes)
    std::vector<int32_t> ext_out_;    // external memory: its output map
    std::vector<uint64_t> row_bits_;  // sliding-window rows, [pe][sf][limb] (XNOR)
    std::vector<int16_t> row_vals_;   // [pe][sf][lane] (MAC)
    std::vector<PeInput> inputs_;     // per PE (pixel schedule)
    FaultHook buf_hook_;              // fmbuf faults: ArmedFault::pe = buffer, a = word

    std::vector<std::vector<int32_t>> scores_;                          // per image
    std::vector<std::vector<std::vector<int32_t>>> cap_out_, cap_pre_;  // [layer][image]
    std::vector<LoopbackTiming> measured_;
    std::vector<int64_t> image_done_;
};

}  // namespace fatsim::hw
