#include "topology.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"

namespace fatsim {

ActRange act_range(int act_bits) {
    ActRange r;
    if (act_bits == 1) {
        r.lo = 0; r.hi = 1; r.bipolar = true;   // bit 0/1 stands for -1/+1
    } else if (act_bits == 2) {
        r.lo = -1; r.hi = 1;                     // narrow signed INT2 (ActVal -1)
    } else if (act_bits >= 3) {
        r.lo = 0; r.hi = (1 << act_bits) - 1;    // unsigned levels
    }
    // act_bits 0 (no activation): empty range {0,0}, no thresholds
    return r;
}

int Topology::find_layer(const std::string& layer_name) const {
    for (size_t i = 0; i < layers.size(); ++i)
        if (layers[i].name == layer_name) return static_cast<int>(i);
    return -1;
}

namespace {
std::string lpath(size_t i) { return "layers[" + std::to_string(i) + "]"; }

// a*b*c (each >= 1) when it fits an int, else -1: a layer's sizes (MW, the
// flattened fan-in, its output) are ints everywhere they are used.
int64_t int_product(int64_t a, int64_t b, int64_t c) {
    if (a > INT_MAX / b || a * b > INT_MAX / c) return -1;
    return a * b * c;
}
std::string too_large(const std::string& what, int a, int b, int c) {
    return what + " = " + std::to_string(a) + "*" + std::to_string(b) + "*" + std::to_string(c) +
           " must be <= " + std::to_string(INT_MAX);
}
}  // namespace

void finalize_topology(Topology& topo, const std::string& source) {
    std::vector<std::string> errs;
    if (topo.in_channels < 1)
        errs.push_back("input.channels=" + std::to_string(topo.in_channels) + " must be >= 1");
    if (topo.in_dim < 1)
        errs.push_back("input.dim=" + std::to_string(topo.in_dim) + " must be >= 1");
    if (topo.in_bits < 1 || topo.in_bits > 16)
        errs.push_back("input.bits=" + std::to_string(topo.in_bits) + " must be in 1..16");
    if (topo.layers.empty()) errs.push_back("layers: must not be empty");

    // Geometry flows layer to layer; after the first geometric error the later
    // sizes are meaningless, so only the first such error is reported.
    bool geom_ok = errs.empty();
    bool seen_fc = false;
    int prev_channels = topo.in_channels, prev_dim = topo.in_dim;
    int prev_bits = topo.in_bits;
    bool prev_bipolar = false;  // the input image is signed fixed point
    const size_t n = topo.layers.size();
    for (size_t i = 0; i < n; ++i) {
        LayerSpec& L = topo.layers[i];
        const std::string p = lpath(i);
        const bool last = i + 1 == n;

        if (L.name.empty()) errs.push_back(p + ".name must not be empty");
        for (size_t j = 0; j < i; ++j)
            if (!L.name.empty() && topo.layers[j].name == L.name) {
                errs.push_back(p + ".name=" + L.name + " duplicates " + lpath(j));
                break;
            }
        if (L.channels < 1) {
            errs.push_back(p + ".channels=" + std::to_string(L.channels) + " must be >= 1");
            geom_ok = false;
        }
        if (L.weight_bits < 1 || L.weight_bits > 8)
            errs.push_back(p + ".weight_bits=" + std::to_string(L.weight_bits) + " must be in 1..8");
        if (L.act_bits < 0 || L.act_bits > 4)
            errs.push_back(p + ".act_bits=" + std::to_string(L.act_bits) + " must be in 0..4");
        else if (L.act_bits == 0 && !last)
            errs.push_back(p + ".act_bits=0 only allowed on the last layer");
        else if (L.act_bits != 0 && last)
            errs.push_back(p + ".act_bits=" + std::to_string(L.act_bits) +
                           " must be 0 on the last layer (it outputs raw accumulators)");

        L.in_bits = prev_bits;
        L.in_bipolar = prev_bipolar;
        prev_bits = L.act_bits;
        prev_bipolar = L.act_bits == 1;

        if (L.kind == LayerKind::Fc) {
            seen_fc = true;
            L.kernel = 1;  // an FC reads the flattened (HWC) feature map as one vector
            if (L.pool != 1) {
                errs.push_back(p + ".pool=" + std::to_string(L.pool) + " must be 1 for an fc layer");
                geom_ok = false;
            }
            const int64_t fan_in = geom_ok ? int_product(prev_channels, prev_dim, prev_dim) : 0;
            if (fan_in < 0) {
                errs.push_back(p + ": flattened input " + too_large("channels*dim*dim", prev_channels, prev_dim, prev_dim));
                geom_ok = false;
            }
            if (geom_ok) {
                L.in_channels = int(fan_in);
                L.in_dim = 1;
                L.out_dim = 1;
                L.pooled_dim = 1;
            }
        } else {
            if (seen_fc) {
                errs.push_back(p + ": conv layer after an fc layer");
                geom_ok = false;
            }
            if (L.kernel < 1) {
                errs.push_back(p + ".kernel=" + std::to_string(L.kernel) + " must be >= 1");
                geom_ok = false;
            }
            if (L.pool < 1) {
                errs.push_back(p + ".pool=" + std::to_string(L.pool) + " must be >= 1");
                geom_ok = false;
            }
            if (geom_ok) {
                L.in_channels = prev_channels;
                L.in_dim = prev_dim;
                L.out_dim = L.in_dim - L.kernel + 1;  // no padding, stride 1
                if (L.out_dim < 1) {
                    errs.push_back(p + ": out_dim=" + std::to_string(L.out_dim) +
                                   " must be >= 1 (in_dim=" + std::to_string(L.in_dim) +
                                   ", kernel=" + std::to_string(L.kernel) + ")");
                    geom_ok = false;
                } else if (L.out_dim % L.pool != 0) {
                    errs.push_back(p + ".pool=" + std::to_string(L.pool) +
                                   " must divide out_dim=" + std::to_string(L.out_dim));
                    geom_ok = false;
                } else if (int_product(L.kernel, L.kernel, L.in_channels) < 0) {
                    errs.push_back(p + ": MW " + too_large("kernel*kernel*in_channels", L.kernel, L.kernel, L.in_channels));
                    geom_ok = false;
                } else if (int_product(L.channels, L.out_dim, L.out_dim) < 0) {
                    errs.push_back(p + ": output " + too_large("channels*out_dim*out_dim", L.channels, L.out_dim, L.out_dim));
                    geom_ok = false;
                } else {
                    L.pooled_dim = L.out_dim / L.pool;
                }
            }
        }
        prev_channels = L.channels;
        prev_dim = L.pooled_dim;
    }
    if (!topo.pixel_codes.empty()) {
        const int lo = topo.in_bits >= 8 ? -128 : -(1 << (topo.in_bits - 1));
        const int hi = topo.in_bits >= 8 ? 127 : (1 << (topo.in_bits - 1)) - 1;
        if (topo.pixel_codes.size() != size_t(std::max(topo.in_channels, 0)) * 256)
            errs.push_back("input.pixel_codes has " + std::to_string(topo.pixel_codes.size()) +
                           " entries, expected 256 per input channel");
        else
            for (size_t k = 0; k < topo.pixel_codes.size(); ++k)
                if (topo.pixel_codes[k] < lo || topo.pixel_codes[k] > hi) {
                    errs.push_back("input.pixel_codes: channel " + std::to_string(k / 256) + " pixel " +
                                   std::to_string(k % 256) + " -> " + std::to_string(topo.pixel_codes[k]) +
                                   " is not a signed " + std::to_string(std::min(topo.in_bits, 8)) + "-bit code");
                    break;
                }
    }
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
}

}  // namespace fatsim
