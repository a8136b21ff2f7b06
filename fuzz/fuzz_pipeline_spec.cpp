// libFuzzer target: pipeline spec YAML (parse_pipeline_spec).
#include "fuzz_common.hpp"
#include "pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<ConfigError>("fuzz_pipeline.yaml", [&] {
        campaigns::parse_pipeline_spec(fuzz::text(data, size), "fuzz_pipeline.yaml");
    });
    return 0;
}
