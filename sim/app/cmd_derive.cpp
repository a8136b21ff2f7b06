// derive-error-model: a `fatsim map-faults` folder -> an ErrorModel file
// (campaigns/derive.hpp), with a comment header saying where it came from.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app.hpp"
#include "config.hpp"
#include "derive.hpp"
#include "model.hpp"

namespace fatsim::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

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

    const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
    json manifest;
    try {
        manifest = json::parse(read_text(manifest_path));
    } catch (const json::exception& e) {
        throw std::runtime_error(manifest_path + ": not valid JSON: " + e.what());
    }
    if (manifest.value("kind", "") != "physical-faults")
        throw std::runtime_error(manifest_path + ": kind is not physical-faults (not a `fatsim map-faults` folder)");
    const json identity = manifest.value("identity", json::object());
    const std::string model_path =
        vm.count("model") ? vm["model"].as<std::string>() : identity.value("model", std::string());
    if (model_path.empty()) throw UsageError(manifest_path + " names no model: give --model");
    const QnnModel model = load_model(model_path);

    std::map<std::string, double> population;
    for (const auto& c : manifest.at("classes"))
        population[c.at("class").get<std::string>()] = c.at("population").get<double>();

    const std::string csv_path = (fs::path(dir) / "faults.csv").string();
    std::ifstream csv(csv_path);
    if (!csv) throw std::runtime_error("cannot read " + csv_path);
    std::vector<campaigns::physical_csv::Row> rows;
    std::string line;
    for (size_t n = 0; std::getline(csv, line); ++n)
        if (n > 0 && !line.empty()) rows.push_back(campaigns::physical_csv::parse_row(line, csv_path, n));

    const auto d = campaigns::derive_error_model(rows, population, model.topology, opt);
    validate_error_model(d.model, model.topology, out_path);

    std::string per_class;
    for (const auto& [cls, n] : d.faults_per_class) per_class += " " + cls + "=" + std::to_string(n);
    const std::string accel = identity.value("accel", std::string("?"));
    if (fs::path(out_path).extension() == ".json") {
        save_error_model(d.model, out_path);  // JSON has no comments
    } else {
        std::ostringstream text;
        text << "# Error model derived by `fatsim derive-error-model` from the physical-fault map " << dir << "\n"
             << "# accelerator: " << accel << "\n# model: " << model_path << "\n"
             << "# images: " << manifest.value("images", 0) << ", faults: " << d.faults << ", masked (left out): "
             << d.masked << ", scores/input only (left out): " << d.unrepresentable
             << ", rate 0 (left out): " << d.zero_rate << "\n# unmasked faults per class:" << per_class << "\n"
             << "# classes: " << d.model.classes.size() << " (after merging identical patterns; " << d.dropped
             << " below --min-weight " << opt.min_weight << " dropped); weights sum to 1, each fault weighing\n"
             << "# (class population / faults mapped) x the class's rate";
        if (vm.count("rates")) text << " from " << vm["rates"].as<std::string>();
        text << "\n\n" << error_model_to_yaml(d.model);
        const std::string tmp = out_path + ".tmp";
        {
            std::ofstream f(tmp);
            if (!(f << text.str())) throw std::runtime_error("cannot write " + tmp);
        }
        fs::rename(tmp, out_path);
    }
    std::printf("derive-error-model: %zu faults, %zu masked and %zu scores/input-only left out, %zu at rate 0\n",
                d.faults, d.masked, d.unrepresentable, d.zero_rate);
    std::printf("unmasked per class:%s\n", per_class.c_str());
    std::printf("%zu pattern classes (%zu below --min-weight dropped) -> %s\n", d.model.classes.size(), d.dropped,
                out_path.c_str());
    return 0;
}

}  // namespace fatsim::app
