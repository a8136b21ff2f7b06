// Network topology (CNV family and friends): parsed once from YAML into plain
// structs that every component holds by const&.
#pragma once
#include <string>
#include <vector>

namespace fatsim {

enum class LayerKind { Conv, Fc };

// One compute layer (conv or FC) with its activation and an optional max pool
// after it. All derived sizes are filled in by finalize_topology() (config.hpp).
struct LayerSpec {
    std::string name;
    LayerKind kind = LayerKind::Conv;
    int channels = 0;     // output channels (MH) after the width multiplier
    int kernel = 3;       // conv only; FC layers use 1
    int pool = 1;         // max-pool window and stride after the activation; 1 = none
    int weight_bits = 1;  // 1 = bipolar {-1,+1}; b >= 2: narrow signed [-(2^(b-1)-1), 2^(b-1)-1]
    int act_bits = 1;     // 0 = no activation (last layer: raw accumulators)
    bool scale_with_width = true;

    // derived
    int in_channels = 0;  // IFMC (for FC: flattened fan-in handled via in_dim)
    int in_dim = 0;       // IFM dimension (FC: 1 after flattening)
    int in_bits = 0;      // bits of the values this layer reads (input layer: topology input bits)
    bool in_bipolar = false;  // inputs are 1-bit {-1,+1} stored as bits
    int out_dim = 0;      // conv output dimension before pooling
    int pooled_dim = 0;   // dimension after pooling (the layer's output feature map)

    int mh() const { return channels; }
    int mw() const { return kernel * kernel * in_channels; }
    bool is_last_stage() const { return act_bits == 0; }
    bool binary_xnor() const { return weight_bits == 1 && in_bipolar; }
};

struct Topology {
    std::string name;
    int in_channels = 3;
    int in_dim = 32;
    int in_bits = 8;      // input pixels: signed 8-bit fixed point (pixel - 128), Q1.7
    double width = 1.0;   // width multiplier applied to channels of scalable layers
    std::vector<LayerSpec> layers;
    // The network's own pixel -> input code map, per channel (in_channels x 256,
    // channel-major), where it is not pixel - 128: an imported network whose
    // graph preprocesses the image (Brevitas CNV's 2x - 1) or quantises it to
    // fewer levels. Empty: code = pixel - 128.
    std::vector<int> pixel_codes;

    int input_code(int channel, int pixel) const {
        return pixel_codes.empty() ? pixel - 128 : pixel_codes[size_t(channel) * 256 + size_t(pixel)];
    }

    int num_classes() const { return layers.empty() ? 0 : layers.back().channels; }
    int find_layer(const std::string& name) const;  // -1 when absent
};

// Activation semantics: an activation *code* is what the hardware stores
// (binary: bit 0/1 for -1/+1; A2: signed -1,0,1; A3/A4: unsigned 0..2^b-1).
// Its *value* is what the arithmetic uses.
struct ActRange {
    int lo = 0, hi = 0;  // code range (inclusive)
    bool bipolar = false;
    int levels() const { return hi - lo + 1; }
    int thresholds() const { return hi - lo; }
    int value(int code) const { return bipolar ? 2 * code - 1 : code; }
};
ActRange act_range(int act_bits);
// Weight value range: bipolar for 1 bit, narrow signed otherwise.
inline int weight_max(int bits) { return bits == 1 ? 1 : (1 << (bits - 1)) - 1; }

}  // namespace fatsim
