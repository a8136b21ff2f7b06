// train, export: the LibTorch trainer's commands. Only built with
// FATSIM_TRAINER; uses the torch-free facade trainer.hpp.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "app.hpp"
#include "config.hpp"
#include "error_model.hpp"
#include "model.hpp"
#include "trainer.hpp"

namespace fatsim::app {

namespace {
std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}
// --error-model: a built-in granularity name (the paper's stuck-at models; group
// with --group-modulus) or an error-model file, checked against the topology.
ErrorModel load_train_error_model(const std::string& arg, int group_modulus, const Topology& topo) {
    ErrorModelKind builtin;
    try {
        builtin = parse_error_model_kind(
            arg, {ErrorModelKind::Element, ErrorModelKind::Channel, ErrorModelKind::Pixel, ErrorModelKind::Group});
    } catch (const ErrorModelKindError&) {
        if (!std::filesystem::exists(arg))
            throw UsageError("--error-model " + arg +
                             ": neither a built-in model (element | channel | pixel | group) nor an error-model file");
        return load_error_model(arg, topo);
    }
    if (builtin == ErrorModelKind::Group && group_modulus < 1) throw UsageError("--group-modulus must be >= 1");
    return stuck_at_error_model(builtin, group_modulus);
}
void print_agreement(const trainer::AgreementReport& a) {
    std::printf("export check on %d test images:\n", a.images);
    std::printf("  golden engine == LibTorch streamlined eval: predictions %d/%d, all activations %d/%d\n",
                a.pred_agree, a.images, a.act_agree, a.images);
    std::printf("  LibTorch float-BN eval == streamlined eval:   predictions %d/%d\n", a.float_agree, a.images);
    std::printf("  accuracy: engine %.2f %%, streamlined %.2f %%, float-BN %.2f %%\n",
                a.images ? 100.0 * a.engine_correct / a.images : 0.0, a.images ? 100.0 * a.torch_correct / a.images : 0.0,
                a.images ? 100.0 * a.float_correct / a.images : 0.0);
}
}  // namespace

int cmd_train(const Args& args) {
    po::options_description desc("fatsim train options");
    desc.add_options()
        ("topology,t", po::value<std::string>()->required(), "topology YAML (models/cnv_w1a1.yaml)")
        ("width", po::value<double>()->default_value(0.0), "width multiplier overriding the topology's (0 = keep)")
        ("mode", po::value<std::string>()->default_value("sat"), "sat | fat1 (all injection layers) | fat2 (one random layer per epoch, see --fat2-switch-batches) | dropout2d")
        ("p", po::value<double>()->default_value(0.05, "0.05"), "injection probability (fraction; 0.05 = 5 %)")
        ("error-model", po::value<std::string>()->default_value("channel"),
         "element | channel | pixel | group (uniform stuck-at), or an error-model file (.yaml / .json)")
        ("group-modulus", po::value<int>()->default_value(1), "--error-model group: channels c with equal c mod N fail together (N = PE)")
        ("inject-layers", po::value<std::string>()->default_value(""), "comma-separated layers with an injection point (default: every layer with an activation)")
        ("inject-before-pool", po::bool_switch(), "inject right after the activation instead of after the pooling")
        ("fat2-switch-batches", po::value<int>()->default_value(0),
         "fat2: draw a new injection layer every N batches (shuffled rounds of all layers) instead of once per "
         "epoch; a deviation from the paper's Algorithm 2 for short trainings (0 = per epoch, as the paper)")
        ("epochs", po::value<int>()->default_value(10), "training epochs")
        ("batch", po::value<int>()->default_value(100), "batch size")
        ("lr", po::value<double>()->default_value(0.02), "Adam learning rate")
        ("lr-step", po::value<int>()->default_value(40), "halve the learning rate every N epochs")
        ("weight-decay", po::value<double>()->default_value(0.0), "Adam weight decay")
        ("seed", po::value<uint64_t>()->default_value(1), "random seed (on one machine the same seed gives the same model, with any thread count)")
        ("threads,j", po::value<int>()->default_value(2), "LibTorch threads (at most; fewer while other processes keep cores busy, see --fixed-threads)")
        ("fixed-threads", po::bool_switch(), "always --threads threads (no adapting to a busy machine)")
        ("alternate-threads", po::value<int>()->default_value(0), "(tests) switch between --threads and one fewer every N batches")
        ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist | mnist | cifar10")
        ("data-dir", po::value<std::string>()->default_value(""), "folder of the dataset files")
        ("train-images", po::value<int>()->default_value(0), "use only the first N training images (0 = all)")
        ("images", po::value<int>()->default_value(0), "use only the first N test images (0 = all)")
        ("checkpoint-dir", po::value<std::string>()->default_value(""), "save a checkpoint after every epoch here")
        ("resume", po::bool_switch(), "continue from the latest checkpoint in --checkpoint-dir")
        ("measure-overhead", po::value<int>()->default_value(0), "time N training batches without and N with injection (all layers), interleaved")
        ("bn-recalibrate", po::value<int>()->default_value(50), "after each epoch set BN statistics to the average over N training batches (0 = off)")
        ("no-check", po::bool_switch(), "skip the export check against the golden engine")
        ("quiet,q", po::bool_switch(), "no progress output")
        ("out,o", po::value<std::string>()->required(), "output model file (.fatq)");
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm,
                       "fatsim train --topology T [--width W] [--mode sat|fat1|fat2|dropout2d] [--p P] "
                       "[--error-model channel] [--epochs N] --out M"))
        return 0;
    trainer::TrainOptions opt;
    try {
        opt.mode = trainer::parse_train_mode(vm["mode"].as<std::string>());
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    opt.topology_path = vm["topology"].as<std::string>();
    opt.width = vm["width"].as<double>();
    opt.inject.p = vm["p"].as<double>();
    opt.inject.layers = split_list(vm["inject-layers"].as<std::string>());
    opt.inject.after_pool = !vm["inject-before-pool"].as<bool>();
    opt.epochs = vm["epochs"].as<int>();
    opt.batch = vm["batch"].as<int>();
    opt.lr = vm["lr"].as<double>();
    opt.lr_step = vm["lr-step"].as<int>();
    opt.weight_decay = vm["weight-decay"].as<double>();
    opt.seed = vm["seed"].as<uint64_t>();
    opt.threads = vm["threads"].as<int>();
    opt.adapt_threads = !vm["fixed-threads"].as<bool>();
    opt.alternate_threads_every = vm["alternate-threads"].as<int>();
    if (opt.alternate_threads_every < 0) throw UsageError("--alternate-threads must be >= 0");
    opt.checkpoint_dir = vm["checkpoint-dir"].as<std::string>();
    opt.resume = vm["resume"].as<bool>();
    opt.measure_overhead_batches = vm["measure-overhead"].as<int>();
    opt.check_export = !vm["no-check"].as<bool>();
    opt.bn_recalibrate_batches = vm["bn-recalibrate"].as<int>();
    opt.progress = !vm["quiet"].as<bool>();
    opt.fat2_switch_batches = vm["fat2-switch-batches"].as<int>();
    if (opt.fat2_switch_batches < 0) throw UsageError("--fat2-switch-batches must be >= 0");
    if (opt.fat2_switch_batches > 0 && opt.mode != trainer::TrainMode::Fat2)
        throw UsageError("--fat2-switch-batches applies to --mode fat2 only");
    if (opt.epochs < 1) throw UsageError("--epochs must be >= 1");
    if (opt.batch < 2) throw UsageError("--batch must be >= 2 (batch norm)");
    if (opt.threads < 1) throw UsageError("--threads must be >= 1");
    if (!(opt.inject.p >= 0 && opt.inject.p < 1)) throw UsageError("--p must be in [0, 1) (a fraction: 0.05 = 5 %)");
    if (opt.resume && opt.checkpoint_dir.empty()) throw UsageError("--resume needs --checkpoint-dir");
    const int ntrain = vm["train-images"].as<int>(), ntest = vm["images"].as<int>();
    if (ntrain < 0 || ntest < 0) throw UsageError("--train-images and --images must be >= 0");

    const Topology topo = load_topology(opt.topology_path, opt.width);
    opt.inject.error_model = load_train_error_model(vm["error-model"].as<std::string>(), vm["group-modulus"].as<int>(), topo);
    const DatasetKind kind = parse_dataset_kind(vm["dataset"].as<std::string>());
    const std::string dir = vm["data-dir"].as<std::string>();
    const InputBatch train_set = prepare_inputs(load_dataset(kind, dir, "train", ntrain), topo, ntrain);
    const InputBatch test_set = prepare_inputs(load_dataset(kind, dir, "test", ntest), topo, ntest);
    const char* wait = std::getenv("OMP_WAIT_POLICY");  // main() makes it passive unless the user chose
    std::fprintf(stderr, "training %s (width %.3g) mode %s%s on %d images, testing on %d; %d LibTorch threads%s, "
                 "OpenMP waits %s\n", topo.name.c_str(), topo.width, trainer::to_string(opt.mode),
                 opt.mode == trainer::TrainMode::Sat
                     ? ""
                     : (", p " + std::to_string(opt.inject.p) + " " + to_string(opt.inject.error_model.granularity)).c_str(),
                 train_set.count, test_set.count, opt.threads,
                 opt.threads > 1 && opt.adapt_threads ? " (fewer while faster)" : "", wait ? wait : "by default (spinning)");

    const trainer::TrainResult r = trainer::train(topo, opt, train_set, test_set);
    save_model(r.model, vm["out"].as<std::string>());
    double secs = 0;
    for (const auto& e : r.epochs) secs += e.seconds;
    std::printf("wrote %s: %s\n", vm["out"].as<std::string>().c_str(), r.model.description.c_str());
    if (!r.epochs.empty())
        std::printf("epochs run %zu, mean %.1f s per epoch (training only)\n", r.epochs.size(), secs / r.epochs.size());
    std::printf("test accuracy (streamlined LibTorch eval) %.2f %%\n", r.test_acc);
    if (opt.mode == trainer::TrainMode::Fat2)
        std::printf("fat2 layer schedule: %s\n", trainer::describe_fat2_schedule(r, topo).c_str());
    if (opt.measure_overhead_batches > 0)
        std::printf("injection overhead: %d batches without %.2f s, with injection on all layers %.2f s (%+.1f %%)\n",
                    opt.measure_overhead_batches, r.overhead_sat_s, r.overhead_inject_s,
                    r.overhead_sat_s > 0 ? 100.0 * (r.overhead_inject_s / r.overhead_sat_s - 1) : 0.0);
    if (opt.check_export && test_set.count > 0) {
        print_agreement(r.agreement);
        if (r.agreement.pred_agree != r.agreement.images || r.agreement.act_agree != r.agreement.images) {
            std::fprintf(stderr, "fatsim train: error: export disagrees with the LibTorch model\n");
            return 1;
        }
    }
    return 0;
}

int cmd_export(const Args& args) {
    po::options_description desc("fatsim export options");
    desc.add_options()
        ("checkpoint,c", po::value<std::string>()->required(), "checkpoint directory (its latest epoch) or a net_epochN.pt file")
        ("topology,t", po::value<std::string>()->default_value(""), "topology YAML (default: the one recorded in the checkpoint)")
        ("width", po::value<double>()->default_value(0.0), "width multiplier (default: the recorded one)")
        ("check", po::bool_switch(), "compare the export with the LibTorch model on the test images")
        ("threads,j", po::value<int>()->default_value(2), "LibTorch threads")
        ("out,o", po::value<std::string>()->required(), "output model file (.fatq)");
    add_dataset_options(desc);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim export --checkpoint DIR|net_epochN.pt --out M [--check]")) return 0;
    const std::string ck = vm["checkpoint"].as<std::string>();
    const QnnModel m = trainer::export_checkpoint(ck, vm["topology"].as<std::string>(), vm["width"].as<double>());
    save_model(m, vm["out"].as<std::string>());
    std::printf("wrote %s: %s\n", vm["out"].as<std::string>().c_str(), m.description.c_str());
    if (vm["check"].as<bool>()) {
        const InputBatch batch = load_inputs(vm, m.topology);
        const auto a = trainer::check_agreement_checkpoint(ck, batch, vm["threads"].as<int>());
        print_agreement(a);
        if (a.pred_agree != a.images || a.act_agree != a.images) return 1;
    }
    return 0;
}

}  // namespace fatsim::app
