// libFuzzer target: fault-site names (parse_fault_site). A name that parses
// must print back to a name that parses to the same printed form.
#include "fault_site.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<FaultSiteError>("", [&] {
        const std::string name = fault_site_name(parse_fault_site(fuzz::text(data, size)));
        if (fault_site_name(parse_fault_site(name)) != name) fuzz::fail("name does not round-trip: " + name);
    });
    return 0;
}
