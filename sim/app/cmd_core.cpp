// eval, model, config: the commands around model files and configs.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "app.hpp"
#include "campaign.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "error_model.hpp"
#include "files.hpp"
#include "model.hpp"
#include "pipeline.hpp"
#ifdef FATSIM_HAVE_ONNX
#include "qonnx.hpp"
#endif

namespace fatsim::app {

int cmd_eval(const Args& args) {
    po::options_description desc("fatsim eval options");
    desc.add_options()
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("threads,j", po::value<int>()->default_value(0), "worker threads (0 = all cores)")
        ("json", po::bool_switch(), "print the result as JSON");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim eval --model M [--dataset D] [--images N]")) return 0;
    const std::string path = vm["model"].as<std::string>();
    const QnnModel model = load_model(path);
    const InputBatch batch = load_inputs(vm, model.topology);
    const Engine engine(model);
    const auto t0 = std::chrono::steady_clock::now();
    const EvalResult r = engine.evaluate(batch, {}, vm["threads"].as<int>());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (vm["json"].as<bool>()) {
        nlohmann::json j = {{"model", path},
                            {"dataset", vm["dataset"].as<std::string>()},
                            {"images", r.images},
                            {"correct", r.correct},
                            {"accuracy", r.accuracy()},
                            {"seconds", s}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("model     %s (%s)\n", path.c_str(), model.topology.name.c_str());
        std::printf("dataset   %s, %d images\n", vm["dataset"].as<std::string>().c_str(), r.images);
        std::printf("accuracy  %.2f %% (%d/%d)\n", r.accuracy(), r.correct, r.images);
        std::printf("speed     %.0f images/s\n", s > 0 ? r.images / s : 0.0);
    }
    return 0;
}

int cmd_model(const Args& args) {
    po::options_description desc("fatsim model options");
    desc.add_options()
        ("action", po::value<std::string>()->required(), "random | info | export-qonnx")
        ("topology,t", po::value<std::string>(), "topology YAML (random)")
        ("width", po::value<double>()->default_value(0.0), "width multiplier overriding the topology's (0 = keep)")
        ("seed", po::value<uint64_t>()->default_value(1), "random seed")
        ("out,o", po::value<std::string>(), "output model file (random) or ONNX file (export-qonnx)")
        ("model,m", po::value<std::string>(), "model file (info, export-qonnx)");
    po::positional_options_description pos;
    pos.add("action", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim model random --topology T [--width W] --seed N --out M | fatsim model info --model M | "
                       "fatsim model export-qonnx --model M --out net.onnx",
                       &pos))
        return 0;
    const std::string action = vm["action"].as<std::string>();
    if (action == "random") {
        if (!vm.count("topology") || !vm.count("out")) throw UsageError("model random needs --topology and --out");
        const Topology topo = load_topology(vm["topology"].as<std::string>(), vm["width"].as<double>());
        const QnnModel m = random_model(topo, vm["seed"].as<uint64_t>());
        save_model(m, vm["out"].as<std::string>());
        std::printf("wrote %s: %s, %zu layers, random weights (seed %llu)\n", vm["out"].as<std::string>().c_str(),
                    topo.name.c_str(), topo.layers.size(), (unsigned long long)vm["seed"].as<uint64_t>());
        return 0;
    }
    if (action == "info") {
        if (!vm.count("model")) throw UsageError("model info needs --model");
        const QnnModel m = load_model(vm["model"].as<std::string>());
        const Topology& t = m.topology;
        std::string codes = "code = pixel - 128";
        if (!t.pixel_codes.empty()) {
            codes = "the model's own pixel -> code table, channel 0: 0 -> " + std::to_string(t.input_code(0, 0)) +
                    ", 128 -> " + std::to_string(t.input_code(0, 128)) + ", 255 -> " +
                    std::to_string(t.input_code(0, 255));
        }
        std::printf("%s: %s, width %.3g, input %dx%dx%d (%d-bit; %s)\n%s\n", vm["model"].as<std::string>().c_str(),
                    t.name.c_str(), t.width, t.in_dim, t.in_dim, t.in_channels, t.in_bits, codes.c_str(),
                    m.description.c_str());
        std::printf("%-8s %-5s %6s %6s %4s %4s %5s %8s\n", "layer", "type", "MW", "MH", "W", "A", "OFM", "pool");
        for (const auto& l : m.topology.layers)
            std::printf("%-8s %-5s %6d %6d %4d %4d %5d %8d\n", l.name.c_str(), l.kind == LayerKind::Conv ? "conv" : "fc",
                        l.mw(), l.mh(), l.weight_bits, l.act_bits, l.out_dim, l.pool);
        return 0;
    }
    if (action == "export-qonnx") {
        if (!vm.count("model") || !vm.count("out")) throw UsageError("model export-qonnx needs --model and --out");
#ifdef FATSIM_HAVE_ONNX
        const QnnModel m = load_model(vm["model"].as<std::string>());
        save_qonnx(m, vm["out"].as<std::string>());
        std::printf("wrote %s: %s as a streamlined QONNX graph (%zu layers), accepted by the ONNX checker\n",
                    vm["out"].as<std::string>().c_str(), m.topology.name.c_str(), m.topology.layers.size());
        return 0;
#else
        throw std::runtime_error("this build has no ONNX support (configure with -DFATSIM_ONNX=ON, libonnx-dev)");
#endif
    }
    throw UsageError("unknown action '" + action + "' (random | info | export-qonnx)");
}

namespace {

struct UnknownConfigKind : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Every kind of config this build reads, in the order describe prints them.
std::vector<const ConfigSchema*> config_schemas() {
    return {&topology_schema(), &accel_schema(), &campaigns::campaign_spec_schema(),
            &campaigns::pipeline_spec_schema()};
}

// Checks one file; prints "ok ..." or throws (ConfigError: file, field, rule).
void check_config_file(const std::string& f, const po::variables_map& vm) {
    const std::string kind = detect_config_kind(f);
    if (kind == "topology") {
        const Topology t = load_topology(f);
        std::printf("ok  %s: topology %s, %zu layers\n", f.c_str(), t.name.c_str(), t.layers.size());
    } else if (kind == "accel") {
        Topology t;
        const AccelConfig a = load_accel(f, &t);
        std::printf("ok  %s: %s accelerator for %s, %zu layers\n", f.c_str(), architecture_name(a.architecture),
                    t.name.c_str(), a.layers.size());
    } else if (kind == "finn-folding") {
        if (!vm.count("topology")) throw UsageError(f + ": a FINN folding JSON needs --topology to check against");
        const Topology t = load_topology(vm["topology"].as<std::string>());
        const AccelConfig a = import_finn_folding(f, t);
        std::printf("ok  %s: FINN folding for %s, %zu layers\n", f.c_str(), t.name.c_str(), a.layers.size());
    } else if (kind == "campaign") {
        // The model-dependent checks (layer names, values) run with the campaign.
        const campaigns::CampaignSpec c = campaigns::load_campaign_spec(f);
        std::printf("ok  %s: campaign spec %s, %s stuck@\n", f.c_str(), c.name.c_str(), to_string(c.error_model));
    } else if (kind == "pipeline") {
        const campaigns::PipelineSpec p = campaigns::load_pipeline_spec(f);
        const Topology t = load_topology(p.topology, p.width);  // its errors name the topology file
        if (!p.accel.empty()) {
            AccelConfig a = load_accel(p.accel);
            bind_folding(a, t);
        }
        std::printf("ok  %s: pipeline spec %s, %zu models on %s\n", f.c_str(), p.name.c_str(), p.models.size(),
                    t.name.c_str());
    }
    else if (kind == "error-model") {
        // Without --topology only the file itself is checked; with it, every
        // layer, channel, pixel and code it names must exist there.
        const ErrorModel m = vm.count("topology") ? load_error_model(f, load_topology(vm["topology"].as<std::string>()))
                                                  : load_error_model(f);
        std::printf("ok  %s: error model, %s granularity, %zu classes%s\n", f.c_str(), to_string(m.granularity),
                    m.classes.size(), vm.count("topology") ? ", valid on the topology" : "");
    } else {
        throw UnknownConfigKind("not a config this build knows (" + kind + ")");
    }
}

}  // namespace

int cmd_config(const Args& args) {
    po::options_description desc("fatsim config options");
    desc.add_options()
        ("action", po::value<std::string>()->required(), "check | describe | export-finn")
        ("files", po::value<std::vector<std::string>>()->multitoken(),
         "check: config files; describe: topology | accel | campaign | pipeline (default: all)")
        ("topology,t", po::value<std::string>(),
         "topology to check a FINN folding JSON or an error model against (export-finn: instead of the accelerator's)")
        ("accel,a", po::value<std::string>(), "export-finn: accelerator YAML or FINN folding JSON")
        ("out,o", po::value<std::string>(), "export-finn: write the FINN folding JSON here (default: stdout)");
    po::positional_options_description pos;
    pos.add("action", 1).add("files", -1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim config check FILE... [--topology T] | fatsim config describe [KIND] | "
                       "fatsim config export-finn --accel A [--topology T] [--out F.json]",
                       &pos))
        return 0;
    const std::string action = vm["action"].as<std::string>();
    const std::vector<std::string> files =
        vm.count("files") ? vm["files"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (action == "describe") {
        std::string out;
        for (const ConfigSchema* s : config_schemas())
            if (files.empty() || std::find(files.begin(), files.end(), s->kind) != files.end())
                out += (out.empty() ? "" : "\n") + describe_schema(*s);
        for (const auto& k : files) {
            bool known = false;
            for (const ConfigSchema* s : config_schemas()) known = known || s->kind == k;
            if (!known) throw UsageError("unknown config kind '" + k + "' (topology | accel | campaign | pipeline)");
        }
        std::cout << out;
        return 0;
    }
    if (action == "export-finn") {
        if (!vm.count("accel")) throw UsageError("config export-finn needs --accel");
        const std::string path = vm["accel"].as<std::string>();
        Topology topo;
        if (vm.count("topology")) topo = load_topology(vm["topology"].as<std::string>());
        else if (detect_config_kind(path) == "finn-folding")
            throw UsageError(path + ": a FINN folding JSON needs --topology");
        else load_accel(path, &topo);
        const std::string json = export_finn_folding(load_accel_for_model(path, topo), topo);
        if (!vm.count("out")) {
            std::cout << json;
        } else {
            write_file_atomic(vm["out"].as<std::string>(), json);
            std::printf("wrote %s: FINN folding for %s, %zu layers\n", vm["out"].as<std::string>().c_str(),
                        topo.name.c_str(), topo.layers.size());
        }
        return 0;
    }
    if (action != "check") throw UsageError("unknown action '" + action + "' (check | describe | export-finn)");
    if (files.empty()) throw UsageError("config check needs at least one file");
    int bad = 0;
    for (const auto& f : files) {
        try {
            check_config_file(f, vm);
        } catch (const UsageError&) {
            throw;
        } catch (const UnknownConfigKind& e) {
            std::printf("??  %s: %s\n", f.c_str(), e.what());
            ++bad;
        } catch (const std::exception& e) {
            std::printf("ERR %s\n", e.what());
            ++bad;
        }
    }
    return bad ? 1 : 0;
}

}  // namespace fatsim::app
