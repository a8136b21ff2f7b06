// FINN dataflow accelerator built from an AccelConfig and a QnnModel: per
// layer [DWC] -> [SWG] -> MVTU -> [DWC -> max pool], FIFOs of the configured
// depths between layers (fifo[l] in front of layer l, fifo[L] after the last),
// a source streaming images back to back and a sink collecting the class
// scores.
//
// DataflowModel is plain C++ (tick() = one clock edge, all units in a fixed
// consumer-before-producer order, then every stream commits); DataflowTop is
// the thin SystemC module that calls tick() from an SC_METHOD on the rising
// clock edge. One elaborated model is reused: load_images()/reset(), arm_fault()
// and run again.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "fault.hpp"
#include "model.hpp"
#include "units.hpp"

namespace fatsim::hw {

struct DataflowOptions {
    bool capture = false;     // record every layer's MVTU output and layer output stream
    int fifo_depth_min = 0;   // raise every inter-layer FIFO to at least this depth
    int internal_depth = 2;   // depth of the streams inside a layer (DWC/SWG/MVTU/pool)
};

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

class DataflowModel {
public:
    DataflowModel(const QnnModel& model, const AccelConfig& accel, DataflowOptions opt = {});
    ~DataflowModel();
    DataflowModel(const DataflowModel&) = delete;
    DataflowModel& operator=(const DataflowModel&) = delete;

    // Images: int8 HWC, topology input size each; the data must outlive the run.
    void load_images(const int8_t* data, int count);
    void reset();               // back to cycle 0 with the loaded images (faults stay armed)
    void tick();                // one rising clock edge
    bool done() const;
    int64_t cycle() const { return cycle_; }
    int64_t run(int64_t max_cycles = -1);  // plain C++ loop without the kernel; throws on deadlock
    uint64_t progress() const;             // words moved so far (deadlock detection)

    // Faults: at most one armed site at a time.
    void arm_fault(const FaultSite& site);
    void arm_fault(const std::string& site_name) { arm_fault(parse_fault_site(site_name)); }
    void disarm_faults();

    // Results (valid once done()).
    int images() const { return images_; }
    std::vector<int32_t> scores(int image) const;  // MH class scores, channel order
    int prediction(int image) const;               // first argmax
    // Captured streams (DataflowOptions::capture), decoded into the golden
    // engine's layout: per image, HWC codes in channel order.
    std::vector<int32_t> captured_mvtu(int layer, int image) const;   // pre-pool codes (last: accumulators)
    std::vector<int32_t> captured_output(int layer, int image) const; // post-pool codes
    CycleReport report() const;

    const Topology& topology() const { return topo_; }
    const AccelConfig& accel() const { return accel_; }
    int num_layers() const { return int(layers_.size()); }
    const Mvtu& mvtu(int l) const;
    const Stream& fifo(int i) const { return *fifos_[i]; }
    const Stream* find_stream(const std::string& name) const;  // null when absent
    std::vector<std::string> stream_names() const;

private:
    struct Layer;
    std::vector<int32_t> decode(const std::vector<uint64_t>& tap, const Stream& s, int bits, bool is_signed,
                                const std::vector<int>& perm, int pixels, int mh, int image) const;
    const QnnModel& model_;
    Topology topo_;
    AccelConfig accel_;
    DataflowOptions opt_;
    std::vector<std::unique_ptr<Stream>> streams_;
    std::vector<Stream*> fifos_;
    std::vector<std::unique_ptr<Layer>> layers_;
    std::unique_ptr<Source> source_;
    std::unique_ptr<Sink> sink_;
    std::vector<Stream*> all_streams_;
    const int8_t* data_ = nullptr;
    int images_ = 0;
    int64_t cycle_ = 0;
    double clock_mhz_ = 300;
};

// Runs the model under the SystemC kernel: a clock and a DataflowTop whose
// SC_METHOD ticks the model on every rising edge. The kernel objects are made
// once per process (one elaboration) and reused by later calls on the same
// model; returns the cycles simulated.
int64_t run_systemc(DataflowModel& model, double clock_mhz);
// Before the first run_systemc: trace the named streams (empty = the inter-layer
// FIFOs) to a VCD file: occupancy and words transferred, sampled every clock.
// Throws std::invalid_argument for an unknown stream name.
void trace_streams_vcd(DataflowModel& model, double clock_mhz, const std::string& path,
                       const std::vector<std::string>& streams);
void close_vcd();

// Human-readable cycle report.
std::string format_report(const CycleReport& r);

}  // namespace fatsim::hw
