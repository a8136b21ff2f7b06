#include "fault.hpp"

namespace fatsim::hw {

ArmedFault armed_fault(const FaultSite& site) {
    struct V {
        ArmedFault operator()(const AccBit& s) const { return at(SiteType::Acc, s.pe, 0, 0, s.bit); }
        ArmedFault operator()(const AdderNodeBit& s) const {
            return at(SiteType::AdderNode, s.pe, s.level, s.node, s.bit);
        }
        ArmedFault operator()(const WeightBit& s) const { return at(SiteType::WeightWord, s.pe, s.word, 0, s.bit); }
        ArmedFault operator()(const ThresholdBit& s) const { return at(SiteType::Threshold, s.pe, s.word, 0, s.bit); }
        ArmedFault operator()(const Comparator& s) const { return at(SiteType::Comparator, s.pe, s.index, 0, 0); }
        ArmedFault operator()(const FifoBit& s) const { return at(SiteType::FifoSlot, -1, s.slot, 0, s.bit); }
        ArmedFault operator()(const FmBufBit& s) const { return at(SiteType::FmBuf, s.buffer, s.word, 0, s.bit); }
        static ArmedFault at(SiteType t, int pe, int a, int b, int bit) {
            ArmedFault f;
            f.type = t;
            f.pe = pe;
            f.a = a;
            f.b = b;
            f.bit = bit;
            return f;
        }
    };
    ArmedFault f = std::visit(V{}, site.where);
    f.kind = site.kind;
    f.cycle = site.cycle;
    return f;
}

}  // namespace fatsim::hw
