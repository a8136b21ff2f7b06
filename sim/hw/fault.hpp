// Physical fault sites of the dataflow accelerator and the one hook every
// faultable value passes through. The hook costs one predictable branch when
// nothing is armed: units test `hook.armed` once per cycle and take their fast
// path; only an armed unit runs the slow path where every adder-tree node,
// accumulator, memory word, comparator output and FIFO slot goes through
// FaultHook::pass().
//
// Site names (one textual form used everywhere):
//   conv1.pe[3].acc.bit[7]:sa1             accumulator register of PE 3
//   conv1.pe[3].adder.l2.n1.bit[3]:sa1     adder-tree node (l0 = products, l1.. = sums)
//   conv1.wmem.pe[3].word[17].bit[2]:sa0   weight memory word nf*SF+sf of PE 3
//   conv1.pe[3].thr[1].bit[4]:sa0          threshold memory word nf*T+t of PE 3
//   conv1.pe[3].cmp[1]:sa1                 comparator output t of PE 3
//   fifo[2].slot[5].bit[0]:sa1             slot 5 of the FIFO in front of layer 2
// Fault kinds: `:sa0`, `:sa1` (permanent stuck-at), `:flip@C` (transient: the
// value passing the site is inverted once, at the first pass in or after cycle C).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fatsim::hw {

enum class SiteType { Acc, AdderNode, WeightWord, Threshold, Comparator, FifoSlot };
enum class FaultKind { StuckAt0, StuckAt1, Flip };

struct FaultSite {
    SiteType type = SiteType::Acc;
    std::string layer;   // layer name (empty for FIFO sites)
    int fifo = -1;       // FIFO index (FifoSlot)
    int pe = -1;
    int index = -1;      // word / threshold word / comparator / slot index
    int level = -1, node = -1;  // adder tree
    int bit = 0;
    FaultKind kind = FaultKind::StuckAt0;
    int64_t cycle = 0;   // Flip only
};

class FaultSiteError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses a site name as above; throws FaultSiteError naming the rule broken.
FaultSite parse_fault_site(const std::string& text);
std::string fault_site_name(const FaultSite& site);

struct FaultHook {
    bool armed = false;
    FaultSite site;
    bool fired = false;  // transient already applied
    const int64_t* now = nullptr;  // the model's cycle counter

    void arm(const FaultSite& s, const int64_t* clock) {
        armed = true;
        site = s;
        fired = false;
        now = clock;
    }
    void disarm() { armed = false; fired = false; }

    // Forces bit `site.bit` of v if (type, pe, a, b) is the armed site. `width`
    // is the register width: the result is sign-extended from it when is_signed.
    inline int64_t pass(SiteType t, int pe, int a, int b, int64_t v, int width, bool is_signed) {
        if (!armed || t != site.type || pe != site.pe) return v;
        if (t == SiteType::AdderNode) {
            if (a != site.level || b != site.node) return v;
        } else if (a != site.index) {
            return v;
        }
        return force(v, width, is_signed);
    }
    inline int64_t force(int64_t v, int width, bool is_signed) {
        const uint64_t m = uint64_t(1) << site.bit;
        uint64_t u = uint64_t(v);
        switch (site.kind) {
            case FaultKind::StuckAt0: u &= ~m; break;
            case FaultKind::StuckAt1: u |= m; break;
            case FaultKind::Flip:
                if (fired || (now && *now < site.cycle)) return v;
                fired = true;
                u ^= m;
                break;
        }
        if (width >= 64) return int64_t(u);
        u &= (uint64_t(1) << width) - 1;
        if (is_signed && (u >> (width - 1)) & 1) u |= ~((uint64_t(1) << width) - 1);
        return int64_t(u);
    }
};

}  // namespace fatsim::hw
