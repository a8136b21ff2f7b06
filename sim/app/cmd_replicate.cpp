// replicate: selective channel replication (TMR) trade-off from channel sweeps.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "replicate.hpp"
#include "report.hpp"

namespace fatsim::app {

namespace {
struct Run {
    std::string label, model_path, sweep_path;
    QnnModel model;
    double error_free = 0;
    std::vector<campaigns::ReplicationPoint> curve;
};

void write_curve(const std::string& path, const Run& r) {
    std::ofstream f(path + ".tmp");
    f << "k,worst_error,cost_unrolled,cost_folded,pareto,added\n";
    double best = 1e9;
    for (const auto& p : r.curve) {
        // On the Pareto front when it lowers the worst-case error (cost only grows with k).
        const bool pareto = p.worst_error < best - 1e-9;
        best = std::min(best, p.worst_error);
        f << p.k << ',' << p.worst_error << ',' << p.cost_unrolled << ',' << p.cost_folded << ',' << (pareto ? 1 : 0)
          << ',' << p.added << '\n';
    }
    f.close();
    if (!f) throw std::runtime_error(path + ": cannot write");
    std::filesystem::rename(path + ".tmp", path);
}
}  // namespace

int cmd_replicate(const Args& args) {
    po::options_description desc("fatsim replicate options");
    desc.add_options()
        ("model,m", po::value<std::vector<std::string>>()->required(), "model file; repeat for each model compared")
        ("sweep,s", po::value<std::vector<std::string>>()->required(), "its channel sweep CSV (same order as --model)")
        ("label", po::value<std::vector<std::string>>(), "its label (default: the model file's name)")
        ("accel,a", po::value<std::string>(), "accelerator YAML for the folded cost column")
        ("targets", po::value<std::vector<double>>()->multitoken(), "worst-case errors (%) to answer for")
        ("out,o", po::value<std::string>()->required(), "output folder")
        ("threads,j", po::value<int>()->default_value(0), "worker threads for the error-free accuracy");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim replicate --model SAT.fatq --sweep SAT.csv [--model FAT.fatq --sweep FAT.csv ...] "
                       "--images N --out DIR"))
        return 0;
    const auto models = vm["model"].as<std::vector<std::string>>();
    const auto sweeps = vm["sweep"].as<std::vector<std::string>>();
    std::vector<std::string> labels = vm.count("label") ? vm["label"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (models.size() != sweeps.size()) throw UsageError("give one --sweep per --model");
    if (!labels.empty() && labels.size() != models.size()) throw UsageError("give one --label per --model, or none");
    const std::string out = vm["out"].as<std::string>();
    std::filesystem::create_directories(out);

    std::vector<Run> runs(models.size());
    for (size_t i = 0; i < models.size(); ++i) {
        Run& r = runs[i];
        r.model_path = models[i];
        r.sweep_path = sweeps[i];
        r.label = labels.empty() ? std::filesystem::path(models[i]).stem().string() : labels[i];
        r.model = load_model(models[i]);
        std::unique_ptr<AccelConfig> accel;
        if (vm.count("accel")) {
            Topology accel_topo;
            accel = std::make_unique<AccelConfig>(load_accel(vm["accel"].as<std::string>(), &accel_topo));
            if (accel_topo.layers.size() != r.model.topology.layers.size())
                throw std::runtime_error(vm["accel"].as<std::string>() + ": its topology does not match " + models[i]);
            // The folding was validated against the accel file's own topology; the
            // model may be narrower (width multiplier), so check it fits this one too.
            const auto errs = validate_folding(*accel, r.model.topology);
            if (!errs.empty()) throw ConfigError(vm["accel"].as<std::string>(), errs);
        }
        const InputBatch batch = load_inputs(vm, r.model.topology);
        r.error_free = Engine(r.model).evaluate(batch, {}, vm["threads"].as<int>()).accuracy();
        r.curve = campaigns::replication_tradeoff(r.model.topology, accel.get(), r.error_free,
                                                  campaigns::read_channel_criticality(sweeps[i], r.model.topology));
        write_curve(out + "/replication_" + r.label + ".csv", r);
    }

    std::vector<double> targets = vm.count("targets") ? vm["targets"].as<std::vector<double>>() : std::vector<double>{};
    if (targets.empty()) {
        double floor_err = 0;
        for (const auto& r : runs) floor_err = std::max(floor_err, 100.0 - r.error_free);
        for (double d : {0.5, 1.0, 2.0, 5.0, 10.0})
            if (floor_err + d < 100) targets.push_back(std::ceil(floor_err + d));
    }
    std::printf("%-12s %10s %12s %12s %14s\n", "model", "error-free", "worst error", "channels", "full TMR cost");
    for (const auto& r : runs)
        std::printf("%-12s %9.2f%% %11.2f%% %12d %13.2fx\n", r.label.c_str(), r.error_free, r.curve.front().worst_error,
                    r.curve.back().k, r.curve.back().cost_unrolled);
    std::printf("\nchannels to triplicate to guarantee a worst-case error (single channel stuck@):\n%-14s", "worst error");
    for (const auto& r : runs) std::printf(" %12s", r.label.c_str());
    std::printf("\n");
    for (double t : targets) {
        std::printf("<= %6.2f %%   ", t);
        for (const auto& r : runs) {
            const int k = campaigns::channels_needed(r.curve, t);
            if (k < 0)
                std::printf(" %12s", "unreachable");
            else
                std::printf(" %5d (%.3fx)", k, r.curve[k].cost_unrolled);
        }
        std::printf("\n");
    }
    // Fig. 9: worst-case error against normalised cost, one curve per model.
    std::ostringstream gp;
    gp << "set title 'Selective channel replication: worst-case error under single channel stuck@'\n"
       << "set xlabel 'normalised hardware cost (fully unrolled)'\nset ylabel 'worst-case error [%]'\n"
       << "set key top right\nset grid\nset datafile separator ','\nplot ";
    for (size_t i = 0; i < runs.size(); ++i)
        gp << (i ? ", " : "") << "'" << out << "/replication_" << runs[i].label
           << ".csv' skip 1 using 3:2 with steps lw 2 lc rgb '" << campaigns::plot_color(i) << "' title '"
           << runs[i].label << "'";
    gp << "\n";
    const std::string image = campaigns::render_gnuplot(out + "/replication", gp.str());
    std::printf("\nplot: %s\n", image.c_str());
    std::printf("wrote %s/replication_<label>.csv (k, worst_error, cost_unrolled, cost_folded, pareto, added)\n",
                out.c_str());
    return 0;
}

}  // namespace fatsim::app
