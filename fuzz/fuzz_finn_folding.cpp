// libFuzzer target: FINN folding JSON import (reads a file: the input is
// written to a scratch file first).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    static fuzz::ScratchFile file(".json");
    const Topology& topo = fuzz::cnv_topology();
    const std::string& path = file.write(data, size);
    fuzz::expect_clean<ConfigError>(path, [&] { import_finn_folding(path, topo); });
    return 0;
}
