// The unit configurations the RTL unit tests run: one table, read both by the
// C++ harness and by tb_units_gen, which writes the SystemVerilog package
// (tb_units_cfg.sv) that instantiates the same units in the test bench.
#pragma once
#include <string>
#include <vector>

#include "config.hpp"
#include "datapath.hpp"

namespace fatsim::rtl_testing {

struct FifoCfg {
    int width, depth;
};
struct DwcCfg {
    int in_width, out_width;
};
struct SwgCfg {
    int dim, kernel, channels, simd, bits;
};
struct PoolCfg {
    int dim, pool, channels, bits;
    bool is_signed;
};
// One layer of a small per-precision topology on one PE x SIMD folding.
struct MvtuCfg {
    std::string precision;  // "w1a1", "w1a2", "w2a2"
    int layer, pe, simd;
    Schedule schedule;
};

// Word width of the bench's stream and load ports (every unit's fits).
constexpr int kBenchWidth = 128;
constexpr int kLoadWidth = 64;
// Depth of the FIFOs in front of and behind a unit in the bench.
constexpr int kUnitFifoDepth = 2;

const std::vector<FifoCfg>& fifo_configs();
const std::vector<DwcCfg>& dwc_configs();
const std::vector<SwgCfg>& swg_configs();
const std::vector<PoolCfg>& pool_configs();
const std::vector<MvtuCfg>& mvtu_configs();

// The small topology of a precision (4x4x2 input; c0 2x2 conv with 8-bit
// input, c1 2x2 conv with the precision's activations, f0 classifier).
const Topology& mvtu_topology(const std::string& precision);
LayerGeometry mvtu_geometry(const MvtuCfg& c);
FoldingMap mvtu_folding(const MvtuCfg& c);

// Index of a unit in the bench's select space: FIFOs, DWCs, SWGs, pools, MVTUs.
enum class UnitKind { Fifo, Dwc, Swg, Pool, Mvtu };
int bench_index(UnitKind kind, int i);

// The SystemVerilog package tb_units_cfg with the tables above.
std::string bench_package();

}  // namespace fatsim::rtl_testing
