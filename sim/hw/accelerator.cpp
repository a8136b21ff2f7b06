#include "accelerator.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "dataflow.hpp"
#include "loopback.hpp"

namespace fatsim::hw {

double CycleReport::fps() const {
    const double c = steady_interval > 0 ? double(steady_interval) : double(bottleneck);
    return c > 0 ? clock_mhz * 1e6 / c : 0.0;
}

uint64_t FaultSiteCounts::total() const {
    uint64_t n = 0;
    for (uint64_t c : per_class) n += c;
    return n;
}

bool operator==(const LayerCycles& a, const LayerCycles& b) {
    return a.name == b.name && a.pe == b.pe && a.simd == b.simd && a.nf == b.nf && a.sf == b.sf && a.reps == b.reps &&
           a.expected == b.expected && a.busy == b.busy && a.stall_in == b.stall_in && a.stall_out == b.stall_out &&
           a.swg_expected == b.swg_expected && a.swg_busy == b.swg_busy && a.swg_simd == b.swg_simd;
}
bool operator==(const FifoReport& a, const FifoReport& b) {
    return a.name == b.name && a.depth == b.depth && a.width == b.width && a.peak == b.peak;
}
bool operator==(const CycleReport& a, const CycleReport& b) {
    return a.images == b.images && a.total_cycles == b.total_cycles && a.first_latency == b.first_latency &&
           a.steady_interval == b.steady_interval && a.bottleneck == b.bottleneck &&
           a.bottleneck_layer == b.bottleneck_layer && a.clock_mhz == b.clock_mhz && a.layers == b.layers &&
           a.fifos == b.fifos;
}

int64_t Accelerator::run(int64_t max_cycles) { return run_until_done(*this, max_cycles); }

int Accelerator::prediction(int image) const {
    const auto s = scores(image);
    return int(std::max_element(s.begin(), s.end()) - s.begin());
}

std::unique_ptr<Accelerator> make_accelerator(const QnnModel& model, const AccelConfig& accel,
                                              const DataflowOptions& opt) {
    if (accel.architecture == Architecture::Dataflow) return std::make_unique<DataflowModel>(model, accel, opt);
    if (accel.architecture == Architecture::Loopback) return std::make_unique<LoopbackModel>(model, accel, opt);
    throw std::invalid_argument(accel.source + ": no cycle model for the " +
                                std::string(architecture_name(accel.architecture)) + " architecture");
}

std::string format_report(const CycleReport& r) {
    std::ostringstream o;
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %4s %5s %5s %5s %12s %12s %12s %12s\n", "layer", "PE", "SIMD", "NF",
                  "SF", "cycles/img", "busy/img", "stall_in", "stall_out");
    o << line;
    const double n = r.images > 0 ? double(r.images) : 1.0;
    for (const auto& c : r.layers) {
        std::snprintf(line, sizeof line, "%-8s %4d %5d %5d %5d %12llu %12.0f %12llu %12llu\n", c.name.c_str(), c.pe,
                      c.simd, c.nf, c.sf, (unsigned long long)c.expected, double(c.busy) / n,
                      (unsigned long long)c.stall_in, (unsigned long long)c.stall_out);
        o << line;
    }
    o << "fifo peak occupancy:";
    for (const auto& f : r.fifos) o << " " << f.name << "=" << f.peak << "/" << f.depth;
    o << "\n";
    std::snprintf(line, sizeof line,
                  "images %d, total %lld cycles; first-image latency %lld cycles; steady state %lld cycles/image "
                  "(bottleneck %s: %llu)\n",
                  r.images, (long long)r.total_cycles, (long long)r.first_latency, (long long)r.steady_interval,
                  r.bottleneck_layer.c_str(), (unsigned long long)r.bottleneck);
    o << line;
    std::snprintf(line, sizeof line, "throughput %.0f FPS at %.0f MHz\n", r.fps(), r.clock_mhz);
    o << line;
    return o.str();
}

}  // namespace fatsim::hw
