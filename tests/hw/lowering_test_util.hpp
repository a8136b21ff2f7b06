// Shared by the lowering tests (dataflow and loopback).
#pragma once
#include "lowering.hpp"
#include "physical.hpp"

namespace fatsim::hw_testing {

// Whether the lowered fault changes anything on one of the first `images` images.
inline bool changes_something(const campaigns::Lowering& lowering, const FaultSite& site,
                              const campaigns::GoldenTraces& golden, int images, campaigns::Lowering::Scratch& s,
                              campaigns::LoweredEffect& e) {
    for (int i = 0; i < images; ++i) {
        lowering.lower(site, i, golden.image(i), s, e);
        if (!e.empty()) return true;
    }
    return false;
}

}  // namespace fatsim::hw_testing
