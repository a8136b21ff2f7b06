// libFuzzer target: topology YAML (parse_topology).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<ConfigError>("fuzz_topology.yaml",
                                    [&] { parse_topology(fuzz::text(data, size), "fuzz_topology.yaml"); });
    return 0;
}
