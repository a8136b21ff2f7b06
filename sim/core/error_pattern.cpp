#include "error_pattern.hpp"

#include <algorithm>
#include <stdexcept>

namespace fatsim {

const char* to_string(ErrorModelKind k) {
    switch (k) {
        case ErrorModelKind::Channel: return "channel";
        case ErrorModelKind::Pixel: return "pixel";
    }
    return "?";
}

ErrorModelKind parse_error_model_kind(const std::string& s) {
    if (s == "channel") return ErrorModelKind::Channel;
    if (s == "pixel") return ErrorModelKind::Pixel;
    throw std::invalid_argument("error model '" + s + "' is not one of: channel, pixel");
}

void apply_error_pattern(const ErrorPattern& p, int8_t* out, int dim, int channels) {
    auto stick_pixel = [&](int px) {
        int8_t* o = out + size_t(px) * channels;
        if (p.channels.empty())
            std::fill(o, o + channels, int8_t(p.stuck_code));
        else
            for (int c : p.channels) o[c] = int8_t(p.stuck_code);
    };
    if (p.pixels.empty())
        for (int px = 0; px < dim * dim; ++px) stick_pixel(px);
    else
        for (int px : p.pixels) stick_pixel(px);
}

}  // namespace fatsim
