#include "error_pattern.hpp"

#include <algorithm>

namespace fatsim {

const char* to_string(ErrorModelKind k) {
    switch (k) {
        case ErrorModelKind::Channel: return "channel";
        case ErrorModelKind::Pixel: return "pixel";
        case ErrorModelKind::Element: return "element";
        case ErrorModelKind::Group: return "group";
    }
    return "?";
}

ErrorModelKind parse_error_model_kind(const std::string& s, std::initializer_list<ErrorModelKind> allowed) {
    std::string names;
    for (ErrorModelKind k : allowed) {
        if (s == to_string(k)) return k;
        names += (names.empty() ? "" : ", ") + std::string(to_string(k));
    }
    throw ErrorModelKindError("error model '" + s + "' is not one of: " + names);
}

void apply_error_pattern(const ErrorPattern& p, int8_t* out, int dim, int channels) {
    auto corrupt_pixel = [&](int px) {
        int8_t* o = out + size_t(px) * channels;
        if (p.transition.empty()) {
            if (p.channels.empty())
                std::fill(o, o + channels, int8_t(p.stuck_code));
            else
                for (int c : p.channels) o[c] = int8_t(p.stuck_code);
        } else if (p.channels.empty()) {
            for (int c = 0; c < channels; ++c) o[c] = p.faulty(o[c]);
        } else {
            for (int c : p.channels) o[c] = p.faulty(o[c]);
        }
    };
    if (p.pixels.empty())
        for (int px = 0; px < dim * dim; ++px) corrupt_pixel(px);
    else
        for (int px : p.pixels) corrupt_pixel(px);
}

}  // namespace fatsim
