// libFuzzer target: CIFAR-10 binary batch reader (raw or gzip).
#include "dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    static fuzz::ScratchFile file("-cifar.bin");
    const std::string& path = file.write(data, size);
    fuzz::expect_clean<DatasetError>(path, [&] { load_cifar10({path}); });
    return 0;
}
