// pipeline: the paper's experiment end to end. Train SAT / FAT / Dropout2D
// models, export them, run channel and pixel stuck@ campaigns on each, trace
// the selective-replication trade-off, and write out/report.md with plots.
// Each step records a stamp of its inputs and is skipped when its outputs
// exist with the same stamp, so a second run is quick and an interrupted one
// resumes (training from its last checkpoint, campaigns from their CSV).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app.hpp"
#include "campaign.hpp"
#include "config.hpp"
#include "files.hpp"
#include "model.hpp"
#include "replicate.hpp"
#include "report.hpp"
#include "trainer.hpp"
#include "yaml_fields.hpp"

namespace fatsim::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ModelEntry {
    std::string label;
    trainer::TrainMode mode = trainer::TrainMode::Sat;
    double p = 0.05;
    std::string error_model = "channel";  // injection granularity for FAT (channel | pixel)
};

struct PipelineSpec {
    std::string source, name, output, topology;
    double width = 0;
    std::string dataset = "fashion-mnist", data_dir;
    int train_images = 0, test_images = 0;
    int epochs = 4, batch = 100, lr_step = 40, threads = 2, seed = 1;
    double lr = 0.02;
    std::vector<ModelEntry> models;
    int channel_images = 10000, pixel_images = 2000;
    std::string accel;  // optional: folded cost column of the replication
};

PipelineSpec parse_pipeline_spec(const std::string& path) {
    using namespace yamlf;
    const YAML::Node root = load_map(read_text_file(path), path);
    Errors errs;
    check_keys(root, "", {"name", "output", "topology", "width", "dataset", "train", "models", "campaigns", "replicate"},
               errs);
    PipelineSpec s;
    s.source = path;
    s.name = fs::path(path).stem().string();
    get_string(root, "name", "", s.name, errs);
    if (get_string(root, "output", "", s.output, errs, true)) s.output = resolve_relative(path, s.output);
    if (get_string(root, "topology", "", s.topology, errs, true)) s.topology = resolve_relative(path, s.topology);
    get_double(root, "width", "", s.width, errs, 0.0, 16.0);
    YAML::Node m;
    if (get_map(root, "dataset", "", m, errs)) {
        check_keys(m, "dataset", {"name", "dir", "train_images", "test_images"}, errs);
        get_choice(m, "name", "dataset", {"fashion-mnist", "mnist", "cifar10"}, s.dataset, errs);
        if (get_string(m, "dir", "dataset", s.data_dir, errs)) s.data_dir = resolve_relative(path, s.data_dir);
        get_int(m, "train_images", "dataset", s.train_images, errs, 0, 10000000);
        get_int(m, "test_images", "dataset", s.test_images, errs, 0, 10000000);
    }
    if (get_map(root, "train", "", m, errs)) {
        check_keys(m, "train", {"epochs", "batch", "lr", "lr_step", "seed", "threads"}, errs);
        get_int(m, "epochs", "train", s.epochs, errs, 1, 100000);
        get_int(m, "batch", "train", s.batch, errs, 1, 100000);
        get_double(m, "lr", "train", s.lr, errs, 1e-9, 10.0);
        get_int(m, "lr_step", "train", s.lr_step, errs, 1, 100000);
        get_int(m, "seed", "train", s.seed, errs, 0, 2147483647);
        get_int(m, "threads", "train", s.threads, errs, 1, 256);
    }
    const YAML::Node models = root["models"];
    if (!models || !models.IsSequence() || models.size() == 0) {
        errs.push_back("models: required, a non-empty list of {label, mode, p}");
    } else {
        for (size_t i = 0; i < models.size(); ++i) {
            const std::string p = "models[" + std::to_string(i) + "]";
            if (!models[i].IsMap()) {
                errs.push_back(p + shown(models[i]) + " must be a map");
                continue;
            }
            check_keys(models[i], p, {"label", "mode", "p", "error_model"}, errs);
            ModelEntry e;
            get_string(models[i], "label", p, e.label, errs, true);
            std::string mode = "sat";
            if (get_choice(models[i], "mode", p, {"sat", "fat1", "fat2", "dropout2d"}, mode, errs))
                e.mode = trainer::parse_train_mode(mode);
            get_double(models[i], "p", p, e.p, errs, 0.0, 1.0);
            get_choice(models[i], "error_model", p, {"channel", "pixel"}, e.error_model, errs);
            for (const auto& other : s.models)
                if (other.label == e.label) errs.push_back(p + ".label=" + e.label + " is used twice");
            s.models.push_back(e);
        }
    }
    if (get_map(root, "campaigns", "", m, errs)) {
        check_keys(m, "campaigns", {"channel_images", "pixel_images"}, errs);
        get_int(m, "channel_images", "campaigns", s.channel_images, errs, 0, 10000000);
        get_int(m, "pixel_images", "campaigns", s.pixel_images, errs, 0, 10000000);
    }
    if (get_map(root, "replicate", "", m, errs)) {
        check_keys(m, "replicate", {"accel"}, errs);
        if (get_string(m, "accel", "replicate", s.accel, errs)) s.accel = resolve_relative(path, s.accel);
    }
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    return s;
}

std::string read_or_empty(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void say(const std::string& s) {
    std::cout << s << std::endl;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct TrainedModel {
    ModelEntry entry;
    std::string model_path;
    json record;  // training results (accuracy, time per epoch, export agreement)
};

// Trains (or resumes, or skips) one model. Stamp = hash of everything that
// defines the training run.
TrainedModel train_step(const PipelineSpec& s, const ModelEntry& e, const Topology& topo, const InputBatch& train_set,
                        const InputBatch& test_set) {
    const std::string dir = s.output + "/models";
    fs::create_directories(dir);
    TrainedModel t{e, dir + "/" + e.label + ".fatq", {}};
    std::ostringstream key;
    key << read_or_empty(s.topology) << '|' << s.width << '|' << trainer::to_string(e.mode) << '|' << e.p << '|'
        << e.error_model << '|' << s.epochs << '|' << s.batch << '|' << s.lr << '|' << s.lr_step << '|' << s.seed
        << '|' << s.dataset << '|' << train_set.count << '|' << test_set.count;
    const std::string stamp = hex64(fnv1a64(key.str()));
    const std::string record_path = dir + "/" + e.label + ".json";
    if (fs::exists(t.model_path) && fs::exists(record_path)) {
        const json rec = json::parse(read_or_empty(record_path), nullptr, false);
        if (!rec.is_discarded() && rec.value("stamp", "") == stamp) {
            say("   " + e.label + ": up to date (" + t.model_path + "), skipped");
            t.record = rec;
            return t;
        }
    }
    trainer::TrainOptions opt;
    opt.topology_path = s.topology;
    opt.width = s.width;
    opt.mode = e.mode;
    opt.inject.p = e.p;
    opt.inject.error_model = stuck_at_error_model(parse_error_model_kind(e.error_model));
    opt.epochs = s.epochs;
    opt.batch = s.batch;
    opt.lr = s.lr;
    opt.lr_step = s.lr_step;
    opt.seed = uint64_t(s.seed);
    opt.threads = s.threads;
    opt.eval_each_epoch = false;
    // Checkpoints are only resumed when they belong to the same run.
    opt.checkpoint_dir = s.output + "/checkpoints/" + e.label;
    const std::string ck_stamp = opt.checkpoint_dir + "/pipeline.stamp";
    if (fs::exists(opt.checkpoint_dir) && read_or_empty(ck_stamp) != stamp) fs::remove_all(opt.checkpoint_dir);
    fs::create_directories(opt.checkpoint_dir);
    write_file_atomic(ck_stamp, stamp);
    opt.resume = true;
    const auto t0 = std::chrono::steady_clock::now();
    const trainer::TrainResult r = trainer::train(topo, opt, train_set, test_set);
    save_model(r.model, t.model_path);
    double epoch_s = 0;
    for (const auto& ep : r.epochs) epoch_s += ep.seconds;
    t.record = {{"stamp", stamp},
                {"label", e.label},
                {"mode", trainer::to_string(e.mode)},
                {"p", e.mode == trainer::TrainMode::Sat ? 0.0 : e.p},
                {"error_model", e.error_model},
                {"epochs", s.epochs},
                {"test_accuracy", r.test_acc},
                {"seconds_per_epoch", r.epochs.empty() ? 0.0 : epoch_s / r.epochs.size()},
                {"seconds", seconds_since(t0)},
                {"export_images", r.agreement.images},
                {"export_prediction_agree", r.agreement.pred_agree},
                {"export_activation_agree", r.agreement.act_agree}};
    write_file_atomic(record_path, t.record.dump(2) + "\n");
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: test accuracy %.2f %%, export agrees with LibTorch on %d/%d images", e.label.c_str(),
                  r.test_acc, r.agreement.pred_agree, r.agreement.images);
    say(buf);
    return t;
}

// Runs (or resumes, or skips) one stuck@ campaign on a trained model.
std::string campaign_step(const PipelineSpec& s, const TrainedModel& t, ErrorModelKind kind, int images) {
    campaigns::CampaignSpec c;
    c.source = s.source;
    c.name = t.entry.label + "_" + to_string(kind);
    c.model = t.model_path;
    c.dataset = s.dataset;
    c.data_dir = s.data_dir;
    c.images = images;
    c.error_model = kind;
    c.output = s.output + "/campaigns/" + c.name;
    if (kind == ErrorModelKind::Pixel) {
        // A 1x1 feature map (conv5, FC layers) has one pixel: a "pixel" fault
        // there sticks the whole layer and every model drops to chance, which
        // says nothing about training; the pixel model is for feature maps.
        const QnnModel m = load_model(t.model_path);
        for (const auto& l : m.topology.layers)
            if (l.act_bits && l.pooled_dim > 1) c.layers.push_back(l.name);
    }
    c.threads = 0;
    c.seed = uint64_t(s.seed);
    campaigns::CampaignOptions opt;
    // A retrained model invalidates earlier results (the campaign's manifest
    // holds the model's hash): start over instead of refusing to resume.
    const std::string stamp_path = c.output + "/pipeline.stamp";
    std::string stamp = t.record.value("stamp", "") + "|" + std::to_string(images);
    for (const auto& l : c.layers) stamp += "|" + l;
    opt.fresh = read_or_empty(stamp_path) != stamp;
    if (!opt.fresh && fs::exists(c.output + "/summary.json")) {
        say("   " + c.name + ": up to date, skipped");
        return c.output;
    }
    const campaigns::CampaignOutcome o = campaigns::run_campaign(c, opt);
    fs::create_directories(c.output);
    write_file_atomic(stamp_path, stamp);
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: error-free %.2f %%, min %.2f %%, variance %.3f (%d faults x %d images)",
                  c.name.c_str(), o.error_free, o.min_accuracy, o.variance, o.faults, o.images);
    say(buf);
    return c.output;
}

json load_json(const std::string& path) { return json::parse(read_or_empty(path)); }

std::string fmt2(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

const TrainedModel* find_mode(const std::vector<TrainedModel>& ms, trainer::TrainMode mode) {
    for (const auto& m : ms)
        if (m.entry.mode == mode) return &m;
    return nullptr;
}

}  // namespace

int cmd_pipeline(const Args& args) {
    po::options_description desc("fatsim pipeline options");
    desc.add_options()
        ("spec", po::value<std::string>()->required(), "pipeline spec YAML (e.g. campaigns/fashion_cnv.yaml)")
        ("topology,t", po::value<std::string>(), "override the spec's topology (e.g. models/cnv_w2a2.yaml)")
        ("epochs", po::value<int>(), "override the spec's training epochs")
        ("output,o", po::value<std::string>(), "override the spec's output folder");
    po::positional_options_description pos;
    pos.add("spec", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim pipeline SPEC.yaml [--topology T] [--epochs N] [--output DIR]", &pos))
        return 0;
    PipelineSpec s = parse_pipeline_spec(vm["spec"].as<std::string>());
    if (vm.count("topology")) s.topology = vm["topology"].as<std::string>();
    if (vm.count("epochs")) s.epochs = vm["epochs"].as<int>();
    if (vm.count("output")) s.output = vm["output"].as<std::string>();
    const auto t_start = std::chrono::steady_clock::now();
    const Topology topo = load_topology(s.topology, s.width);
    fs::create_directories(s.output);

    say("== data: " + s.dataset + " (" + topo.name + ", width " + fmt2(topo.width) + ")");
    const DatasetKind dk = parse_dataset_kind(s.dataset);
    const InputBatch train_set = prepare_inputs(load_dataset(dk, s.data_dir, "train", s.train_images), topo);
    const InputBatch test_set = prepare_inputs(load_dataset(dk, s.data_dir, "test", s.test_images), topo);
    say("   " + std::to_string(train_set.count) + " training and " + std::to_string(test_set.count) + " test images");

    say("== 1. training (" + std::to_string(s.epochs) + " epochs each)");
    std::vector<TrainedModel> trained;
    for (const auto& e : s.models) trained.push_back(train_step(s, e, topo, train_set, test_set));

    say("== 2. stuck@ campaigns (channel on " + std::to_string(s.channel_images) + " images, pixel on " +
        std::to_string(s.pixel_images) + ")");
    std::vector<std::string> channel_dirs, pixel_dirs;
    for (const auto& t : trained) {
        channel_dirs.push_back(campaign_step(s, t, ErrorModelKind::Channel, s.channel_images));
        pixel_dirs.push_back(campaign_step(s, t, ErrorModelKind::Pixel, s.pixel_images));
    }

    say("== 3. selective channel replication");
    std::unique_ptr<AccelConfig> accel;
    if (!s.accel.empty()) {
        Topology accel_topo;
        accel = std::make_unique<AccelConfig>(load_accel(s.accel, &accel_topo));
        bind_folding(*accel, topo);
    }
    std::vector<campaigns::ReplicationRun> runs;
    for (size_t i = 0; i < trained.size(); ++i) {
        const json sum = load_json(channel_dirs[i] + "/summary.json");
        campaigns::ReplicationRun r;
        r.label = trained[i].entry.label;
        r.error_free = sum["error_free_accuracy"].get<double>();
        r.curve = campaigns::replication_tradeoff(
            topo, accel.get(), r.error_free, campaigns::read_channel_criticality(channel_dirs[i] + "/faults.csv", topo));
        runs.push_back(std::move(r));
    }
    const std::string rep_dir = s.output + "/replication";
    const std::string rep_plot = campaigns::write_replication(runs, rep_dir);

    say("== 4. report");
    const std::string ch_plot = campaigns::plot_min_max(channel_dirs, s.output + "/fig_channel_min_max");
    const std::string px_plot = campaigns::plot_min_max(pixel_dirs, s.output + "/fig_pixel_min_max");
    std::ostringstream md;
    md << "# " << s.name << ": fault-aware training on " << s.dataset << "\n\n"
       << "Network " << topo.name << " at width " << topo.width << "; " << s.epochs << " training epochs per model on "
       << train_set.count << " images; accuracies on " << test_set.count << " test images (golden integer engine, "
       << "bit-exact with the exported LibTorch model). Channel stuck@ campaigns on " << s.channel_images
       << " test images, pixel stuck@ on " << s.pixel_images << ". Every fault: one channel (or one pixel, all its "
       << "channels) of one layer's output stuck at one activation level (the paper's Algorithm 1).\n\n";
    md << "## Training\n\n| model | mode | p | test acc. [%] | s/epoch | export = LibTorch |\n|---|---|---:|---:|---:|---:|\n";
    for (const auto& t : trained) {
        const json& r = t.record;
        md << "| " << t.entry.label << " | " << r["mode"].get<std::string>() << " | " << r["p"].get<double>() * 100
           << " % | " << fmt2(r["test_accuracy"].get<double>()) << " | " << fmt2(r["seconds_per_epoch"].get<double>())
           << " | " << r["export_prediction_agree"].get<int>() << "/" << r["export_images"].get<int>() << " |\n";
    }
    md << "\n## Table II analogue: channel stuck@\n\n" << campaigns::comparison_table(channel_dirs)
       << "\n![min/max accuracy per layer, channel stuck@](" << fs::path(ch_plot).filename().string() << ")\n";
    md << "\n## Table III/IV analogue: pixel stuck@ (FAT vs Dropout2D)\n\nLayers whose output has more than "
          "one pixel (a pixel fault in a 1x1 layer sticks the whole layer).\n\n" << campaigns::comparison_table(pixel_dirs)
       << "\n![min/max accuracy per layer, pixel stuck@](" << fs::path(px_plot).filename().string() << ")\n";
    md << "\n## Selective channel replication (TMR)\n\nChannels ranked by accuracy under their worst stuck value; the k "
          "most critical triplicated (their faults masked by the voter). Cost: a fully unrolled network (each MAC its "
          "own unit; a triplicated channel adds twice its MACs plus a voter per output)."
       << (accel ? " Folded cost (PE x SIMD under " + fs::path(s.accel).filename().string() + ") in the CSVs." : "")
       << "\n\nChannels to triplicate to guarantee a worst-case error under single channel stuck@:\n\n"
       << campaigns::replication_table(runs, campaigns::default_targets(runs)) << "\n![worst-case error vs cost]("
       << "replication/" << fs::path(rep_plot).filename().string() << ")\n";

    // The paper's claims, checked on these numbers.
    md << "\n## Do the paper's claims hold here?\n\n";
    auto summary = [&](const std::vector<std::string>& dirs, const TrainedModel* t) -> json {
        for (size_t i = 0; i < trained.size(); ++i)
            if (&trained[i] == t) return load_json(dirs[i] + "/summary.json");
        return json();
    };
    const TrainedModel* sat = find_mode(trained, trainer::TrainMode::Sat);
    const TrainedModel* fat2 = find_mode(trained, trainer::TrainMode::Fat2);
    const TrainedModel* fat1 = find_mode(trained, trainer::TrainMode::Fat1);
    const TrainedModel* drop = find_mode(trained, trainer::TrainMode::Dropout2d);
    auto verdict = [](bool ok) { return ok ? "**holds**" : "**does not hold**"; };
    if (sat) {
        const json c = summary(channel_dirs, sat);
        const double ef = c["error_free_accuracy"], mn = c["min_accuracy"];
        md << "- SAT's min accuracy under single channel stuck@ far below its error-free accuracy: " << verdict(ef - mn > 5)
           << " (error-free " << fmt2(ef) << " %, min " << fmt2(mn) << " %, a drop of " << fmt2(ef - mn) << " points).\n";
    }
    if (sat && fat2) {
        const json cs = summary(channel_dirs, sat), cf = summary(channel_dirs, fat2);
        const double ef = cf["error_free_accuracy"], mn = cf["min_accuracy"], efs = cs["error_free_accuracy"];
        // "A few points": the paper's own FAT gaps (Table II) are 1.3 to 3.8 points.
        md << "- FAT method 2 (p = " << fat2->entry.p * 100 << " %) keeps its min accuracy within a few (<= 4) points "
           << "of error-free: " << verdict(ef - mn <= 4) << " (error-free " << fmt2(ef) << " %, min " << fmt2(mn)
           << " %, " << fmt2(ef - mn) << " points).\n"
           << "- FAT method 2's error-free accuracy within about 1 point of SAT: " << verdict(std::fabs(ef - efs) <= 1.0)
           << " (" << fmt2(ef) << " % vs " << fmt2(efs) << " %, " << fmt2(ef - efs) << " points).\n";
    }
    if (fat1) {
        const json c = summary(channel_dirs, fat1);
        const double ef = c["error_free_accuracy"], mn = c["min_accuracy"];
        md << "- The same for FAT method 1 (p = " << fat1->entry.p * 100 << " %): " << verdict(ef - mn <= 4)
           << " (error-free " << fmt2(ef) << " %, min " << fmt2(mn) << " %, " << fmt2(ef - mn) << " points).\n";
    }
    if (drop && (fat1 || fat2)) {
        const TrainedModel* fat = fat1 ? fat1 : fat2;
        const json pf = summary(pixel_dirs, fat), pd = summary(pixel_dirs, drop);
        md << "- FAT beats Dropout2D under pixel stuck@ (min accuracy): "
           << verdict(pf["min_accuracy"].get<double>() > pd["min_accuracy"].get<double>()) << " (" << fat->entry.label
           << " " << fmt2(pf["min_accuracy"]) << " % vs " << drop->entry.label << " " << fmt2(pd["min_accuracy"])
           << " %).\n";
    }
    if (sat && fat2) {
        const campaigns::ReplicationRun *rs = nullptr, *rf = nullptr;
        for (size_t i = 0; i < trained.size(); ++i) {
            if (&trained[i] == sat) rs = &runs[i];
            if (&trained[i] == fat2) rf = &runs[i];
        }
        // Target: FAT2's worst-case error with nothing triplicated.
        const double target = rf->curve.front().worst_error;
        const int ks = campaigns::channels_needed(rs->curve, target), kf = campaigns::channels_needed(rf->curve, target);
        md << "- FAT needs far fewer triplicated channels for the same worst-case error: " << verdict(ks > kf)
           << " (to guarantee " << fmt2(target) << " % worst-case error: SAT " << ks << " channels, "
           << fat2->entry.label << " " << kf << ").\n";
    }
    md << "\n## Table I analogue per model (channel stuck@)\n\n";
    for (const auto& d : channel_dirs) md << campaigns::table_one(d) << "\n";
    md << "\nRun time of this pipeline invocation: " << fmt2(seconds_since(t_start)) << " s (skipped steps cost "
       << "nothing).\n";
    const std::string report = s.output + "/report.md";
    write_file_atomic(report, md.str());
    std::cout << "\n" << md.str() << "\nwrote " << report << "\n";
    return 0;
}

}  // namespace fatsim::app
