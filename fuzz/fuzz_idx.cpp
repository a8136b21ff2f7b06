// libFuzzer target: IDX reader (MNIST / Fashion-MNIST, raw or gzip). The
// input holds both files: a 2-byte little-endian length n, n bytes of the
// labels file, then the images file.
#include "dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    static fuzz::ScratchFile images("-images.idx"), labels("-labels.idx");
    if (size < 2) return 0;
    const size_t n = std::min(size - 2, size_t(data[0] | (data[1] << 8)));
    labels.write(data + 2, n);
    images.write(data + 2 + n, size - 2 - n);
    fuzz::expect_clean<DatasetError>("", [&] { load_idx(images.path(), labels.path()); });
    return 0;
}
