// fifo-size and bench fifo: the smallest FIFO depths that keep a dataflow
// accelerator at its bottleneck throughput (sim/hw/fifo_sizing.hpp), checked
// on held-out images, written as an accelerator YAML and a FINN folding JSON.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "accelerator.hpp"
#include "app.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "fifo_sizing.hpp"
#include "files.hpp"
#include "model.hpp"

namespace fatsim::app {

namespace {

namespace fs = std::filesystem;

// The accelerator YAML of a sized design, in the layout of models/accel/.
std::string accel_yaml(const AccelConfig& acc, const std::string& topology_rel, const std::string& header) {
    std::ostringstream o;
    o << header << "architecture: dataflow\ntopology: " << topology_rel << "\nclock_mhz: " << param::num(acc.clock_mhz)
      << "\nfifo_depths: [";
    for (size_t i = 0; i < acc.dataflow.fifo_depths.size(); ++i) o << (i ? ", " : "") << acc.dataflow.fifo_depths[i];
    o << "]\n";
    if (!acc.dataflow.stream_depths.empty()) {
        o << "stream_depths: {";
        bool first = true;
        for (const auto& kv : acc.dataflow.stream_depths) {
            o << (first ? "" : ", ") << kv.first << ": " << kv.second;
            first = false;
        }
        o << "}\n";
    }
    o << "layers:\n";
    for (const LayerFolding& f : acc.layers) {
        o << "  - {name: " << f.name << ", pe: " << f.pe << ", simd: " << f.simd;
        if (f.mh_padded > 0) o << ", mh_padded: " << f.mh_padded;
        if (f.schedule != Schedule::Interleaved) o << ", schedule: " << schedule_name(f.schedule);
        o << "}\n";
    }
    return o.str();
}

std::vector<int8_t> random_images(const Topology& t, int n, uint64_t seed) {
    std::vector<int8_t> data(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
    std::mt19937_64 rng(seed);
    for (auto& v : data) v = int8_t(int(rng() & 0xFF) - 128);
    return data;
}

// An interval or a count with thousands separators; a negative interval is
// a run that did not finish (deadlock).
std::string with_commas(int64_t v) {
    if (v < 0) return "no steady state (deadlock)";
    std::string s = std::to_string(v);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
    return s;
}

struct Totals {
    int64_t before = 0, sized = 0;
};
Totals fifo_bits(const hw::FifoSizing& r) {
    Totals t;
    for (const auto& f : r.fifos) {
        t.before += f.bits_before();
        t.sized += f.bits();
    }
    return t;
}

}  // namespace

int cmd_fifo_size(const Args& args) {
    po::options_description desc("fatsim fifo-size options");
    desc.add_options()
        ("accel,a", po::value<std::string>()->required(), "accelerator YAML (dataflow) or FINN folding JSON")
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("images", po::value<int>()->default_value(5), "images back to back in each trial run (>= 3)")
        ("held-out", po::value<int>()->default_value(5), "further images the sized design is checked on (>= 3)")
        ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist | mnist | cifar10")
        ("data-dir", po::value<std::string>()->default_value(""), "folder of the dataset files")
        ("split", po::value<std::string>()->default_value("test"), "test | train")
        ("random-inputs", po::value<uint64_t>(), "use random int8 images with this seed instead of a dataset")
        ("out,o", po::value<std::string>(), "write the sized accelerator YAML here")
        ("finn-json", po::value<std::string>(), "write the sized design as a FINN folding JSON here")
        ("topology,t", po::value<std::string>(), "topology file the --out YAML names (default: the accelerator's)")
        ("threads,j", po::value<int>()->default_value(0), "trial runs side by side (0 = one per core)")
        ("json", po::bool_switch(), "print the result as JSON");
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim fifo-size --accel A --model M [--images N] [--out sized.yaml] [--finn-json sized.json]"))
        return 0;
    const std::string accel_path = vm["accel"].as<std::string>();
    const std::string model_path = vm["model"].as<std::string>();
    const int n_size = vm["images"].as<int>(), n_held = vm["held-out"].as<int>();
    if (n_size < 3 || n_held < 3)
        throw UsageError("--images and --held-out must be >= 3 (a steady state needs 3 images)");
    const QnnModel model = load_model(model_path);
    const Topology& topo = model.topology;
    const AccelConfig acc = load_accel_for_model(accel_path, topo);
    if (acc.architecture != Architecture::Dataflow)
        throw UsageError(accel_path + " is a " + architecture_name(acc.architecture) +
                         " accelerator; only the dataflow architecture has inter-layer FIFOs");
    std::string topology_path = vm.count("topology") ? vm["topology"].as<std::string>() : acc.topology_path;
    if (vm.count("out") && topology_path.empty())
        throw UsageError("--out: " + accel_path + " names no topology file; give one with --topology");

    // Images: the first --images size the FIFOs, the next --held-out check them.
    InputBatch batch;
    const int n = n_size + n_held;
    if (vm.count("random-inputs")) {
        batch.count = n;
        batch.data = random_images(topo, n, vm["random-inputs"].as<uint64_t>());
    } else {
        const Dataset ds = load_dataset(parse_dataset_kind(vm["dataset"].as<std::string>()),
                                        vm["data-dir"].as<std::string>(), vm["split"].as<std::string>(), n);
        batch = prepare_inputs(ds, topo, n);
        if (batch.count < n)
            throw UsageError("the dataset has " + std::to_string(batch.count) + " images, --images + --held-out need " +
                             std::to_string(n));
    }
    const size_t image_size = size_t(topo.in_dim) * topo.in_dim * topo.in_channels;
    const int8_t* held_out = batch.data.data() + size_t(n_size) * image_size;

    hw::FifoSizingOptions opt;
    opt.threads = vm["threads"].as<int>();
    const auto t0 = std::chrono::steady_clock::now();
    const hw::FifoSizing r = hw::size_fifos(model, acc, batch.data.data(), n_size, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The sized design on the held-out images: throughput and class scores.
    const std::unique_ptr<hw::Accelerator> sim = hw::make_accelerator(model, r.sized);
    sim->load_images(held_out, n_held);
    sim->run();
    const hw::CycleReport held = sim->report();
    const Engine engine(model);
    auto ws = engine.make_workspace();
    int same_scores = 0;
    for (int i = 0; i < n_held; ++i) {
        Trace tr;
        engine.classify(*ws, held_out + size_t(i) * image_size, {}, &tr);
        same_scores += sim->scores(i) == tr.layers.back().acc;
    }
    const bool verified = held.steady_interval <= r.target && same_scores == n_held;
    const Totals bits = fifo_bits(r);

    if (vm["json"].as<bool>()) {
        nlohmann::json fifos = nlohmann::json::array();
        for (const auto& f : r.fifos)
            fifos.push_back({{"name", f.name},
                             {"width", f.width},
                             {"depth_configured", f.depth_before},
                             {"peak_deep", f.peak},
                             {"depth", f.depth},
                             {"bits", f.bits()}});
        nlohmann::json j = {{"accel", accel_path},
                            {"model", model_path},
                            {"images", n_size},
                            {"held_out_images", n_held},
                            {"fifos", fifos},
                            {"bits_configured", bits.before},
                            {"bits_sized", bits.sized},
                            {"interval_configured", r.interval_before},
                            {"interval_deep", r.interval_deep},
                            {"interval_sized", r.interval_sized},
                            {"interval_held_out", held.steady_interval},
                            {"bottleneck_layer", r.bottleneck_layer},
                            {"bottleneck_cycles", r.bottleneck},
                            {"held_out_identical_scores", same_scores},
                            {"verified", verified},
                            {"trial_runs", r.runs},
                            {"seconds", secs}};
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("fifo-size: %s on %s (%s), %d images per trial run, %d held out\n", accel_path.c_str(),
                    model_path.c_str(), topo.name.c_str(), n_size, n_held);
        std::printf("%-12s %6s %11s %10s %6s %8s\n", "stream", "width", "configured", "deep peak", "sized", "bits");
        for (const auto& f : r.fifos)
            std::printf("%-12s %6d %11d %10d %6d %8s\n", f.name.c_str(), f.width, f.depth_before, f.peak, f.depth,
                        with_commas(f.bits()).c_str());
        std::printf("FIFO bits     sized %s, configured %s (%.0f %%)\n", with_commas(bits.sized).c_str(),
                    with_commas(bits.before).c_str(), bits.before > 0 ? 100.0 * bits.sized / bits.before : 0.0);
        std::printf("interval      configured %s, sized %s cycles/image; bottleneck %s %s (deep FIFOs %s)\n",
                    with_commas(r.interval_before).c_str(), with_commas(r.interval_sized).c_str(),
                    r.bottleneck_layer.c_str(), with_commas(int64_t(r.bottleneck)).c_str(),
                    with_commas(r.interval_deep).c_str());
        std::printf("held out      %d other images: %s cycles/image, %d/%d with class scores identical to the "
                    "golden engine\n",
                    n_held, with_commas(held.steady_interval).c_str(), same_scores, n_held);
        std::printf("sizing        %d trial runs in %.2f s\n", r.runs, secs);
    }
    if (!verified) {
        std::fprintf(stderr,
                     "fatsim fifo-size: the sized design does not hold on the held-out images (%lld cycles/image, "
                     "target %lld); nothing written; try more --images\n",
                     (long long)held.steady_interval, (long long)r.target);
        return 1;
    }

    if (vm.count("out")) {
        const std::string out = vm["out"].as<std::string>();
        const fs::path out_dir = fs::absolute(out).parent_path();
        const std::string rel = fs::absolute(topology_path).lexically_relative(out_dir).generic_string();
        std::ostringstream header;
        header << "# FIFO depths sized by fatsim fifo-size from " << accel_path << " (" << n_size
               << " images, checked on " << n_held << " more):\n# " << with_commas(r.interval_sized)
               << " cycles/image (bottleneck " << r.bottleneck_layer << " " << with_commas(int64_t(r.bottleneck))
               << "), " << with_commas(bits.sized) << " FIFO bits (configured " << with_commas(bits.before) << ").\n";
        const std::string text = accel_yaml(r.sized, rel, header.str());
        const AccelConfig back = parse_accel(text, out, topo);  // the file must read back as the sized design
        if (back.dataflow.fifo_depths != r.sized.dataflow.fifo_depths ||
            back.dataflow.stream_depths != r.sized.dataflow.stream_depths)
            throw std::logic_error("fifo-size: the written YAML does not read back as the sized design");
        write_file_atomic(out, text);
        if (!vm["json"].as<bool>()) std::printf("wrote %s\n", out.c_str());
    }
    if (vm.count("finn-json")) {
        const std::string out = vm["finn-json"].as<std::string>();
        write_file_atomic(out, export_finn_folding(r.sized, topo));
        if (!vm["json"].as<bool>()) std::printf("wrote %s\n", out.c_str());
    }
    return 0;
}

int cmd_bench_fifo(const Args& args) {
    po::options_description desc("fatsim bench fifo options");
    desc.add_options()
        ("what", po::value<std::string>()->required(), "fifo")
        ("accel,a", po::value<std::string>()->default_value("models/accel/cnv_w1a1_bnnpynq.yaml"), "accelerator YAML")
        ("images", po::value<int>()->default_value(5), "images per trial run (>= 3: a steady state needs 3)")
        ("threads,j", po::value<int>()->default_value(0), "trial runs side by side (0 = one per core)")
        ("seed", po::value<uint64_t>()->default_value(1), "random model and input seed");
    po::positional_options_description pos;
    pos.add("what", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim bench fifo [--accel A] [--images N]", &pos)) return 0;
    require_at_least(vm, {"images"}, 3);
    Topology topo;
    const AccelConfig acc = load_accel(vm["accel"].as<std::string>(), &topo);
    const QnnModel model = random_model(topo, vm["seed"].as<uint64_t>());
    const int n = vm["images"].as<int>();
    const std::vector<int8_t> data = random_images(topo, n, vm["seed"].as<uint64_t>());
    hw::FifoSizingOptions opt;
    opt.threads = vm["threads"].as<int>();
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    const hw::FifoSizing r = hw::size_fifos(model, acc, data.data(), n, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;  // all threads
    const Totals bits = fifo_bits(r);
    std::printf("bench fifo: %s, %s, %d images per trial run\n", vm["accel"].as<std::string>().c_str(),
                topo.name.c_str(), n);
    std::printf("  sizing   : %.2f s for %d trial runs (%.2f s CPU on %d threads; target 10 s on 2 cores)\n", secs,
                r.runs, cpu, opt.threads > 0 ? opt.threads : int(std::thread::hardware_concurrency()));
    std::printf("  interval : configured %lld, sized %lld cycles/image (bottleneck %s %llu)\n",
                (long long)r.interval_before, (long long)r.interval_sized, r.bottleneck_layer.c_str(),
                (unsigned long long)r.bottleneck);
    std::printf("  FIFO bits: sized %lld, configured %lld\n", (long long)bits.sized, (long long)bits.before);
    return r.interval_sized <= r.target ? 0 : 1;
}

}  // namespace fatsim::app
