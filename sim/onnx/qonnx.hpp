// QONNX interop: a QnnModel as FINN's streamlined QONNX graph (Conv / MatMul
// with integer weights, MultiThreshold, MaxPool) and back; import of the form
// Brevitas exports (Quant / BipolarQuant, a scaled input quantiser,
// BatchNormalization, per-channel Mul / Div / Add / Sub, TensorNorm) folded
// into integer thresholds by the trainer's rule (threshold_fold.hpp); a small float
// evaluator of such graphs to check an import against the graph's own
// arithmetic. Only built with FATSIM_ONNX (Debian's libonnx + protobuf); the
// ONNX types stay inside qonnx.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model.hpp"

namespace fatsim {

// A graph fatsim cannot read or represent; the message names the file, the
// node (name and op) and the rule broken.
class QonnxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The model as a serialized ONNX ModelProto that onnx::checker accepts.
std::string export_qonnx(const QnnModel& model);
// export_qonnx written atomically (tmp + rename).
void save_qonnx(const QnnModel& model, const std::string& path);

struct QonnxImportOptions {
    std::string topology_name;  // empty: the one the graph carries (metadata or graph name)
};
// Reads a QONNX graph (streamlined or Brevitas form, one chain of layers) and
// converts it to integer weights and accumulator-domain thresholds; throws
// QonnxError naming the node for anything fatsim cannot represent.
QnnModel import_qonnx(const std::string& path, const QonnxImportOptions& options = {});

// Float reference evaluation of a QONNX graph, op by op as the graph says
// (Conv, MatMul, Gemm, MultiThreshold, Quant / IntQuant (rounding half to
// even, as QONNX), BipolarQuant, BatchNormalization, Mul, Div, Add, Sub,
// MaxPool, Transpose, Flatten, Reshape).
class QonnxGraph {
public:
    explicit QonnxGraph(const std::string& path);
    ~QonnxGraph();
    QonnxGraph(QonnxGraph&&) noexcept;
    // How an image reaches the graph's input. CodeValues: as the value that
    // fatsim's code pixel - 128 stands for (the input quantiser's level; a
    // graph whose input quantiser reads the image as it is). Pixels: as the
    // image itself, u / 255 as torchvision's ToTensor gives it (u where the
    // input is annotated UINT8), for a graph that preprocesses or quantises the
    // image on its own; its imported model carries Topology::pixel_codes.
    enum class Feed { CodeValues, Pixels };
    static Feed feed_for(const Topology& imported) {
        return imported.pixel_codes.empty() ? Feed::CodeValues : Feed::Pixels;
    }
    // pixels: dim x dim x channels in HWC order; returns the graph's output
    // tensor, flattened.
    std::vector<double> run(const uint8_t* pixels_hwc, int dim, int channels, Feed feed) const;
    int classify(const uint8_t* pixels_hwc, int dim, int channels, Feed feed) const;  // first arg max

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace fatsim
