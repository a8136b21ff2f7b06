// RTL against the C++ cycle model: the same images into both, every push of
// every stream of the design recorded with its cycle, and the two compared
// beat for beat (fatsim verify-rtl, tests/rtl).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "fault_site.hpp"
#include "model.hpp"
#include "rtl_accelerator.hpp"

namespace fatsim::rtl {

struct StreamBeat {
    int64_t cycle = 0;
    std::vector<uint64_t> word;
    bool operator==(const StreamBeat& o) const { return cycle == o.cycle && word == o.word; }
    bool operator!=(const StreamBeat& o) const { return !(*this == o); }
};
struct BeatMismatch {
    int stream = 0;        // index into the design's streams
    std::string name;      // the stream's name (its layer is in it)
    size_t beat = 0;       // index of the push within the stream
    std::optional<StreamBeat> expected, got;  // C++ / RTL (absent: no such beat)
};
struct VerifyResult {
    int images = 0;
    int64_t cycles_cpp = 0, cycles_rtl = 0;
    uint64_t beats = 0;           // beats compared (C++ side)
    int streams = 0;
    int same_scores = 0;          // images whose class scores agree
    std::optional<BeatMismatch> first;  // earliest by cycle
    std::vector<std::vector<StreamBeat>> cpp, rtl;  // per stream
    bool agree() const { return !first && cycles_cpp == cycles_rtl && same_scores == images; }
};

// Runs both models on `count` images (int8 HWC) with `faults` armed in both
// and `rtl_only` in the RTL alone (to see the checker catch a difference);
// the RTL takes one fault at a time.
VerifyResult verify_rtl(RtlAccelerator& rtl, const QnnModel& model, const AccelConfig& accel, const int8_t* images,
                        int count, const FaultSet& faults, const FaultSet& rtl_only = {});

// A VCD of cycles [from, to): per stream the pushes of both models (a push
// flag and the word) and a flag where they differ.
void write_verify_vcd(const VerifyResult& r, const DataflowDesign& d, const std::string& path, int64_t from,
                      int64_t to);

// "0x..." of a word of `bits` bits.
std::string hex_word(const std::vector<uint64_t>& w, int bits);

}  // namespace fatsim::rtl
