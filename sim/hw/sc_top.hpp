// The thin SystemC wrapper of the cycle models (target fatsim_hw_sc): an
// SC_METHOD that ticks any Accelerator on every rising edge of its own clock,
// plus VCD tracing of its streams. The cycle models themselves (fatsim_hw)
// neither include nor link SystemC.
#pragma once
#include <cstdint>
#include <string>
#include <systemc>
#include <vector>

#include "accelerator.hpp"

namespace fatsim::hw {

// The clock is generated here rather than by an sc_clock, whose period is
// fixed at elaboration: each run_systemc() sets the period anew. The method
// runs at initialization (the first run) or on `start` (later runs), and on
// each rising edge either ticks the model once (quantum 1: every edge, as a
// VCD trace needs) or lets it advance up to `quantum` cycles at once
// (Accelerator::advance: an event-driven model covers them skipping its idle
// work, exactly as if ticked on each edge), and then waits out the time of
// the cycles covered, so the kernel's time stays cycles x period. It stops
// re-triggering itself once the model is done.
SC_MODULE(AcceleratorTop) {
    sc_core::sc_signal<bool> clk;  // for traces
    sc_core::sc_event start;       // notified by run_systemc after the first run
    Accelerator* model = nullptr;
    sc_core::sc_time high_time, low_time;
    int64_t quantum = 1;  // most cycles per rising edge
    int64_t covered = 1;  // cycles the last rising edge covered

    void on_edge() {
        if (clk.read()) {  // falling edge
            clk.write(false);
            if (model && !model->done()) next_trigger(low_time + (high_time + low_time) * double(covered - 1));
            return;
        }
        if (!model || model->done()) return;
        clk.write(true);
        if (quantum > 1) {
            covered = model->advance(quantum);
        } else {
            model->tick();
            covered = 1;
        }
        next_trigger(high_time);
    }
    SC_CTOR(AcceleratorTop) {
        SC_METHOD(on_edge);
        sensitive << start;
    }
};

// Runs the model under the SystemC kernel at clock_mhz (<= 0: 300 MHz) until
// it is done; the kernel objects are made once per process and reused, each
// call at its own clock. Returns the cycles simulated. The method lets the
// model advance a quantum of cycles per activation, except with a VCD trace
// open or every_edge set, where it ticks the model on each edge.
int64_t run_systemc(Accelerator& model, double clock_mhz, bool every_edge = false);
// Simulated time so far (for tests: it advances by cycles x period).
double systemc_time_ps();
// Before the first run_systemc: trace the named streams (empty = the inter-layer
// FIFOs) to a VCD file: occupancy and words transferred, sampled every clock,
// plus the model's trace_signals() (a loopback engine's layer, phase, folds).
// Throws std::invalid_argument for an unknown stream name.
void trace_streams_vcd(Accelerator& model, const std::string& path, const std::vector<std::string>& streams);
void close_vcd();

}  // namespace fatsim::hw
