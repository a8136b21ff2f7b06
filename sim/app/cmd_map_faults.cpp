// map-faults: physical faults of an accelerator -> activation-level error
// patterns and accuracy, at engine speed (campaigns/physical_campaign.hpp),
// with --verify to check the lowering against the cycle model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <map>
#include <set>

#include "app.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "physical_campaign.hpp"
#ifdef FATSIM_HAVE_MPI
#include "mpi_runner.hpp"
#endif

namespace fatsim::app {

namespace {

// A dataflow accelerator YAML or FINN folding JSON, bound to the model's
// topology (its MH per layer; e.g. a folding written for another width).
AccelConfig load_accel_checked(const std::string& path, const Topology& model_topo) {
    const bool json = path.size() > 5 && path.substr(path.size() - 5) == ".json";
    AccelConfig acc;
    if (json) {
        acc = import_finn_folding(path, model_topo);
    } else {
        Topology t;
        acc = load_accel(path, &t);
    }
    bind_folding(acc, model_topo);
    return acc;
}

// Random int8 images; their labels are the fault-free model's predictions.
InputBatch random_batch(const Engine& engine, const Topology& t, int n, uint64_t seed) {
    InputBatch b;
    b.count = n;
    b.dim = t.in_dim;
    b.channels = t.in_channels;
    b.data.resize(size_t(n) * t.in_dim * t.in_dim * t.in_channels);
    std::mt19937_64 rng(seed);
    for (auto& v : b.data) v = int8_t(int(rng() & 0xFF) - 128);
    b.labels.assign(size_t(n), 0);
    const EvalResult r = engine.evaluate(b);
    for (int i = 0; i < n; ++i) b.labels[size_t(i)] = uint8_t(r.predictions[size_t(i)]);
    return b;
}

}  // namespace

int cmd_map_faults(const Args& args) {
    po::options_description desc("fatsim map-faults options");
    desc.add_options()
        ("accel,a", po::value<std::string>()->required(), "accelerator YAML (dataflow or loopback) or FINN folding JSON")
        ("model,m", po::value<std::string>()->required(), "model file (.fatq)")
        ("classes", po::value<std::string>(),
         "fault classes, comma-separated: acc, adder, wmem, thr, cmp, fifo (dataflow), fmbuf (loopback); "
         "default: every class the accelerator has")
        ("all", po::bool_switch(), "every stuck-at fault of the classes (the default)")
        ("sample", po::value<uint64_t>(), "a seeded random sample of N faults per class")
        ("margin", po::value<double>(), "per class, the sample size for this error margin (e.g. 0.01)")
        ("weight-margin", po::value<double>(),
         "weight-memory faults: a sample sized for this error margin, whatever --all / --sample / --margin say "
         "(e.g. --all --weight-margin 0.05: every non-weight fault)")
        ("confidence", po::value<double>()->default_value(0.99), "confidence of --margin and of every interval")
        ("flips", po::value<uint64_t>()->default_value(0),
         "also N transient flips per class at random cycles of the run (lowered against its cycle schedule)")
        ("seed", po::value<uint64_t>()->default_value(1), "seed of the samples")
        ("output,o", po::value<std::string>(), "results folder: faults.csv, manifest.json, summary.json")
        ("fresh", po::bool_switch(), "overwrite earlier results in the output folder instead of resuming")
        ("shard", po::value<std::string>(),
         "K/N: only the K-th (0-based) of N slices of the faults, into OUTPUT/shard-K-of-N (join: fatsim merge)")
        ("verify", po::value<int>(), "check the lowering against the cycle model on N sampled faults per class")
        ("verify-images", po::value<int>()->default_value(2), "images the --verify runs simulate")
        ("random-inputs", po::value<uint64_t>(),
         "random int8 images with this seed (labelled with the fault-free predictions) instead of a dataset")
        ("threads", po::value<int>()->default_value(0), "worker threads (0 = all cores)")
        ("no-progress", po::bool_switch(), "no progress bar");
    add_dataset_options(desc);
    po::variables_map vm;
    const std::string usage =
        "fatsim map-faults --accel A --model M [--classes acc,adder,wmem,thr,cmp,fifo,fmbuf] [--all | --sample N | "
        "--margin E [--confidence C]] [--weight-margin E] [--flips N] [--images K] [--verify N] [--shard K/N] --output DIR";
    if (!parse_or_help(args, desc, vm, usage)) return 0;
    const int modes = int(vm["all"].as<bool>()) + int(vm.count("sample")) + int(vm.count("margin"));
    if (modes > 1) throw UsageError("--all, --sample and --margin exclude each other");
    if (!vm.count("output") && !vm.count("verify")) throw UsageError("nothing to do: give --output DIR and/or --verify N");
    const double confidence = vm["confidence"].as<double>();
    if (!(confidence > 0 && confidence < 1)) throw UsageError("--confidence must lie strictly between 0 and 1");
    for (const std::string m : {"margin", "weight-margin"})
        if (vm.count(m) && !(vm[m].as<double>() > 0 && vm[m].as<double>() < 1))
            throw UsageError("--" + m + " must lie strictly between 0 and 1");
    if (vm.count("sample") && vm["sample"].as<uint64_t>() == 0) throw UsageError("--sample must be at least 1");

    const std::string model_path = vm["model"].as<std::string>(), accel_path = vm["accel"].as<std::string>();
    const QnnModel model = load_model(model_path);
    const AccelConfig accel = load_accel_checked(accel_path, model.topology);
    std::vector<SiteClass> classes;
    try {
        classes = vm.count("classes") ? campaigns::parse_site_classes(vm["classes"].as<std::string>())
                                      : campaigns::accelerator_classes(*hw::make_accelerator(model, accel));
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--classes: ") + e.what());
    }
    {
        // A class the accelerator has no site of is a mistake, not an empty run.
        const auto has = campaigns::accelerator_classes(*hw::make_accelerator(model, accel));
        for (SiteClass c : classes)
            if (std::find(has.begin(), has.end(), c) == has.end())
                throw UsageError(std::string("--classes: ") + accel_path + " (" + architecture_name(accel.architecture) +
                                 ") has no " + site_class_name(c) + " sites");
    }
    const Engine engine(model);
    InputBatch batch;
    std::string data_identity;
    if (vm.count("random-inputs")) {
        const int n = vm["images"].as<int>() > 0 ? vm["images"].as<int>() : 100;
        batch = random_batch(engine, model.topology, n, vm["random-inputs"].as<uint64_t>());
        data_identity = "random:" + std::to_string(vm["random-inputs"].as<uint64_t>());
    } else {
        batch = load_inputs(vm, model.topology);
        data_identity = vm["dataset"].as<std::string>() + ":" + vm["split"].as<std::string>();
    }
    if (batch.count == 0) throw UsageError("no images");

    // --verify: on rank 0 only under mpirun.
    const auto verify = [&] {
        int rc = 0;
        if (!vm.count("verify")) return rc;
        const int n = vm["verify"].as<int>();
        if (n < 1) throw UsageError("--verify must be at least 1");
        const int images = std::max(1, std::min(batch.count, vm["verify-images"].as<int>()));
        auto hw_model = hw::make_accelerator(model, accel);
        auto sites = campaigns::physical_faults(*hw_model, classes, uint64_t(n), vm["seed"].as<uint64_t>());
        if (vm["flips"].as<uint64_t>() > 0) {  // and N flips per class
            const auto sched = campaigns::capture_schedule(model, accel, batch, images);
            const auto f = campaigns::transient_faults(*hw_model, classes, uint64_t(n), vm["seed"].as<uint64_t>(),
                                                       campaigns::last_cycle(sched));
            sites.insert(sites.end(), f.begin(), f.end());
        }
        std::printf("verify: lowering vs the %s cycle model, %d image(s), every layer's output and the sink's scores\n",
                    hw_model->architecture(), images);
        std::printf("%-6s %8s %8s %9s\n", "class", "faults", "agree", "agreement");
        for (const auto& a : campaigns::verify_lowering(model, accel, engine, batch, images, sites)) {
            std::printf("%-6s %8d %8d %8.1f%%\n", site_class_name(a.cls), a.sites, a.agree,
                        a.sites ? 100.0 * a.agree / a.sites : 100.0);
            if (a.agree != a.sites) {
                std::printf("       first disagreement: %s\n", a.first_mismatch.c_str());
                rc = 1;
            }
        }
        return rc;
    };
    if (!vm.count("output")) return verify();

    campaigns::PhysicalCampaignOptions opt;
    opt.classes = classes;
    if (vm.count("sample")) opt.sample = vm["sample"].as<uint64_t>();
    if (vm.count("margin")) opt.margin = vm["margin"].as<double>();
    if (vm.count("weight-margin")) opt.weight_margin = vm["weight-margin"].as<double>();
    opt.confidence = confidence;
    opt.flips = vm["flips"].as<uint64_t>();
    opt.seed = vm["seed"].as<uint64_t>();
    opt.threads = vm["threads"].as<int>();
    opt.fresh = vm["fresh"].as<bool>();
    opt.show_progress = !vm["no-progress"].as<bool>();
    opt.output = vm["output"].as<std::string>();
    opt.identity = {{"model", model_path}, {"accel", accel_path}, {"data", data_identity}, {"images", batch.count}};
    opt.shard = shard_option(vm);
    int rc = 0, ranks = 1;
    campaigns::PhysicalCampaignOutcome out;
    if (run_under_mpi(opt.shard)) {
#ifdef FATSIM_HAVE_MPI
        const auto r = campaigns::mpi::run_distributed(
            "map-faults",
            [&](const campaigns::Distribute& distribute) {
                rc = verify();
                opt.distribute = distribute;
                out = campaigns::run_physical_campaign(model, accel, batch, opt);
            },
            [&] {
                auto campaign = std::make_shared<campaigns::PhysicalCampaign>(model, accel, batch, opt);
                return [campaign](const campaigns::Words& work) { return campaign->evaluate_block(work); };
            });
        if (r.rank != 0) return 0;  // rank 0 reports
        ranks = r.ranks;
#endif
    } else {
        rc = verify();
        out = campaigns::run_physical_campaign(model, accel, batch, opt);
    }
    std::printf("map-faults: %zu faults (%zu resumed) -> %s\n", out.faults, out.resumed_from, out.csv.c_str());
    if (ranks > 1) std::printf("on %d MPI ranks\n", ranks);
    std::fputs(campaigns::format_physical_summary(out.summary_json).c_str(), stdout);
    std::printf("summary: %s\n", out.summary.c_str());
    return rc;
}

}  // namespace fatsim::app

// ---------------------------------------------------------------- bench physical
namespace fatsim::app {

namespace {
std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    if (!(f >> a >> b >> c)) return "unknown";
    return a + " " + b + " " + c;
}
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int cmd_bench_physical(const Args& args_in) {
    const Args args(args_in.begin() + 1, args_in.end());  // drop "physical"
    po::options_description desc("fatsim bench physical options");
    desc.add_options()
        ("model,m", po::value<std::string>(), "model file (default: a random model of --topology, seed 1)")
        ("topology,t", po::value<std::string>()->default_value("models/cnv_w1a1.yaml"), "topology for the random model")
        ("accel,a", po::value<std::string>()->default_value("models/accel/cnv_w1a1_bnnpynq.yaml"), "accelerator")
        ("classes", po::value<std::string>()->default_value("acc,adder,wmem,thr,cmp,fifo"), "fault classes")
        ("sites", po::value<int>()->default_value(16), "sampled faults per class for the lowered path")
        ("images", po::value<int>()->default_value(20), "images for the lowered path (random ones unless --dataset)")
        ("dataset", po::value<std::string>(), "the first --images test images of this dataset instead (fashion-mnist | "
                                              "mnist | cifar10): a trained model's faults act on real data")
        ("data-dir", po::value<std::string>()->default_value(""), "folder of the --dataset files")
        ("hw-sites", po::value<int>()->default_value(1), "of those faults, how many the cycle model runs")
        ("hw-images", po::value<int>()->default_value(1), "images per cycle-model run")
        ("threads,j", po::value<int>()->default_value(2), "worker threads of the lowered path")
        ("project-images", po::value<int>()->default_value(10000), "images of the projected full campaign")
        ("margin", po::value<double>()->default_value(0.01), "weight faults: sampled at this margin")
        ("confidence", po::value<double>()->default_value(0.99), "... and this confidence");
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim bench physical [--sites N] [--images K] [--threads T]")) return 0;
    require_at_least(vm, {"sites", "images", "hw-sites", "hw-images", "project-images"});
    const QnnModel model = vm.count("model") ? load_model(vm["model"].as<std::string>())
                                             : random_model(load_topology(vm["topology"].as<std::string>()), 1);
    const AccelConfig accel = load_accel_checked(vm["accel"].as<std::string>(), model.topology);
    const Engine engine(model);
    const int threads = vm["threads"].as<int>(), images = vm["images"].as<int>();
    const int hw_images = std::min(images, vm["hw-images"].as<int>());
    const bool real = vm.count("dataset") > 0;
    const InputBatch batch = real ? prepare_inputs(load_dataset(parse_dataset_kind(vm["dataset"].as<std::string>()),
                                                                vm["data-dir"].as<std::string>(), "test", images),
                                                   model.topology, images)
                                  : random_batch(engine, model.topology, images, 1);
    if (batch.count < images)
        throw std::runtime_error("--dataset " + vm["dataset"].as<std::string>() + " has " + std::to_string(batch.count) +
                                 " test images, --images asks for " + std::to_string(images));
    const std::string which = real ? vm["dataset"].as<std::string>() + " test" : "random";
    auto hw_model = hw::make_accelerator(model, accel);
    const campaigns::Lowering lowering(engine, accel, campaigns::fifo_geometry(*hw_model, engine.layers()));
    const auto classes = campaigns::parse_site_classes(vm["classes"].as<std::string>());
    std::printf("bench physical: %s (width %.3g) on %s (%s), %d %s images, %d threads; load average %s\n",
                model.topology.name.c_str(), model.topology.width, vm["accel"].as<std::string>().c_str(),
                hw_model->architecture(), images, which.c_str(), resolve_threads(threads), load_average().c_str());
    auto t0 = std::chrono::steady_clock::now();
    const campaigns::GoldenTraces golden(engine, batch, 0, images, threads);
    std::printf("golden traces: %.2f s\n", seconds_since(t0));
    std::printf("%-6s %8s %14s %12s %10s %14s %9s %10s\n", "class", "faults", "lowered ev/s", "propagated", "caches s",
                "cycle ev/s", "speedup", "M MACs/ev");
    std::fflush(stdout);
    const hw::FaultSiteCounts counts = hw_model->fault_site_counts();
    const int project = vm["project-images"].as<int>();
    double total_s = 0, total_macs = 0;
    std::string projection;
    for (SiteClass cls : classes) {
        const auto sites = campaigns::physical_faults(*hw_model, {cls}, uint64_t(vm["sites"].as<int>()), 7);
        if (sites.empty()) continue;
        // The lowered path per layer: its golden caches once (a campaign
        // amortises them over every fault of the layer), then the faults.
        campaigns::PhysicalEvaluator ev(engine, lowering, golden, threads);
        std::map<int, std::vector<FaultSite>> by_layer;
        for (const FaultSite& s : sites) by_layer[lowering.effect_layer(s)].push_back(s);
        double lowered_s = 0, prepare_s = 0;
        size_t propagated = 0;
        for (const auto& [layer, group] : by_layer) {
            t0 = std::chrono::steady_clock::now();
            ev.prepare(layer, cls == SiteClass::Acc || cls == SiteClass::AdderNode);
            prepare_s += seconds_since(t0);
            t0 = std::chrono::steady_clock::now();
            propagated += ev.run(group, nullptr, [](size_t, const campaigns::ErrorPatternStats&) { return true; });
            lowered_s += seconds_since(t0);
        }
        const double lowered_rate = double(sites.size()) * images / lowered_s;
        // The delta propagation's arithmetic per fault and image (masked ones included).
        const double macs_per_ev = double(ev.propagation_macs()) / (double(sites.size()) * images);
        // The cycle model: the same faults (the first hw-sites), one run each.
        const int hw_sites = std::min(int(sites.size()), vm["hw-sites"].as<int>());
        hw_model->load_images(batch.image(0), hw_images);
        t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < hw_sites; ++k) {
            hw_model->disarm_faults();
            hw_model->arm_fault(sites[size_t(k)]);
            hw_model->reset();
            hw_model->run();
        }
        const double hw_rate = double(hw_sites) * hw_images / seconds_since(t0);
        hw_model->disarm_faults();
        char macs[32] = "-";  // (a loopback lowering propagates its faults itself, uncounted)
        if (!lowering.propagates()) std::snprintf(macs, sizeof macs, "%.3f", macs_per_ev / 1e6);
        std::printf("%-6s %8zu %14.0f %12zu %10.2f %14.2f %8.0fx %10s\n", site_class_name(cls), sites.size(),
                    lowered_rate, propagated, prepare_s, hw_rate, lowered_rate / hw_rate, macs);
        std::fflush(stdout);
        // Projection: every fault of the class (weights: a sample), after static collapsing.
        const uint64_t population = 2 * counts.per_class[int(cls)];
        const bool sampled = cls == SiteClass::WeightWord;
        uint64_t faults = sampled ? campaigns::sample_size(population, vm["margin"].as<double>(),
                                                           vm["confidence"].as<double>())
                                  : population;
        uint64_t evaluated = faults;
        if (!sampled) {
            std::set<std::string> keys;
            evaluated = 0;
            for (const FaultSite& s : campaigns::physical_faults(*hw_model, {cls}, 0, 0)) {
                const std::string key = lowering.collapse_key(s);
                if (key == "masked") continue;
                if (key.empty() || keys.insert(key).second) ++evaluated;
            }
        }
        const double secs = double(evaluated) * project / lowered_rate;
        total_s += secs;
        total_macs += double(evaluated) * project * macs_per_ev;
        char line[200];
        std::snprintf(line, sizeof line, "  %-6s %10llu faults%s, %10llu after static collapsing: %10.0f s\n",
                      site_class_name(cls), (unsigned long long)faults, sampled ? " (sampled)" : "",
                      (unsigned long long)evaluated, secs);
        projection += line;
    }
    std::printf("projected campaign on %d images (non-weight faults all, weight faults sampled at %.3g margin / "
                "%.3g confidence), at the rates above:\n%s  total %.0f s (%.1f min); load average now %s\n",
                project, vm["margin"].as<double>(), vm["confidence"].as<double>(), projection.c_str(), total_s,
                total_s / 60, load_average().c_str());
    // A floor no kernel tuning can lower: the MACs the delta propagation
    // needs, at the machine's register-only XNOR-popcount rate.
    if (lowering.propagates()) return 0;
    const XnorPeak peak = measure_xnor_peak(resolve_threads(threads));
    std::printf("delta propagation of that campaign: %.3g MACs; at this machine's XNOR-popcount peak (%.0f G/s on %d "
                "threads, same run) that alone takes %.0f s (%.1f min)\n",
                total_macs, peak.per_second / 1e9, resolve_threads(threads), total_macs / peak.per_second,
                total_macs / peak.per_second / 60);
    return 0;
}

}  // namespace fatsim::app
