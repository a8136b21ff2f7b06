#include "qonnx.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "config.hpp"
#include "files.hpp"
#include "threshold_fold.hpp"

namespace fatsim {

namespace {

constexpr const char* kQonnxDomain = "qonnx.custom_op.general";
constexpr const char* kDatatypeKey = "finn_datatype";
constexpr const char* kWidthKey = "fatsim.width";
constexpr const char* kDescriptionKey = "fatsim.description";
constexpr const char* kTopologyKey = "fatsim.topology";
constexpr const char* kInputName = "global_in";
constexpr const char* kOutputName = "global_out";

// ---------------------------------------------------------------- datatypes

// FINN datatype name of an activation code range (MultiThreshold out_dtype).
std::string act_datatype(int act_bits) {
    if (act_bits == 1) return "BIPOLAR";
    if (act_bits == 2) return "INT2";
    return "UINT" + std::to_string(act_bits);
}
std::string weight_datatype(int weight_bits) {
    return weight_bits == 1 ? "BIPOLAR" : "INT" + std::to_string(weight_bits);
}
// act_bits of a MultiThreshold out_dtype; 0 when fatsim has no such activation.
int act_bits_of(const std::string& dtype) {
    for (int b = 1; b <= 4; ++b)
        if (dtype == act_datatype(b)) return b;
    return 0;
}
// weight_bits of a FINN datatype name; 0 when it is not bipolar or signed INTb.
int weight_bits_of(const std::string& dtype) {
    for (int b = 1; b <= 8; ++b)
        if (dtype == weight_datatype(b)) return b;
    return 0;
}
// Multiplier and offset of a MultiThreshold whose count becomes the act's value.
double act_scale(int act_bits) { return act_bits == 1 ? 2.0 : 1.0; }
double act_bias(int act_bits) { return double(act_range(act_bits).value(act_range(act_bits).lo)); }

// ---------------------------------------------------------------- tensors

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<double> v;
    size_t size() const {
        size_t n = 1;
        for (int64_t d : shape) n *= size_t(d);
        return n;
    }
};

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

Tensor from_proto(const onnx::TensorProto& t, const std::string& where) {
    Tensor r;
    r.shape.assign(t.dims().begin(), t.dims().end());
    // Bound the shape before multiplying it out (a fuzzed dim can be negative
    // or overflow the element count).
    constexpr int64_t kMaxElements = int64_t(1) << 28;
    int64_t elements = 1;
    for (int64_t d : r.shape) {
        if (d < 1 || d > kMaxElements / elements)
            throw QonnxError(where + ": shape " + shape_str(r.shape) + " is empty or has over " +
                             std::to_string(kMaxElements) + " elements");
        elements *= d;
    }
    const size_t n = r.size();
    const std::string& raw = t.raw_data();
    auto take = [&](auto sample, const auto& field) {
        using T = decltype(sample);
        if (!raw.empty()) {
            if (raw.size() != n * sizeof(T))
                throw QonnxError(where + ": raw_data has " + std::to_string(raw.size()) + " bytes, shape " +
                                 shape_str(r.shape) + " needs " + std::to_string(n * sizeof(T)));
            std::vector<T> tmp(n);
            std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(tmp.data()));
            r.v.assign(tmp.begin(), tmp.end());
        } else {
            if (size_t(field.size()) != n)
                throw QonnxError(where + ": has " + std::to_string(field.size()) + " values, shape " +
                                 shape_str(r.shape) + " needs " + std::to_string(n));
            r.v.assign(field.begin(), field.end());
        }
    };
    switch (t.data_type()) {
        case onnx::TensorProto::FLOAT: take(float(), t.float_data()); break;
        case onnx::TensorProto::DOUBLE: take(double(), t.double_data()); break;
        case onnx::TensorProto::INT64: take(int64_t(), t.int64_data()); break;
        case onnx::TensorProto::INT32: take(int32_t(), t.int32_data()); break;
        default:
            throw QonnxError(where + ": tensor data type " + std::to_string(t.data_type()) +
                             " is not supported (FLOAT, DOUBLE, INT64, INT32)");
    }
    return r;
}

onnx::TensorProto float_initializer(const std::string& name, const std::vector<int64_t>& shape,
                                    const std::vector<float>& values) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t.add_dims(d);
    t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return t;
}

// ---------------------------------------------------------------- graph access

std::string node_label(const onnx::NodeProto& n, size_t index) {
    return "node " + (n.name().empty() ? "#" + std::to_string(index) : "'" + n.name() + "'") + " (" + n.op_type() +
           ")";
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
    return nullptr;
}
std::vector<int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> dflt) {
    const auto* a = find_attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : dflt;
}
int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
    const auto* a = find_attr(n, name);
    return a ? a->i() : dflt;
}
double float_attr(const onnx::NodeProto& n, const std::string& name, double dflt) {
    const auto* a = find_attr(n, name);
    return a ? double(a->f()) : dflt;
}
std::string string_attr(const onnx::NodeProto& n, const std::string& name, const std::string& dflt) {
    const auto* a = find_attr(n, name);
    return a ? a->s() : dflt;
}

onnx::ModelProto read_model_proto(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw QonnxError(path + ": cannot open ONNX file");
    onnx::ModelProto m;
    if (!m.ParseFromIstream(&f)) throw QonnxError(path + ": not an ONNX model (protobuf parse failed)");
    if (!m.has_graph()) throw QonnxError(path + ": ONNX model has no graph");
    return m;
}

// The elementwise arithmetic ops of a graph, on one pair of values.
double binary_value(const std::string& op, double a, double b) {
    return op == "Mul" ? a * b : op == "Div" ? a / b : op == "Add" ? a + b : a - b;
}

// The graph with its initializers decoded and its datatype annotations.
struct LoadedGraph {
    std::string source;
    onnx::ModelProto proto;
    std::map<std::string, Tensor> init;
    std::map<std::string, std::string> dtype;  // tensor -> finn_datatype
    std::map<std::string, std::string> meta;
    std::vector<int64_t> input_shape;
    std::string input_name, output_name;

    explicit LoadedGraph(const std::string& path) : source(path), proto(read_model_proto(path)) {
        const auto& g = proto.graph();
        for (const auto& t : g.initializer()) init[t.name()] = from_proto(t, path + ": initializer '" + t.name() + "'");
        fold_constants();
        for (const auto& a : g.quantization_annotation())
            for (const auto& kv : a.quant_parameter_tensor_names())
                if (kv.key() == kDatatypeKey) dtype[a.tensor_name()] = kv.value();
        for (const auto& kv : proto.metadata_props()) meta[kv.key()] = kv.value();
        std::vector<const onnx::ValueInfoProto*> inputs;
        for (const auto& in : g.input())
            if (!init.count(in.name())) inputs.push_back(&in);
        if (inputs.size() != 1)
            throw QonnxError(path + ": graph has " + std::to_string(inputs.size()) +
                             " data inputs, fatsim reads exactly one image input");
        if (g.output_size() != 1)
            throw QonnxError(path + ": graph has " + std::to_string(g.output_size()) + " outputs, expected one");
        input_name = inputs[0]->name();
        output_name = g.output(0).name();
        const auto& tt = inputs[0]->type().tensor_type();
        for (const auto& d : tt.shape().dim()) input_shape.push_back(d.has_dim_value() ? d.dim_value() : 1);
        if (input_shape.size() != 4 || input_shape[0] != 1 || input_shape[2] != input_shape[3])
            throw QonnxError(path + ": input '" + input_name + "' has shape " + shape_str(input_shape) +
                             ", expected NCHW [1,C,D,D]");
    }
    const Tensor* initializer(const std::string& name) const {
        auto it = init.find(name);
        return it == init.end() ? nullptr : &it->second;
    }

    // Constant subgraphs, as an export leaves them before QONNX's cleanup:
    // Constant nodes, and Identity / Neg / Mul / Div / Add / Sub of constants
    // only (equal shapes, or one of them a single value), become initializers
    // and their nodes are dropped; everything after sees plain initializers.
    void fold_constants() {
        auto* nodes = proto.mutable_graph()->mutable_node();
        google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
        for (int i = 0; i < nodes->size(); ++i) {
            const onnx::NodeProto& n = nodes->Get(i);
            Tensor t;
            if (n.output_size() == 1 && fold(n, source + ": " + node_label(n, size_t(i)), t)) {
                init[n.output(0)] = std::move(t);
                continue;
            }
            *kept.Add() = n;
        }
        nodes->Swap(&kept);
    }
    bool fold(const onnx::NodeProto& n, const std::string& where, Tensor& out) const {
        const std::string& op = n.op_type();
        if (op == "Constant") {
            for (const auto& a : n.attribute()) {
                if (a.name() == "value") return out = from_proto(a.t(), where + ": value"), true;
                if (a.name() == "value_float") return out = Tensor{{}, {double(a.f())}}, true;
                if (a.name() == "value_int") return out = Tensor{{}, {double(a.i())}}, true;
            }
            throw QonnxError(where + ": a Constant needs a value, value_float or value_int attribute");
        }
        if (n.input_size() == 0) return false;
        for (const auto& in : n.input())
            if (!init.count(in)) return false;
        const Tensor& a = init.at(n.input(0));
        if (op == "Identity" || op == "Neg") {
            out = a;
            if (op == "Neg")
                for (double& v : out.v) v = -v;
            return true;
        }
        if (!(op == "Mul" || op == "Div" || op == "Add" || op == "Sub") || n.input_size() != 2) return false;
        const Tensor& b = init.at(n.input(1));
        if (a.shape != b.shape && a.size() != 1 && b.size() != 1)
            throw QonnxError(where + ": " + op + " of constants " + shape_str(a.shape) + " and " + shape_str(b.shape) +
                             " cannot be folded (equal shapes, or one of them a single value)");
        out = a.size() >= b.size() ? a : b;
        for (size_t k = 0; k < out.v.size(); ++k) {
            out.v[k] = binary_value(op, a.v[a.size() == 1 ? 0 : k], b.v[b.size() == 1 ? 0 : k]);
        }
        return true;
    }
};

// ---------------------------------------------------------------- float ops

size_t argmax_first(const std::vector<double>& v) {
    return size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

Tensor op_conv(const Tensor& x, const Tensor& w, const Tensor* b, const std::string& where) {
    if (x.shape.size() != 4 || w.shape.size() != 4 || x.shape[1] != w.shape[1])
        throw QonnxError(where + ": Conv of " + shape_str(x.shape) + " with weights " + shape_str(w.shape) +
                         " (expected NCHW and OIHW with matching channels)");
    const int64_t C = x.shape[1], H = x.shape[2], W = x.shape[3], M = w.shape[0], KH = w.shape[2], KW = w.shape[3];
    const int64_t OH = H - KH + 1, OW = W - KW + 1;
    Tensor y;
    y.shape = {1, M, OH, OW};
    y.v.assign(y.size(), 0.0);
    for (int64_t m = 0; m < M; ++m)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                double s = b ? b->v[size_t(m)] : 0.0;
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t ky = 0; ky < KH; ++ky)
                        for (int64_t kx = 0; kx < KW; ++kx)
                            s += x.v[size_t((c * H + oy + ky) * W + ox + kx)] *
                                 w.v[size_t(((m * C + c) * KH + ky) * KW + kx)];
                y.v[size_t((m * OH + oy) * OW + ox)] = s;
            }
    return y;
}

// y[1,N] = x[1,K] * w[K,N] (w given as [N,K] when transposed)
Tensor op_matmul(const Tensor& x, const Tensor& w, bool w_transposed, const std::string& where) {
    const int64_t K = w_transposed ? w.shape[1] : w.shape[0], N = w_transposed ? w.shape[0] : w.shape[1];
    if (x.shape.size() != 2 || w.shape.size() != 2 || x.shape[1] != K)
        throw QonnxError(where + ": product of " + shape_str(x.shape) + " and " + shape_str(w.shape) +
                         " (expected [1,K] and a 2-D weight matrix)");
    Tensor y;
    y.shape = {1, N};
    y.v.assign(size_t(N), 0.0);
    for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += x.v[size_t(k)] * w.v[size_t(w_transposed ? n * K + k : k * N + n)];
        y.v[size_t(n)] = s;
    }
    return y;
}

// FINN MultiThreshold: y = out_scale * #{t : T[c][t] <= x} + out_bias.
Tensor op_multithreshold(const onnx::NodeProto& n, const Tensor& x, const Tensor& thr, const std::string& where) {
    const std::string layout = string_attr(n, "data_layout", "NCHW");
    if (thr.shape.size() != 2) throw QonnxError(where + ": thresholds must be 2-D [C,T], got " + shape_str(thr.shape));
    const int caxis = x.shape.size() == 4 && layout == "NHWC" ? 3 : 1;
    if (x.shape.size() < 2) throw QonnxError(where + ": input of rank " + std::to_string(x.shape.size()));
    const int64_t C = x.shape[size_t(caxis)], T = thr.shape[1];
    if (thr.shape[0] != C && thr.shape[0] != 1)
        throw QonnxError(where + ": thresholds " + shape_str(thr.shape) + " do not match " + std::to_string(C) +
                         " channels");
    int64_t inner = 1;
    for (size_t d = size_t(caxis) + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
    const double scale = float_attr(n, "out_scale", 1.0), bias = float_attr(n, "out_bias", 0.0);
    Tensor y = x;
    for (size_t i = 0; i < x.v.size(); ++i) {
        const int64_t c = (int64_t(i) / inner) % C;
        const double* row = thr.v.data() + size_t(thr.shape[0] == 1 ? 0 : c) * size_t(T);
        int count = 0;
        for (int64_t t = 0; t < T; ++t) count += row[t] <= x.v[i];
        y.v[i] = scale * count + bias;
    }
    return y;
}

Tensor op_maxpool(const Tensor& x, int64_t k, int64_t s) {
    const int64_t C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t OH = (H - k) / s + 1, OW = (W - k) / s + 1;
    Tensor y;
    y.shape = {1, C, OH, OW};
    y.v.assign(y.size(), 0.0);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t oy = 0; oy < OH; ++oy)
            for (int64_t ox = 0; ox < OW; ++ox) {
                double m = -std::numeric_limits<double>::infinity();
                for (int64_t py = 0; py < k; ++py)
                    for (int64_t px = 0; px < k; ++px)
                        m = std::max(m, x.v[size_t((c * H + oy * s + py) * W + ox * s + px)]);
                y.v[size_t((c * OH + oy) * OW + ox)] = m;
            }
    return y;
}

Tensor op_transpose(const Tensor& x, const std::vector<int64_t>& perm, const std::string& where) {
    if (perm.size() != x.shape.size())
        throw QonnxError(where + ": perm of " + std::to_string(perm.size()) + " axes for a tensor of rank " +
                         std::to_string(x.shape.size()));
    const size_t r = x.shape.size();
    Tensor y;
    for (int64_t p : perm) y.shape.push_back(x.shape[size_t(p)]);
    y.v.resize(x.v.size());
    std::vector<int64_t> in_stride(r, 1);
    for (size_t d = r - 1; d > 0; --d) in_stride[d - 1] = in_stride[d] * x.shape[d];
    std::vector<int64_t> idx(r, 0);
    for (size_t i = 0; i < y.v.size(); ++i) {
        int64_t src = 0;
        for (size_t d = 0; d < r; ++d) src += idx[d] * in_stride[size_t(perm[d])];
        y.v[i] = x.v[size_t(src)];
        for (size_t d = r; d-- > 0;) {
            if (++idx[d] < y.shape[d]) break;
            idx[d] = 0;
        }
    }
    return y;
}

std::vector<int64_t> reshape_target(const Tensor& x, const Tensor& shape, const std::string& where) {
    std::vector<int64_t> s;
    int64_t known = 1, minus = -1;
    for (size_t i = 0; i < shape.v.size(); ++i) {
        if (!(shape.v[i] >= -1 && shape.v[i] <= double(int64_t(1) << 28)) || shape.v[i] != std::floor(shape.v[i]))
            throw QonnxError(where + ": target shape value " + std::to_string(shape.v[i]) +
                             " is not -1, 0 or a dimension");
        int64_t d = int64_t(shape.v[i]);
        if (d == 0) d = x.shape.at(i);
        if (d == -1) minus = int64_t(i);
        else known *= d;
        if (known > (int64_t(1) << 28))  // also keeps the product from overflowing
            throw QonnxError(where + ": target shape has over 2^28 elements");
        s.push_back(d);
    }
    if (minus >= 0) s[size_t(minus)] = int64_t(x.size()) / known;
    Tensor probe;
    probe.shape = s;
    if (probe.size() != x.size())
        throw QonnxError(where + ": cannot reshape " + shape_str(x.shape) + " to " + shape_str(s));
    return s;
}

// Throws unless `p` broadcasts to `shape` (numpy rules: trailing axes
// aligned, each of p's either 1 or the same).
void check_broadcast(const Tensor& p, const std::vector<int64_t>& shape, const std::string& where, const char* what) {
    bool ok = p.shape.size() <= shape.size();
    for (size_t d = 0; ok && d < p.shape.size(); ++d) {
        const int64_t pd = p.shape[p.shape.size() - 1 - d];
        ok = pd == 1 || pd == shape[shape.size() - 1 - d];
    }
    if (!ok)
        throw QonnxError(where + ": " + what + " of shape " + shape_str(p.shape) + " does not broadcast to " +
                         shape_str(shape));
}

// Element of `p` for element i of a tensor of `shape` (numpy broadcasting;
// check_broadcast first).
double broadcast_at(const Tensor& p, const std::vector<int64_t>& shape, size_t i) {
    size_t src = 0, stride = 1;
    for (size_t d = shape.size(), pd = p.shape.size(); d-- > 0;) {
        const int64_t idx = int64_t(i % size_t(shape[d]));
        i /= size_t(shape[d]);
        if (pd > 0) {
            --pd;
            if (p.shape[pd] != 1) src += size_t(idx) * stride;
            stride *= size_t(p.shape[pd]);
        }
    }
    return p.v[src];
}

bool is_quant_op(const std::string& op) { return op == "Quant" || op == "IntQuant"; }

// QONNX Quant: q = clip(round(x / scale + zp), qmin, qmax); y = (q - zp) * scale.
// Rounds half to even like QONNX's reference ("ROUND").
Tensor op_quant(const onnx::NodeProto& n, const Tensor& x, const Tensor& scale, const Tensor& zp, const Tensor& bits,
                const std::string& where) {
    if (string_attr(n, "rounding_mode", "ROUND") != "ROUND")
        throw QonnxError(where + ": rounding_mode " + string_attr(n, "rounding_mode", "") + " is not supported (ROUND)");
    const bool is_signed = int_attr(n, "signed", 1) != 0, narrow = int_attr(n, "narrow", 0) != 0;
    const double b = bits.v.at(0);
    const double qmax = is_signed ? std::pow(2.0, b - 1) - 1 : std::pow(2.0, b) - 1 - (narrow ? 1 : 0);
    const double qmin = is_signed ? -std::pow(2.0, b - 1) + (narrow ? 1 : 0) : 0.0;
    check_broadcast(scale, x.shape, where, "scale");
    check_broadcast(zp, x.shape, where, "zero point");
    Tensor y = x;
    for (size_t i = 0; i < x.v.size(); ++i) {
        const double s = broadcast_at(scale, x.shape, i), z = broadcast_at(zp, x.shape, i);
        const double q = std::clamp(std::nearbyint(x.v[i] / s + z), qmin, qmax);
        y.v[i] = (q - z) * s;
    }
    return y;
}

// QONNX BipolarQuant: y = (x >= 0 ? 1 : -1) * scale.
Tensor op_bipolar_quant(const Tensor& x, const Tensor& scale, const std::string& where) {
    check_broadcast(scale, x.shape, where, "scale");
    Tensor y = x;
    for (size_t i = 0; i < x.v.size(); ++i) y.v[i] = (x.v[i] >= 0 ? 1.0 : -1.0) * broadcast_at(scale, x.shape, i);
    return y;
}

// Elementwise Mul / Div / Add / Sub with numpy broadcasting of both operands.
Tensor op_binary(const std::string& op, const Tensor& x, const Tensor& y, const std::string& where) {
    Tensor r;
    const size_t rank = std::max(x.shape.size(), y.shape.size());
    for (size_t d = 0; d < rank; ++d) {
        const int64_t xd = d + x.shape.size() >= rank ? x.shape[d + x.shape.size() - rank] : 1;
        const int64_t yd = d + y.shape.size() >= rank ? y.shape[d + y.shape.size() - rank] : 1;
        if (xd != yd && xd != 1 && yd != 1)
            throw QonnxError(where + ": shapes " + shape_str(x.shape) + " and " + shape_str(y.shape) +
                             " do not broadcast");
        r.shape.push_back(std::max(xd, yd));
    }
    int64_t elements = 1;
    for (int64_t d : r.shape)
        if ((elements *= d) > (int64_t(1) << 28)) throw QonnxError(where + ": result has over 2^28 elements");
    r.v.resize(r.size());
    for (size_t i = 0; i < r.v.size(); ++i) {
        r.v[i] = binary_value(op, broadcast_at(x, r.shape, i), broadcast_at(y, r.shape, i));
    }
    return r;
}

// Inference BatchNormalization over channel axis 1.
Tensor op_batchnorm(const onnx::NodeProto& n, const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& mean,
                    const Tensor& var) {
    const double eps = float_attr(n, "epsilon", 1e-5);
    int64_t inner = 1;
    for (size_t d = 2; d < x.shape.size(); ++d) inner *= x.shape[d];
    const int64_t C = x.shape[1];
    Tensor y = x;
    for (size_t i = 0; i < x.v.size(); ++i) {
        const size_t c = size_t((int64_t(i) / inner) % C);
        y.v[i] = g.v[c] * (x.v[i] - mean.v[c]) / std::sqrt(var.v[c] + eps) + b.v[c];
    }
    return y;
}

}  // namespace

// ============================================================== evaluator

namespace {

const Tensor& input_of(const LoadedGraph& g, const std::map<std::string, Tensor>& vals, const onnx::NodeProto& n,
                       int i, const std::string& where) {
    if (n.input_size() <= i) throw QonnxError(where + ": missing input " + std::to_string(i));
    if (const Tensor* t = g.initializer(n.input(i))) return *t;
    auto it = vals.find(n.input(i));
    if (it == vals.end())
        throw QonnxError(where + ": input '" + n.input(i) + "' is not computed before it (graph not in order)");
    return it->second;
}

// The graph's own arithmetic, node by node in order, from `input` until the
// tensor `until` is computed.
Tensor evaluate(const LoadedGraph& g, const Tensor& input, const std::string& until) {
    std::map<std::string, Tensor> vals;
    vals[g.input_name] = input;
    const auto& nodes = g.proto.graph().node();
    for (int i = 0; i < nodes.size() && !vals.count(until); ++i) {
        const auto& n = nodes[i];
        const std::string where = g.source + ": " + node_label(n, size_t(i));
        const std::string& op = n.op_type();
        auto in = [&](int k) -> const Tensor& { return input_of(g, vals, n, k, where); };
        Tensor y;
        if (op == "Conv") {
            y = op_conv(in(0), in(1), n.input_size() > 2 ? &in(2) : nullptr, where);
        } else if (op == "MatMul") {
            y = op_matmul(in(0), in(1), false, where);
        } else if (op == "Gemm") {
            if (int_attr(n, "transA", 0))
                throw QonnxError(where + ": transA=1 is not supported");
            y = op_matmul(in(0), in(1), int_attr(n, "transB", 0) != 0, where);
            const double alpha = float_attr(n, "alpha", 1.0), beta = float_attr(n, "beta", 1.0);
            for (size_t k = 0; k < y.v.size(); ++k)
                y.v[k] = alpha * y.v[k] + (n.input_size() > 2 ? beta * in(2).v[in(2).v.size() == 1 ? 0 : k] : 0.0);
        } else if (op == "MultiThreshold") {
            y = op_multithreshold(n, in(0), in(1), where);
        } else if (is_quant_op(op)) {
            y = op_quant(n, in(0), in(1), in(2), in(3), where);
        } else if (op == "BipolarQuant") {
            y = op_bipolar_quant(in(0), in(1), where);
        } else if (op == "Mul" || op == "Div" || op == "Add" || op == "Sub") {
            y = op_binary(op, in(0), in(1), where);
        } else if (op == "BatchNormalization") {
            y = op_batchnorm(n, in(0), in(1), in(2), in(3), in(4));
        } else if (op == "MaxPool") {
            const auto k = ints_attr(n, "kernel_shape", {});
            const auto s = ints_attr(n, "strides", k);
            if (k.size() != 2 || k[0] != k[1] || s.size() != 2 || s[0] != s[1])
                throw QonnxError(where + ": only square kernels and strides are supported");
            y = op_maxpool(in(0), k[0], s[0]);
        } else if (op == "Transpose") {
            y = op_transpose(in(0), ints_attr(n, "perm", {}), where);
        } else if (op == "Flatten") {
            const Tensor& x = in(0);
            int64_t axis = int_attr(n, "axis", 1), outer = 1;
            if (axis < 0) axis += int64_t(x.shape.size());
            for (int64_t d = 0; d < axis; ++d) outer *= x.shape[size_t(d)];
            y = x;
            y.shape = {outer, int64_t(x.size()) / outer};
        } else if (op == "Reshape") {
            y = in(0);
            y.shape = reshape_target(in(0), in(1), where);
        } else {
            throw QonnxError(where + ": op " + op + " is not supported by the evaluator");
        }
        vals[n.output(0)] = std::move(y);
    }
    auto it = vals.find(until);
    if (it == vals.end()) throw QonnxError(g.source + ": '" + until + "' is never computed");
    return it->second;
}

// What the graph's input holds for pixel value u, where the graph reads the
// image itself: u for an input annotated UINT8 (FINN, after its ToTensor is
// folded away), else u / 255 as torchvision's ToTensor gives it.
double pixel_value(const LoadedGraph& g, int u) {
    auto it = g.dtype.find(g.input_name);
    return it != g.dtype.end() && it->second == "UINT8" ? double(u) : u / 255.0;
}

}  // namespace

struct QonnxGraph::Impl {
    LoadedGraph g;
    explicit Impl(const std::string& path) : g(path) {}
};

QonnxGraph::QonnxGraph(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
QonnxGraph::~QonnxGraph() = default;
QonnxGraph::QonnxGraph(QonnxGraph&&) noexcept = default;

std::vector<double> QonnxGraph::run(const uint8_t* pixels_hwc, int dim, int channels, Feed feed) const {
    const auto& g = impl_->g;
    const auto& s = g.input_shape;
    if (s[1] != channels || s[2] != dim)
        throw QonnxError(g.source + ": input is " + shape_str(s) + ", the image is " + std::to_string(dim) + "x" +
                         std::to_string(dim) + "x" + std::to_string(channels));
    // CodeValues: fatsim's code pixel - 128 is the input quantiser's integer
    // level q (q - 128 for an unsigned one); the graph gets the value
    // scale * (q - zero point) it stands for, which the quantiser maps back to
    // q. Without a quantiser the codes go in as they are.
    double scale = 1.0, zero = 0.0, offset = 0.0;
    if (feed == Feed::CodeValues)
        for (const auto& n : g.proto.graph().node()) {
            if (n.input_size() < 4 || n.input(0) != g.input_name || !is_quant_op(n.op_type())) continue;
            const Tensor *sc = g.initializer(n.input(1)), *zp = g.initializer(n.input(2));
            if (sc && zp && sc->v.size() == 1 && zp->v.size() == 1) {
                scale = sc->v[0];
                zero = zp->v[0];
                offset = int_attr(n, "signed", 1) ? 0.0 : 128.0;
            }
            break;
        }
    Tensor x;
    x.shape = s;
    x.v.resize(x.size());
    for (int y = 0; y < dim; ++y)
        for (int xx = 0; xx < dim; ++xx)
            for (int c = 0; c < channels; ++c) {
                const int u = pixels_hwc[(size_t(y) * dim + xx) * channels + c];
                x.v[(size_t(c) * dim + y) * dim + xx] =
                    feed == Feed::Pixels ? pixel_value(g, u) : scale * (u - 128 + offset - zero);
            }
    return evaluate(g, x, g.output_name).v;
}

int QonnxGraph::classify(const uint8_t* pixels_hwc, int dim, int channels, Feed feed) const {
    return int(argmax_first(run(pixels_hwc, dim, channels, feed)));
}

// ============================================================== export

std::string export_qonnx(const QnnModel& model) {
    model.validate("export-qonnx");
    const Topology& topo = model.topology;
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("fatsim");
    m.set_model_version(QnnModel::kFormatVersion);
    auto* std_opset = m.add_opset_import();
    std_opset->set_domain("");
    std_opset->set_version(13);
    auto* q_opset = m.add_opset_import();
    q_opset->set_domain(kQonnxDomain);
    q_opset->set_version(1);
    auto meta = [&](const std::string& k, const std::string& v) {
        auto* p = m.add_metadata_props();
        p->set_key(k);
        p->set_value(v);
    };
    std::ostringstream width;
    width.precision(17);
    width << topo.width;
    meta(kTopologyKey, topo.name);
    meta(kWidthKey, width.str());
    meta(kDescriptionKey, model.description);

    onnx::GraphProto& g = *m.mutable_graph();
    g.set_name(topo.name);
    auto annotate = [&](const std::string& tensor, const std::string& dtype) {
        auto* a = g.add_quantization_annotation();
        a->set_tensor_name(tensor);
        auto* kv = a->add_quant_parameter_tensor_names();
        kv->set_key(kDatatypeKey);
        kv->set_value(dtype);
    };
    auto value_info = [](onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& shape) {
        vi->set_name(name);
        auto* tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        for (int64_t d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    };
    value_info(g.add_input(), kInputName, {1, topo.in_channels, topo.in_dim, topo.in_dim});
    annotate(kInputName, topo.pixel_codes.empty() ? "INT" + std::to_string(topo.in_bits) : "UINT8");

    std::string cur = kInputName;
    bool flat = false;
    auto add_node = [&](const std::string& op, const std::string& name, std::vector<std::string> inputs,
                        const std::string& out) -> onnx::NodeProto& {
        auto* n = g.add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& in : inputs) n->add_input(in);
        n->add_output(out);
        return *n;
    };
    auto ints = [](onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : v) a->add_ints(x);
    };
    auto attr_f = [](onnx::NodeProto& n, const std::string& name, float v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(v);
    };
    auto attr_s = [](onnx::NodeProto& n, const std::string& name, const std::string& v) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRING);
        a->set_s(v);
    };
    if (!topo.pixel_codes.empty()) {
        // The pixel -> code table as FINN's input MultiThreshold on the UINT8
        // pixels: code = lo + #{levels l in lo+1..hi : T[l] <= pixel}, where
        // T[l] is the first pixel whose code reaches l (256: none does).
        const int b = std::min(topo.in_bits, 8), lo = -(1 << (b - 1)), T = (1 << b) - 1;
        const int C = topo.in_channels;
        std::vector<float> thr(size_t(C) * T);
        for (int c = 0; c < C; ++c) {
            const int* row = topo.pixel_codes.data() + size_t(c) * 256;
            for (int u = 1; u < 256; ++u)
                if (row[u] < row[u - 1])
                    throw QonnxError("export-qonnx: input.pixel_codes of channel " + std::to_string(c) +
                                     " fall from pixel " + std::to_string(u - 1) + " to " + std::to_string(u) +
                                     ": only a non-decreasing table is a MultiThreshold on the pixels");
            for (int l = lo + 1; l < lo + 1 + T; ++l) {
                int first = 0;
                while (first < 256 && row[first] < l) ++first;
                thr[size_t(c) * T + size_t(l - lo - 1)] = float(first);
            }
        }
        *g.add_initializer() = float_initializer("input_codes_T", {C, T}, thr);
        auto& mt = add_node("MultiThreshold", "input_codes", {cur, "input_codes_T"}, "input_codes");
        mt.set_domain(kQonnxDomain);
        attr_s(mt, "out_dtype", "INT" + std::to_string(b));
        attr_f(mt, "out_scale", 1.0f);
        attr_f(mt, "out_bias", float(lo));
        attr_s(mt, "data_layout", "NCHW");
        annotate("input_codes", "INT" + std::to_string(b));
        cur = "input_codes";
    }
    for (size_t l = 0; l < topo.layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        const LayerParams& p = model.layers[l];
        const int MH = s.mh(), MW = s.mw(), K = s.kernel, C = s.in_channels;
        const bool last = l + 1 == topo.layers.size();
        const std::string acc = last ? std::string(kOutputName) : s.name + "_acc";
        const std::string wname = s.name + "_W";
        if (s.kind == LayerKind::Conv) {
            // FINN matrix column (ky*K + kx)*C + c  ->  OIHW [MH][C][K][K]
            std::vector<float> w(size_t(MH) * MW);
            for (int o = 0; o < MH; ++o)
                for (int ky = 0; ky < K; ++ky)
                    for (int kx = 0; kx < K; ++kx)
                        for (int c = 0; c < C; ++c)
                            w[((size_t(o) * C + c) * K + ky) * K + kx] = p.weights[size_t(o) * MW + (ky * K + kx) * C + c];
            *g.add_initializer() = float_initializer(wname, {MH, C, K, K}, w);
            auto& n = add_node("Conv", s.name, {cur, wname}, acc);
            ints(n, "kernel_shape", {K, K});
            ints(n, "pads", {0, 0, 0, 0});
            ints(n, "strides", {1, 1});
        } else {
            if (!flat) {
                // The FC reads the feature map flattened in HWC order, FINN's stream order.
                add_node("Transpose", s.name + "_to_nhwc", {cur}, s.name + "_nhwc");
                ints(*g.mutable_node(g.node_size() - 1), "perm", {0, 2, 3, 1});
                auto& f = add_node("Flatten", s.name + "_flatten", {s.name + "_nhwc"}, s.name + "_flat");
                auto* a = f.add_attribute();
                a->set_name("axis");
                a->set_type(onnx::AttributeProto::INT);
                a->set_i(1);
                cur = s.name + "_flat";
                flat = true;
            }
            std::vector<float> w(size_t(MW) * MH);  // [MW][MH]: MatMul computes x * W
            for (int o = 0; o < MH; ++o)
                for (int k = 0; k < MW; ++k) w[size_t(k) * MH + o] = p.weights[size_t(o) * MW + k];
            *g.add_initializer() = float_initializer(wname, {MW, MH}, w);
            add_node("MatMul", s.name, {cur, wname}, acc);
        }
        annotate(wname, weight_datatype(s.weight_bits));
        cur = acc;
        if (last) break;

        // Thresholds in the dot-product domain: an XNOR layer counts matches
        // p = (dot + MW) / 2, so p >= t  <=>  dot >= 2t - MW.
        const int T = act_range(s.act_bits).thresholds();
        std::vector<float> thr(size_t(MH) * T);
        for (size_t i = 0; i < thr.size(); ++i)
            thr[i] = float(s.binary_xnor() ? 2.0 * p.thresholds[i] - MW : double(p.thresholds[i]));
        const std::string tname = s.name + "_T", act = s.name + "_act";
        *g.add_initializer() = float_initializer(tname, {MH, T}, thr);
        auto& mt = add_node("MultiThreshold", s.name + "_threshold", {cur, tname}, act);
        mt.set_domain(kQonnxDomain);
        attr_s(mt, "out_dtype", act_datatype(s.act_bits));
        attr_f(mt, "out_scale", float(act_scale(s.act_bits)));
        attr_f(mt, "out_bias", float(act_bias(s.act_bits)));
        attr_s(mt, "data_layout", "NCHW");  // FINN: the channel axis is 1 for 2-D inputs too
        annotate(act, act_datatype(s.act_bits));
        cur = act;
        if (s.pool > 1) {
            const std::string pooled = s.name + "_pool";
            auto& mp = add_node("MaxPool", s.name + "_maxpool", {cur}, pooled);
            ints(mp, "kernel_shape", {s.pool, s.pool});
            ints(mp, "strides", {s.pool, s.pool});
            annotate(pooled, act_datatype(s.act_bits));
            cur = pooled;
        }
    }
    const LayerSpec& out = topo.layers.back();
    if (out.kind == LayerKind::Fc)
        value_info(g.add_output(), kOutputName, {1, out.mh()});
    else
        value_info(g.add_output(), kOutputName, {1, out.mh(), out.out_dim, out.out_dim});
    try {
        onnx::checker::check_model(m);
    } catch (const std::exception& e) {
        throw QonnxError("export-qonnx: the ONNX checker rejects the graph: " + std::string(e.what()));
    }
    std::string bytes;
    if (!m.SerializeToString(&bytes)) throw QonnxError("export-qonnx: protobuf serialization failed");
    return bytes;
}

void save_qonnx(const QnnModel& model, const std::string& path) { write_file_atomic(path, export_qonnx(model)); }

// ============================================================== import

namespace {

// One compute layer being assembled from the graph.
struct PendingLayer {
    LayerSpec spec;
    LayerParams params;
    std::vector<double> dot_thresholds;  // [MH][T], dot-product domain (MultiThreshold)
    bool has_act = false;
    std::string where;                   // the compute node, for messages
    // Brevitas form: y = a[o] * dot + b[o] (weight and input scales, BN),
    // then a quantiser reaching its k-th level when y >= steps[k].
    std::vector<double> a, b;
    bool has_bn = false;
    std::vector<double> steps;
    std::string pool_where;    // a MaxPool before the activation quantiser
    std::string affine_where;  // the last Mul / Div / Add / Sub / BatchNormalization folded into a, b
    std::string scale_where;   // the last of them that changed a (not Add / Sub)
    bool affine_is_identity() const {
        for (size_t o = 0; o < a.size(); ++o)
            if (a[o] != 1.0 || b[o] != 0.0) return false;
        return true;
    }
};

// A weight quantiser (Quant / IntQuant / BipolarQuant on an initializer):
// integer weights and one scale per output channel.
struct QuantizedWeights {
    Tensor ints;                 // same shape as the float weights
    Tensor scale;                // the quantiser's scale input (broadcast over the weights)
    int bits = 0;
    std::string where;
};

QuantizedWeights quantize_weights(const onnx::NodeProto& n, const LoadedGraph& g, const std::string& where) {
    auto init = [&](int k, const char* what) -> const Tensor& {
        const Tensor* t = n.input_size() > k ? g.initializer(n.input(k)) : nullptr;
        if (!t) throw QonnxError(where + ": " + what + " must be a constant initializer");
        return *t;
    };
    QuantizedWeights q;
    q.where = where;
    const Tensor& w = init(0, "weights");
    q.scale = init(1, "scale");
    check_broadcast(q.scale, w.shape, where, "weight scale");
    for (double v : q.scale.v)
        if (!(v > 0) || !std::isfinite(v))
            throw QonnxError(where + ": weight scale " + std::to_string(v) + " must be positive and finite");
    for (double v : w.v)
        if (!std::isfinite(v)) throw QonnxError(where + ": weight " + std::to_string(v) + " is not a finite number");
    q.ints = w;
    if (n.op_type() == "BipolarQuant") {
        q.bits = 1;
        for (double& v : q.ints.v) v = v >= 0 ? 1.0 : -1.0;
        return q;
    }
    const Tensor& zp = init(2, "zero point");
    const Tensor& bits = init(3, "bit width");
    for (double z : zp.v)
        if (z != 0) throw QonnxError(where + ": weight zero point " + std::to_string(z) + " is not supported (0 only)");
    if (bits.v.size() != 1 || bits.v[0] != std::round(bits.v[0]) || bits.v[0] < 2 || bits.v[0] > 8)
        throw QonnxError(where + ": weight bit width must be one integer in 2..8");
    if (!int_attr(n, "signed", 1) || !int_attr(n, "narrow", 0))
        throw QonnxError(where + ": weights must be signed and narrow (fatsim weights are symmetric, no -2^(b-1))");
    q.bits = int(bits.v[0]);
    const Tensor unit = op_quant(n, w, q.scale, zp, bits, where);
    for (size_t i = 0; i < q.ints.v.size(); ++i) q.ints.v[i] = std::round(unit.v[i] / broadcast_at(q.scale, w.shape, i));
    return q;
}

// Integer weight bits of a layer: the annotation when present, else the
// smallest range that holds the values.
int infer_weight_bits(const std::vector<double>& w, const std::string& annotation, const std::string& where) {
    double amax = 0;
    bool zero = false;
    for (double v : w) {
        if (v != std::round(v))
            throw QonnxError(where + ": weight " + std::to_string(v) +
                             " is not an integer (fatsim needs integer weights; scaled weights are not supported)");
        amax = std::max(amax, std::fabs(v));
        zero = zero || v == 0;
    }
    if (!annotation.empty()) {
        const int b = weight_bits_of(annotation);
        if (!b)
            throw QonnxError(where + ": weight datatype " + annotation + " is not supported (BIPOLAR or INT2..INT8)");
        if (amax > weight_max(b) || (b == 1 && zero))
            throw QonnxError(where + ": weights do not fit their datatype " + annotation);
        return b;
    }
    if (amax <= 1 && !zero) return 1;
    for (int b = 2; b <= 8; ++b)
        if (amax <= weight_max(b)) return b;
    throw QonnxError(where + ": weight magnitude " + std::to_string(amax) + " exceeds 8-bit narrow signed (127)");
}

// The input code of every pixel value 0..255 of every channel, by the graph's
// own arithmetic from its input to the input quantiser's output y: the
// level q = y / scale + zero point, less `shift` (128 for an unsigned
// quantiser). Each must be a signed 8-bit code.
std::vector<int> pixel_code_table(const LoadedGraph& g, int64_t channels, const onnx::NodeProto& quantiser,
                                  double scale, double zero, int shift, const std::string& where) {
    Tensor ramp;
    ramp.shape = {1, channels, 1, 256};
    ramp.v.resize(ramp.size());
    for (size_t k = 0; k < ramp.v.size(); ++k) ramp.v[k] = pixel_value(g, int(k % 256));
    const Tensor y = evaluate(g, ramp, quantiser.output(0));
    if (y.shape != ramp.shape)
        throw QonnxError(where + ": the preprocessing before it changes the shape to " + shape_str(y.shape) +
                         " (only per-tensor or per-channel constants are supported)");
    std::vector<int> codes(y.v.size());
    for (size_t k = 0; k < y.v.size(); ++k) {
        const double q = std::nearbyint(y.v[k] / scale + zero) - shift;
        if (!(q >= -128 && q <= 127))
            throw QonnxError(where + ": pixel " + std::to_string(k % 256) + " of channel " + std::to_string(k / 256) +
                             " gives the code " + std::to_string(q) + ", not a signed 8-bit code");
        codes[k] = int(q);
    }
    return codes;
}

}  // namespace

QnnModel import_qonnx(const std::string& path, const QonnxImportOptions& options) {
    const LoadedGraph g(path);
    QnnModel model;
    Topology& topo = model.topology;
    topo.in_channels = int(g.input_shape[1]);
    topo.in_dim = int(g.input_shape[2]);
    topo.in_bits = 8;
    bool pixel_input = false;  // annotated UINT8: the image's pixels
    if (auto it = g.dtype.find(g.input_name); it != g.dtype.end()) {
        if (it->second == "UINT8")
            pixel_input = true;
        else if (it->second.rfind("INT", 0) != 0 || weight_bits_of(it->second) < 2)
            throw QonnxError(path + ": input datatype " + it->second +
                             " is not supported (signed INTb, b <= 8, or UINT8: the pixels)");
        else
            topo.in_bits = weight_bits_of(it->second);
    }
    auto meta = [&](const char* key) -> std::string {
        auto it = g.meta.find(key);
        return it == g.meta.end() ? "" : it->second;
    };
    topo.name = !options.topology_name.empty() ? options.topology_name
                : !meta(kTopologyKey).empty()  ? meta(kTopologyKey)
                : !g.proto.graph().name().empty() ? g.proto.graph().name()
                                                  : "qonnx";
    topo.width = 1.0;
    if (!meta(kWidthKey).empty()) {
        char* end = nullptr;
        const std::string w = meta(kWidthKey);
        topo.width = std::strtod(w.c_str(), &end);
        if (end == w.c_str() || *end != '\0' || !(topo.width > 0))
            throw QonnxError(path + ": metadata " + kWidthKey + "='" + w + "' is not a positive number");
    }
    model.description = g.meta.count(kDescriptionKey) ? meta(kDescriptionKey) : "imported from QONNX " + path;

    // The data flows along one chain from the input; track its layout.
    enum class Layout { Nchw, Nhwc, FlatHwc, FlatChw };
    Layout layout = Layout::Nchw;
    int64_t C = topo.in_channels, D = topo.in_dim;  // current feature map
    std::string cur = g.input_name;
    std::vector<PendingLayer> layers;
    PendingLayer* open = nullptr;  // the layer whose activation / pool may still follow
    std::set<std::string> names;

    double cur_scale = 1.0;   // real value of the current tensor = cur_scale * (its integer value - cur_zero)
    double cur_zero = 0.0;    // non-zero only on the input (a scaled input quantiser's zero point)
    bool input_quant = false;  // the input quantiser was read
    std::string pre_where;     // the first node preprocessing the image before the input quantiser
    const auto& nodes = g.proto.graph().node();
    std::map<std::string, QuantizedWeights> weight_quant;  // output name -> weights
    for (int i = 0; i < nodes.size(); ++i) {
        const auto& n = nodes[i];
        if ((is_quant_op(n.op_type()) || n.op_type() == "BipolarQuant") && n.input_size() > 0 &&
            g.initializer(n.input(0)) && n.output_size() == 1)
            weight_quant.emplace(n.output(0), quantize_weights(n, g, path + ": " + node_label(n, size_t(i))));
    }
    for (int i = 0; i < nodes.size(); ++i) {
        const auto& n = nodes[i];
        const std::string where = path + ": " + node_label(n, size_t(i));
        const std::string& op = n.op_type();
        if (n.output_size() == 1 && weight_quant.count(n.output(0))) continue;  // read by its Conv / MatMul
        const bool affine_op = op == "Mul" || op == "Div" || op == "Add" || op == "Sub";
        if ((op == "Sub" || op == "Div") && n.input_size() == 2 && n.input(1) == cur && n.input(0) != cur)
            throw QonnxError(where + ": " + op + " of a constant by the data is not supported (data " +
                             (op == "Sub" ? "-" : "/") + " constant only)");
        // Mul and Add commute: the chain may come in as either operand.
        const bool swapped = (op == "Mul" || op == "Add") && n.input_size() == 2 && n.input(1) == cur &&
                             n.input(0) != cur;
        if (n.input_size() < 1 || (n.input(0) != cur && !swapped))
            throw QonnxError(where + ": does not read the previous node's output '" + cur +
                             "' (fatsim reads one chain of layers, no branches)");
        if (n.output_size() != 1) throw QonnxError(where + ": has " + std::to_string(n.output_size()) + " outputs");
        auto param = [&](int k, const char* what) -> const Tensor& {
            if (n.input_size() <= k) throw QonnxError(where + ": missing " + what);
            const Tensor* t = g.initializer(n.input(k));
            if (!t) throw QonnxError(where + ": " + what + " '" + n.input(k) + "' is not a constant initializer");
            return *t;
        };
        auto begin_layer = [&](LayerKind kind) -> PendingLayer& {
            if (open && !open->has_act)
                throw QonnxError(where + ": follows " + open->where +
                                 " without a MultiThreshold between them (only the last layer outputs raw values)");
            layers.emplace_back();
            PendingLayer& L = layers.back();
            L.where = where;
            L.spec.kind = kind;
            L.spec.scale_with_width = false;
            L.spec.act_bits = 0;  // until a MultiThreshold gives it one
            L.spec.name = n.name();
            if (L.spec.name.empty() || names.count(L.spec.name))
                L.spec.name = (kind == LayerKind::Conv ? "conv" : "fc") +
                              std::to_string(std::count_if(layers.begin(), layers.end() - 1, [&](const PendingLayer& o) {
                                  return o.spec.kind == kind;
                              }));  // conv0.., fc0.. like the CNV topologies
            names.insert(L.spec.name);
            open = &L;
            return L;
        };
        // The layer's weights: an integer initializer (streamlined form) or a
        // weight quantiser's output (Brevitas form, with per-channel scales).
        const QuantizedWeights* wq = n.input_size() > 1 && weight_quant.count(n.input(1)) ? &weight_quant.at(n.input(1))
                                                                                           : nullptr;
        auto weights = [&]() -> const Tensor& { return wq ? wq->ints : param(1, "weights"); };
        auto weight_bits = [&](const Tensor& w) {
            return wq ? wq->bits
                      : infer_weight_bits(w.v, g.dtype.count(n.input(1)) ? g.dtype.at(n.input(1)) : "", where);
        };
        // a[o] = input scale * weight scale of output channel o (constant over the channel).
        auto set_scales = [&](PendingLayer& L, const Tensor& w, int out_axis) {
            const int64_t M = w.shape[size_t(out_axis)];
            L.a.assign(size_t(M), 0.0);
            L.b.assign(size_t(M), 0.0);
            std::vector<bool> seen(size_t(M), false);
            for (size_t e = 0; e < w.v.size(); ++e) {
                size_t rest = e;
                for (size_t d = w.shape.size(); d-- > size_t(out_axis) + 1;) rest /= size_t(w.shape[d]);
                const size_t o = rest % size_t(M);
                const double s = cur_scale * (wq ? broadcast_at(wq->scale, w.shape, e) : 1.0);
                if (seen[o] && L.a[o] != s)
                    throw QonnxError(where + ": weight scale varies within output channel " + std::to_string(o) +
                                     " (only per-tensor or per-output-channel scales are supported)");
                L.a[o] = s;
                seen[o] = true;
            }
        };
        // A zero point on the input: its value is cur_scale * (code - cur_zero),
        // so the first layer's dot over the codes moves by -cur_zero x the row
        // sum of its integer weights (exact: no padding, every window is full).
        auto shift_by_input_zero = [&](PendingLayer& L) {
            if (cur_zero == 0.0) return;
            const size_t mw = L.params.weights.size() / L.a.size();
            for (size_t o = 0; o < L.a.size(); ++o) {
                double sum = 0;
                for (size_t k = 0; k < mw; ++k) sum += L.params.weights[o * mw + k];
                L.b[o] -= L.a[o] * cur_zero * sum;
            }
            cur_zero = 0.0;
        };
        if (op == "Conv") {
            if (layout != Layout::Nchw) throw QonnxError(where + ": Conv after the feature map was flattened");
            if (n.input_size() > 2) throw QonnxError(where + ": Conv with a bias is not supported (no integer bias)");
            if (int_attr(n, "group", 1) != 1) throw QonnxError(where + ": grouped Conv is not supported");
            for (int64_t v : ints_attr(n, "strides", {1, 1}))
                if (v != 1) throw QonnxError(where + ": stride other than 1 is not supported");
            for (int64_t v : ints_attr(n, "pads", {0, 0, 0, 0}))
                if (v != 0) throw QonnxError(where + ": padding is not supported (fatsim convs are 'valid')");
            for (int64_t v : ints_attr(n, "dilations", {1, 1}))
                if (v != 1) throw QonnxError(where + ": dilation is not supported");
            if (string_attr(n, "auto_pad", "NOTSET") != "NOTSET" && string_attr(n, "auto_pad", "") != "VALID")
                throw QonnxError(where + ": auto_pad " + string_attr(n, "auto_pad", "") + " is not supported");
            const Tensor& w = weights();
            if (w.shape.size() != 4 || w.shape[1] != C || w.shape[2] != w.shape[3])
                throw QonnxError(where + ": weights " + shape_str(w.shape) + " are not OIHW [M," + std::to_string(C) +
                                 ",K,K] with a square kernel");
            PendingLayer& L = begin_layer(LayerKind::Conv);
            const int64_t M = w.shape[0], K = w.shape[2];
            L.spec.channels = int(M);
            L.spec.kernel = int(K);
            L.spec.weight_bits = weight_bits(w);
            set_scales(L, w, 0);
            L.params.weights.resize(w.v.size());
            for (int64_t o = 0; o < M; ++o)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t ky = 0; ky < K; ++ky)
                        for (int64_t kx = 0; kx < K; ++kx)
                            L.params.weights[size_t(o * K * K * C + (ky * K + kx) * C + c)] =
                                int8_t(w.v[size_t(((o * C + c) * K + ky) * K + kx)]);
            shift_by_input_zero(L);
            C = M;
            D = D - K + 1;
            if (D < 1) throw QonnxError(where + ": kernel " + std::to_string(K) + " is larger than the feature map");
        } else if (op == "MatMul" || op == "Gemm") {
            if (layout == Layout::Nchw || layout == Layout::Nhwc)
                throw QonnxError(where + ": " + op + " on a 4-D feature map (Flatten or Reshape it first)");
            bool transposed = false;
            if (op == "Gemm") {
                if (int_attr(n, "transA", 0)) throw QonnxError(where + ": transA=1 is not supported");
                if (n.input_size() > 2) throw QonnxError(where + ": Gemm with a bias C is not supported");
                if (float_attr(n, "alpha", 1.0) != 1.0) throw QonnxError(where + ": alpha other than 1 is not supported");
                transposed = int_attr(n, "transB", 0) != 0;
            }
            const Tensor& w = weights();
            const int64_t fan_in = C * D * D;
            const int64_t K = w.shape.size() == 2 ? w.shape[transposed ? 1 : 0] : -1;
            if (w.shape.size() != 2 || K != fan_in)
                throw QonnxError(where + ": weights " + shape_str(w.shape) + " do not take the " +
                                 std::to_string(fan_in) + " inputs of the flattened feature map");
            const int64_t M = w.shape[transposed ? 0 : 1];
            PendingLayer& L = begin_layer(LayerKind::Fc);
            L.spec.channels = int(M);
            L.spec.weight_bits = weight_bits(w);
            set_scales(L, w, transposed ? 0 : 1);
            L.params.weights.resize(w.v.size());
            // fatsim's FC reads the feature map in HWC order; a CHW flatten
            // permutes the weight columns instead.
            for (int64_t o = 0; o < M; ++o)
                for (int64_t y = 0; y < D; ++y)
                    for (int64_t x = 0; x < D; ++x)
                        for (int64_t c = 0; c < C; ++c) {
                            const int64_t hwc = (y * D + x) * C + c;
                            const int64_t k = layout == Layout::FlatChw ? (c * D + y) * D + x : hwc;
                            L.params.weights[size_t(o * fan_in + hwc)] =
                                int8_t(w.v[size_t(transposed ? o * K + k : k * M + o)]);
                        }
            shift_by_input_zero(L);
            C = M;
            D = 1;
            layout = Layout::FlatHwc;
        } else if (op == "MultiThreshold" && !open && !input_quant) {
            // The input quantiser as FINN writes it: thresholds on the pixels
            // (UINT8 input), out_dtype INTb, the codes counted from out_bias.
            const std::string dtype = string_attr(n, "out_dtype", "");
            if (dtype.rfind("INT", 0) != 0 || weight_bits_of(dtype) < 2 || float_attr(n, "out_scale", 1.0) != 1.0)
                throw QonnxError(where + ": an input MultiThreshold must give signed codes (out_dtype INTb, b <= 8, "
                                 "out_scale 1), not " + dtype);
            topo.pixel_codes = pixel_code_table(g, C, n, 1.0, 0.0, 0, where);
            topo.in_bits = weight_bits_of(dtype);
            input_quant = true;
            cur_scale = 1.0;
            cur_zero = 0.0;
        } else if (op == "MultiThreshold") {
            if (!open || open->has_act)
                throw QonnxError(where + ": MultiThreshold without a Conv or MatMul before it");
            PendingLayer& L = *open;
            if (!L.affine_is_identity())
                throw QonnxError(where + ": MultiThreshold after scaled weights or a BatchNormalization (mixes the "
                                 "streamlined and the Brevitas form)");
            const std::string dtype = string_attr(n, "out_dtype", "");
            const int b = act_bits_of(dtype);
            if (!b)
                throw QonnxError(where + ": out_dtype '" + dtype +
                                 "' is not an activation fatsim has (BIPOLAR, INT2, UINT3, UINT4)");
            if (float_attr(n, "out_scale", 1.0) != act_scale(b) || float_attr(n, "out_bias", 0.0) != act_bias(b))
                throw QonnxError(where + ": out_scale/out_bias must be " + std::to_string(act_scale(b)) + "/" +
                                 std::to_string(act_bias(b)) + " for " + dtype +
                                 " (the codes' values; other scales are not representable)");
            if (layout == Layout::Nhwc || string_attr(n, "data_layout", "NCHW") == "NHWC")
                throw QonnxError(where + ": NHWC MultiThreshold is not supported (fatsim reads NCHW graphs)");
            const Tensor& t = param(1, "thresholds");
            const int T = act_range(b).thresholds();
            if (t.shape.size() != 2 || t.shape[1] != T || (t.shape[0] != C && t.shape[0] != 1))
                throw QonnxError(where + ": thresholds " + shape_str(t.shape) + ", expected [" + std::to_string(C) +
                                 "," + std::to_string(T) + "] for " + dtype);
            for (double v : t.v)
                if (std::isnan(v)) throw QonnxError(where + ": a threshold is not a number (NaN)");
            L.spec.act_bits = b;
            L.has_act = true;
            L.dot_thresholds.resize(size_t(C) * T);
            for (int64_t c = 0; c < C; ++c)
                for (int k = 0; k < T; ++k)
                    L.dot_thresholds[size_t(c * T + k)] = t.v[size_t((t.shape[0] == 1 ? 0 : c) * T + k)];
            cur_scale = 1.0;
        } else if (op == "BatchNormalization") {
            if (!open || open->has_act || open->has_bn)
                throw QonnxError(where + ": BatchNormalization must follow a Conv or MatMul (once, before its quantiser)");
            const Tensor &gamma = param(1, "scale"), &beta = param(2, "bias"), &mean = param(3, "mean"),
                         &var = param(4, "variance");
            const size_t M = open->a.size();
            for (const Tensor* t : {&gamma, &beta, &mean, &var})
                if (t->v.size() != M)
                    throw QonnxError(where + ": parameters of " + std::to_string(t->v.size()) + " channels, the layer has " +
                                     std::to_string(M));
            const double eps = float_attr(n, "epsilon", 1e-5);
            for (const Tensor* t : {&gamma, &beta, &mean, &var})
                for (double v : t->v)
                    if (!std::isfinite(v)) throw QonnxError(where + ": parameter " + std::to_string(v) + " is not finite");
            for (double v : var.v)
                if (!(v + eps > 0))
                    throw QonnxError(where + ": variance + epsilon " + std::to_string(v + eps) + " must be positive");
            for (size_t o = 0; o < M; ++o) {
                // y = gamma (a dot + b - mean) / sqrt(var + eps) + beta
                const double k = gamma.v[o] / std::sqrt(var.v[o] + eps);
                open->b[o] = k * (open->b[o] - mean.v[o]) + beta.v[o];
                open->a[o] *= k;
            }
            open->has_bn = true;
            open->affine_where = open->scale_where = node_label(n, size_t(i));
        } else if (is_quant_op(op) || op == "BipolarQuant") {
            auto init = [&](int k, const char* what) -> double {
                const Tensor& t = param(k, what);
                if (t.v.size() != 1)
                    throw QonnxError(where + ": " + what + " must be one value (per-channel activation quantisers are "
                                     "not supported)");
                return t.v[0];
            };
            const double scale = init(1, "scale");
            if (!(scale > 0)) throw QonnxError(where + ": scale " + std::to_string(scale) + " must be positive");
            const bool quant = op != "BipolarQuant";
            const bool sgn = int_attr(n, "signed", 1) != 0, narrow = int_attr(n, "narrow", 0) != 0;
            const double bits = quant ? init(3, "bit width") : 1.0;
            // Checked before the cast: a float outside int's range would be UB there.
            if (!(bits >= 1 && bits <= 32))
                throw QonnxError(where + ": bit width " + std::to_string(bits) + " must lie in 1..32");
            const int b = int(bits);
            const double zp = quant ? init(2, "zero point") : 0.0;
            if (!std::isfinite(scale) || !std::isfinite(zp))
                throw QonnxError(where + ": scale and zero point must be finite");
            if (quant && string_attr(n, "rounding_mode", "ROUND") != "ROUND")
                throw QonnxError(where + ": rounding_mode " + string_attr(n, "rounding_mode", "") +
                                 " is not supported (ROUND)");
            if (layers.empty()) {
                // The input quantiser (Brevitas' QuantIdentity on the image): fatsim's
                // input code c is its integer level q (q - 128 when unsigned), standing
                // for the value scale * (q - zero point). Any scale and zero point fold
                // into the first layer's thresholds; all 256 codes must be levels.
                if (input_quant)
                    throw QonnxError(where + ": a second quantiser before the first Conv / MatMul");
                if (!quant || b > 8)
                    throw QonnxError(where + ": input quantiser must be a Quant of at most 8 bits (fatsim's input is "
                                     "an 8-bit code)");
                if (topo.in_bits != 8)
                    throw QonnxError(where + ": input quantiser reads the input annotated INT" +
                                     std::to_string(topo.in_bits) + " (fatsim's input is an 8-bit code)");
                // An 8-bit full-range quantiser on the image as it is takes fatsim's
                // code pixel - 128 as its level. Anything else (a preprocessing
                // before it, fewer levels, UINT8 pixels) reads the pixels through
                // the table of the codes the graph gives each pixel value.
                if (!pre_where.empty() || pixel_input || bits != 8 || narrow)
                    topo.pixel_codes = pixel_code_table(g, C, n, scale, zp, sgn ? 0 : 128, where);
                input_quant = true;
                cur_scale = scale;
                cur_zero = zp - (sgn ? 0.0 : 128.0);  // value = scale * (code - cur_zero)
            } else {
                if (zp != 0)
                    throw QonnxError(where + ": zero point " + std::to_string(zp) +
                                     " is not supported on an activation (0 only; the input quantiser may have one)");
                const bool ok = !quant || (bits == b && ((sgn && narrow && b == 2) || (!sgn && !narrow && (b == 3 || b == 4))));
                if (!ok)
                    throw QonnxError(where + ": a " + (sgn ? "signed" : "unsigned") + (narrow ? " narrow " : " ") +
                                     std::to_string(bits) + "-bit quantiser is not an activation fatsim has "
                                     "(signed narrow 2-bit, unsigned 3- or 4-bit, BipolarQuant)");
                const int lo = act_range(b).lo, hi = act_range(b).hi;
                if (!open || open->has_act)
                    throw QonnxError(where + ": activation quantiser without a Conv or MatMul before it");
                PendingLayer& L = *open;
                // fatsim pools the codes: max and the quantiser commute only where the
                // affine y = a dot + b does not reverse the order (a >= 0).
                for (size_t o = 0; o < L.a.size() && !L.pool_where.empty(); ++o)
                    if (L.a[o] < 0)
                        throw QonnxError(where + ": channel " + std::to_string(o) + " has a negative scale (" +
                                         L.scale_where + ") after " + L.pool_where +
                                         ": the max of the pool no longer commutes with the quantiser (pool after "
                                         "the quantiser)");
                L.spec.act_bits = b;
                L.has_act = true;
                if (!quant) L.steps = {0.0};  // BipolarQuant: y >= 0 gives +1
                else for (int k = lo + 1; k <= hi; ++k) L.steps.push_back((k - 0.5) * scale);  // round(y / scale) >= k
                cur_scale = scale;
            }
        } else if (affine_op) {
            // An elementwise affine with a constant: a per-channel scale or shift,
            // BNN-PYNQ's TensorNorm (Sub, Div, Mul, Add of one value each) on the
            // classifier's output. It folds into the open layer's y = a dot + b.
            if (!open && !input_quant) {
                // Preprocessing of the image (CNV.forward's 2x - 1, a per-channel
                // normalisation): the input quantiser's pixel -> code table takes it in.
                if (n.input_size() != 2) throw QonnxError(where + ": expected two inputs");
                (void)param(swapped ? 0 : 1, "constant operand");
                if (pre_where.empty()) pre_where = node_label(n, size_t(i));
                cur = n.output(0);
                continue;
            }
            if (!open)
                throw QonnxError(where + ": " + op + " between the input quantiser and the first Conv / MatMul: "
                                 "fatsim's input is the quantiser's integer code, nothing may change it on the way");
            if (open->has_act)
                throw QonnxError(where + ": " + op + " after an activation quantiser (an affine folds into "
                                 "thresholds only between a Conv / MatMul and its quantiser, or on the classifier)");
            if (n.input_size() != 2) throw QonnxError(where + ": expected two inputs");
            const Tensor& p = param(swapped ? 0 : 1, "constant operand");
            const std::vector<int64_t> shape =
                open->spec.kind == LayerKind::Conv ? std::vector<int64_t>{1, C, D, D} : std::vector<int64_t>{1, C};
            check_broadcast(p, shape, where, "constant");
            int64_t inner = 1;
            for (size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
            std::vector<double> per(size_t(C), 0.0);
            std::vector<bool> seen(size_t(C), false);
            for (size_t e = 0; e < size_t(C * inner); ++e) {
                const size_t c = e / size_t(inner);
                const double v = broadcast_at(p, shape, e);
                if (!std::isfinite(v) || (op == "Div" && v == 0))
                    throw QonnxError(where + ": constant " + std::to_string(v) + (op == "Div" ? " must be finite and "
                                     "non-zero" : " must be finite"));
                if (seen[c] && per[c] != v)
                    throw QonnxError(where + ": constant " + shape_str(p.shape) + " varies within channel " +
                                     std::to_string(c) + " (only per-tensor or per-channel constants fold into "
                                     "thresholds)");
                per[c] = v;
                seen[c] = true;
            }
            for (size_t o = 0; o < size_t(C); ++o) {
                if (op == "Mul") open->a[o] *= per[o], open->b[o] *= per[o];
                else if (op == "Div") open->a[o] /= per[o], open->b[o] /= per[o];
                else if (op == "Add") open->b[o] += per[o];
                else open->b[o] -= per[o];
            }
            for (size_t o = 0; o < size_t(C); ++o)
                if (!std::isfinite(open->a[o]) || !std::isfinite(open->b[o]))
                    throw QonnxError(where + ": the folded scale / shift of channel " + std::to_string(o) +
                                     " is not finite");
            open->affine_where = node_label(n, size_t(i));
            if (op == "Mul" || op == "Div") open->scale_where = open->affine_where;
        } else if (op == "MaxPool") {
            if (!open || open->spec.kind != LayerKind::Conv || open->spec.pool != 1)
                throw QonnxError(where + ": MaxPool must follow a conv layer (once)");
            // fatsim pools the codes: before the quantiser, the max commutes with
            // y = a dot + b and the quantiser only where a >= 0 (checked again
            // at the quantiser for what folds in after the pool).
            for (size_t o = 0; o < open->a.size() && !open->has_act; ++o)
                if (open->a[o] < 0)
                    throw QonnxError(where + ": MaxPool before the activation quantiser after a negative scale on "
                                     "channel " + std::to_string(o) + " (" + open->scale_where +
                                     "): the max no longer commutes with the quantiser (pool after the quantiser)");
            const auto k = ints_attr(n, "kernel_shape", {});
            const auto s = ints_attr(n, "strides", {1, 1});
            if (k.size() != 2 || k[0] != k[1] || s != k)
                throw QonnxError(where + ": only square MaxPool with stride = kernel is supported");
            for (int64_t v : ints_attr(n, "pads", {0, 0, 0, 0}))
                if (v != 0) throw QonnxError(where + ": padded MaxPool is not supported");
            if (int_attr(n, "ceil_mode", 0) || D % k[0] != 0)
                throw QonnxError(where + ": window " + std::to_string(k[0]) + " does not divide the feature map " +
                                 std::to_string(D));
            open->spec.pool = int(k[0]);
            if (!open->has_act) open->pool_where = node_label(n, size_t(i));
            D /= k[0];
        } else if (op == "Transpose") {
            if (layout != Layout::Nchw || ints_attr(n, "perm", {}) != std::vector<int64_t>{0, 2, 3, 1})
                throw QonnxError(where + ": only the NCHW -> NHWC Transpose (perm 0,2,3,1) before a flatten is supported");
            layout = Layout::Nhwc;
        } else if (op == "Flatten" || op == "Reshape") {
            if (op == "Flatten" && int_attr(n, "axis", 1) != 1)
                throw QonnxError(where + ": Flatten axis other than 1 is not supported");
            if (op == "Reshape") {
                const Tensor& s = param(1, "shape");
                const int64_t total = C * D * D;
                const bool ok = s.v.size() == 2 && (s.v[0] == 1 || s.v[0] == 0) && (s.v[1] == -1 || s.v[1] == total);
                if (!ok) throw QonnxError(where + ": only a Reshape to [1, -1] (a flatten) is supported");
            }
            if (layout == Layout::Nchw) layout = D == 1 ? Layout::FlatHwc : Layout::FlatChw;
            else if (layout == Layout::Nhwc) layout = Layout::FlatHwc;
        } else {
            throw QonnxError(where + ": op " + (n.domain().empty() ? "" : n.domain() + ".") + op +
                             " is not supported (Conv, MatMul, Gemm, MultiThreshold, Quant, IntQuant, BipolarQuant, "
                             "BatchNormalization, Mul, Div, Add, Sub, MaxPool, Transpose, Flatten, Reshape)");
        }
        cur = n.output(0);
    }
    if (cur != g.output_name)
        throw QonnxError(path + ": the chain ends in '" + cur + "', not the graph output '" + g.output_name + "'");
    if (layers.empty()) throw QonnxError(path + ": graph has no Conv or MatMul");
    if (layers.back().has_act || layers.back().spec.pool != 1)
        throw QonnxError(path + ": " + layers.back().where +
                         ": the last layer must output its raw accumulators (no MultiThreshold or MaxPool after it)");
    bool negate_classifier = false;
    {
        // argmax(a dot + b) is argmax(dot) for one positive a and one b (a
        // TensorNorm), argmax(-dot) for one negative a: the rows are negated.
        const PendingLayer& L = layers.back();
        auto by = [](const std::string& w) { return w.empty() ? std::string() : " (last changed by " + w + ")"; };
        for (size_t o = 0; o < L.a.size(); ++o)
            if (L.b[o] != L.b[0] || L.a[o] != L.a[0])
                throw QonnxError(L.where + ": the classifier's outputs are " +
                                 (L.a[o] != L.a[0] ? "scaled per class" + by(L.scale_where)
                                                   : "shifted per class" + by(L.affine_where)) +
                                 " (a BatchNormalization or per-channel scale), which changes the arg max; fatsim's "
                                 "classifier outputs raw accumulators");
        if (L.a[0] == 0)
            throw QonnxError(L.where + ": the classifier's outputs are scaled by 0" + by(L.scale_where) +
                             ": every class scores alike, no arg max of raw accumulators gives that");
        negate_classifier = L.a[0] < 0;
    }
    for (auto& L : layers) topo.layers.push_back(L.spec);
    try {
        finalize_topology(topo, path);
    } catch (const ConfigError& e) {
        throw QonnxError(path + ": the inferred topology is not one fatsim can run: " + e.what());
    }
    for (size_t l = 0; l < layers.size(); ++l) {
        const LayerSpec& s = topo.layers[l];
        LayerParams& p = layers[l].params;
        for (double t : layers[l].dot_thresholds)
            p.thresholds.push_back(dot_threshold_to_accumulator(t, s.binary_xnor(), s.mw()));
        if (!layers[l].steps.empty()) {
            // Brevitas form: fold a, b and the quantiser steps like the trainer's export.
            for (int o = 0; o < s.mh(); ++o) {
                const double a = layers[l].a[size_t(o)], b = layers[l].b[size_t(o)];
                if (a < 0)
                    for (int c = 0; c < s.mw(); ++c) p.weights[size_t(o) * s.mw() + c] *= -1;
                for (double t : layers[l].steps)
                    p.thresholds.push_back(fold_step_threshold(std::fabs(a), b, t, s.binary_xnor(), s.mw()));
            }
        }
        if (l + 1 == layers.size() && negate_classifier)
            for (auto& w : p.weights) w = int8_t(-w);
        model.layers.push_back(std::move(p));
    }
    try {
        model.validate(path);
    } catch (const ModelFileError& e) {
        throw QonnxError(std::string("imported graph: ") + e.what());
    }
    return model;
}

}  // namespace fatsim
