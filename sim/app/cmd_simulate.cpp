// simulate and bench hw: the cycle-level accelerator models (sim/hw), driven
// through the Accelerator interface and run under the SystemC kernel.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "accelerator.hpp"
#include "app.hpp"
#include "config.hpp"
#include "dataflow.hpp"
#include "engine.hpp"
#include "loopback.hpp"
#include "model.hpp"
#include "sc_top.hpp"

// sc_main: main.cpp defines the stub libsystemc needs; fatsim has its own
// main() and drives the kernel directly (sc_start after constructing modules).

namespace fatsim::app {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> r;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) r.push_back(item);
    return r;
}

nlohmann::json report_json(const hw::CycleReport& r) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& c : r.layers)
        layers.push_back({{"name", c.name},
                          {"pe", c.pe},
                          {"simd", c.simd},
                          {"nf", c.nf},
                          {"sf", c.sf},
                          {"cycles_per_image", c.expected},
                          {"busy", c.busy},
                          {"stall_in", c.stall_in},
                          {"stall_out", c.stall_out},
                          {"swg_cycles_per_image", c.swg_expected},
                          {"swg_busy", c.swg_busy}});
    nlohmann::json fifos = nlohmann::json::array();
    for (const auto& f : r.fifos) fifos.push_back({{"name", f.name}, {"depth", f.depth}, {"width", f.width}, {"peak", f.peak}});
    return {{"images", r.images},
            {"total_cycles", r.total_cycles},
            {"first_image_latency", r.first_latency},
            {"steady_state_cycles_per_image", r.steady_interval},
            {"bottleneck_layer", r.bottleneck_layer},
            {"bottleneck_cycles", r.bottleneck},
            {"clock_mhz", r.clock_mhz},
            {"fps", r.fps()},
            {"layers", layers},
            {"fifos", fifos}};
}

// Per layer and image: compute, weight-load, feature-map load / store, stall and total cycles.
nlohmann::json loopback_json(const hw::LoopbackModel& m) {
    const hw::LoopbackReport r = m.loopback_report();
    const double n = r.images > 0 ? double(r.images) : 1.0;
    nlohmann::json layers = nlohmann::json::array();
    for (size_t l = 0; l < r.measured.size(); ++l) {
        const auto& x = r.measured[l];
        layers.push_back({{"name", x.name},
                          {"schedule", schedule_name(x.schedule)},
                          {"compute", double(x.compute) / n},
                          {"weight_load", double(x.weight_load) / n},
                          {"fm_load", double(x.ifm_load) / n},
                          {"fm_store", double(x.ofm_store) / n},
                          {"stall", double(x.stall()) / n},
                          {"total", double(x.total) / n}});
    }
    return {{"engine_pe", m.engine().pe},
            {"engine_simd", m.engine().simd},
            {"cycles_per_image", r.cycles_per_image},
            {"fps", r.fps()},
            {"layers", layers}};
}

// bench hw: the loopback model on the dataflow run's model and images, plain
// loop and SystemC kernel; true when its class scores equal the golden engine's.
bool bench_loopback(const std::string& path, const QnnModel& model, const std::vector<int8_t>& data, int n) {
    AccelConfig acc = load_accel(path);
    bind_folding(acc, model.topology);
    const std::unique_ptr<hw::Accelerator> lb = hw::make_accelerator(model, acc);
    lb->load_images(data.data(), n);
    // CPU seconds too: on a shared machine wall time measures the other jobs as well.
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t cpu0 = std::clock();
    const int64_t c_plain = lb->run();
    const double s_plain = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_plain = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
    lb->reset();
    t0 = std::chrono::steady_clock::now();
    cpu0 = std::clock();
    const int64_t c_sc = hw::run_systemc(*lb, acc.clock_mhz);
    const double s_sc = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_sc = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
    const Engine engine(model);
    auto ws = engine.make_workspace();
    int same = 0;
    for (int i = 0; i < n; ++i) {
        Trace tr;
        engine.classify(*ws, data.data() + i * engine.input_size(), {}, &tr);
        same += lb->scores(i) == tr.layers.back().acc;
    }
    std::printf("loopback: %s, %d images one after the other\n", path.c_str(), n);
    std::printf("  SystemC kernel : %lld cycles in %.3f s = %.2f M simulated cycles/s, %.1f images/s "
                "(%.2f M cycles per CPU second)\n",
                (long long)c_sc, s_sc, c_sc / s_sc / 1e6, n / s_sc, cpu_sc > 0 ? c_sc / cpu_sc / 1e6 : 0.0);
    std::printf("  plain C++ loop : %lld cycles in %.3f s = %.2f M simulated cycles/s, %.1f images/s "
                "(%.2f M cycles per CPU second)\n",
                (long long)c_plain, s_plain, c_plain / s_plain / 1e6, n / s_plain,
                cpu_plain > 0 ? c_plain / cpu_plain / 1e6 : 0.0);
    std::printf("  golden check   : %d/%d images with identical class scores\n", same, n);
    return same == n;
}

}  // namespace

int cmd_simulate(const Args& args) {
    po::options_description desc("fatsim simulate options");
    desc.add_options()
        ("accel,a", po::value<std::string>()->required(), "accelerator YAML (dataflow or loopback) or FINN folding JSON")
        ("model-kind", po::value<std::string>()->default_value("cycle"),
         "cycle (the C++ cycle model) | rtl (the Verilated RTL of a folding compiled into fatsim_rtl)")
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("clock-mhz", po::value<double>()->default_value(0.0), "clock for the FPS figure (0 = the accelerator's)")
        ("vcd", po::value<std::string>(),
         "write a VCD trace: streams (occupancy, transfers); loopback: layer, phase, folds, memory, buffers")
        ("trace", po::value<std::string>()->default_value(""),
         "comma-separated stream names for --vcd (default: the inter-layer FIFOs fifo[0..L])")
        ("fault", po::value<std::vector<std::string>>()->composing(),
         "arm a physical fault site, e.g. conv1.pe[3].acc.bit[7]:sa1 (repeat for several at once)")
        ("fifo-depth-min", po::value<int>()->default_value(0), "raise every inter-layer FIFO to at least this depth")
        ("check-layers", po::bool_switch(), "compare every layer's stream with the golden engine (more memory)")
        ("every-edge", po::bool_switch(),
         "tick the model on every clock edge, every cycle (the reference path; --vcd implies the edges)")
        ("random-inputs", po::value<uint64_t>(), "use random int8 images with this seed instead of a dataset")
        ("json", po::bool_switch(), "print the result as JSON");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim simulate --accel A --model M --images N [--clock-mhz F] [--vcd out.vcd] [--json]"))
        return 0;
    const std::string model_path = vm["model"].as<std::string>();
    const std::string accel_path = vm["accel"].as<std::string>();
    const QnnModel model = load_model(model_path);
    AccelConfig acc = load_accel_for_model(accel_path, model.topology);
    if (vm["clock-mhz"].as<double>() > 0) acc.clock_mhz = vm["clock-mhz"].as<double>();

    InputBatch batch;
    if (vm.count("random-inputs")) {
        const int n = std::max(1, vm["images"].as<int>());
        const auto& t = model.topology;
        batch.count = n;
        batch.dim = t.in_dim;
        batch.channels = t.in_channels;
        batch.data.resize(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
        std::mt19937_64 rng(vm["random-inputs"].as<uint64_t>());
        for (auto& v : batch.data) v = int8_t(int(rng() & 0xFF) - 128);
        batch.labels.assign(n, 0);
    } else {
        batch = load_inputs(vm, model.topology);
    }
    if (batch.count == 0) throw UsageError("no images to simulate");

    hw::DataflowOptions opt;
    opt.capture = vm["check-layers"].as<bool>();
    opt.fifo_depth_min = vm["fifo-depth-min"].as<int>();
    const std::string kind = vm["model-kind"].as<std::string>();
    if (kind != "cycle" && kind != "rtl") throw UsageError("--model-kind: '" + kind + "' is not cycle or rtl");
    if (kind == "rtl" && (opt.capture || opt.fifo_depth_min > 0 || vm.count("vcd")))
        throw UsageError("--model-kind rtl: --check-layers, --fifo-depth-min and --vcd need the cycle model "
                         "(fatsim verify-rtl compares every layer's stream and writes a VCD)");
    const std::unique_ptr<hw::Accelerator> accel =
        kind == "rtl" ? make_rtl_model(model, acc) : hw::make_accelerator(model, acc, opt);
    hw::Accelerator& sim = *accel;
    sim.load_images(batch.data.data(), batch.count);
    const std::vector<std::string> faults =
        vm.count("fault") ? vm["fault"].as<std::vector<std::string>>() : std::vector<std::string>{};
    for (const std::string& f : faults) sim.arm_fault(f);
    if (vm.count("vcd"))
        hw::trace_streams_vcd(sim, vm["vcd"].as<std::string>(), split_commas(vm["trace"].as<std::string>()));

    const bool every_edge = vm["every-edge"].as<bool>();
    if (auto* df = dynamic_cast<hw::DataflowModel*>(&sim)) df->set_fast_path(!every_edge);
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t cycles = hw::run_systemc(sim, acc.clock_mhz, every_edge);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (vm.count("vcd")) hw::close_vcd();

    // golden engine on the same images
    const Engine engine(model);
    auto ws = engine.make_workspace();
    int correct = 0, golden_correct = 0, same_scores = 0, layer_mismatch = 0;
    const size_t isz = engine.input_size();
    const int L = int(model.topology.layers.size());
    for (int i = 0; i < batch.count; ++i) {
        Trace tr;
        const int g = engine.classify(*ws, batch.image(i), {}, &tr);
        correct += sim.prediction(i) == batch.labels[i];
        golden_correct += g == batch.labels[i];
        same_scores += sim.scores(i) == tr.layers[L - 1].acc;
        if (opt.capture)
            for (int l = 0; l + 1 < L; ++l) {
                const auto& out = tr.layers[l].out;
                if (sim.captured_output(l, i) != std::vector<int32_t>(out.begin(), out.end())) ++layer_mismatch;
            }
        (void)isz;
    }
    const hw::CycleReport r = sim.report();
    const double acc_pct = 100.0 * correct / batch.count;
    const double gacc_pct = 100.0 * golden_correct / batch.count;
    if (vm["json"].as<bool>()) {
        nlohmann::json j = report_json(r);
        j["model"] = model_path;
        j["accel"] = accel_path;
        j["dataset"] = vm.count("random-inputs") ? "random" : vm["dataset"].as<std::string>();
        j["correct"] = correct;
        j["accuracy"] = acc_pct;
        j["golden_accuracy"] = gacc_pct;
        j["golden_identical_images"] = same_scores;
        if (opt.capture) j["golden_layer_mismatches"] = layer_mismatch;
        if (const auto* lb = dynamic_cast<const hw::LoopbackModel*>(&sim)) j["loopback"] = loopback_json(*lb);
        // one fault: its name (as before); several: the list
        if (faults.size() == 1) j["fault"] = faults[0];
        else if (!faults.empty()) j["fault"] = faults;
        j["wall_seconds"] = secs;
        j["simulated_cycles_per_second"] = secs > 0 ? cycles / secs : 0.0;
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("model     %s (%s)\n", model_path.c_str(), model.topology.name.c_str());
        std::printf("accel     %s (%s, %.0f MHz)\n", accel_path.c_str(), sim.architecture(), acc.clock_mhz);
        for (const std::string& f : faults) std::printf("fault     %s\n", f.c_str());
        std::printf("images    %d (%s)\n", batch.count,
                    vm.count("random-inputs") ? "random" : vm["dataset"].as<std::string>().c_str());
        std::printf("accuracy  %.2f %% (%d/%d); golden engine %.2f %%\n", acc_pct, correct, batch.count, gacc_pct);
        std::printf("golden    %d/%d images with identical class scores%s\n", same_scores, batch.count,
                    opt.capture ? (layer_mismatch ? ", LAYER MISMATCHES" : ", every layer identical") : "");
        if (const auto* lb = dynamic_cast<const hw::LoopbackModel*>(&sim))
            std::fputs(hw::format_loopback_report(lb->loopback_report(), lb->engine().pe, lb->engine().simd).c_str(),
                       stdout);
        else
            std::fputs(hw::format_report(r).c_str(), stdout);
        std::printf("simulated %lld cycles in %.2f s (%.2f M cycles/s)\n", (long long)cycles, secs,
                    secs > 0 ? cycles / secs / 1e6 : 0.0);
    }
    return (same_scores == batch.count && layer_mismatch == 0) || !faults.empty() ? 0 : 1;
}

int cmd_bench_hw(const Args& args) {
    po::options_description desc("fatsim bench hw options");
    desc.add_options()
        ("what", po::value<std::string>()->required(), "hw")
        ("accel,a", po::value<std::string>()->default_value("models/accel/cnv_w1a1_bnnpynq.yaml"), "accelerator YAML")
        ("loopback", po::value<std::string>()->default_value("models/accel/cnv_w1a1_loopback.yaml"),
         "loopback accelerator YAML run on the same model and images (\"\" = none)")
        ("images", po::value<int>()->default_value(8), "images back to back")
        ("seed", po::value<uint64_t>()->default_value(1), "random model and input seed");
    po::positional_options_description pos;
    pos.add("what", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim bench hw [--accel A] [--images N]", &pos)) return 0;
    require_at_least(vm, {"images"});
    Topology topo;
    const AccelConfig acc = load_accel(vm["accel"].as<std::string>(), &topo);
    const QnnModel model = random_model(topo, vm["seed"].as<uint64_t>());
    const int n = vm["images"].as<int>();
    std::vector<int8_t> data(size_t(n) * topo.in_dim * topo.in_dim * topo.in_channels);
    std::mt19937_64 rng(vm["seed"].as<uint64_t>());
    for (auto& v : data) v = int8_t(int(rng() & 0xFF) - 128);
    const std::unique_ptr<hw::Accelerator> accel = hw::make_accelerator(model, acc);
    hw::Accelerator& sim = *accel;
    auto* df = dynamic_cast<hw::DataflowModel*>(&sim);
    sim.load_images(data.data(), n);
    // Four runs of the same model and images: the reference (every cycle
    // ticked, under the kernel on every clock edge, as before the event-driven
    // run; and in a plain loop), then the event-driven model in a plain loop
    // and under the kernel. Each must give the same cycles, cycle report and
    // class scores as the reference.
    struct Run {
        const char* label;
        bool event_driven, systemc;
        int64_t cycles = 0;
        double secs = 0, cpu = 0;
        hw::CycleReport report{};
        std::vector<std::vector<int32_t>> scores{};
    };
    std::vector<Run> runs = {{"SystemC kernel, every edge, reference model (baseline)", false, true},
                             {"plain C++ loop, reference model", false, false},
                             {"plain C++ loop, fast path (event-driven)", true, false},
                             {"SystemC kernel, fast path (event-driven)", true, true}};
    for (Run& r : runs) {
        if (df) df->set_fast_path(r.event_driven);
        sim.reset();
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t cpu0 = std::clock();
        r.cycles = r.systemc ? hw::run_systemc(sim, acc.clock_mhz, !r.event_driven) : sim.run();
        r.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.cpu = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
        r.report = sim.report();
        for (int i = 0; i < n; ++i) r.scores.push_back(sim.scores(i));
    }
    const Engine engine(model);
    auto ws = engine.make_workspace();
    int same = 0;
    for (int i = 0; i < n; ++i) {
        Trace tr;
        engine.classify(*ws, data.data() + i * engine.input_size(), {}, &tr);
        same += runs.back().scores[size_t(i)] == tr.layers.back().acc;
    }
    std::printf("bench hw: %s, %s, %d images back to back\n", vm["accel"].as<std::string>().c_str(), topo.name.c_str(), n);
    for (const Run& r : runs)
        std::printf("  %-55s: %lld cycles in %.3f s = %5.2f M simulated cycles/s, %6.1f images/s (%.2f M cycles per CPU second)\n",
                    r.label, (long long)r.cycles, r.secs, r.cycles / r.secs / 1e6, n / r.secs,
                    r.cpu > 0 ? r.cycles / r.cpu / 1e6 : 0.0);
    const Run &base = runs[0], &fast = runs.back();
    std::printf("  speed-up through the SystemC kernel: %.2f x (%.2f x per CPU second)\n", base.secs / fast.secs,
                base.cpu > 0 && fast.cpu > 0 ? base.cpu / fast.cpu : 0.0);
    int differ = 0;
    for (const Run& r : runs) differ += r.cycles != base.cycles || r.report != base.report || r.scores != base.scores;
    std::printf("  agreement      : %s (%d of %zu runs differ from the baseline in cycles, per-layer cycle report, "
                "FIFO peaks or class scores)\n",
                differ ? "MISMATCH" : "identical", differ, runs.size() - 1);
    std::printf("  golden check   : %d/%d images with identical class scores\n", same, n);
    if (differ) same = -1;
    const std::string lb_path = vm["loopback"].as<std::string>();
    if (!lb_path.empty()) same -= bench_loopback(lb_path, model, data, n) ? 0 : 1;
    return same == n ? 0 : 1;
}

#ifndef FATSIM_HAVE_RTL
std::unique_ptr<hw::Accelerator> make_rtl_model(const QnnModel&, const AccelConfig&) {
    throw UsageError("--model-kind rtl: this build has no RTL (configure with Verilator and -DFATSIM_RTL=ON)");
}
#endif

}  // namespace fatsim::app
