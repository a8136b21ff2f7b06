#pragma once
namespace fatsim::hw {
// SystemC kernel version string, so the CLI can report what it was built with.
const char* systemc_version();
}
