// Image datasets: MNIST / Fashion-MNIST IDX (gzip or raw) and CIFAR-10 binary
// batches, and the preprocessing to a network's integer input.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "topology.hpp"

namespace fatsim {

class DatasetError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Dataset {
    std::string name;
    int count = 0, channels = 1, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // count * height * width * channels, HWC per image
    std::vector<uint8_t> labels;  // count
    const uint8_t* image(int i) const { return pixels.data() + size_t(i) * height * width * channels; }
};

enum class DatasetKind { FashionMnist, Mnist, Cifar10 };
constexpr const char* kDefaultFashionDir = "/usr/share/datasets/fashion-mnist";

// split: "test" or "train". dir empty = the kind's default folder.
Dataset load_dataset(DatasetKind kind, const std::string& dir, const std::string& split,
                     int max_images = 0);
DatasetKind parse_dataset_kind(const std::string& name);  // throws DatasetError
Dataset load_idx(const std::string& images_path, const std::string& labels_path, int max_images = 0);
Dataset load_cifar10(const std::vector<std::string>& batch_paths, int max_images = 0);

// Network input: signed 8-bit codes, q = pixel - 128 (Q1.7) unless the
// topology carries its own pixel -> code map (Topology::input_code), HWC,
// padded with the background (pixel 0) to the topology's input size,
// grayscale replicated to the topology's channel count. Throws DatasetError
// on an impossible mapping.
struct InputBatch {
    int count = 0, dim = 0, channels = 0;
    std::vector<int8_t> data;  // count * dim * dim * channels
    std::vector<uint8_t> labels;
    const int8_t* image(int i) const { return data.data() + size_t(i) * dim * dim * channels; }
};
InputBatch prepare_inputs(const Dataset& ds, const Topology& topo, int max_images = 0);

// The same images laid out alike but as pixels, before the map to codes (what
// an imported graph reads when it preprocesses the image itself).
struct PixelBatch {
    int count = 0, dim = 0, channels = 0;
    std::vector<uint8_t> data;  // count * dim * dim * channels
    const uint8_t* image(int i) const { return data.data() + size_t(i) * dim * dim * channels; }
};
PixelBatch prepare_pixels(const Dataset& ds, const Topology& topo, int max_images = 0);

}  // namespace fatsim
