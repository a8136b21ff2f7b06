// Incremental stuck@ fault evaluation on top of the golden engine.
//
// A fault in layer L cannot change layers before L, so each image's
// fault-free data from L on is computed once per (value, layer) segment and
// reused by every fault of it. From there only what changed is propagated:
//  * layer L+1 (and every FC layer and the classifier): the golden
//    accumulators are cached, and each changed input element adds
//    d * weight-column to the accumulators it feeds (d = value change, in the
//    layer's threshold domain: /2 for XNOR-popcount layers), in 16-bit lanes
//    where the layer's accumulators fit int16; a channel fault of a layer
//    with binary outputs changes every code the same way, so a pixel of a
//    conv layer L+1 adds d times one precomputed sum of the weight columns
//    of the window taps that changed (a table per input channel and tap set);
//  * later conv layers: only the output pixels whose receptive field holds a
//    changed input are recomputed (all channels, bit-packed XNOR or integer
//    MAC), then thresholded and max-pooled against the golden neighbours;
//    their input is the golden one overlaid by the pixels that changed (the
//    layer before hands over those pixels, not a list of elements), and only
//    the input pixels the recomputed windows cover are loaded;
//  * as soon as a layer's output equals the golden output, the image's
//    prediction is the golden one and the work stops.
// predict() is two steps: build the change at the faulty layer (the output
// elements the stuck code alters), then propagate changes layer by layer.
// Every layer is evaluated with the engine's own PreparedLayer and kernels
// (sim/core/kernels.hpp), so every step is the engine's exact integer
// arithmetic: the result equals a full faulty re-inference (checked by
// tests/unit/test_campaign.cpp on every W/A mix).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "engine.hpp"

namespace fatsim::campaigns {

struct SweepFault;

// One element of a layer output (or of the network input) that differs from
// the golden one.
struct CodeChange {
    int idx;  // element: pixel * channels + channel (HWC, channel order)
    int8_t old_code, new_code;
};

// f(k) for every k < n where a[k] != b[k], in ascending order: 8 codes
// compared at a time, then each differing byte.
template <class F>
void for_each_differing_code(const int8_t* a, const int8_t* b, size_t n, F&& f) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t x, y;
        std::memcpy(&x, a + k, 8);
        std::memcpy(&y, b + k, 8);
        for (uint64_t d = x ^ y; d;) {
            const int bit = __builtin_ctzll(d);
            f(k + size_t(bit / 8));
            d &= ~(uint64_t(0xff) << (bit & ~7));  // the rest of this code's byte
        }
    }
    for (; k < n; ++k)
        if (a[k] != b[k]) f(k);
}

class FastSweep {
public:
    FastSweep(const Engine& engine, const InputBatch& batch, ErrorModelKind kind);
    ~FastSweep();
    FastSweep(const FastSweep&) = delete;
    FastSweep& operator=(const FastSweep&) = delete;

    // Cache the fault-free data that faults in `layer` need for images
    // [first, first + count), multi-threaded. Replaces any earlier cache.
    // Layer -1: changes of the network input (predict_changes only).
    // for_predict: also the tables predict() uses for channel faults
    // (predict_changes does not need them).
    void prepare(int layer, int first, int count, int threads, bool for_predict = true);
    // Bytes of cache one image takes for faults in `layer`.
    size_t bytes_per_image(int layer) const;

    struct Scratch;
    std::unique_ptr<Scratch, void (*)(Scratch*)> make_scratch() const;

    // Prediction of `image` (absolute index, inside the prepared range) under
    // the fault, which must be in the prepared layer.
    int predict(Scratch& s, const SweepFault& f, int image) const;
    // Prediction of `image` when the prepared layer's output differs from the
    // golden one by `changes` (any change: a lowered physical fault), carried
    // on by the same delta propagation as predict().
    int predict_changes(Scratch& s, const std::vector<CodeChange>& changes, int image) const;
    // Multiply-accumulates the propagations run with this scratch have
    // computed (a weight column of MH values per changed input and window tap
    // or per pixel of a tap-sum step, MW per recomputed output element, every
    // MAC of the layers the engine ran dense): the arithmetic the delta
    // propagation needed, however fast the kernels ran it.
    static uint64_t macs(const Scratch& s);
    // Fault-free prediction of an image in the prepared range.
    int golden(int image) const;

    int prepared_layer() const;
    int prepared_first() const;
    int prepared_count() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace fatsim::campaigns
