#include "hw_info.hpp"
#include <systemc>
namespace fatsim::hw {
const char* systemc_version() { return sc_core::sc_version(); }
}
