// Activation-level error patterns: what a fault does to a layer's output
// feature map (after its activation and pooling), as the paper's injection
// layer models it. A pattern spanning several layers is a list of these, one
// per layer (see ErrorModel in error_model.hpp for weighted sets of them).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace fatsim {

struct ErrorPattern {
    int layer = 0;               // compute-layer index whose output is corrupted
    std::vector<int> channels;   // affected channels; empty = all channels
    std::vector<int> pixels;     // affected pixels y*dim + x; empty = all pixels
    int stuck_code = 0;          // the activation code forced there (when transition is empty)
    // Golden code -> faulty code: transition[code - transition_lo] is what a
    // value with that golden code becomes. Empty = stuck at stuck_code. With a
    // table, channels and pixels must not repeat (each would be mapped twice).
    std::vector<int8_t> transition;
    int transition_lo = 0;       // the code of transition[0] (the layer's ActRange::lo)

    // The faulty code of a golden code (codes outside the table stay unchanged).
    int8_t faulty(int8_t golden) const {
        if (transition.empty()) return int8_t(stuck_code);
        const int i = golden - transition_lo;
        return i >= 0 && i < int(transition.size()) ? transition[size_t(i)] : golden;
    }
};

// The failure granularity of an error model: what fails as one unit (one
// element, one channel's feature map, one pixel's channels, or a channel group
// {c : c mod modulus == g}). Campaigns sweep channel | pixel; the trainer's
// injection layer takes all four.
enum class ErrorModelKind { Channel, Pixel, Element, Group };
const char* to_string(ErrorModelKind k);

// Thrown for a name that is not an allowed granularity.
class ErrorModelKindError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};
// Parses a granularity name, accepting only `allowed` (campaign sweeps: channel
// | pixel, the default). Throws ErrorModelKindError "error model 'x' is not one
// of: channel, pixel" (the allowed names, in the order given).
ErrorModelKind parse_error_model_kind(const std::string& s,
                                      std::initializer_list<ErrorModelKind> allowed = {ErrorModelKind::Channel,
                                                                                       ErrorModelKind::Pixel});

// Apply an error pattern to a layer output (codes, HWC, dim x dim x channels).
void apply_error_pattern(const ErrorPattern& p, int8_t* out, int dim, int channels);

}  // namespace fatsim
