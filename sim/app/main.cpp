#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "app.hpp"
#include "config.hpp"
#include "fatsim_version.hpp"
#include "hw_info.hpp"
#include "model.hpp"
#include <boost/version.hpp>

namespace fatsim::app {

bool parse_or_help(const Args& args, const po::options_description& desc, po::variables_map& vm,
                   const std::string& usage, const po::positional_options_description* pos) {
    po::options_description all(desc);
    all.add_options()("help,h", "show this help");
    try {
        po::command_line_parser parser(args);
        parser.options(all);
        if (pos) parser.positional(*pos);
        po::store(parser.run(), vm);
        if (vm.count("help")) {
            std::cout << "Usage: " << usage << "\n\n" << all << "\n";
            return false;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(std::string(e.what()) + "\nUsage: " + usage + " (see --help)");
    }
    return true;
}

void require_at_least(const po::variables_map& vm, std::initializer_list<const char*> names, int min) {
    for (const char* name : names)
        if (vm[name].as<int>() < min)
            throw UsageError(std::string("--") + name + " must be at least " + std::to_string(min));
}

void add_dataset_options(po::options_description& desc) {
    desc.add_options()
        ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist | mnist | cifar10")
        ("data-dir", po::value<std::string>()->default_value(""),
         "folder of the dataset files (default for fashion-mnist: the Debian package's folder)")
        ("split", po::value<std::string>()->default_value("test"), "test | train")
        ("images", po::value<int>()->default_value(0), "use only the first N images (0 = all)");
}

InputBatch load_inputs(const po::variables_map& vm, const Topology& topo) {
    const int n = vm["images"].as<int>();
    if (n < 0) throw UsageError("--images must be >= 0");
    const Dataset ds = load_dataset(parse_dataset_kind(vm["dataset"].as<std::string>()),
                                    vm["data-dir"].as<std::string>(), vm["split"].as<std::string>(), n);
    return prepare_inputs(ds, topo, n);
}

AccelConfig load_accel_for_model(const std::string& path, const Topology& model_topo) {
    const bool json = path.size() > 5 && path.substr(path.size() - 5) == ".json";
    AccelConfig acc;
    if (json) {
        acc = import_finn_folding(path, model_topo);
    } else {
        Topology t;
        acc = load_accel(path, &t);
    }
    const auto errs = validate_folding(acc, model_topo);
    if (!errs.empty()) throw ConfigError(path + " (against the model's topology)", errs);
    return acc;
}

}  // namespace fatsim::app

// libsystemc needs an sc_main symbol (its own main() would call it). fatsim
// has its own main() and runs simulations directly, so this is never called.
extern "C" int sc_main(int, char**) { return 1; }

namespace {

const char* kMainHelp = R"(fatsim: cycle-level simulator and fault-aware training of FINN-style QNN accelerators

Usage: fatsim <command> [options]      (fatsim <command> --help for its options)

Commands:
  eval        accuracy of a model file on a dataset (golden integer engine)
  model       make, inspect and export model files: `fatsim model random|info|export-qonnx`
  config      `fatsim config check FILE...` validates any config (topology, accelerator, FINN folding JSON,
              campaign or pipeline spec); `fatsim config describe [KIND]` lists every parameter
  train       QAT / fault-aware training (LibTorch): sat | fat1 | fat2 | dropout2d, exports a model file
  import      `fatsim import --qonnx net.onnx --out m.fatq`: a QONNX graph (Brevitas or FINN streamlined) as a model file
  export      export a training checkpoint to a model file (BN folded into integer thresholds);
              `fatsim export --qonnx --model M --out net.onnx` writes a model file as a QONNX graph
  sweep       quick channel / pixel stuck@ sweep of chosen layers, Table I on the terminal
  campaign    resumable stuck@ campaign from a spec YAML (the paper's Algorithm 1): CSV + JSON summary;
              `mpirun -n N fatsim campaign ...` spreads it over MPI ranks, --shard K/N over independent jobs
  merge       join the shard folders of `campaign|map-faults --shard K/N` into the single-process result files
  report      Table I, side-by-side comparison and min/max plot of campaign results
  replicate   selective channel replication (TMR): worst-case error against hardware cost
  pipeline    the paper's experiment end to end: train SAT/FAT/Dropout2D, campaigns, replication, report.md
  simulate    cycle-level SystemC model of a dataflow or loopback accelerator: accuracy, cycles, FPS
  fifo-size   smallest FIFO depths that keep a dataflow accelerator at its bottleneck throughput
  verify-rtl  the Verilated RTL against the cycle model: every stream beat and its cycle, faults included
  faults      `fatsim faults list --accel A [--class C]`: every fault site of an accelerator, per class
  map-faults  physical faults (acc, adder, wmem, thr, cmp, fifo; fmbuf on loopback) -> error patterns and accuracy;
              `mpirun -n N fatsim map-faults ...` spreads it over MPI ranks, --shard K/N over independent jobs
  derive-error-model  a map-faults folder -> an error model file (pattern classes weighted by how often faults cause them)
  bench       benchmarks against a baseline in the same run: `fatsim bench engine|hw|rtl|fifo|campaign|physical`

Options:
  -h, --help     this help
  --version      version and the libraries it was built with
)";

#ifdef FATSIM_HAVE_TRAINER
// LibTorch parallelises with OpenMP (libgomp), whose waiting threads spin by
// default. When another process keeps a core busy, a spinning thread steals
// its partner's time slices: 2 threads ran 1.6x slower than 1. Waiting
// passively costs a few per cent on an idle machine (README "Training speed")
// and changes no result (the thread count fixes the work split). libgomp
// reads OMP_WAIT_POLICY once, when it loads, before main: so the trainer's
// commands set it and start again. A policy the user set is kept.
void wait_passively_in_openmp(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);  // returns only on failure: then keep spinning
}
#endif

}  // namespace

int main(int argc, char** argv) {
    using namespace fatsim::app;
    std::ios::sync_with_stdio(false);
    if (argc < 2) {
        std::cerr << kMainHelp;
        return 2;
    }
    const std::string cmd = argv[1];
    const Args args(argv + 2, argv + argc);
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
        std::cout << kMainHelp;
        return 0;
    }
    if (cmd == "--version") {
        std::cout << "fatsim " << FATSIM_VERSION << "\nmodel file format " << fatsim::QnnModel::kFormatVersion
                  << "\n" << fatsim::hw::systemc_version() << "\nBoost " << BOOST_LIB_VERSION << "\n";
        return 0;
    }
    try {
        if (cmd == "eval") return cmd_eval(args);
        if (cmd == "model") return cmd_model(args);
        if (cmd == "config") return cmd_config(args);
        if (cmd == "sweep") return cmd_sweep(args);
        if (cmd == "campaign") return cmd_campaign(args);
        if (cmd == "report") return cmd_report(args);
        if (cmd == "merge") return cmd_merge(args);
        if (cmd == "replicate") return cmd_replicate(args);
        if (cmd == "simulate") return cmd_simulate(args);
        if (cmd == "fifo-size") return cmd_fifo_size(args);
        if (cmd == "faults") return cmd_faults(args);
        if (cmd == "map-faults") return cmd_map_faults(args);
        if (cmd == "derive-error-model") return cmd_derive_error_model(args);
        if (cmd == "bench") return cmd_bench(args);
        // `fatsim export --qonnx --model M --out net.onnx`: the issue's and
        // FINN users' spelling of `fatsim model export-qonnx` (any build).
        if (cmd == "export" && std::find(args.begin(), args.end(), "--qonnx") != args.end()) {
            Args rest{"export-qonnx"};
            for (const auto& a : args)
                if (a != "--qonnx") rest.push_back(a);
            return cmd_model(rest);
        }
#ifdef FATSIM_HAVE_RTL
        if (cmd == "verify-rtl") return cmd_verify_rtl(args);
#else
        if (cmd == "verify-rtl") {
            std::cerr << "fatsim verify-rtl: this build has no RTL (configure with Verilator and -DFATSIM_RTL=ON)\n";
            return 1;
        }
#endif
#ifdef FATSIM_HAVE_ONNX
        if (cmd == "import") return cmd_import(args);
#else
        if (cmd == "import") {
            std::cerr << "fatsim import: this build has no ONNX support (configure with -DFATSIM_ONNX=ON, libonnx-dev)\n";
            return 1;
        }
#endif
#ifdef FATSIM_HAVE_TRAINER
        if (cmd == "train" || cmd == "pipeline") wait_passively_in_openmp(argv);
        if (cmd == "train") return cmd_train(args);
        if (cmd == "export") return cmd_export(args);
        if (cmd == "pipeline") return cmd_pipeline(args);
#else
        if (cmd == "train" || cmd == "export" || cmd == "pipeline") {
            std::cerr << "fatsim " << cmd << ": this build has no trainer (configure with -DFATSIM_TRAINER=ON and LibTorch)\n";
            return 1;
        }
#endif
        std::cerr << "fatsim: unknown command '" << cmd << "'\n\n" << kMainHelp;
        return 2;
    } catch (const UsageError& e) {
        std::cerr << "fatsim " << cmd << ": " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "fatsim " << cmd << ": error: " << e.what() << "\n";
        return 1;
    }
}
