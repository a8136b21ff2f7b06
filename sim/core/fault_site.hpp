// Physical fault sites of an accelerator, typed per class, and their one
// textual form (parsed and printed in fault_site.cpp only):
//   conv1.pe[3].acc.bit[7]:sa1             accumulator register of PE 3
//   conv1.pe[3].adder.l2.n1.bit[3]:sa1     adder-tree node (l0 = products, l1.. = sums)
//   conv1.wmem.pe[3].word[17].bit[2]:sa0   weight memory word nf*SF+sf of PE 3
//   conv1.pe[3].thr[1].bit[4]:sa0          threshold memory word nf*T+t of PE 3
//   conv1.pe[3].cmp[1]:sa1                 comparator output t of PE 3
//   fifo[2].slot[5].bit[0]:sa1             slot 5 of the FIFO in front of layer 2
//   engine.fmbuf[0].word[9].bit[3]:sa1     feature-map buffer 0 (input) / 1 (output) of a loopback engine
// A loopback engine runs every layer, so its sites are named `engine`
// (kLoopbackEngine) in place of a layer name.
// Fault kinds: `:sa0`, `:sa1` (permanent stuck-at), `:flip@C` (transient: the
// value passing the site is inverted once, at the first pass in or after cycle C).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace fatsim {

// The layer name of every site of a loopback engine.
constexpr const char* kLoopbackEngine = "engine";

// A malformed or non-existent fault site; the message names the rule broken.
class FaultSiteError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Where a fault sits, one type per class of hardware element.
struct AccBit {
    std::string layer;
    int pe = 0, bit = 0;
};
struct AdderNodeBit {
    std::string layer;
    int pe = 0, level = 0, node = 0, bit = 0;
};
struct WeightBit {
    std::string layer;
    int pe = 0, word = 0, bit = 0;  // word = nf*SF + sf; bit = element*WB + weight bit
};
struct ThresholdBit {
    std::string layer;
    int pe = 0, word = 0, bit = 0;  // word = nf*T + t
};
struct Comparator {
    std::string layer;
    int pe = 0, index = 0;  // threshold t the comparator tests
};
struct FifoBit {
    int fifo = 0, slot = 0, bit = 0;
};
struct FmBufBit {
    std::string layer;
    int buffer = 0, word = 0, bit = 0;  // buffer 0: input feature map, 1: output feature map
};
using SiteLocation = std::variant<AccBit, AdderNodeBit, WeightBit, ThresholdBit, Comparator, FifoBit, FmBufBit>;

// The classes in SiteLocation's order (site_class() is the variant index).
enum class SiteClass { Acc, AdderNode, WeightWord, Threshold, Comparator, FifoSlot, FmBuf };
constexpr int kSiteClasses = 7;
// "acc", "adder", "wmem", "thr", "cmp", "fifo", "fmbuf"
const char* site_class_name(SiteClass c);
// The class a name names; false when none does.
bool parse_site_class(const std::string& name, SiteClass& out);
// The textual form of a class's sites, e.g. "LAYER.pe[PE].acc.bit[BIT]".
std::string site_class_form(SiteClass c);
SiteClass site_class(const SiteLocation& where);
// Layer the site belongs to; empty for FIFO sites.
const std::string& site_layer(const SiteLocation& where);

enum class FaultKind { StuckAt0, StuckAt1, Flip };

struct FaultSite {
    SiteLocation where;
    FaultKind kind = FaultKind::StuckAt0;
    int64_t cycle = 0;  // Flip only
};
// Several faults armed at once.
using FaultSet = std::vector<FaultSite>;

// Parses a site name as above; throws FaultSiteError naming the rule broken.
FaultSite parse_fault_site(const std::string& text);
std::string fault_site_name(const FaultSite& site);
std::string site_location_name(const SiteLocation& where);  // without the kind

}  // namespace fatsim
