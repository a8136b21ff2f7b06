// The Verilated tops compiled into fatsim_rtl (rtl/CMakeLists.txt verilates
// each rtl/generated/<top>.sv with prefix V<top>).
#include <memory>
#include <vector>

#include "Vdf_cnv_w1a1_quarter.h"
#ifdef FATSIM_RTL_BNNPYNQ
#include "Vdf_cnv_w1a1_bnnpynq.h"
#endif
#include "driver.hpp"

namespace fatsim::rtl {

template <class VTop>
std::unique_ptr<TopDriver> make_driver() {
    return std::make_unique<TopDriverOf<VTop>>();
}

const std::vector<CompiledDesign>& compiled_designs() {
    static const std::vector<CompiledDesign> v{
        {"df_cnv_w1a1_quarter", &make_driver<Vdf_cnv_w1a1_quarter>},
#ifdef FATSIM_RTL_BNNPYNQ
        {"df_cnv_w1a1_bnnpynq", &make_driver<Vdf_cnv_w1a1_bnnpynq>},
#endif
    };
    return v;
}

}  // namespace fatsim::rtl
