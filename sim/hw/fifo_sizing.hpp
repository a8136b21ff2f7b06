// FIFO sizing from the cycle model: the smallest depth of every inter-layer
// FIFO (fifo[0..L]) and of every sliding-window output stream (<conv>.swg,
// the one stream inside a layer whose depth changes the interval: the SWG
// emits a pixel's windows in bursts the MVTU reads only while nf == 0) such
// that the steady-state interval stays at the best the folding reaches.
//
// Method: one reference run with every sized stream deep gives the target
// interval (the bottleneck layer's cycles when reachable) and each stream's
// peak occupancy. A stream as deep as its peak never blocks its producer, so
// the run is cycle-identical; from there each stream in turn is shrunk to the
// smallest depth that keeps the interval (galloping up from the minimum, then
// binary search), the others at their current depths; a last pass repeats
// until no stream can be made one smaller. Trial runs that do not finish
// within twice the reference run's cycles count as too slow (or deadlocked).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "accelerator.hpp"
#include "config.hpp"
#include "model.hpp"

namespace fatsim::hw {

struct FifoSizingOptions {
    int deep_depth = 1 << 14;  // depth of every sized stream in the reference run
    int threads = 0;           // trial runs side by side (0 = one per core)
};

struct SizedFifo {
    std::string name;      // fifo[i], or <conv layer>.swg
    int width = 0;         // bits per word
    int depth_before = 0;  // as configured
    int peak = 0;          // peak occupancy in the reference run
    int depth = 0;         // sized
    int min_depth = 1;     // the search's lower bound
    int64_t bits_before() const { return int64_t(depth_before) * width; }
    int64_t bits() const { return int64_t(depth) * width; }
};

struct FifoSizing {
    AccelConfig sized;             // the input accelerator with the sized depths
    std::vector<SizedFifo> fifos;  // fifo[0..L], then the SWG output streams
    uint64_t bottleneck = 0;       // max over layers of cycles per image
    std::string bottleneck_layer;
    int64_t interval_before = 0;  // steady-state cycles per image as configured
    int64_t interval_deep = 0;    // with every sized stream deep
    int64_t target = 0;           // max(bottleneck, interval_deep): what a trial must reach
    int64_t interval_sized = 0;
    int images = 0;  // images per trial run
    int runs = 0;    // trial simulations
};

// Steady-state interval (cycles between the last two images) of accel on
// `count` images; -1 when the run does not finish within max_cycles (or
// deadlocks). report_out, when given, receives the run's cycle report.
int64_t measure_interval(const QnnModel& model, const AccelConfig& accel, const int8_t* images, int count,
                         int64_t max_cycles = -1, CycleReport* report_out = nullptr);

// The depth of a sized stream in an accelerator config (fifo[i] from
// fifo_depths, others from stream_depths or the model's default).
int configured_depth(const AccelConfig& accel, const std::string& stream);
void set_depth(AccelConfig& accel, const std::string& stream, int depth);

// Sizes the FIFOs of a dataflow accelerator on `count` images (int8 HWC,
// back to back; at least 3 so that the interval is a steady-state one).
FifoSizing size_fifos(const QnnModel& model, const AccelConfig& accel, const int8_t* images, int count,
                      const FifoSizingOptions& opt = {});

}  // namespace fatsim::hw
