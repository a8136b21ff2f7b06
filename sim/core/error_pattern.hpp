// Activation-level error patterns: what a fault does to a layer's output
// feature map (after its activation and pooling), as the paper's injection
// layer models it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fatsim {

struct ErrorPattern {
    int layer = 0;               // compute-layer index whose output is corrupted
    std::vector<int> channels;   // affected channels; empty = all channels
    std::vector<int> pixels;     // affected pixels y*dim + x; empty = all pixels
    int stuck_code = 0;          // the activation code forced there
};

enum class ErrorModelKind { Channel, Pixel };
const char* to_string(ErrorModelKind k);

// Apply an error pattern to a layer output (codes, HWC, dim x dim x channels).
void apply_error_pattern(const ErrorPattern& p, int8_t* out, int dim, int channels);
ErrorModelKind parse_error_model_kind(const std::string& s);  // throws std::invalid_argument

}  // namespace fatsim
