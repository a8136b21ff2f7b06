#include "fault_site.hpp"

#include <cctype>
#include <climits>
#include <type_traits>

namespace fatsim {

namespace {

// The grammar, one form per class in SiteLocation order. A pattern follows
// the layer name ('#' = a decimal number); the FIFO form is the whole path.
struct SiteForm {
    const char* pattern;
    const char* fields[4];
    int nfields;
};
const SiteForm kForms[kSiteClasses] = {
    {".pe[#].acc.bit[#]", {"pe", "bit"}, 2},
    {".pe[#].adder.l#.n#.bit[#]", {"pe", "level", "node", "bit"}, 4},
    {".wmem.pe[#].word[#].bit[#]", {"pe", "word", "bit"}, 3},
    {".pe[#].thr[#].bit[#]", {"pe", "word", "bit"}, 3},
    {".pe[#].cmp[#]", {"pe", "index"}, 2},
    {"fifo[#].slot[#].bit[#]", {"fifo", "slot", "bit"}, 3},
    {".fmbuf[#].word[#].bit[#]", {"buffer", "word", "bit"}, 3},
};
constexpr int kFifoForm = int(SiteClass::FifoSlot);

// The numbers of a site in its form's field order.
std::vector<int> numbers_of(const SiteLocation& w) {
    struct V {
        std::vector<int> operator()(const AccBit& s) const { return {s.pe, s.bit}; }
        std::vector<int> operator()(const AdderNodeBit& s) const { return {s.pe, s.level, s.node, s.bit}; }
        std::vector<int> operator()(const WeightBit& s) const { return {s.pe, s.word, s.bit}; }
        std::vector<int> operator()(const ThresholdBit& s) const { return {s.pe, s.word, s.bit}; }
        std::vector<int> operator()(const Comparator& s) const { return {s.pe, s.index}; }
        std::vector<int> operator()(const FifoBit& s) const { return {s.fifo, s.slot, s.bit}; }
        std::vector<int> operator()(const FmBufBit& s) const { return {s.buffer, s.word, s.bit}; }
    };
    return std::visit(V{}, w);
}

SiteLocation make_site(SiteClass c, const std::string& layer, const std::vector<int>& n) {
    switch (c) {
        case SiteClass::Acc: return AccBit{layer, n[0], n[1]};
        case SiteClass::AdderNode: return AdderNodeBit{layer, n[0], n[1], n[2], n[3]};
        case SiteClass::WeightWord: return WeightBit{layer, n[0], n[1], n[2]};
        case SiteClass::Threshold: return ThresholdBit{layer, n[0], n[1], n[2]};
        case SiteClass::Comparator: return Comparator{layer, n[0], n[1]};
        case SiteClass::FifoSlot: return FifoBit{n[0], n[1], n[2]};
        case SiteClass::FmBuf: return FmBufBit{layer, n[0], n[1], n[2]};
    }
    return AccBit{};
}

// Matches `text` against `pattern`; each '#' takes one or more digits.
bool match_form(const std::string& text, const char* pattern, std::vector<std::string>& digits) {
    digits.clear();
    size_t i = 0;
    for (const char* p = pattern; *p; ++p) {
        if (*p == '#') {
            const size_t start = i;
            while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
            if (i == start) return false;
            digits.push_back(text.substr(start, i - start));
        } else if (i >= text.size() || text[i++] != *p) {
            return false;
        }
    }
    return i == text.size();
}

// A form as the user reads it: LAYER.pe[PE].acc.bit[BIT].
std::string form_text(int f) {
    std::string r = f == kFifoForm ? "" : "LAYER";
    int k = 0;
    for (const char* p = kForms[f].pattern; *p; ++p) {
        if (*p != '#') {
            r += *p;
            continue;
        }
        for (const char* c = kForms[f].fields[k++]; *c; ++c) r += char(std::toupper(static_cast<unsigned char>(*c)));
    }
    return r;
}

// Decimal digits -> a value in [0, max], else the field's range rule.
int64_t checked_number(const std::string& digits, int64_t max, const std::string& field, const std::string& text) {
    int64_t v = 0;
    for (char c : digits) {
        const int d = c - '0';
        if (v > (max - d) / 10)
            throw FaultSiteError("fault site '" + text + "': " + field + " " + digits + " out of range (0.." +
                                 std::to_string(max) + ")");
        v = v * 10 + d;
    }
    return v;
}

}  // namespace

const char* site_class_name(SiteClass c) {
    switch (c) {
        case SiteClass::Acc: return "acc";
        case SiteClass::AdderNode: return "adder";
        case SiteClass::WeightWord: return "wmem";
        case SiteClass::Threshold: return "thr";
        case SiteClass::Comparator: return "cmp";
        case SiteClass::FifoSlot: return "fifo";
        case SiteClass::FmBuf: return "fmbuf";
    }
    return "?";
}

bool parse_site_class(const std::string& name, SiteClass& out) {
    for (int c = 0; c < kSiteClasses; ++c)
        if (name == site_class_name(SiteClass(c))) {
            out = SiteClass(c);
            return true;
        }
    return false;
}

std::string site_class_form(SiteClass c) { return form_text(int(c)); }

SiteClass site_class(const SiteLocation& where) { return SiteClass(where.index()); }

const std::string& site_layer(const SiteLocation& where) {
    static const std::string none;
    return std::visit(
        [](const auto& s) -> const std::string& {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, FifoBit>) return none;
            else return s.layer;
        },
        where);
}

FaultSite parse_fault_site(const std::string& text) {
    auto fail = [&](const std::string& rule) { throw FaultSiteError("fault site '" + text + "': " + rule); };
    const size_t colon = text.find(':');
    if (colon == std::string::npos) fail("missing ':KIND' (KIND is sa0, sa1 or flip@CYCLE)");
    const std::string path = text.substr(0, colon), kind = text.substr(colon + 1);

    FaultSite s;
    std::vector<std::string> digits;
    if (kind == "sa0") {
        s.kind = FaultKind::StuckAt0;
    } else if (kind == "sa1") {
        s.kind = FaultKind::StuckAt1;
    } else if (match_form(kind, "flip@#", digits)) {
        s.kind = FaultKind::Flip;
        s.cycle = checked_number(digits[0], INT64_MAX, "flip cycle", text);
    } else {
        fail("kind '" + kind + "' must be sa0, sa1 or flip@CYCLE with CYCLE a non-negative integer");
    }

    // LAYER is the text up to the first '.'; a FIFO path starts with "fifo[".
    const bool fifo = path.rfind("fifo[", 0) == 0;
    std::string layer, rest = path;
    if (!fifo) {
        const size_t dot = path.find('.');
        layer = path.substr(0, dot);
        rest = dot == std::string::npos ? "" : path.substr(dot);
        bool word_chars = !layer.empty();
        for (char c : layer) word_chars &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        if (!word_chars) fail("layer name '" + layer + "' must be one or more letters, digits or '_'");
    }
    for (int f = 0; f < kSiteClasses; ++f) {
        if ((f == kFifoForm) != fifo || !match_form(rest, kForms[f].pattern, digits)) continue;
        std::vector<int> n(digits.size());
        // Each number fits an int; whether the element exists is the accelerator's check.
        for (size_t k = 0; k < digits.size(); ++k)
            n[k] = int(checked_number(digits[k], INT_MAX, kForms[f].fields[k], text));
        s.where = make_site(SiteClass(f), layer, n);
        return s;
    }
    std::string forms;
    for (int f = 0; f < kSiteClasses; ++f) forms += (f ? (f + 1 == kSiteClasses ? " or " : ", ") : "") + form_text(f);
    fail("'" + path + "' does not match " + forms);
    return s;
}

std::string site_location_name(const SiteLocation& where) {
    const int f = int(where.index());
    const std::vector<int> n = numbers_of(where);
    std::string r = site_layer(where);
    size_t k = 0;
    for (const char* p = kForms[f].pattern; *p; ++p) r += *p == '#' ? std::to_string(n[k++]) : std::string(1, *p);
    return r;
}

std::string fault_site_name(const FaultSite& site) {
    const std::string r = site_location_name(site.where);
    switch (site.kind) {
        case FaultKind::StuckAt0: return r + ":sa0";
        case FaultKind::StuckAt1: return r + ":sa1";
        case FaultKind::Flip: return r + ":flip@" + std::to_string(site.cycle);
    }
    return r;
}

}  // namespace fatsim
