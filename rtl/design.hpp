// The dataflow accelerator as the RTL top instantiates it: the streams and
// units of a C++ DataflowModel (read off the model itself, so RTL and C++
// cannot differ in structure), the SystemVerilog top module written from it
// (fatsim_rtl_gen), and the hash the top carries to recognise its design.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dataflow.hpp"
#include "datapath.hpp"

namespace fatsim::rtl {

struct StreamDesc {
    std::string name;
    int width = 0, depth = 0;
    int fifo = -1;  // i of fifo[i] (a fault site), -1 for a stream inside a layer
};

enum class UnitType { Dwc, Swg, Mvtu, Pool };
struct UnitDesc {
    UnitType type = UnitType::Dwc;
    std::string name;
    int layer = 0;
    int in = 0, out = 0;  // stream indices
    // SWG: dim, kernel, channels, simd, bits; pool: dim, pool, channels, bits, is_signed
    int dim = 0, kernel = 0, channels = 0, simd = 0, bits = 0, pool = 0;
    bool is_signed = false;
    LayerGeometry geom;  // MVTU
    FoldingMap fold;     // MVTU
};

struct DataflowDesign {
    std::string top;                  // module name
    std::vector<StreamDesc> streams;  // [0] is the source's stream, the last one the sink's
    std::vector<UnitDesc> units;      // layer by layer, in stream order
    std::vector<int> mvtu_unit;       // per layer: its MVTU in units
    int load_width = 1;               // widest weight word
};

// Reads the structure off a built C++ model.
DataflowDesign describe_dataflow(const hw::DataflowModel& model, const std::string& top);
// The SystemVerilog top module of a design (ports: see the module's header).
std::string emit_top(const DataflowDesign& d);
// FNV-1a of the top module's text without its hash: what the top reports
// on its design_hash port.
uint64_t design_hash(const DataflowDesign& d);

}  // namespace fatsim::rtl
