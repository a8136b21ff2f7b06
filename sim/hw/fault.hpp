// The one hook every faultable value of the cycle models passes through (the
// site vocabulary lives in sim/core/fault_site.hpp). The hook costs one
// predictable branch when nothing is armed: units test `hook.armed` once per
// cycle and take their fast path; only an armed unit runs the slow path where
// every adder-tree node, accumulator, memory word, comparator output and FIFO
// slot goes through FaultHook::pass(). Several faults may be armed on one hook;
// a value matching several is forced by each, in the order they were armed.
#pragma once
#include <cstdint>
#include <vector>

#include "fault_site.hpp"

namespace fatsim::hw {

// Names the sim/hw code used before the vocabulary moved to sim/core.
using fatsim::FaultKind;
using fatsim::FaultSet;
using fatsim::FaultSite;
using fatsim::FaultSiteError;
using fatsim::fault_site_name;
using fatsim::parse_fault_site;
using SiteType = fatsim::SiteClass;

// One armed fault as a unit sees it: the value (class, pe, a, b) and the bit.
// a, b: adder node (level, node); weight / threshold memory (word, 0);
// comparator (index, 0); accumulator (0, 0); FIFO (slot, 0); feature-map
// buffer (word, 0) with pe = the buffer.
struct ArmedFault {
    SiteType type = SiteType::Acc;
    int pe = -1, a = 0, b = 0, bit = 0;
    FaultKind kind = FaultKind::StuckAt0;
    int64_t cycle = 0;    // Flip only
    bool fired = false;   // transient already applied
};
// The unit-level form of a site.
ArmedFault armed_fault(const FaultSite& site);

class FaultHook {
public:
    bool armed = false;

    void arm(const ArmedFault& f, const int64_t* clock) {
        faults_.push_back(f);
        faults_.back().fired = false;
        now_ = clock;
        armed = true;
        types_ |= 1u << unsigned(f.type);
    }
    void disarm() {
        faults_.clear();
        armed = false;
        types_ = 0;
    }
    // Whether some armed fault is of type t (a cheap test before scanning).
    bool has(SiteType t) const { return types_ & (1u << unsigned(t)); }
    // Transients fire again after a reset.
    void rearm_transients() {
        for (ArmedFault& f : faults_) f.fired = false;
    }
    const std::vector<ArmedFault>& faults() const { return faults_; }

    // Forces v through every armed fault at (type, pe, a, b). `width` is the
    // register width: the result is sign-extended from it when is_signed.
    inline int64_t pass(SiteType t, int pe, int a, int b, int64_t v, int width, bool is_signed) {
        if (!has(t)) return v;
        for (ArmedFault& f : faults_)
            if (f.type == t && f.pe == pe && f.a == a && f.b == b) v = force(f, f.bit, v, width, is_signed);
        return v;
    }
    // Forces bit `bit` of v as fault f says (bit may differ from f.bit when a
    // unit addresses a field inside a wider word).
    inline int64_t force(ArmedFault& f, int bit, int64_t v, int width, bool is_signed) const {
        const uint64_t m = uint64_t(1) << bit;
        uint64_t u = uint64_t(v);
        switch (f.kind) {
            case FaultKind::StuckAt0: u &= ~m; break;
            case FaultKind::StuckAt1: u |= m; break;
            case FaultKind::Flip:
                if (f.fired || (now_ && *now_ < f.cycle)) return v;
                f.fired = true;
                u ^= m;
                break;
        }
        if (width >= 64) return int64_t(u);
        u &= (uint64_t(1) << width) - 1;
        if (is_signed && (u >> (width - 1)) & 1) u |= ~((uint64_t(1) << width) - 1);
        return int64_t(u);
    }
    std::vector<ArmedFault>& faults_mut() { return faults_; }

private:
    std::vector<ArmedFault> faults_;
    const int64_t* now_ = nullptr;  // the model's cycle counter
    unsigned types_ = 0;            // bit per SiteType armed
};

}  // namespace fatsim::hw
