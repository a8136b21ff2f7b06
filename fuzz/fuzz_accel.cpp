// libFuzzer target: accelerator YAML (parse_accel) against the CNV topology.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    const Topology& topo = fuzz::cnv_topology();
    fuzz::expect_clean<ConfigError>("fuzz_accel.yaml",
                                    [&] { parse_accel(fuzz::text(data, size), "fuzz_accel.yaml", topo); });
    return 0;
}
