#include "verify.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "dataflow.hpp"
#include "stream.hpp"

namespace fatsim::rtl {

VerifyResult verify_rtl(RtlAccelerator& rtl, const QnnModel& model, const AccelConfig& accel, const int8_t* images,
                        int count, const FaultSet& faults, const FaultSet& rtl_only) {
    const DataflowDesign& d = rtl.design();
    const int S = int(d.streams.size());
    VerifyResult r;
    r.images = count;
    r.streams = S;
    r.cpp.resize(size_t(S));
    r.rtl.resize(size_t(S));

    // C++: every stream tapped; a tap that grew during a tick is a push in that cycle
    hw::DataflowModel cpp(model, accel);
    std::vector<std::vector<uint64_t>> taps(static_cast<size_t>(S));
    for (int s = 0; s < S; ++s) cpp.set_stream_tap(d.streams[size_t(s)].name, &taps[size_t(s)]);
    cpp.load_images(images, count);
    cpp.arm_faults(faults);
    while (!cpp.done()) {
        const int64_t c = cpp.cycle();
        const std::vector<size_t> before = [&] {
            std::vector<size_t> v;
            for (const auto& t : taps) v.push_back(t.size());
            return v;
        }();
        cpp.tick();
        for (int s = 0; s < S; ++s)
            if (taps[size_t(s)].size() > before[size_t(s)])
                r.cpp[size_t(s)].push_back(
                    {c, std::vector<uint64_t>(taps[size_t(s)].begin() + long(before[size_t(s)]), taps[size_t(s)].end())});
        if (c > (int64_t(1) << 34)) throw std::runtime_error("verify-rtl: the C++ model did not finish");
    }
    r.cycles_cpp = cpp.cycle();

    rtl.disarm_faults();
    rtl.arm_faults(faults);
    rtl.arm_faults(rtl_only);
    rtl.set_observer([&](int s, int64_t c, const std::vector<uint64_t>& w) { r.rtl[size_t(s)].push_back({c, w}); });
    rtl.load_images(images, count);
    // run until done, or well past the C++ model's end (a stuck RTL)
    rtl.run(r.cycles_cpp * 2 + 1000);
    rtl.set_observer(nullptr);
    r.cycles_rtl = rtl.cycle();
    for (int i = 0; i < count && rtl.done(); ++i) r.same_scores += rtl.scores(i) == cpp.scores(i);

    for (int s = 0; s < S; ++s) {
        const auto& a = r.cpp[size_t(s)];
        const auto& b = r.rtl[size_t(s)];
        r.beats += a.size();
        for (size_t k = 0; k < std::max(a.size(), b.size()); ++k) {
            const bool both = k < a.size() && k < b.size();
            if (both && a[k].cycle == b[k].cycle && a[k].word == b[k].word) continue;
            const int64_t at = both ? std::min(a[k].cycle, b[k].cycle) : k < a.size() ? a[k].cycle : b[k].cycle;
            if (!r.first || at < std::min(r.first->expected ? r.first->expected->cycle : INT64_MAX,
                                          r.first->got ? r.first->got->cycle : INT64_MAX)) {
                BeatMismatch m;
                m.stream = s;
                m.name = d.streams[size_t(s)].name;
                m.beat = k;
                if (k < a.size()) m.expected = a[k];
                if (k < b.size()) m.got = b[k];
                r.first = m;
            }
            break;
        }
    }
    return r;
}

std::string hex_word(const std::vector<uint64_t>& w, int bits) {
    std::string s;
    char buf[20];
    for (int i = int(w.size()) - 1; i >= 0; --i) {
        const int n = i == int(w.size()) - 1 ? (bits - 64 * i + 3) / 4 : 16;
        std::snprintf(buf, sizeof buf, "%0*llx", n, (unsigned long long)w[size_t(i)]);
        s += buf;
    }
    return "0x" + s;
}

namespace {
std::string vcd_bits(const std::vector<uint64_t>& w, int bits) {
    std::string s(size_t(bits), '0');
    for (int b = 0; b < bits; ++b)
        if ((w[size_t(b >> 6)] >> (b & 63)) & 1) s[size_t(bits - 1 - b)] = '1';
    return s;
}
std::string vcd_id(int n) {
    std::string id;
    do {
        id += char('!' + n % 94);
        n /= 94;
    } while (n);
    return id;
}
}  // namespace

void write_verify_vcd(const VerifyResult& r, const DataflowDesign& d, const std::string& path, int64_t from,
                      int64_t to) {
    std::ofstream o(path);
    if (!o) throw std::runtime_error(path + ": cannot write the VCD");
    const int S = int(d.streams.size());
    o << "$timescale 1ns $end\n$scope module verify_rtl $end\n";
    auto name = [&](int s) {
        std::string n = d.streams[size_t(s)].name;
        for (char& c : n)
            if (c == '[' || c == ']' || c == '.') c = '_';
        return n;
    };
    // per stream: cpp push, cpp data, rtl push, rtl data, differ
    for (int s = 0; s < S; ++s) {
        const int w = d.streams[size_t(s)].width;
        o << "$var wire 1 " << vcd_id(5 * s) << " " << name(s) << "_cpp_push $end\n"
          << "$var wire " << w << " " << vcd_id(5 * s + 1) << " " << name(s) << "_cpp_data $end\n"
          << "$var wire 1 " << vcd_id(5 * s + 2) << " " << name(s) << "_rtl_push $end\n"
          << "$var wire " << w << " " << vcd_id(5 * s + 3) << " " << name(s) << "_rtl_data $end\n"
          << "$var wire 1 " << vcd_id(5 * s + 4) << " " << name(s) << "_differ $end\n";
    }
    o << "$upscope $end\n$enddefinitions $end\n";
    std::vector<size_t> ic(size_t(S), 0), ir(size_t(S), 0);
    for (int64_t c = from; c < to; ++c) {
        o << "#" << c * 10 << "\n";
        for (int s = 0; s < S; ++s) {
            const int w = d.streams[size_t(s)].width;
            const auto& a = r.cpp[size_t(s)];
            const auto& b = r.rtl[size_t(s)];
            while (ic[size_t(s)] < a.size() && a[ic[size_t(s)]].cycle < c) ++ic[size_t(s)];
            while (ir[size_t(s)] < b.size() && b[ir[size_t(s)]].cycle < c) ++ir[size_t(s)];
            const bool pa = ic[size_t(s)] < a.size() && a[ic[size_t(s)]].cycle == c;
            const bool pb = ir[size_t(s)] < b.size() && b[ir[size_t(s)]].cycle == c;
            o << pa << vcd_id(5 * s) << "\n" << pb << vcd_id(5 * s + 2) << "\n";
            if (pa) o << "b" << vcd_bits(a[ic[size_t(s)]].word, w) << " " << vcd_id(5 * s + 1) << "\n";
            if (pb) o << "b" << vcd_bits(b[ir[size_t(s)]].word, w) << " " << vcd_id(5 * s + 3) << "\n";
            const bool differ = pa != pb || (pa && a[ic[size_t(s)]].word != b[ir[size_t(s)]].word);
            o << differ << vcd_id(5 * s + 4) << "\n";
        }
    }
    o << "#" << to * 10 << "\n";
}

}  // namespace fatsim::rtl
