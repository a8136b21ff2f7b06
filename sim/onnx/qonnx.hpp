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
    // input: dim x dim x channels values in HWC order (the engine's input codes;
    // with a Quant on the graph input, the values its integer levels stand for
    // go in: scale * (code - zero point), code + 128 for an unsigned one);
    // returns the graph's output tensor, flattened.
    std::vector<double> run(const int8_t* input_hwc, int dim, int channels) const;
    int classify(const int8_t* input_hwc, int dim, int channels) const;  // first arg max

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace fatsim
