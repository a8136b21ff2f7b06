// verify-rtl, bench rtl and the RTL model behind simulate --model-kind rtl:
// the Verilated dataflow top (rtl/) against the C++ cycle model (sim/hw).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <random>

#include "app.hpp"
#include "config.hpp"
#include "dataflow.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "rtl_accelerator.hpp"
#include "verify.hpp"

namespace fatsim::app {

namespace {

std::vector<int8_t> random_images(const Topology& t, int n, uint64_t seed) {
    std::vector<int8_t> v(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
    std::mt19937_64 rng(seed);
    for (auto& x : v) x = int8_t(int(rng() & 0xFF) - 128);
    return v;
}

// Where a stream sits: the unit that writes it, or the network input.
std::string stream_place(const rtl::DataflowDesign& d, int s) {
    for (const rtl::UnitDesc& u : d.units)
        if (u.out == s) return "written by " + u.name;
    return "network input";
}

}  // namespace

std::unique_ptr<hw::Accelerator> make_rtl_model(const QnnModel& model, const AccelConfig& accel) {
    return rtl::make_rtl_accelerator(model, accel);
}

int cmd_verify_rtl(const Args& args) {
    po::options_description desc("fatsim verify-rtl options");
    desc.add_options()
        ("accel,a", po::value<std::string>()->required(), "accelerator YAML (a folding compiled into fatsim_rtl)")
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("fault", po::value<std::vector<std::string>>()->composing(),
         "arm a fault site in both models, e.g. conv1.pe[3].acc.bit[7]:sa1 (the RTL takes one)")
        ("rtl-fault", po::value<std::vector<std::string>>()->composing(),
         "arm a fault site in the RTL only (shows what a disagreement looks like)")
        ("vcd", po::value<std::string>(), "write a VCD of every stream of both models around the first mismatch")
        ("window", po::value<int>()->default_value(50), "VCD cycles before and after the mismatch")
        ("random-inputs", po::value<uint64_t>(), "random int8 images with this seed instead of a dataset");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim verify-rtl --accel A --model M [--images N] [--fault SITE ...] [--vcd FILE]"))
        return 0;
    const std::string model_path = vm["model"].as<std::string>();
    const std::string accel_path = vm["accel"].as<std::string>();
    const QnnModel model = load_model(model_path);
    const AccelConfig acc = load_accel_for_model(accel_path, model.topology);
    const int window = vm["window"].as<int>();
    if (window < 1) throw UsageError("--window must be at least 1");

    std::vector<int8_t> images;
    int n = 0;
    if (vm.count("random-inputs")) {
        n = std::max(1, vm["images"].as<int>());
        images = random_images(model.topology, n, vm["random-inputs"].as<uint64_t>());
    } else {
        InputBatch batch = load_inputs(vm, model.topology);
        n = batch.count;
        images = std::move(batch.data);
    }
    if (n == 0) throw UsageError("no images to verify");
    FaultSet faults;
    if (vm.count("fault"))
        for (const std::string& f : vm["fault"].as<std::vector<std::string>>()) faults.push_back(parse_fault_site(f));

    FaultSet rtl_only;
    if (vm.count("rtl-fault"))
        for (const std::string& f : vm["rtl-fault"].as<std::vector<std::string>>()) rtl_only.push_back(parse_fault_site(f));

    const auto rtl = rtl::make_rtl_accelerator(model, acc);
    const auto t0 = std::chrono::steady_clock::now();
    const rtl::VerifyResult r = rtl::verify_rtl(*rtl, model, acc, images.data(), n, faults, rtl_only);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const rtl::DataflowDesign& d = rtl->design();

    std::string fault_note;
    for (const FaultSite& f : faults) fault_note += (fault_note.empty() ? ", fault " : " + ") + fault_site_name(f);
    if (r.agree()) {
        std::printf("verify-rtl: RTL %s agrees with the C++ model: %d image%s, %d streams, %llu beats, %lld cycles, "
                    "identical data and cycles, identical class scores%s (%.1f s)\n",
                    d.top.c_str(), n, n == 1 ? "" : "s", r.streams, (unsigned long long)r.beats, (long long)r.cycles_cpp,
                    fault_note.c_str(), secs);
        return 0;
    }
    int64_t at = std::min(r.cycles_cpp, r.cycles_rtl);
    if (r.first) {
        const rtl::BeatMismatch& m = *r.first;
        const int w = d.streams[size_t(m.stream)].width;
        auto beat = [&](const std::optional<rtl::StreamBeat>& b) {
            return b ? "cycle " + std::to_string(b->cycle) + " " + rtl::hex_word(b->word, w) : std::string("no beat");
        };
        at = std::min(m.expected ? m.expected->cycle : INT64_MAX, m.got ? m.got->cycle : INT64_MAX);
        std::printf("verify-rtl: MISMATCH on stream %s (%s), beat %zu, cycle %lld\n  expected (C++): %s\n  got (RTL):      %s\n",
                    m.name.c_str(), stream_place(d, m.stream).c_str(), m.beat, (long long)at,
                    beat(m.expected).c_str(), beat(m.got).c_str());
    }
    if (r.cycles_cpp != r.cycles_rtl)
        std::printf("verify-rtl: the C++ model finished in %lld cycles, the RTL in %lld\n", (long long)r.cycles_cpp,
                    (long long)r.cycles_rtl);
    if (r.same_scores != n) std::printf("verify-rtl: %d of %d images with identical class scores\n", r.same_scores, n);
    if (vm.count("vcd")) {
        const int64_t from = std::max<int64_t>(0, at - window), to = at + window + 1;
        rtl::write_verify_vcd(r, d, vm["vcd"].as<std::string>(), from, to);
        std::printf("verify-rtl: VCD of cycles %lld..%lld in %s\n", (long long)from, (long long)to - 1,
                    vm["vcd"].as<std::string>().c_str());
    }
    return 1;
}

int cmd_bench_rtl(const Args& args) {
    po::options_description desc("fatsim bench rtl options");
    desc.add_options()
        ("what", po::value<std::string>()->required(), "rtl")
        ("accel,a", po::value<std::string>()->default_value("models/accel/cnv_w1a1_quarter.yaml"),
         "accelerator YAML (a folding compiled into fatsim_rtl)")
        ("width", po::value<double>()->default_value(0.25), "width multiplier of its topology")
        ("images", po::value<int>()->default_value(4), "images back to back")
        ("seed", po::value<uint64_t>()->default_value(1), "random model and input seed");
    po::positional_options_description pos;
    pos.add("what", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim bench rtl [--accel A] [--width W] [--images N]", &pos)) return 0;
    require_at_least(vm, {"images"});
    Topology topo;
    AccelConfig acc = load_accel(vm["accel"].as<std::string>(), &topo);
    if (vm["width"].as<double>() > 0) {
        topo = load_topology(acc.topology_path, vm["width"].as<double>());
        bind_folding(acc, topo);
    }
    const QnnModel model = random_model(topo, vm["seed"].as<uint64_t>());
    const int n = vm["images"].as<int>();
    const std::vector<int8_t> data = random_images(topo, n, vm["seed"].as<uint64_t>());

    hw::DataflowModel cpp(model, acc);
    cpp.load_images(data.data(), n);
    auto t0 = std::chrono::steady_clock::now();
    const int64_t c_cpp = cpp.run();
    const double s_cpp = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const auto rtl = rtl::make_rtl_accelerator(model, acc);
    rtl->load_images(data.data(), n);
    t0 = std::chrono::steady_clock::now();
    const int64_t c_rtl = rtl->run();
    const double s_rtl = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    int same = 0;
    for (int i = 0; i < n; ++i) same += rtl->scores(i) == cpp.scores(i);
    std::printf("bench rtl: %s (%s), %s, %d images back to back\n", vm["accel"].as<std::string>().c_str(),
                rtl->design().top.c_str(), topo.name.c_str(), n);
    std::printf("  Verilator RTL  : %lld cycles in %.3f s = %.3f M simulated cycles/s, %.1f images/s\n",
                (long long)c_rtl, s_rtl, c_rtl / s_rtl / 1e6, n / s_rtl);
    std::printf("  plain C++ loop : %lld cycles in %.3f s = %.3f M simulated cycles/s, %.1f images/s\n",
                (long long)c_cpp, s_cpp, c_cpp / s_cpp / 1e6, n / s_cpp);
    std::printf("  C++ / RTL      : %.1f x\n", (c_cpp / s_cpp) / (c_rtl / s_rtl));
    std::printf("  agreement      : %s cycles, %d/%d images with identical class scores\n",
                c_cpp == c_rtl ? "identical" : "DIFFERENT", same, n);
    return same == n && c_cpp == c_rtl ? 0 : 1;
}

}  // namespace fatsim::app
