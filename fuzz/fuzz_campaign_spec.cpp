// libFuzzer target: campaign spec YAML (parse_campaign_spec).
#include "campaign.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<ConfigError>("fuzz_campaign.yaml", [&] {
        campaigns::parse_campaign_spec(fuzz::text(data, size), "fuzz_campaign.yaml");
    });
    return 0;
}
