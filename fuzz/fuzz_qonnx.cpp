// libFuzzer target: QONNX import (an ONNX ModelProto in the streamlined or
// the Brevitas form -> QnnModel). A graph that imports must give a model that
// serialises and survives a reload, and the float evaluator (`import
// --check`) must run it on an image or reject it with a QonnxError.
#include "fuzz_common.hpp"
#include "model.hpp"
#include "qonnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    static fuzz::ScratchFile file(".onnx");  // import_qonnx reads from a path
    const std::string& path = file.write(data, size);
    fuzz::expect_clean<QonnxError>(path, [&] {
        const QnnModel m = import_qonnx(path);
        const std::vector<uint8_t> bytes = serialize_model(m);
        if (serialize_model(deserialize_model(bytes, "imported.fatq")) != bytes)
            fuzz::fail("imported model does not survive serialize -> deserialize");
        const Topology& t = m.topology;
        const std::vector<uint8_t> image(size_t(t.in_dim) * t.in_dim * t.in_channels, 129);
        QonnxGraph(path).run(image.data(), t.in_dim, t.in_channels, QonnxGraph::feed_for(t));
    });
    return 0;
}
