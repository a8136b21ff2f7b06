#include "sc_top.hpp"

#include <cmath>
#include <stdexcept>

namespace fatsim::hw {

namespace {
struct Kernel {
    sc_core::sc_time period;
    sc_core::sc_clock clk;
    DataflowTop top;
    explicit Kernel(double mhz)
        : period(std::round(1e6 / mhz), sc_core::SC_PS), clk("clk", period), top("dataflow_top") {
        top.clk(clk);
    }
};
Kernel* g_kernel = nullptr;  // one elaboration per process, reused by every run
sc_core::sc_trace_file* g_vcd = nullptr;

Kernel& kernel(double mhz) {
    if (!g_kernel) g_kernel = new Kernel(mhz > 0 ? mhz : 300.0);
    return *g_kernel;
}
}  // namespace

int64_t run_systemc(DataflowModel& model, double clock_mhz) {
    Kernel& k = kernel(clock_mhz);
    k.top.model = &model;
    const int64_t start = model.cycle();
    constexpr int kChunk = 4096;  // cycles per sc_start call
    while (!model.done()) sc_core::sc_start(k.period * kChunk);
    return model.cycle() - start;
}

void trace_streams_vcd(DataflowModel& model, double clock_mhz, const std::string& path,
                       const std::vector<std::string>& streams) {
    Kernel& k = kernel(clock_mhz);
    std::vector<std::string> names = streams;
    if (names.empty())
        for (const auto& n : model.stream_names())
            if (n.rfind("fifo[", 0) == 0) names.push_back(n);
    std::vector<const Stream*> found;
    for (const auto& n : names) {
        const Stream* s = model.find_stream(n);
        if (!s) throw std::invalid_argument("--trace: no stream named '" + n + "'");
        found.push_back(s);
    }
    std::string base = path;
    if (base.size() > 4 && base.substr(base.size() - 4) == ".vcd") base.resize(base.size() - 4);
    g_vcd = sc_core::sc_create_vcd_trace_file(base.c_str());
    g_vcd->set_time_unit(1, sc_core::SC_PS);
    sc_core::sc_trace(g_vcd, k.clk, "clk");
    for (const Stream* s : found) {
        std::string n = s->name();
        for (char& c : n)
            if (c == '[' || c == ']' || c == '.') c = '_';
        sc_core::sc_trace(g_vcd, s->occupancy_ref(), n + "_count", 16);
        sc_core::sc_trace(g_vcd, s->transfers_ref(), n + "_transfers", 32);
    }
}

void close_vcd() {
    if (g_vcd) sc_core::sc_close_vcd_trace_file(g_vcd);
    g_vcd = nullptr;
}

}  // namespace fatsim::hw
