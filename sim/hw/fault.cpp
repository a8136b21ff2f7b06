#include "fault.hpp"

#include <regex>

namespace fatsim::hw {

namespace {
FaultKind parse_kind(const std::string& k, int64_t& cycle, const std::string& text) {
    if (k == "sa0") return FaultKind::StuckAt0;
    if (k == "sa1") return FaultKind::StuckAt1;
    if (k.rfind("flip@", 0) == 0 && k.size() > 5) {
        cycle = std::stoll(k.substr(5));
        return FaultKind::Flip;
    }
    throw FaultSiteError("fault site '" + text + "': kind '" + k + "' must be sa0, sa1 or flip@CYCLE");
}
}  // namespace

FaultSite parse_fault_site(const std::string& text) {
    static const std::regex acc(R"(^(\w+)\.pe\[(\d+)\]\.acc\.bit\[(\d+)\]:(\S+)$)");
    static const std::regex add(R"(^(\w+)\.pe\[(\d+)\]\.adder\.l(\d+)\.n(\d+)\.bit\[(\d+)\]:(\S+)$)");
    static const std::regex wmem(R"(^(\w+)\.wmem\.pe\[(\d+)\]\.word\[(\d+)\]\.bit\[(\d+)\]:(\S+)$)");
    static const std::regex thr(R"(^(\w+)\.pe\[(\d+)\]\.thr\[(\d+)\]\.bit\[(\d+)\]:(\S+)$)");
    static const std::regex cmp(R"(^(\w+)\.pe\[(\d+)\]\.cmp\[(\d+)\]:(\S+)$)");
    static const std::regex fifo(R"(^fifo\[(\d+)\]\.slot\[(\d+)\]\.bit\[(\d+)\]:(\S+)$)");
    std::smatch m;
    FaultSite s;
    auto num = [&](int i) { return std::stoi(m[i].str()); };
    if (std::regex_match(text, m, fifo)) {
        s.type = SiteType::FifoSlot;
        s.fifo = num(1);
        s.index = num(2);
        s.bit = num(3);
        s.kind = parse_kind(m[4].str(), s.cycle, text);
    } else if (std::regex_match(text, m, acc)) {
        s.type = SiteType::Acc;
        s.layer = m[1].str();
        s.pe = num(2);
        s.index = 0;
        s.bit = num(3);
        s.kind = parse_kind(m[4].str(), s.cycle, text);
    } else if (std::regex_match(text, m, add)) {
        s.type = SiteType::AdderNode;
        s.layer = m[1].str();
        s.pe = num(2);
        s.level = num(3);
        s.node = num(4);
        s.bit = num(5);
        s.kind = parse_kind(m[6].str(), s.cycle, text);
    } else if (std::regex_match(text, m, wmem)) {
        s.type = SiteType::WeightWord;
        s.layer = m[1].str();
        s.pe = num(2);
        s.index = num(3);
        s.bit = num(4);
        s.kind = parse_kind(m[5].str(), s.cycle, text);
    } else if (std::regex_match(text, m, thr)) {
        s.type = SiteType::Threshold;
        s.layer = m[1].str();
        s.pe = num(2);
        s.index = num(3);
        s.bit = num(4);
        s.kind = parse_kind(m[5].str(), s.cycle, text);
    } else if (std::regex_match(text, m, cmp)) {
        s.type = SiteType::Comparator;
        s.layer = m[1].str();
        s.pe = num(2);
        s.index = num(3);
        s.bit = 0;
        s.kind = parse_kind(m[4].str(), s.cycle, text);
    } else {
        throw FaultSiteError("fault site '" + text +
                             "' does not match LAYER.pe[P].acc.bit[B], LAYER.pe[P].adder.lL.nN.bit[B], "
                             "LAYER.wmem.pe[P].word[W].bit[B], LAYER.pe[P].thr[I].bit[B], "
                             "LAYER.pe[P].cmp[T] or fifo[F].slot[S].bit[B], followed by :sa0, :sa1 or :flip@CYCLE");
    }
    if (s.bit > 62) throw FaultSiteError("fault site '" + text + "': bit " + std::to_string(s.bit) + " out of range");
    return s;
}

std::string fault_site_name(const FaultSite& s) {
    const std::string P = ".pe[" + std::to_string(s.pe) + "]";
    const std::string B = ".bit[" + std::to_string(s.bit) + "]";
    std::string r;
    switch (s.type) {
        case SiteType::Acc: r = s.layer + P + ".acc" + B; break;
        case SiteType::AdderNode:
            r = s.layer + P + ".adder.l" + std::to_string(s.level) + ".n" + std::to_string(s.node) + B;
            break;
        case SiteType::WeightWord: r = s.layer + ".wmem" + P + ".word[" + std::to_string(s.index) + "]" + B; break;
        case SiteType::Threshold: r = s.layer + P + ".thr[" + std::to_string(s.index) + "]" + B; break;
        case SiteType::Comparator: r = s.layer + P + ".cmp[" + std::to_string(s.index) + "]"; break;
        case SiteType::FifoSlot:
            r = "fifo[" + std::to_string(s.fifo) + "].slot[" + std::to_string(s.index) + "]" + B;
            break;
    }
    switch (s.kind) {
        case FaultKind::StuckAt0: return r + ":sa0";
        case FaultKind::StuckAt1: return r + ":sa1";
        case FaultKind::Flip: return r + ":flip@" + std::to_string(s.cycle);
    }
    return r;
}

}  // namespace fatsim::hw
