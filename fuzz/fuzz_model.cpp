// libFuzzer target: model file (CBOR + CRC, deserialize_model). A model that
// loads must also validate and serialise back to the same bytes' meaning.
#include "fuzz_common.hpp"
#include "model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    fuzz::expect_clean<ModelFileError>("fuzz.fatq", [&] {
        const QnnModel m = deserialize_model(std::vector<uint8_t>(data, data + size), "fuzz.fatq");
        const std::vector<uint8_t> again = serialize_model(m);
        if (serialize_model(deserialize_model(again, "fuzz.fatq")) != again)
            fuzz::fail("model does not survive serialize -> deserialize");
    });
    return 0;
}
