// sweep: channel or pixel stuck@ over chosen layers, printed as the paper's Table I.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app.hpp"
#include "config.hpp"
#include "error_model.hpp"
#include "files.hpp"
#include "model.hpp"
#include "model_sweep.hpp"
#include "sweep.hpp"

namespace fatsim::app {

namespace {
std::vector<int> parse_layers(const std::string& spec, const Topology& topo) {
    std::vector<int> out;
    if (spec == "all") {
        for (size_t l = 0; l < topo.layers.size(); ++l)
            if (topo.layers[l].act_bits) out.push_back(int(l));
        return out;
    }
    std::stringstream ss(spec);
    for (std::string name; std::getline(ss, name, ',');) {
        const int l = topo.find_layer(name);
        if (l < 0) throw UsageError("--layers: no layer named '" + name + "' in " + topo.name);
        if (topo.layers[l].act_bits == 0)
            throw UsageError("--layers: " + name + " has no activation (classifier outputs are not swept)");
        out.push_back(l);
    }
    return out;
}

// --error-model FILE: every failure an error-model file describes, one line
// per class on the terminal (faults, min / mean / max accuracy), optional CSV.
int sweep_error_model_file(const po::variables_map& vm, const QnnModel& model, const std::string& path) {
    const ErrorModel em = load_error_model(path, model.topology);
    const auto faults = campaigns::expand_error_model(em, model.topology);
    if (faults.empty()) throw UsageError(path + ": describes no failure on " + model.topology.name);
    const InputBatch batch = load_inputs(vm, model.topology);
    const Engine engine(model);
    const int threads = vm["threads"].as<int>();
    const EvalResult clean = engine.evaluate(batch, {}, threads);
    std::printf("error-free accuracy %.2f %% on %d images; %zu failures of %s (%s granularity, %zu classes)\n",
                clean.accuracy(), batch.count, faults.size(), path.c_str(), to_string(em.granularity),
                em.classes.size());
    std::fflush(stdout);
    Progress progress("sweep", int64_t(faults.size()), "faults");
    const auto results = campaigns::run_model_sweep(engine, batch, faults, clean.predictions, threads, &progress);
    progress.finish();
    auto acc = [&](size_t i) { return 100.0 * results[i].correct / batch.count; };
    if (vm.count("csv")) {
        const std::string csv = vm["csv"].as<std::string>();
        std::string text = "class,name,layers,unit,code,accuracy,changed\n";
        for (size_t i = 0; i < faults.size(); ++i) {
            const auto& f = faults[i];
            char a[32];
            std::snprintf(a, sizeof a, "%.4f", acc(i));
            text += std::to_string(f.cls) + ',' + em.classes[size_t(f.cls)].name + ',' +
                    campaigns::layer_names(model.topology, f.layers) + ',' + std::to_string(f.index) + ',' +
                    std::to_string(f.code) + ',' + a + ',' + std::to_string(results[i].changed) + '\n';
        }
        write_file_atomic(csv, text);
        std::printf("wrote %s (%zu rows)\n", csv.c_str(), faults.size());
    }
    std::printf("\n%-5s %-24s %8s %10s %10s %10s\n", "class", "name", "faults", "min acc %", "mean acc %",
                "max acc %");
    for (size_t c = 0; c < em.classes.size(); ++c) {
        double lo = 101, hi = -1, sum = 0;
        int n = 0;
        for (size_t i = 0; i < faults.size(); ++i)
            if (faults[i].cls == int(c)) {
                lo = std::min(lo, acc(i));
                hi = std::max(hi, acc(i));
                sum += acc(i);
                ++n;
            }
        if (n) std::printf("%-5zu %-24s %8d %10.2f %10.2f %10.2f\n", c, em.classes[c].name.c_str(), n, lo, sum / n, hi);
        else std::printf("%-5zu %-24s %8d %10s %10s %10s\n", c, em.classes[c].name.c_str(), 0, "-", "-", "-");
    }
    return 0;
}
}  // namespace

int cmd_sweep(const Args& args) {
    po::options_description desc("fatsim sweep options");
    desc.add_options()
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("layers,l", po::value<std::string>()->default_value("all"), "comma-separated layer names, or all")
        ("error-model,e", po::value<std::string>()->default_value("channel"),
         "channel | pixel, or an error-model file (YAML/JSON): every failure it describes")
        ("values", po::value<std::vector<int>>()->multitoken(), "stuck codes (default: every activation level)")
        ("threads,j", po::value<int>()->default_value(0), "worker threads (0 = all cores)")
        ("mode", po::value<std::string>()->default_value("fast"), "fast | prefix | naive (all give the same results)")
        ("csv", po::value<std::string>(), "write one row per fault to this CSV file");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim sweep --model M [--layers conv1,fc0] [--error-model channel]")) return 0;
    const QnnModel model = load_model(vm["model"].as<std::string>());
    const std::string em = vm["error-model"].as<std::string>();
    if (em != "channel" && em != "pixel" && std::filesystem::exists(em)) return sweep_error_model_file(vm, model, em);
    const ErrorModelKind kind = parse_error_model_kind(vm["error-model"].as<std::string>());
    const std::vector<int> layers = parse_layers(vm["layers"].as<std::string>(), model.topology);
    const std::vector<int> values = vm.count("values") ? vm["values"].as<std::vector<int>>() : std::vector<int>{};
    const InputBatch batch = load_inputs(vm, model.topology);
    const Engine engine(model);
    const EvalResult clean = engine.evaluate(batch, {}, vm["threads"].as<int>());
    const auto faults = campaigns::enumerate_faults(model.topology, kind, layers, values);
    if (faults.empty()) throw UsageError("no fault to sweep: check --values against the layers' activation levels");
    std::printf("error-free accuracy %.2f %% on %d images; %zu %s stuck@ faults\n", clean.accuracy(), batch.count,
                faults.size(), to_string(kind));
    std::fflush(stdout);
    Progress progress("sweep", int64_t(faults.size()), "faults");
    campaigns::SweepOptions opt;
    opt.threads = vm["threads"].as<int>();
    opt.progress = &progress;
    const std::string mode = vm["mode"].as<std::string>();
    if (mode == "fast") opt.mode = campaigns::SweepMode::Fast;
    else if (mode == "prefix") opt.mode = campaigns::SweepMode::Prefix;
    else if (mode == "naive") opt.mode = campaigns::SweepMode::Naive;
    else throw UsageError("--mode=" + mode + " must be one of fast, prefix, naive");
    const auto results = campaigns::run_sweep(engine, batch, kind, faults, opt);
    progress.finish();

    if (vm.count("csv")) {
        const std::string path = vm["csv"].as<std::string>();
        std::ofstream f(path + ".tmp");
        f << "layer," << to_string(kind) << ",value,accuracy,changed\n";
        for (const auto& r : results)
            f << model.topology.layers[r.fault.layer].name << ',' << r.fault.index << ',' << r.fault.code << ','
              << 100.0 * r.correct / batch.count << ',' << r.changed << '\n';
        f.close();
        if (!f || std::rename((path + ".tmp").c_str(), path.c_str()) != 0)
            throw std::runtime_error(path + ": cannot write");
        std::printf("wrote %s (%zu rows)\n", path.c_str(), results.size());
    }
    // Table I: per layer and stuck value, min and max accuracy over its channels/pixels.
    std::printf("\n%-8s %6s %10s %10s %8s\n", "layer", "value", "min acc %", "max acc %", "faults");
    for (int l : layers) {
        std::vector<int> codes;
        for (const auto& r : results)
            if (r.fault.layer == l && std::find(codes.begin(), codes.end(), r.fault.code) == codes.end())
                codes.push_back(r.fault.code);
        std::sort(codes.begin(), codes.end());
        for (int v : codes) {
            double lo = 101, hi = -1;
            int n = 0;
            for (const auto& r : results)
                if (r.fault.layer == l && r.fault.code == v) {
                    const double a = 100.0 * r.correct / batch.count;
                    lo = std::min(lo, a);
                    hi = std::max(hi, a);
                    ++n;
                }
            std::printf("%-8s %6d %10.2f %10.2f %8d\n", model.topology.layers[l].name.c_str(), v, lo, hi, n);
        }
    }
    return 0;
}

}  // namespace fatsim::app
