#include "sc_top.hpp"

#include <cmath>
#include <stdexcept>

namespace fatsim::hw {

namespace {
AcceleratorTop* g_top = nullptr;  // one elaboration per process, reused by every run
sc_core::sc_trace_file* g_vcd = nullptr;

AcceleratorTop& top() {
    if (!g_top) g_top = new AcceleratorTop("accelerator_top");
    return *g_top;
}
}  // namespace

int64_t run_systemc(Accelerator& model, double clock_mhz, bool every_edge) {
    AcceleratorTop& t = top();
    const sc_core::sc_time period(std::round(1e6 / (clock_mhz > 0 ? clock_mhz : 300.0)), sc_core::SC_PS);
    // High for the first half (rounded up to the time resolution, like sc_clock), low for the rest.
    t.low_time = sc_core::sc_time(std::floor(period.to_seconds() * 1e12 / 2), sc_core::SC_PS);
    t.high_time = period - t.low_time;
    t.model = &model;
    constexpr int kChunk = 4096;  // cycles per sc_start call, and the most per activation
    t.quantum = every_edge || g_vcd ? 1 : kChunk;
    t.covered = 1;
    const int64_t start = model.cycle();
    if (sc_core::sc_get_status() != sc_core::SC_ELABORATION) t.start.notify(sc_core::SC_ZERO_TIME);
    while (!model.done()) sc_core::sc_start(period * kChunk);
    sc_core::sc_start(period);  // past the last falling edge: the clock has stopped
    return model.cycle() - start;
}

double systemc_time_ps() { return sc_core::sc_time_stamp().to_seconds() * 1e12; }

void trace_streams_vcd(Accelerator& model, const std::string& path, const std::vector<std::string>& streams) {
    AcceleratorTop& t = top();
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
    sc_core::sc_trace(g_vcd, t.clk, "clk");
    for (const Stream* s : found) {
        std::string n = s->name();
        for (char& c : n)
            if (c == '[' || c == ']' || c == '.') c = '_';
        sc_core::sc_trace(g_vcd, s->occupancy_ref(), n + "_count", 16);
        sc_core::sc_trace(g_vcd, s->transfers_ref(), n + "_transfers", 32);
    }
    for (const TraceSignal& sig : model.trace_signals()) {
        if (sig.i32) sc_core::sc_trace(g_vcd, *sig.i32, sig.name, sig.width);
        else if (sig.u64) sc_core::sc_trace(g_vcd, *sig.u64, sig.name, sig.width);
        else sc_core::sc_trace(g_vcd, *sig.flag, sig.name);
    }
}

void close_vcd() {
    if (g_vcd) sc_core::sc_close_vcd_trace_file(g_vcd);
    g_vcd = nullptr;
}

}  // namespace fatsim::hw
