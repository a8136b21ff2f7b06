// libFuzzer target: error-model files, YAML or JSON (parse_error_model). A
// model that parses is checked against the CNV topology and must survive
// both writers unchanged.
#include "error_model.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<ConfigError>("fuzz_error_model", [&] {
        const ErrorModel m = parse_error_model(fuzz::text(data, size), "fuzz_error_model");
        check_error_model(m, fuzz::cnv_topology());
        if (parse_error_model(error_model_to_yaml(m), "fuzz_error_model yaml") != m)
            fuzz::fail("model does not round-trip through YAML:\n" + error_model_to_yaml(m));
        if (parse_error_model(error_model_to_json(m), "fuzz_error_model json") != m)
            fuzz::fail("model does not round-trip through JSON:\n" + error_model_to_json(m));
    });
    return 0;
}
