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

    std::vector<campaigns::ReplicationRun> runs(models.size());
    for (size_t i = 0; i < models.size(); ++i) {
        campaigns::ReplicationRun& r = runs[i];
        r.label = labels.empty() ? std::filesystem::path(models[i]).stem().string() : labels[i];
        const QnnModel model = load_model(models[i]);
        std::unique_ptr<AccelConfig> accel;
        if (vm.count("accel")) {
            Topology accel_topo;
            accel = std::make_unique<AccelConfig>(load_accel(vm["accel"].as<std::string>(), &accel_topo));
            if (accel_topo.layers.size() != model.topology.layers.size())
                throw std::runtime_error(vm["accel"].as<std::string>() + ": its topology does not match " + models[i]);
            // The model may be narrower than the accel file's topology (width multiplier).
            bind_folding(*accel, model.topology);
        }
        const InputBatch batch = load_inputs(vm, model.topology);
        r.error_free = Engine(model).evaluate(batch, {}, vm["threads"].as<int>()).accuracy();
        r.curve = campaigns::replication_tradeoff(model.topology, accel.get(), r.error_free,
                                                  campaigns::read_channel_criticality(sweeps[i], model.topology));
    }
    const std::string image = campaigns::write_replication(runs, out);

    const std::vector<double> targets =
        vm.count("targets") ? vm["targets"].as<std::vector<double>>() : campaigns::default_targets(runs);
    std::printf("%-12s %10s %12s %12s %14s\n", "model", "error-free", "worst error", "channels", "full TMR cost");
    for (const auto& r : runs)
        std::printf("%-12s %9.2f%% %11.2f%% %12d %13.2fx\n", r.label.c_str(), r.error_free, r.curve.front().worst_error,
                    r.curve.back().k, r.curve.back().cost_unrolled);
    std::printf("\nchannels to triplicate to guarantee a worst-case error (single channel stuck@):\n%s",
                campaigns::replication_table(runs, targets).c_str());
    std::printf("\nplot: %s\n", image.c_str());
    std::printf("wrote %s/replication_<label>.csv (k, worst_error, cost_unrolled, cost_folded, pareto, added)\n",
                out.c_str());
    return 0;
}

}  // namespace fatsim::app
