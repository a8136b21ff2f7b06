// faults list: every fault site of an accelerator (dataflow or loopback),
// counted per class, or the sites of one class.
#include <cstdio>

#include "accelerator.hpp"
#include "app.hpp"
#include "config.hpp"
#include "fault_site.hpp"
#include "loopback.hpp"
#include "model.hpp"

namespace fatsim::app {

int cmd_faults(const Args& args) {
    po::options_description desc("fatsim faults options");
    desc.add_options()
        ("action", po::value<std::string>()->required(), "list")
        ("accel,a", po::value<std::string>()->required(), "accelerator YAML (dataflow or loopback) or FINN folding JSON")
        ("model,m", po::value<std::string>(),
         "model file (.fatq): its topology (e.g. another width) sizes the accelerator; default: the accelerator's topology")
        ("class,c", po::value<std::string>(), "print every site of this class (acc, adder, wmem, thr, cmp, fifo, fmbuf)");
    po::positional_options_description pos;
    pos.add("action", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim faults list --accel A [--model M] [--class C]", &pos)) return 0;
    if (vm["action"].as<std::string>() != "list")
        throw UsageError("unknown action '" + vm["action"].as<std::string>() + "' (list)");
    const std::string accel_path = vm["accel"].as<std::string>();
    const bool json = accel_path.size() > 5 && accel_path.substr(accel_path.size() - 5) == ".json";
    SiteClass only = SiteClass::Acc;
    const bool one_class = vm.count("class") > 0;
    if (one_class && !parse_site_class(vm["class"].as<std::string>(), only))
        throw UsageError("--class " + vm["class"].as<std::string>() +
                         " is not a site class (acc, adder, wmem, thr, cmp, fifo, fmbuf)");

    // Sites depend on the shapes only, so without a model a random one of the accelerator's topology does.
    QnnModel model;
    AccelConfig acc;
    if (vm.count("model")) {
        model = load_model(vm["model"].as<std::string>());
        acc = json ? import_finn_folding(accel_path, model.topology) : load_accel(accel_path);
        bind_folding(acc, model.topology);
    } else {
        if (json) throw UsageError("a FINN folding JSON names no topology: give --model");
        Topology topo;
        acc = load_accel(accel_path, &topo);
        model = random_model(topo, 1);
    }
    const std::unique_ptr<hw::Accelerator> accel = hw::make_accelerator(model, acc);

    if (one_class) {
        accel->for_each_fault_site([&](const SiteLocation& w) {
            if (site_class(w) == only) std::printf("%s\n", site_location_name(w).c_str());
        });
        return 0;
    }
    const hw::FaultSiteCounts counts = accel->fault_site_counts();
    std::printf("accel     %s (%s, topology %s)\n", accel_path.c_str(), accel->architecture(),
                model.topology.name.c_str());
    std::printf("%-6s %14s  %s\n", "class", "sites", "form");
    const bool loopback = acc.architecture == Architecture::Loopback;
    for (int c = 0; c < kSiteClasses; ++c) {
        if (counts.per_class[c] == 0) continue;
        std::string form = site_class_form(SiteClass(c));
        // One engine runs every layer: its sites are named `engine`.
        if (loopback && form.rfind("LAYER", 0) == 0) form.replace(0, 5, hw::LoopbackModel::kEngine);
        std::printf("%-6s %14llu  %s\n", site_class_name(SiteClass(c)), (unsigned long long)counts.per_class[c],
                    form.c_str());
    }
    std::printf("%-6s %14llu  each with the kinds :sa0, :sa1, :flip@CYCLE\n", "total",
                (unsigned long long)counts.total());
    return 0;
}

}  // namespace fatsim::app
