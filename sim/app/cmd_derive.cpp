// derive-error-model: a `fatsim map-faults` folder -> an ErrorModel file
// (campaigns/derive.hpp), with a comment header saying where it came from.
#include <cstdio>

#include "app.hpp"
#include "derive.hpp"

namespace fatsim::app {

int cmd_derive_error_model(const Args& args) {
    po::options_description desc("fatsim derive-error-model options");
    desc.add_options()
        ("map", po::value<std::string>()->required(), "a `fatsim map-faults` output folder (faults.csv, manifest.json)")
        ("out,o", po::value<std::string>()->required(), "error model file to write (.yaml; .json: JSON)")
        ("model,m", po::value<std::string>(), "model file (default: the one the map-faults manifest names)")
        ("rates", po::value<std::string>(), "YAML of failure rates per fault class: rates: {acc: 1.0, wmem: 0.5}")
        ("min-weight", po::value<double>()->default_value(0.0), "drop classes whose weight (of 1) is below this");
    po::variables_map vm;
    const std::string usage = "fatsim derive-error-model --map DIR --out M.yaml [--model M] [--rates R.yaml] [--min-weight W]";
    if (!parse_or_help(args, desc, vm, usage)) return 0;
    const std::string dir = vm["map"].as<std::string>(), out_path = vm["out"].as<std::string>();
    campaigns::DeriveOptions opt;
    opt.min_weight = vm["min-weight"].as<double>();
    if (!(opt.min_weight >= 0 && opt.min_weight < 1)) throw UsageError("--min-weight must lie in [0, 1)");
    if (vm.count("rates")) opt.rates = campaigns::load_fault_rates(vm["rates"].as<std::string>());

    const auto d = campaigns::derive_error_model_file(
        dir, vm.count("model") ? vm["model"].as<std::string>() : "", out_path, opt,
        vm.count("rates") ? vm["rates"].as<std::string>() : "");
    std::string per_class;
    for (const auto& [cls, n] : d.faults_per_class) per_class += " " + cls + "=" + std::to_string(n);
    std::printf("derive-error-model: %zu faults, %zu masked and %zu scores/input-only left out, %zu at rate 0\n",
                d.faults, d.masked, d.unrepresentable, d.zero_rate);
    std::printf("unmasked per class:%s\n", per_class.c_str());
    std::printf("%zu pattern classes (%zu below --min-weight dropped) -> %s\n", d.model.classes.size(), d.dropped,
                out_path.c_str());
    return 0;
}

}  // namespace fatsim::app
