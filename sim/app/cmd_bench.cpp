// bench: throughput figures measured against a baseline in the same run.
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "app.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "kernels.hpp"
#include "model.hpp"
#include "reference.hpp"

namespace fatsim::app {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of this process so far, every thread (the machine is shared:
// wall time alone says little about the code).
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Engine images/s on random inputs against the naive reference, with a check
// that both classify the reference's images identically.
int bench_engine(const po::variables_map& vm) {
    const Topology topo = load_topology(vm["topology"].as<std::string>(), vm["width"].as<double>());
    const QnnModel model = random_model(topo, 7);
    const int n = vm["images"].as<int>(), nref = vm["reference-images"].as<int>(), threads = vm["threads"].as<int>();
    InputBatch batch;
    batch.count = n;
    batch.dim = topo.in_dim;
    batch.channels = topo.in_channels;
    batch.data.resize(size_t(n) * topo.in_dim * topo.in_dim * topo.in_channels);
    batch.labels.assign(n, 0);
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> px(-128, 127);
    for (auto& v : batch.data) v = int8_t(px(rng));

    const kernels::Isa isa = kernels::active_isa();
    const int nt = resolve_threads(threads);
    std::printf("bench engine: %s (width %.3g), %d random 32x32x%d images, %d threads, %s kernels\n",
                topo.name.c_str(), topo.width, n, topo.in_channels, nt, kernels::isa_name(isa));
    const Engine engine(model);
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_seconds();
    const EvalResult r = engine.evaluate(batch, {}, threads);
    const double te = seconds_since(t0), ce = cpu_seconds() - c0;
    // The portable kernels on part of the batch, as the in-run baseline.
    const int nport = isa == kernels::Isa::Portable ? 0 : std::min(n, std::max(1, n / 5));
    int port_mismatch = 0;
    double tp = 0, cp = 0;
    if (nport) {
        InputBatch part = batch;
        part.count = nport;
        kernels::set_active_isa(kernels::Isa::Portable);
        t0 = std::chrono::steady_clock::now();
        c0 = cpu_seconds();
        const EvalResult rp = engine.evaluate(part, {}, threads);
        tp = seconds_since(t0);
        cp = cpu_seconds() - c0;
        kernels::set_active_isa(isa);
        for (int i = 0; i < nport; ++i) port_mismatch += rp.predictions[i] != r.predictions[i];
    }
    t0 = std::chrono::steady_clock::now();
    int mismatch = 0;
    for (int i = 0; i < std::min(nref, n); ++i)
        mismatch += reference_classify(model, batch.image(i)) != r.predictions[i];
    const double tr = seconds_since(t0);
    const double eng_rate = n / te, ref_rate = std::min(nref, n) / tr;
    // Binary ops: one XNOR-popcount bit (a 1-bit multiply-accumulate) per
    // weight and output pixel of the XNOR layers; integer MACs likewise.
    double bin_ops = 0, int_macs = 0;
    for (int l = 0; l < engine.layers(); ++l) {
        const PreparedLayer& p = engine.prepared_layer(l);
        (p.geo.xnor ? bin_ops : int_macs) += p.macs();
    }
    const XnorPeak xp = measure_xnor_peak(nt);
    const double peak = xp.per_second, peak_cpu = xp.per_cpu_second;
    const double achieved = bin_ops * eng_rate, achieved_cpu = bin_ops * n / ce;
    std::printf("golden engine     %10.1f images/s  (%d images in %.2f s, %d threads; %.0f images per CPU second)\n",
                eng_rate, n, te, nt, n / ce);
    if (nport)
        std::printf("portable kernels  %10.1f images/s  (%d images in %.2f s, %d threads; %.0f images per CPU second): "
                    "%.2f x slower per CPU second\n",
                    nport / tp, nport, tp, nt, nport / cp, (n / ce) / (nport / cp));
    std::printf("naive reference   %10.1f images/s  (%d images in %.2f s, 1 thread)\n", ref_rate, std::min(nref, n), tr);
    std::printf("speed-up          %10.1f x\n", eng_rate / ref_rate);
    std::printf("binary ops        %10.1f M per image (XNOR-popcount bits), %.1f M integer MACs besides\n",
                bin_ops / 1e6, int_macs / 1e6);
    std::printf("achieved          %10.1f G binary ops/s, %.1f G per CPU second = %.0f%% of peak per CPU second\n",
                achieved / 1e9, achieved_cpu / 1e9, 100 * achieved_cpu / peak_cpu);
    std::printf("peak              %10.1f G binary ops/s, %.1f G per CPU second: %d threads x 12 x %d bits per round "
                "x rounds/s of a register-only XOR+POPCOUNT+ADD loop (same run)\n",
                peak / 1e9, peak_cpu / 1e9, nt, isa == kernels::Isa::Avx512 ? 512 : 64);
    std::printf("peak RSS          %10.1f MiB\n", peak_rss_mib());
    std::printf("agreement         %s (%d of %d reference images differ", mismatch || port_mismatch ? "MISMATCH" : "identical",
                mismatch, std::min(nref, n));
    if (nport) std::printf("; portable kernels: %d of %d differ", port_mismatch, nport);
    std::printf(")\n");
    mismatch += port_mismatch;
    return mismatch ? 1 : 0;
}
}  // namespace

XnorPeak measure_xnor_peak(int threads) {
    // The engine's XOR + POPCOUNT + ADD on registers only, on every thread at once.
    constexpr uint64_t kPeakIters = 20'000'000;
    const int nt = std::max(1, threads);
    std::vector<uint64_t> bits(static_cast<size_t>(nt)), sums(bits);
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    const kernels::Isa isa = kernels::active_isa();
    for (int t = 0; t < nt; ++t)
        pool.emplace_back([&, t] { bits[size_t(t)] = kernels::peak_xnor_loop(isa, kPeakIters, sums[size_t(t)]); });
    for (auto& t : pool) t.join();
    // (per CPU second: load-independent)
    return {double(bits[0]) * nt / seconds_since(t0), double(bits[0]) * nt / (cpu_seconds() - c0)};
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

int cmd_bench(const Args& args) {
    // Benchmarks of other areas parse their own options.
    if (!args.empty() && args[0] == "hw") return cmd_bench_hw(args);
    if (!args.empty() && args[0] == "fifo") return cmd_bench_fifo(args);
    if (!args.empty() && args[0] == "campaign") return cmd_bench_campaign(args);
    if (!args.empty() && args[0] == "physical") return cmd_bench_physical(args);
#ifdef FATSIM_HAVE_RTL
    if (!args.empty() && args[0] == "rtl") return cmd_bench_rtl(args);
#else
    if (!args.empty() && args[0] == "rtl")
        throw std::runtime_error("this build has no RTL (configure with Verilator and -DFATSIM_RTL=ON)");
#endif
    po::options_description desc("fatsim bench options");
    desc.add_options()
        ("what", po::value<std::string>()->required(), "engine | hw | rtl | fifo | campaign | physical (each has its own --help)")
        ("topology,t", po::value<std::string>()->default_value("models/cnv_w1a1.yaml"), "topology YAML")
        ("width", po::value<double>()->default_value(0.0), "width multiplier (0 = the topology's)")
        ("images", po::value<int>()->default_value(10000), "images for the engine")
        ("reference-images", po::value<int>()->default_value(20), "images for the naive reference")
        ("threads,j", po::value<int>()->default_value(2), "engine worker threads");
    po::positional_options_description pos;
    pos.add("what", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim bench engine [--images N] [--threads T]", &pos)) return 0;
    const std::string what = vm["what"].as<std::string>();
    if (what == "engine") {
        require_at_least(vm, {"images", "reference-images"});
        return bench_engine(vm);
    }
    throw UsageError("unknown benchmark '" + what + "' (engine | hw | rtl | fifo | campaign | physical)");
}

}  // namespace fatsim::app
