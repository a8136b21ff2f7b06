// A quantised network with integer weights and thresholds: what the trainer
// exports, the golden engine runs and the accelerator models load.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "topology.hpp"

namespace fatsim {

class ModelFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Weights in FINN matrix layout: row = output channel (0..MH-1), column in
// sliding-window order (ky*K + kx)*IFMC + c, channel innermost. Values are the
// arithmetic weight values (bipolar -1/+1 or narrow signed).
// Thresholds: MH rows of T = act_range(act_bits).thresholds() ascending
// integers in the accumulator domain of the layer: for XNOR layers
// (1-bit weights, bipolar inputs) the popcount of matches in [0, MW];
// otherwise the signed dot product. Output code = lo + #{t : T[t] <= acc}.
struct LayerParams {
    std::vector<int8_t> weights;      // MH * MW
    std::vector<int32_t> thresholds;  // MH * T (empty for the last layer)
};

struct QnnModel {
    // 2 adds topology.input.pixel_codes; a model without them is still written
    // as version 1, which every build reads.
    static constexpr int kFormatVersion = 2;
    Topology topology;
    std::vector<LayerParams> layers;
    std::string description;  // free text: how it was made

    int8_t weight(int layer, int row, int col) const {
        return layers[layer].weights[size_t(row) * topology.layers[layer].mw() + col];
    }
    // Throws ModelFileError when sizes or value ranges disagree with the topology.
    void validate(const std::string& source) const;
};

void save_model(const QnnModel& model, const std::string& path);  // atomic (tmp + rename)
QnnModel load_model(const std::string& path);
std::vector<uint8_t> serialize_model(const QnnModel& model);
QnnModel deserialize_model(const std::vector<uint8_t>& bytes, const std::string& source);

// Random but sane model: weights uniform over the representable values,
// thresholds calibrated per channel on random inputs so that every output
// level is used (thresholds at accumulator quantiles around the median).
QnnModel random_model(const Topology& topo, uint64_t seed);

}  // namespace fatsim
