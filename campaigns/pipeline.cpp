// The pipeline (see pipeline.hpp): spec parsing, the training / campaign /
// replication steps with their stamps, the claim checks and report.md.
#include "pipeline.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "campaign.hpp"
#include "files.hpp"
#include "replicate.hpp"
#include "report.hpp"
#include "yaml_fields.hpp"

namespace fatsim::campaigns {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------- spec

const ConfigSchema& pipeline_spec_schema() {
    static const ConfigSchema schema = [] {
        using namespace param;
        const PipelineSpec d;
        const PipelineModel m;
        ConfigSchema s;
        s.kind = "pipeline";
        s.summary =
            "the paper's experiment end to end: train, campaigns, replication, report (campaigns/fashion_cnv.yaml)";
        s.sections = {
            {"",
             {string("name", "file stem", "report title"),
              required(path("output", "", "results folder (report.md, models/, campaigns/, replication/)")),
              required(path("topology", "", "topology YAML of the trained network")),
              number("width", 0.0, 16.0, num(d.width), "width multiplier (0 = the topology's)"),
              map("dataset", "training and test images"), map("train", "training settings shared by every model"),
              required(list("models", "maps", "", "the models to train and compare (see models[])")),
              map("campaigns", "images of the stuck@ campaigns"), map("replicate", "selective channel replication")}},
            {"dataset",
             {choice("name", {"fashion-mnist", "mnist", "cifar10"}, d.dataset, "dataset"),
              path("dir", "the dataset's default folder", "folder of the dataset files"),
              integer("train_images", 0, 10000000, std::to_string(d.train_images), "training images (0 = all)"),
              integer("test_images", 0, 10000000, std::to_string(d.test_images), "test images (0 = all)")}},
            {"train",
             {integer("epochs", 1, 100000, std::to_string(d.epochs), "training epochs per model"),
              integer("batch", 1, 100000, std::to_string(d.batch), "mini-batch size"),
              number("lr", 1e-9, 10.0, num(d.lr), "initial learning rate"),
              integer("lr_step", 1, 100000, std::to_string(d.lr_step), "the learning rate halves every lr_step epochs"),
              integer("seed", 0, 2147483647, std::to_string(d.seed), "seed of training and campaigns"),
              integer("threads", 1, 256, std::to_string(d.threads), "training threads")}},
            {"models[]",
             {required(string("label", "", "model name in the report, unique")),
              choice("mode", {"sat", "fat1", "fat2", "dropout2d"}, m.mode,
                     "standard, fault-aware (method 1 / 2) or Dropout2D training"),
              number("p", 0.0, 1.0, num(m.p), "fault injection / dropout probability (fraction)"),
              choice("error_model", {"channel", "pixel"}, m.error_model, "injection granularity of FAT")}},
            {"campaigns",
             {integer("channel_images", 0, 10000000, std::to_string(d.channel_images),
                      "test images of each channel stuck@ campaign"),
              integer("pixel_images", 0, 10000000, std::to_string(d.pixel_images),
                      "test images of each pixel stuck@ campaign")}},
            {"replicate",
             {path("accel", "none", "accelerator YAML: adds the folded (PE x SIMD) cost to the replication CSVs")}},
        };
        return s;
    }();
    return schema;
}

PipelineSpec parse_pipeline_spec(const std::string& text, const std::string& path) {
    using namespace yamlf;
    const YAML::Node root = load_map(text, path);
    const ConfigSchema& schema = pipeline_spec_schema();
    Errors errs;
    const SectionReader top(root, schema.section(""), "", errs);
    PipelineSpec s;
    s.source = path;
    s.name = fs::path(path).stem().string();
    top.get("name", s.name);
    if (top.get("output", s.output)) s.output = resolve_relative(path, s.output);
    if (top.get("topology", s.topology)) s.topology = resolve_relative(path, s.topology);
    top.get("width", s.width);
    YAML::Node m;
    if (top.get("dataset", m)) {
        const SectionReader r(m, schema.section("dataset"), "dataset", errs);
        r.get("name", s.dataset);
        if (r.get("dir", s.data_dir)) s.data_dir = resolve_relative(path, s.data_dir);
        r.get("train_images", s.train_images);
        r.get("test_images", s.test_images);
    }
    if (top.get("train", m)) {
        const SectionReader r(m, schema.section("train"), "train", errs);
        r.get("epochs", s.epochs);
        r.get("batch", s.batch);
        r.get("lr", s.lr);
        r.get("lr_step", s.lr_step);
        r.get("seed", s.seed);
        r.get("threads", s.threads);
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
            const SectionReader r(models[i], schema.section("models[]"), p, errs);
            PipelineModel e;
            r.get("label", e.label);
            r.get("mode", e.mode);
            r.get("p", e.p);
            r.get("error_model", e.error_model);
            for (const auto& other : s.models)
                if (other.label == e.label) errs.push_back(p + ".label=" + e.label + " is used twice");
            s.models.push_back(e);
        }
    }
    if (top.get("campaigns", m)) {
        const SectionReader r(m, schema.section("campaigns"), "campaigns", errs);
        r.get("channel_images", s.channel_images);
        r.get("pixel_images", s.pixel_images);
    }
    if (top.get("replicate", m)) {
        const SectionReader r(m, schema.section("replicate"), "replicate", errs);
        if (r.get("accel", s.accel)) s.accel = resolve_relative(path, s.accel);
    }
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    return s;
}

PipelineSpec load_pipeline_spec(const std::string& path) { return parse_pipeline_spec(read_text_file(path), path); }

// ---------------------------------------------------------------- steps

namespace {

const std::string kSat = "sat";

std::string read_or_empty(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct TrainedModel {
    PipelineModel entry;
    std::string model_path;
    json record;  // training results (accuracy, time per epoch, export agreement)
};

// Trains (or resumes, or skips) one model. Stamp = hash of everything that
// defines the training run.
TrainedModel train_step(const PipelineSpec& s, const PipelineModel& e, const Topology& topo,
                        const InputBatch& train_set, const InputBatch& test_set, const TrainFunction& train,
                        std::ostream& log) {
    const std::string dir = s.output + "/models";
    fs::create_directories(dir);
    TrainedModel t{e, dir + "/" + e.label + ".fatq", {}};
    std::ostringstream key;
    key << read_or_empty(s.topology) << '|' << s.width << '|' << e.mode << '|' << e.p << '|' << e.error_model << '|'
        << s.epochs << '|' << s.batch << '|' << s.lr << '|' << s.lr_step << '|' << s.seed << '|' << s.dataset << '|'
        << train_set.count << '|' << test_set.count;
    const std::string stamp = hex64(fnv1a64(key.str()));
    const std::string record_path = dir + "/" + e.label + ".json";
    if (fs::exists(t.model_path) && fs::exists(record_path)) {
        const json rec = json::parse(read_or_empty(record_path), nullptr, false);
        if (!rec.is_discarded() && rec.value("stamp", "") == stamp) {
            log << "   " + e.label + ": up to date (" + t.model_path + "), skipped" << std::endl;
            t.record = rec;
            return t;
        }
    }
    TrainRequest q;
    q.topology_path = s.topology;
    q.width = s.width;
    q.model = e;
    q.epochs = s.epochs;
    q.batch = s.batch;
    q.lr = s.lr;
    q.lr_step = s.lr_step;
    q.seed = uint64_t(s.seed);
    q.threads = s.threads;
    // Checkpoints are only resumed when they belong to the same run.
    q.checkpoint_dir = s.output + "/checkpoints/" + e.label;
    const std::string ck_stamp = q.checkpoint_dir + "/pipeline.stamp";
    if (fs::exists(q.checkpoint_dir) && read_or_empty(ck_stamp) != stamp) fs::remove_all(q.checkpoint_dir);
    fs::create_directories(q.checkpoint_dir);
    write_file_atomic(ck_stamp, stamp);
    const auto t0 = std::chrono::steady_clock::now();
    const TrainOutcome r = train(topo, q, train_set, test_set);
    save_model(r.model, t.model_path);
    double epoch_s = 0;
    for (double sec : r.epoch_seconds) epoch_s += sec;
    t.record = {{"stamp", stamp},
                {"label", e.label},
                {"mode", e.mode},
                {"p", e.mode == kSat ? 0.0 : e.p},
                {"error_model", e.error_model},
                {"epochs", s.epochs},
                {"test_accuracy", r.test_accuracy},
                {"seconds_per_epoch", r.epoch_seconds.empty() ? 0.0 : epoch_s / r.epoch_seconds.size()},
                {"seconds", seconds_since(t0)},
                {"export_images", r.export_images},
                {"export_prediction_agree", r.export_prediction_agree},
                {"export_activation_agree", r.export_activation_agree}};
    write_file_atomic(record_path, t.record.dump(2) + "\n");
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: test accuracy %.2f %%, export agrees with LibTorch on %d/%d images",
                  e.label.c_str(), r.test_accuracy, r.export_prediction_agree, r.export_images);
    log << buf << std::endl;
    return t;
}

// Runs (or resumes, or skips) one stuck@ campaign on a trained model.
std::string campaign_step(const PipelineSpec& s, const TrainedModel& t, ErrorModelKind kind, int images,
                          std::ostream& log) {
    CampaignSpec c;
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
    CampaignOptions opt;
    // A retrained model invalidates earlier results (the campaign's manifest
    // holds the model's hash): start over instead of refusing to resume.
    const std::string stamp_path = c.output + "/pipeline.stamp";
    std::string stamp = t.record.value("stamp", "") + "|" + std::to_string(images);
    for (const auto& l : c.layers) stamp += "|" + l;
    opt.fresh = read_or_empty(stamp_path) != stamp;
    if (!opt.fresh && fs::exists(c.output + "/summary.json")) {
        log << "   " + c.name + ": up to date, skipped" << std::endl;
        return c.output;
    }
    const CampaignOutcome o = run_campaign(c, opt);
    fs::create_directories(c.output);
    write_file_atomic(stamp_path, stamp);
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: error-free %.2f %%, min %.2f %%, variance %.3f (%d faults x %d images)",
                  c.name.c_str(), o.error_free, o.min_accuracy, o.variance, o.faults, o.images);
    log << buf << std::endl;
    return c.output;
}

json load_json(const std::string& path) { return json::parse(read_or_empty(path)); }

std::string fmt2(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

const TrainedModel* find_mode(const std::vector<TrainedModel>& ms, const std::string& mode) {
    for (const auto& m : ms)
        if (m.entry.mode == mode) return &m;
    return nullptr;
}

// The paper's claims, checked on these numbers (a section of report.md).
void write_claim_checks(std::ostream& md, const std::vector<TrainedModel>& trained,
                        const std::vector<std::string>& channel_dirs, const std::vector<std::string>& pixel_dirs,
                        const std::vector<ReplicationRun>& runs) {
    md << "\n## Do the paper's claims hold here?\n\n";
    auto summary = [&](const std::vector<std::string>& dirs, const TrainedModel* t) -> json {
        for (size_t i = 0; i < trained.size(); ++i)
            if (&trained[i] == t) return load_json(dirs[i] + "/summary.json");
        return json();
    };
    const TrainedModel* sat = find_mode(trained, kSat);
    const TrainedModel* fat2 = find_mode(trained, "fat2");
    const TrainedModel* fat1 = find_mode(trained, "fat1");
    const TrainedModel* drop = find_mode(trained, "dropout2d");
    auto verdict = [](bool ok) { return ok ? "**holds**" : "**does not hold**"; };
    if (sat) {
        const json c = summary(channel_dirs, sat);
        const double ef = c["error_free_accuracy"], mn = c["min_accuracy"];
        md << "- SAT's min accuracy under single channel stuck@ far below its error-free accuracy: "
           << verdict(ef - mn > 5) << " (error-free " << fmt2(ef) << " %, min " << fmt2(mn) << " %, a drop of "
           << fmt2(ef - mn) << " points).\n";
    }
    if (sat && fat2) {
        const json cs = summary(channel_dirs, sat), cf = summary(channel_dirs, fat2);
        const double ef = cf["error_free_accuracy"], mn = cf["min_accuracy"], efs = cs["error_free_accuracy"];
        // "A few points": the paper's own FAT gaps (Table II) are 1.3 to 3.8 points.
        md << "- FAT method 2 (p = " << fat2->entry.p * 100 << " %) keeps its min accuracy within a few (<= 4) points "
           << "of error-free: " << verdict(ef - mn <= 4) << " (error-free " << fmt2(ef) << " %, min " << fmt2(mn)
           << " %, " << fmt2(ef - mn) << " points).\n"
           << "- FAT method 2's error-free accuracy within about 1 point of SAT: "
           << verdict(std::fabs(ef - efs) <= 1.0) << " (" << fmt2(ef) << " % vs " << fmt2(efs) << " %, "
           << fmt2(ef - efs) << " points).\n";
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
        const ReplicationRun *rs = nullptr, *rf = nullptr;
        for (size_t i = 0; i < trained.size(); ++i) {
            if (&trained[i] == sat) rs = &runs[i];
            if (&trained[i] == fat2) rf = &runs[i];
        }
        // Target: FAT2's worst-case error with nothing triplicated.
        const double target = rf->curve.front().worst_error;
        const int ks = channels_needed(rs->curve, target), kf = channels_needed(rf->curve, target);
        md << "- FAT needs far fewer triplicated channels for the same worst-case error: " << verdict(ks > kf)
           << " (to guarantee " << fmt2(target) << " % worst-case error: SAT " << ks << " channels, "
           << fat2->entry.label << " " << kf << ").\n";
    }
}

}  // namespace

PipelineResult run_pipeline(const PipelineSpec& s, const TrainFunction& train, std::ostream& log) {
    const auto log_line = [&](const std::string& line) { log << line << std::endl; };
    const auto t_start = std::chrono::steady_clock::now();
    const Topology topo = load_topology(s.topology, s.width);
    fs::create_directories(s.output);

    log_line("== data: " + s.dataset + " (" + topo.name + ", width " + fmt2(topo.width) + ")");
    const DatasetKind dk = parse_dataset_kind(s.dataset);
    const InputBatch train_set = prepare_inputs(load_dataset(dk, s.data_dir, "train", s.train_images), topo);
    const InputBatch test_set = prepare_inputs(load_dataset(dk, s.data_dir, "test", s.test_images), topo);
    log_line("   " + std::to_string(train_set.count) + " training and " + std::to_string(test_set.count) +
             " test images");

    log_line("== 1. training (" + std::to_string(s.epochs) + " epochs each)");
    std::vector<TrainedModel> trained;
    for (const auto& e : s.models) trained.push_back(train_step(s, e, topo, train_set, test_set, train, log));

    log_line("== 2. stuck@ campaigns (channel on " + std::to_string(s.channel_images) + " images, pixel on " +
             std::to_string(s.pixel_images) + ")");
    std::vector<std::string> channel_dirs, pixel_dirs;
    for (const auto& t : trained) {
        channel_dirs.push_back(campaign_step(s, t, ErrorModelKind::Channel, s.channel_images, log));
        pixel_dirs.push_back(campaign_step(s, t, ErrorModelKind::Pixel, s.pixel_images, log));
    }

    log_line("== 3. selective channel replication");
    std::unique_ptr<AccelConfig> accel;
    if (!s.accel.empty()) {
        Topology accel_topo;
        accel = std::make_unique<AccelConfig>(load_accel(s.accel, &accel_topo));
        bind_folding(*accel, topo);
    }
    std::vector<ReplicationRun> runs;
    for (size_t i = 0; i < trained.size(); ++i) {
        const json sum = load_json(channel_dirs[i] + "/summary.json");
        ReplicationRun r;
        r.label = trained[i].entry.label;
        r.error_free = sum["error_free_accuracy"].get<double>();
        r.curve = replication_tradeoff(topo, accel.get(), r.error_free,
                                       read_channel_criticality(channel_dirs[i] + "/faults.csv", topo));
        runs.push_back(std::move(r));
    }
    const std::string rep_dir = s.output + "/replication";
    const std::string rep_plot = write_replication(runs, rep_dir);

    log_line("== 4. report");
    const std::string ch_plot = plot_min_max(channel_dirs, s.output + "/fig_channel_min_max");
    const std::string px_plot = plot_min_max(pixel_dirs, s.output + "/fig_pixel_min_max");
    std::ostringstream md;
    md << "# " << s.name << ": fault-aware training on " << s.dataset << "\n\n"
       << "Network " << topo.name << " at width " << topo.width << "; " << s.epochs << " training epochs per model on "
       << train_set.count << " images; accuracies on " << test_set.count << " test images (golden integer engine, "
       << "bit-exact with the exported LibTorch model). Channel stuck@ campaigns on " << s.channel_images
       << " test images, pixel stuck@ on " << s.pixel_images << ". Every fault: one channel (or one pixel, all its "
       << "channels) of one layer's output stuck at one activation level (the paper's Algorithm 1).\n\n";
    md << "## Training\n\n| model | mode | p | test acc. [%] | s/epoch | export = LibTorch "
          "|\n|---|---|---:|---:|---:|---:|\n";
    for (const auto& t : trained) {
        const json& r = t.record;
        md << "| " << t.entry.label << " | " << r["mode"].get<std::string>() << " | " << r["p"].get<double>() * 100
           << " % | " << fmt2(r["test_accuracy"].get<double>()) << " | " << fmt2(r["seconds_per_epoch"].get<double>())
           << " | " << r["export_prediction_agree"].get<int>() << "/" << r["export_images"].get<int>() << " |\n";
    }
    md << "\n## Table II analogue: channel stuck@\n\n"
       << comparison_table(channel_dirs) << "\n![min/max accuracy per layer, channel stuck@]("
       << fs::path(ch_plot).filename().string() << ")\n";
    md << "\n## Table III/IV analogue: pixel stuck@ (FAT vs Dropout2D)\n\nLayers whose output has more than "
          "one pixel (a pixel fault in a 1x1 layer sticks the whole layer).\n\n"
       << comparison_table(pixel_dirs) << "\n![min/max accuracy per layer, pixel stuck@]("
       << fs::path(px_plot).filename().string() << ")\n";
    md << "\n## Selective channel replication (TMR)\n\nChannels ranked by accuracy under their worst stuck value; the "
          "k "
          "most critical triplicated (their faults masked by the voter). Cost: a fully unrolled network (each MAC its "
          "own unit; a triplicated channel adds twice its MACs plus a voter per output)."
       << (accel ? " Folded cost (PE x SIMD under " + fs::path(s.accel).filename().string() + ") in the CSVs." : "")
       << "\n\nChannels to triplicate to guarantee a worst-case error under single channel stuck@:\n\n"
       << replication_table(runs, default_targets(runs)) << "\n![worst-case error vs cost]("
       << "replication/" << fs::path(rep_plot).filename().string() << ")\n";

    write_claim_checks(md, trained, channel_dirs, pixel_dirs, runs);
    md << "\n## Table I analogue per model (channel stuck@)\n\n";
    for (const auto& d : channel_dirs) md << table_one(d) << "\n";
    md << "\nRun time of this pipeline invocation: " << fmt2(seconds_since(t_start)) << " s (skipped steps cost "
       << "nothing).\n";
    PipelineResult result;
    result.report_path = s.output + "/report.md";
    result.report = md.str();
    write_file_atomic(result.report_path, result.report);
    return result;
}

}  // namespace fatsim::campaigns
