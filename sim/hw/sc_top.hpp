// The thin SystemC wrapper of the dataflow model: an SC_METHOD on the rising
// clock edge that ticks the plain C++ model (explicit state, no threads).
#pragma once
#include <systemc>

#include "dataflow.hpp"

namespace fatsim::hw {

SC_MODULE(DataflowTop) {
    sc_core::sc_in<bool> clk;
    DataflowModel* model = nullptr;

    void on_clock() {
        if (model && !model->done()) model->tick();
    }
    SC_CTOR(DataflowTop) {
        SC_METHOD(on_clock);
        sensitive << clk.pos();
        dont_initialize();
    }
};

}  // namespace fatsim::hw
