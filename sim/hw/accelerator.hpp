// What every cycle-level accelerator model offers (the dataflow model now; a
// loopback model or a Verilated RTL model plug in here): images in, a clock,
// faults, per-layer outputs, a cycle report and the list of its fault sites.
// Plain C++: the SystemC wrapper (sc_top.hpp) drives any Accelerator.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "fault.hpp"
#include "model.hpp"
#include "stream.hpp"

namespace fatsim::hw {

struct LayerCycles {
    std::string name;
    int pe = 0, simd = 0, nf = 0, sf = 0, reps = 0;
    uint64_t expected = 0;       // OFM^2 * NF * SF
    uint64_t busy = 0, stall_in = 0, stall_out = 0;  // MVTU, whole run
    uint64_t swg_expected = 0, swg_busy = 0;          // 0 when no SWG
    int swg_simd = 0;
};
struct FifoReport {
    std::string name;
    int depth = 0, width = 0, peak = 0;
};
struct CycleReport {
    int images = 0;
    int64_t total_cycles = 0;
    int64_t first_latency = 0;      // cycles until the first image's last score word
    int64_t steady_interval = 0;    // cycles between the last two images (0 with one image)
    uint64_t bottleneck = 0;        // max over layers of expected cycles per image
    std::string bottleneck_layer;
    double clock_mhz = 0;
    double fps() const;             // at clock_mhz, from steady_interval (or bottleneck with one image)
    std::vector<LayerCycles> layers;
    std::vector<FifoReport> fifos;
};
// A model register that a VCD can trace besides the streams (plain C++: the
// SystemC wrapper hands it to sc_trace). Exactly one of i32 / u64 / flag is
// set; an int is traced as signed, so its width needs a bit above its values.
struct TraceSignal {
    std::string name;
    const int* i32 = nullptr;
    const uint64_t* u64 = nullptr;
    const bool* flag = nullptr;
    int width = 32;
};

// Human-readable cycle report.
std::string format_report(const CycleReport& r);
// Every field equal (per layer, per FIFO, totals).
bool operator==(const LayerCycles& a, const LayerCycles& b);
bool operator==(const FifoReport& a, const FifoReport& b);
bool operator==(const CycleReport& a, const CycleReport& b);
inline bool operator!=(const CycleReport& a, const CycleReport& b) { return !(a == b); }

// Number of fault sites of each class (indexed by SiteClass).
struct FaultSiteCounts {
    uint64_t per_class[kSiteClasses] = {};
    uint64_t total() const;
};

class Accelerator {
public:
    virtual ~Accelerator() = default;
    virtual const char* architecture() const = 0;

    // Images: int8 HWC, topology input size each; the data must outlive the run.
    virtual void load_images(const int8_t* data, int count) = 0;
    virtual void reset() = 0;  // back to cycle 0 with the loaded images (faults stay armed)
    virtual void tick() = 0;   // one rising clock edge
    virtual bool done() const = 0;
    virtual int64_t cycle() const = 0;
    // Ticks until done (or max_cycles); throws std::runtime_error on deadlock.
    virtual int64_t run(int64_t max_cycles = -1);
    // Simulates at least one and at most max_cycles cycles (fewer when done
    // first), returning how many; a model that skips idle work (dataflow)
    // covers many at once, the others tick once.
    virtual int64_t advance(int64_t max_cycles) {
        (void)max_cycles;
        tick();
        return 1;
    }

    // Faults: every armed site is active at once until disarm_faults().
    virtual void arm_fault(const FaultSite& site) = 0;  // throws FaultSiteError for a site it lacks
    void arm_fault(const std::string& site_name) { arm_fault(parse_fault_site(site_name)); }
    void arm_faults(const FaultSet& sites) {
        for (const FaultSite& s : sites) arm_fault(s);
    }
    virtual void disarm_faults() = 0;
    // Every fault site the accelerator has (kinds aside), and their counts.
    virtual void for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const = 0;
    virtual FaultSiteCounts fault_site_counts() const = 0;

    // Results (valid once done()).
    virtual int images() const = 0;
    virtual std::vector<int32_t> scores(int image) const = 0;  // MH class scores, channel order
    int prediction(int image) const;                             // first argmax
    // Per-layer outputs (when the model was built to capture them), decoded
    // into the golden engine's layout: per image, HWC codes in channel order.
    virtual std::vector<int32_t> captured_output(int layer, int image) const = 0;
    virtual CycleReport report() const = 0;

    // Streams that can be traced (VCD); null when absent.
    virtual const Stream* find_stream(const std::string& name) const = 0;
    virtual std::vector<std::string> stream_names() const = 0;
    // Registers a VCD traces besides the streams (loopback: sequencer, engine, buffers).
    virtual std::vector<TraceSignal> trace_signals() const { return {}; }
    // Words moved so far (deadlock detection).
    virtual uint64_t progress() const = 0;
};

// The run loop of every model: ticks until done (or max_cycles); a model
// that is `final` calls it on itself so that tick() and done() inline.
// A deadlock is a bug: no word moved between two cycle counts that are
// multiples of 2^20 (checked after the tick that reaches each).
constexpr int64_t kDeadlockCheckMask = 0xFFFFF;
inline void check_deadlock(const Accelerator& m, uint64_t& last_progress) {
    const uint64_t p = m.progress();
    if (p == last_progress)
        throw std::runtime_error(std::string(m.architecture()) + " model: deadlock at cycle " +
                                 std::to_string(m.cycle()));
    last_progress = p;
}
template <class Model>
int64_t run_until_done(Model& m, int64_t max_cycles) {
    const int64_t start = m.cycle();
    uint64_t last_progress = ~uint64_t(0);
    while (!m.done() && (max_cycles < 0 || m.cycle() - start < max_cycles)) {
        m.tick();
        if ((m.cycle() & kDeadlockCheckMask) == 0) check_deadlock(m, last_progress);
    }
    return m.cycle() - start;
}

struct DataflowOptions {
    bool capture = false;     // record every layer's MVTU output and layer output stream
    int fifo_depth_min = 0;   // raise every inter-layer FIFO to at least this depth
    int internal_depth = 2;   // depth of the streams inside a layer (DWC/SWG/MVTU/pool)
};
// The model of accel.architecture; throws std::invalid_argument for one
// without a cycle model.
std::unique_ptr<Accelerator> make_accelerator(const QnnModel& model, const AccelConfig& accel,
                                              const DataflowOptions& opt = {});

}  // namespace fatsim::hw
