// bench: throughput figures measured against a baseline in the same run.
#include <chrono>
#include <iostream>
#include <random>

#include "app.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "reference.hpp"

namespace fatsim::app {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

    std::printf("bench engine: %s (width %.3g), %d random 32x32x%d images, %d threads\n", topo.name.c_str(), topo.width,
                n, topo.in_channels, resolve_threads(threads));
    const Engine engine(model);
    auto t0 = std::chrono::steady_clock::now();
    const EvalResult r = engine.evaluate(batch, {}, threads);
    const double te = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    int mismatch = 0;
    for (int i = 0; i < std::min(nref, n); ++i)
        mismatch += reference_classify(model, batch.image(i)) != r.predictions[i];
    const double tr = seconds_since(t0);
    const double eng_rate = n / te, ref_rate = std::min(nref, n) / tr;
    std::printf("golden engine     %10.1f images/s  (%d images in %.2f s, %d threads)\n", eng_rate, n, te,
                resolve_threads(threads));
    std::printf("naive reference   %10.1f images/s  (%d images in %.2f s, 1 thread)\n", ref_rate, std::min(nref, n), tr);
    std::printf("speed-up          %10.1f x\n", eng_rate / ref_rate);
    std::printf("agreement         %s (%d of %d reference images differ)\n", mismatch ? "MISMATCH" : "identical",
                mismatch, std::min(nref, n));
    return mismatch ? 1 : 0;
}
}  // namespace

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
    if (what == "engine") return bench_engine(vm);
    throw UsageError("unknown benchmark '" + what + "' (engine | hw | rtl | fifo | campaign | physical)");
}

}  // namespace fatsim::app
