// campaign: run / resume a fault campaign from a YAML spec (or options);
// bench campaign: naive full re-inference vs the optimised sweep, or (--ranks)
// one process vs mpirun.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "app.hpp"
#include "campaign.hpp"
#include "config.hpp"
#include "files.hpp"
#include "model.hpp"
#ifdef FATSIM_HAVE_MPI
#include "mpi_runner.hpp"
#endif
#include "report.hpp"
#include "sweep.hpp"

namespace fatsim::app {

namespace {
std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string x; std::getline(ss, x, ',');)
        if (!x.empty()) out.push_back(x);
    return out;
}
// One --values entry: a whole number (the spec's range rule applies later).
int parse_code(const std::string& s) {
    size_t used = 0;
    try {
        const int v = std::stoi(s, &used);
        if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    throw UsageError("--values: '" + s + "' is not an integer");
}
// How many copies of this command a launcher (mpirun, srun) started at once.
int tasks_started_together() {
    int tasks = 1;
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
        if (const char* n = std::getenv(v)) tasks = std::max(tasks, std::atoi(n));
    return tasks;
}
campaigns::SweepMode parse_mode(const std::string& m) {
    if (m == "fast") return campaigns::SweepMode::Fast;
    if (m == "prefix") return campaigns::SweepMode::Prefix;
    if (m == "naive") return campaigns::SweepMode::Naive;
    throw UsageError("--mode=" + m + " must be one of fast, prefix, naive");
}
}  // namespace

campaigns::ShardSpec shard_option(const po::variables_map& vm) {
    if (!vm.count("shard")) return {};
    try {
        return campaigns::parse_shard(vm["shard"].as<std::string>());
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
}

bool run_under_mpi(const campaigns::ShardSpec& shard) {
    const int tasks = tasks_started_together();
    if (shard.active() && tasks > 1)
        throw UsageError("--shard runs as one task, but " + std::to_string(tasks) +
                         " were started together: start one per shard (a job array), or drop --shard under mpirun");
#ifdef FATSIM_HAVE_MPI
    return campaigns::mpi::launched() && !shard.active();
#else
    if (tasks > 1)
        throw std::runtime_error(std::to_string(tasks) +
                                 " tasks were started together (mpirun / srun), but this build has no MPI "
                                 "(configure with -DFATSIM_MPI=ON), or use --shard K/N");
    return false;
#endif
}

int cmd_campaign(const Args& args) {
    po::options_description desc("fatsim campaign options (each overrides the spec's field)");
    desc.add_options()
        ("spec", po::value<std::string>(), "campaign spec YAML (see campaigns/example_channel.yaml)")
        ("model,m", po::value<std::string>(), "model file (.fatq)")
        ("error-model,e", po::value<std::string>(), "channel | pixel")
        ("layers,l", po::value<std::string>(), "comma-separated layer names, or all")
        ("values", po::value<std::string>(), "comma-separated stuck codes, or all")
        ("images", po::value<int>(), "first N images (0 = all)")
        ("dataset", po::value<std::string>(), "fashion-mnist | mnist | cifar10")
        ("data-dir", po::value<std::string>(), "dataset folder")
        ("output,o", po::value<std::string>(), "results folder")
        ("threads,j", po::value<int>(), "worker threads (0 = all cores)")
        ("seed", po::value<int>(), "seed (random image / fault sampling)")
        ("fresh", "discard earlier results in the output folder instead of resuming")
        ("mode", po::value<std::string>()->default_value("fast"), "fast | prefix | naive (same results)")
        ("shard", po::value<std::string>(),
         "K/N: only the K-th (0-based) of N slices of the faults, into OUTPUT/shard-K-of-N (join: fatsim merge)")
        ("quiet,q", "no progress bar");
    po::positional_options_description pos;
    pos.add("spec", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim campaign SPEC.yaml [overrides] | fatsim campaign --model M --output DIR ...",
                       &pos))
        return 0;
    campaigns::CampaignSpec spec;
    if (vm.count("spec")) {
        spec = campaigns::load_campaign_spec(vm["spec"].as<std::string>());
    } else {
        // Same validation path as a file: build the YAML from the options.
        if (!vm.count("model") || !vm.count("output"))
            throw UsageError("give a spec file, or at least --model and --output");
        spec = campaigns::parse_campaign_spec("error_model: channel\nmodel: x\noutput: x\n", "(options)");
        spec.name = "campaign";
    }
    if (vm.count("model")) spec.model = vm["model"].as<std::string>();
    if (vm.count("output")) spec.output = vm["output"].as<std::string>();
    if (!vm.count("spec")) spec.name = std::filesystem::path(spec.output).lexically_normal().filename().string();
    if (vm.count("error-model")) spec.error_model = parse_error_model_kind(vm["error-model"].as<std::string>());
    if (vm.count("layers")) {
        const std::string l = vm["layers"].as<std::string>();
        spec.layers = l == "all" ? std::vector<std::string>{} : split_list(l);
    }
    if (vm.count("values")) {
        spec.values.clear();
        const std::string v = vm["values"].as<std::string>();
        if (v != "all")
            for (const auto& x : split_list(v)) spec.values.push_back(parse_code(x));
    }
    if (vm.count("images")) spec.images = vm["images"].as<int>();
    if (vm.count("dataset")) spec.dataset = vm["dataset"].as<std::string>();
    if (vm.count("data-dir")) spec.data_dir = vm["data-dir"].as<std::string>();
    if (vm.count("threads")) spec.threads = vm["threads"].as<int>();
    if (vm.count("seed")) spec.seed = uint64_t(vm["seed"].as<int>());
    campaigns::CampaignOptions opt;
    opt.fresh = vm.count("fresh");
    opt.mode = parse_mode(vm["mode"].as<std::string>());
    opt.show_progress = !vm.count("quiet");
    opt.shard = shard_option(vm);
    const auto t0 = std::chrono::steady_clock::now();
    campaigns::CampaignOutcome r;
    int ranks = 1;
    if (run_under_mpi(opt.shard)) {
#ifdef FATSIM_HAVE_MPI
        const auto d = campaigns::mpi::run_campaign_distributed(spec, opt);
        if (d.rank != 0) return 0;  // rank 0 reports
        r = d.outcome;
        ranks = d.ranks;
#endif
    } else {
        r = campaigns::run_campaign(spec, opt);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.resumed_from) std::printf("resumed after %d of %d faults\n", r.resumed_from, r.faults);
    std::printf("%s: %d faults x %d images in %.1f s\n", spec.name.c_str(), r.faults - r.resumed_from, r.images, s);
    if (ranks > 1) std::printf("on %d MPI ranks\n", ranks);
    std::printf("error-free %.2f %%, min %.2f %%, variance %.3f\n", r.error_free, r.min_accuracy, r.variance);
    std::printf("wrote %s and %s\n", r.csv.c_str(), r.summary.c_str());
    // A shard's table covers its slice; `fatsim merge` gives the campaign's.
    const std::string results = opt.shard.active() ? std::filesystem::path(r.csv).parent_path().string() : spec.output;
    std::printf("\n%s", campaigns::table_one(results).c_str());
    return 0;
}

namespace {

std::string shell_quoted(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// `bench campaign --ranks R`: the same campaign as one process and as
// `mpirun -n R`, wall time of each and whether the files agree byte for byte.
int bench_campaign_ranks(const po::variables_map& vm) {
    const int ranks = vm["ranks"].as<int>();
    if (ranks < 2) throw UsageError("--ranks must be >= 2");
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("fatsim-bench-ranks-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string model = vm.count("model") ? vm["model"].as<std::string>() : (dir / "model.fatq").string();
    if (!vm.count("model"))
        save_model(random_model(load_topology(vm["topology"].as<std::string>(), vm["width"].as<double>()), 1), model);
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    std::string common = " campaign -q --fresh --model " + shell_quoted(model) + " --error-model " +
                         shell_quoted(vm["error-model"].as<std::string>()) + " --images " +
                         std::to_string(vm["images"].as<int>()) + " --dataset " +
                         shell_quoted(vm["dataset"].as<std::string>()) + " --threads " +
                         std::to_string(vm["threads"].as<int>());
    if (!vm["data-dir"].as<std::string>().empty()) common += " --data-dir " + shell_quoted(vm["data-dir"].as<std::string>());
    const std::string mpirun = std::string("mpirun --oversubscribe") + (::geteuid() == 0 ? " --allow-run-as-root" : "") +
                               " -n " + std::to_string(ranks) + " ";
    const auto timed = [&](const std::string& launcher, const std::string& out) {
        const std::string cmd = launcher + shell_quoted(self) + common + " --output " + shell_quoted(out) + " > " +
                                shell_quoted(out + ".log") + " 2>&1";
        const auto t0 = std::chrono::steady_clock::now();
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("bench campaign: failed (see " + out + ".log): " + cmd);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    std::printf("bench campaign --ranks %d: model %s, %s sweep of every activation layer, %d images, %d threads per rank\n",
                ranks, vm.count("model") ? model.c_str() : "random CNV (seed 1)",
                vm["error-model"].as<std::string>().c_str(), vm["images"].as<int>(), vm["threads"].as<int>());
    std::fflush(stdout);
    // Same folder name: it names the campaign in the manifest.
    const std::string one = (dir / "one" / "campaign").string(), many = (dir / "ranks" / "campaign").string();
    fs::create_directories(dir / "one");
    fs::create_directories(dir / "ranks");
    const double t1 = timed("", one);
    const double tn = timed(mpirun, many);
    bool same = true;
    for (const char* f : {"faults.csv", "summary.json", "manifest.json"})
        same = same && read_text_file((fs::path(one) / f).string()) == read_text_file((fs::path(many) / f).string());
    std::printf("1 process        %8.1f s\n", t1);
    std::printf("mpirun -n %-4d   %8.1f s\n", ranks, tn);
    std::printf("speed-up         %8.2f x\n", t1 / tn);
    std::printf("agreement        %s\n", same ? "identical faults.csv, summary.json, manifest.json" : "MISMATCH");
    if (same) fs::remove_all(dir);
    return same ? 0 : 1;
}

}  // namespace

int cmd_bench_campaign(const Args& args_in) {
    const Args args(args_in.begin() + 1, args_in.end());  // drop "campaign"
    po::options_description desc("fatsim bench campaign options");
    desc.add_options()
        ("model,m", po::value<std::string>(), "model file (default: a random full-width CNV-W1A1, seed 1)")
        ("topology,t", po::value<std::string>()->default_value("models/cnv_w1a1.yaml"), "topology for the random model")
        ("width", po::value<double>()->default_value(0.0), "width multiplier (0 = the topology's)")
        ("error-model,e", po::value<std::string>()->default_value("channel"), "channel | pixel")
        ("threads,j", po::value<int>()->default_value(2), "worker threads")
        ("naive", po::value<std::string>()->default_value("naive"), "baseline: naive (full re-inference) | prefix")
        ("sweep-images", po::value<int>()->default_value(10000), "projected campaign size for the time estimate")
        ("ranks", po::value<int>(), "instead: the campaign as 1 process vs `mpirun -n RANKS` (wall time, same files)");
    add_dataset_options(desc);
    po::variables_map vm;
    std::vector<std::string> a = args;
    if (std::find(a.begin(), a.end(), "--images") == a.end()) a.insert(a.end(), {"--images", "100"});
    if (!parse_or_help(a, desc, vm, "fatsim bench campaign [--images N] [--model M] [--threads T] [--ranks R]")) return 0;
    if (vm.count("ranks")) return bench_campaign_ranks(vm);
    QnnModel model = vm.count("model") ? load_model(vm["model"].as<std::string>())
                                       : random_model(load_topology(vm["topology"].as<std::string>(),
                                                                    vm["width"].as<double>()), 1);
    const ErrorModelKind kind = parse_error_model_kind(vm["error-model"].as<std::string>());
    const InputBatch batch = load_inputs(vm, model.topology);
    const int threads = vm["threads"].as<int>();
    std::vector<int> layers;
    for (size_t l = 0; l < model.topology.layers.size(); ++l)
        if (model.topology.layers[l].act_bits) layers.push_back(int(l));
    const auto faults = campaigns::enumerate_faults(model.topology, kind, layers);
    const Engine engine(model);
    const double evals = double(faults.size()) * batch.count;
    std::printf("bench campaign: %s (width %.3g), full %s stuck@ sweep: %zu faults x %d images = %.0f fault-image "
                "evaluations, %d threads\n",
                model.topology.name.c_str(), model.topology.width, to_string(kind), faults.size(), batch.count, evals,
                resolve_threads(threads));
    std::fflush(stdout);
    auto timed = [&](campaigns::SweepMode mode, std::vector<campaigns::FaultResult>& out) {
        campaigns::SweepOptions o;
        o.mode = mode;
        o.threads = threads;
        Progress progress(std::string("bench ") + campaigns::to_string(mode), int64_t(faults.size()), "faults");
        o.progress = &progress;
        const auto t0 = std::chrono::steady_clock::now();
        out = campaigns::run_sweep(engine, batch, kind, faults, o);
        progress.finish();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    std::vector<campaigns::FaultResult> rn, rf;
    const campaigns::SweepMode base = parse_mode(vm["naive"].as<std::string>());
    const double tf = timed(campaigns::SweepMode::Fast, rf);
    const double tn = timed(base, rn);
    int mismatch = 0;
    for (size_t k = 0; k < faults.size(); ++k)
        mismatch += rn[k].correct != rf[k].correct || rn[k].changed != rf[k].changed;
    const double rate_n = evals / tn, rate_f = evals / tf;
    const double full = double(faults.size()) * vm["sweep-images"].as<int>();
    std::printf("(a) %-6s %12.0f fault-image evaluations/s  (%.1f s)\n", campaigns::to_string(base), rate_n, tn);
    std::printf("(b) fast   %12.0f fault-image evaluations/s  (%.1f s)\n", rate_f, tf);
    std::printf("speed-up   %12.1f x\n", rate_f / rate_n);
    std::printf("peak RSS   %12.1f MiB\n", peak_rss_mib());
    std::printf("agreement  %s (%d of %zu faults differ in accuracy or changed predictions)\n",
                mismatch ? "MISMATCH" : "identical", mismatch, faults.size());
    std::printf("projected full sweep over %d images: fast %s, %s %s%s\n", vm["sweep-images"].as<int>(),
                format_duration(full / rate_f).c_str(), campaigns::to_string(base),
                format_duration(full / rate_n).c_str(),
                kind == ErrorModelKind::Channel ? " (target 01:40, 400,000 evaluations/s)" : "");
    return mismatch ? 1 : 0;
}

}  // namespace fatsim::app
