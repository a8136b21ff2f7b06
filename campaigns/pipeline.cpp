// The pipeline (see pipeline.hpp): spec parsing, the training / campaign /
// replication steps with their stamps, the claim checks and report.md.
#include "pipeline.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "campaign.hpp"
#include "error_model.hpp"
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
              map("campaigns", "images of the stuck@ campaigns"), map("replicate", "selective channel replication"),
              map("physical", "physical faults: map SAT's, derive an error model, train FAT on it, compare")}},
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
              list("seeds", "integers", "[seed]",
                   "several seeds (instead of seed): every model and campaign once per seed, in output/seed<N>/; "
                   "the report gives mean, spread and each seed"),
              integer("threads", 1, 256, std::to_string(d.threads), "training threads (at most: fewer while other processes keep cores busy; results do not depend on it)"),
              integer("parallel", 1, 64, std::to_string(d.parallel),
                      "models trained at once, each in its own process with threads / parallel threads (the same "
                      "models: results do not depend on it; its output goes to checkpoints/<label>/train.log)"),
              integer("fat2_switch_batches", 0, 100000000, std::to_string(d.fat2_switch_batches),
                      "FAT method 2: a new injection layer every N batches instead of every epoch (a deviation "
                      "from the paper's Algorithm 2 for short trainings; 0 = per epoch)")}},
            {"models[]",
             {required(string("label", "", "model name in the report, unique")),
              choice("mode", {"sat", "fat1", "fat2", "dropout2d"}, m.mode,
                     "standard, fault-aware (method 1 / 2) or Dropout2D training"),
              number("p", 0.0, 1.0, num(m.p), "fault injection / dropout probability (fraction)"),
              string("error_model", m.error_model,
                     "FAT's error model: channel | pixel (stuck-at) or an error-model file (relative to the spec)")}},
            {"campaigns",
             {integer("channel_images", 0, 10000000, std::to_string(d.channel_images),
                      "test images of each channel stuck@ campaign"),
              integer("pixel_images", 0, 10000000, std::to_string(d.pixel_images),
                      "test images of each pixel stuck@ campaign")}},
            {"replicate",
             {path("accel", "none", "accelerator YAML: adds the folded (PE x SIMD) cost to the replication CSVs")}},
            {"physical",
             {required(list("accels", "paths or maps", "",
                            "dataflow or loopback accelerator YAMLs whose physical faults are mapped (a path, or "
                            "{path, images} to give its campaigns their own image count)")),
              integer("images", 1, 10000000, std::to_string(d.physical.images), "test images of each physical campaign"),
              integer("sample", 1, 100000000, std::to_string(d.physical.sample),
                      "faults per fault class, drawn by the training seed"),
              list("every_site", "paths", "[]",
                   "accelerators (of accels) whose campaigns of SAT, the paper's FAT model and their derived FAT "
                   "model map every non-weight fault (weight faults: a sample for weight_margin); the rest sample"),
              number("weight_margin", 1e-6, 0.5, num(d.physical.weight_margin),
                     "every_site campaigns: error margin of the weight-fault sample (confidence 0.99)"),
              choice("mode", {"fat1", "fat2"}, d.physical.mode, "training of the FAT model on the derived error model"),
              number("p", 0.0, 1.0, num(d.physical.p), "its injection probability (fraction)")}},
            {"physical.accels[]",
             {required(path("path", "", "accelerator YAML (relative to the spec)")),
              integer("images", 1, 10000000, "physical.images",
                      "test images of this accelerator's campaigns (the derived model's and every model's)")}},
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
        YAML::Node seeds;
        if (r.get("seeds", seeds)) {
            for (size_t i = 0; i < seeds.size(); ++i) {
                const std::string at = "train.seeds[" + std::to_string(i) + "]";
                int v = -1;
                try {
                    v = seeds[i].as<int>();
                } catch (const YAML::Exception&) {
                }
                if (v < 0) errs.push_back(at + shown(seeds[i]) + " must be an integer in 0..2147483647");
                else if (std::find(s.seeds.begin(), s.seeds.end(), v) != s.seeds.end())
                    errs.push_back(at + "=" + std::to_string(v) + " is listed twice");
                else s.seeds.push_back(v);
            }
            if (seeds.size() == 0) errs.push_back("train.seeds: must list at least one seed");
            if (m["seed"]) errs.push_back("train: give seed or seeds, not both");
        }
        r.get("threads", s.threads);
        r.get("parallel", s.parallel);
        r.get("fat2_switch_batches", s.fat2_switch_batches);
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
            if (r.get("error_model", e.error_model) && e.error_model_is_file())
                e.error_model = resolve_relative(path, e.error_model);
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
    if (top.get("physical", m)) {
        const SectionReader r(m, schema.section("physical"), "physical", errs);
        YAML::Node accels;
        if (r.get("accels", accels)) {
            for (size_t i = 0; i < accels.size(); ++i) {
                const std::string at = "physical.accels[" + std::to_string(i) + "]";
                std::string a;
                int images = 0;
                if (accels[i].IsMap()) {
                    const SectionReader er(accels[i], schema.section("physical.accels[]"), at, errs);
                    er.get("path", a);
                    er.get("images", images);
                } else if (accels[i].IsScalar()) {
                    a = accels[i].Scalar();
                }
                if (a.empty()) {
                    if (!accels[i].IsMap())
                        errs.push_back(at + shown(accels[i]) + " must be the path of an accelerator YAML or a map {path, images}");
                    continue;
                }
                a = resolve_relative(path, a);
                if (std::find(s.physical.accels.begin(), s.physical.accels.end(), a) != s.physical.accels.end()) {
                    errs.push_back(at + "=" + a + " is listed twice");
                    continue;
                }
                s.physical.accels.push_back(a);
                if (images > 0) s.physical.accel_images[a] = images;
            }
            if (accels.size() == 0) errs.push_back("physical.accels: must list at least one accelerator YAML");
        }
        YAML::Node every;
        if (r.get("every_site", every))
            for (size_t i = 0; i < every.size(); ++i) {
                const std::string at = "physical.every_site[" + std::to_string(i) + "]";
                const std::string a = every[i].IsScalar() ? resolve_relative(path, every[i].Scalar()) : "";
                if (std::find(s.physical.accels.begin(), s.physical.accels.end(), a) == s.physical.accels.end())
                    errs.push_back(at + shown(every[i]) + " must be one of physical.accels");
                else if (s.physical.maps_every_site(a)) errs.push_back(at + shown(every[i]) + " is listed twice");
                else s.physical.every_site.push_back(a);
            }
        r.get("weight_margin", s.physical.weight_margin);
        r.get("images", s.physical.images);
        int sample = int(s.physical.sample);
        if (r.get("sample", sample)) s.physical.sample = uint64_t(sample);
        r.get("mode", s.physical.mode);
        r.get("p", s.physical.p);
        if (std::none_of(s.models.begin(), s.models.end(), [](const PipelineModel& e) { return e.mode == "sat"; }))
            errs.push_back("physical: needs a model with mode sat (its physical faults give the derived error model)");
        for (const auto& a : s.physical.accels)
            for (const auto& e : s.models)
                if (e.label == derived_model_label(a))
                    errs.push_back("physical: the derived model's label " + e.label + " is used by models[]");
    }
    if (!errs.empty()) throw ConfigError(path, std::move(errs));
    return s;
}

std::string derived_model_label(const std::string& accel_path) {
    return "FAT-" + fs::path(accel_path).stem().string();
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
                        const std::function<void(const std::string&)>& log_line,
                        const std::function<void()>& on_start = [] {}) {
    const std::string dir = s.output + "/models";
    fs::create_directories(dir);
    TrainedModel t{e, dir + "/" + e.label + ".fatq", {}};
    std::ostringstream key;
    key << read_or_empty(s.topology) << '|' << s.width << '|' << e.mode << '|' << e.p << '|' << e.error_model << '|'
        << s.epochs << '|' << s.batch << '|' << s.lr << '|' << s.lr_step << '|' << s.seed << '|' << s.dataset << '|'
        << train_set.count << '|' << test_set.count;
    // Only new settings extend the key, so earlier runs stay up to date.
    if (e.error_model_is_file()) key << "|error model file|" << read_or_empty(e.error_model);
    if (e.mode == "fat2" && s.fat2_switch_batches > 0) key << "|fat2 switch|" << s.fat2_switch_batches;
    const std::string stamp = hex64(fnv1a64(key.str()));
    const std::string record_path = dir + "/" + e.label + ".json";
    if (fs::exists(t.model_path) && fs::exists(record_path)) {
        const json rec = json::parse(read_or_empty(record_path), nullptr, false);
        if (!rec.is_discarded() && rec.value("stamp", "") == stamp) {
            log_line("   " + e.label + ": up to date (" + t.model_path + "), skipped");
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
    q.threads = std::max(1, s.threads / s.parallel);
    q.own_process = s.parallel > 1;
    q.fat2_switch_batches = e.mode == "fat2" ? s.fat2_switch_batches : 0;
    // Checkpoints are only resumed when they belong to the same run.
    q.checkpoint_dir = s.output + "/checkpoints/" + e.label;
    const std::string ck_stamp = q.checkpoint_dir + "/pipeline.stamp";
    if (fs::exists(q.checkpoint_dir) && read_or_empty(ck_stamp) != stamp) fs::remove_all(q.checkpoint_dir);
    fs::create_directories(q.checkpoint_dir);
    write_file_atomic(ck_stamp, stamp);
    on_start();
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
    if (!r.fat2_schedule.empty()) t.record["fat2_schedule"] = r.fat2_schedule;
    if (!r.warnings.empty()) t.record["warnings"] = r.warnings;
    write_file_atomic(record_path, t.record.dump(2) + "\n");
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: test accuracy %.2f %%, export agrees with LibTorch on %d/%d images",
                  e.label.c_str(), r.test_accuracy, r.export_prediction_agree, r.export_images);
    log_line(buf);
    return t;
}

// Trains (or skips) every entry, s.parallel at a time (each then in its own
// process: the TrainFunction's job); the results in the entries' order.
std::vector<TrainedModel> train_steps(const PipelineSpec& s, const std::vector<PipelineModel>& entries,
                                      const Topology& topo, const InputBatch& train_set, const InputBatch& test_set,
                                      const TrainFunction& train, std::ostream& log) {
    std::mutex log_mutex;
    const auto log_line = [&](const std::string& line) {
        const std::lock_guard<std::mutex> lock(log_mutex);
        log << line << std::endl;
    };
    std::vector<TrainedModel> out(entries.size());
    if (s.parallel <= 1 || entries.size() <= 1) {
        for (size_t i = 0; i < entries.size(); ++i)
            out[i] = train_step(s, entries[i], topo, train_set, test_set, train, log_line);
        return out;
    }
    std::string names;
    for (const auto& e : entries) names += (names.empty() ? "" : ", ") + e.label;
    std::once_flag started;  // said when the first model that is not up to date starts
    const auto on_start = [&] {
        std::call_once(started, [&] {
            log_line("   " + names + ": " + std::to_string(std::min<size_t>(size_t(s.parallel), entries.size())) +
                     " at once, " + std::to_string(std::max(1, s.threads / s.parallel)) +
                     " thread(s) each (progress: " + s.output + "/checkpoints/<label>/train.log)");
        });
    };
    std::atomic<size_t> next{0};
    std::vector<std::exception_ptr> errors(entries.size());
    std::vector<std::thread> workers;
    for (int w = 0; w < s.parallel && size_t(w) < entries.size(); ++w)
        workers.emplace_back([&] {
            for (size_t i; (i = next++) < entries.size();) {
                try {
                    out[i] = train_step(s, entries[i], topo, train_set, test_set, train, log_line, on_start);
                } catch (...) {
                    errors[i] = std::current_exception();
                }
            }
        });
    for (auto& w : workers) w.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    return out;
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
    const std::string stamp_path = c.output + "/pipeline.stamp";
    std::string stamp = t.record.value("stamp", "") + "|" + std::to_string(images);
    for (const auto& l : c.layers) stamp += "|" + l;
    if (read_or_empty(stamp_path) != stamp) {
        // A retrained model invalidates earlier results (the campaign's
        // manifest holds the model's hash): start over instead of refusing to
        // resume. The stamp goes in before the campaign starts, so that a
        // killed campaign resumes from its CSV.
        fs::remove_all(c.output);
        fs::create_directories(c.output);
        write_file_atomic(stamp_path, stamp);
    } else if (fs::exists(c.output + "/summary.json")) {
        log << "   " + c.name + ": up to date, skipped" << std::endl;
        return c.output;
    }
    const CampaignOutcome o = run_campaign(c, opt);
    char buf[200];
    std::snprintf(buf, sizeof buf, "   %s: error-free %.2f %%, min %.2f %%, variance %.3f (%d faults x %d images)",
                  c.name.c_str(), o.error_free, o.min_accuracy, o.variance, o.faults, o.images);
    log << buf << std::endl;
    return c.output;
}

json load_json(const std::string& path) { return json::parse(read_or_empty(path)); }

// What a result computed from a finished physical campaign (a derived error
// model, the PEs' criticality) depends on: the campaign's stamp and its
// summary, written when its last row is. Such a result is redone only when
// this key changes.
std::string campaign_key(const std::string& dir) {
    return hex64(fnv1a64(read_or_empty(dir + "/pipeline.stamp") + "|" + read_or_empty(dir + "/summary.json")));
}

// The PEs' criticality under a campaign's faults, kept in the campaign's
// folder (pe_criticality.json, with its campaign_key): reading a 3-million-row
// faults.csv again on every invocation took seconds per campaign.
PhysicalCriticality campaign_pe_criticality(const std::string& dir, const AccelConfig& accel, const Topology& topo) {
    const std::string path = dir + "/pe_criticality.json", key = campaign_key(dir);
    PhysicalCriticality c;
    const json kept = json::parse(read_or_empty(path), nullptr, false);
    if (kept.is_object() && kept.value("key", "") == key) {
        try {
            for (const json& p : kept.at("pes"))
                c.pes.push_back({p.at("pe").get<std::string>(), p.at("lanes").get<int>(),
                                 p.at("worst_accuracy").get<double>(), p.at("faults").get<int>()});
            c.outside_worst = kept.at("outside_worst").get<double>();
            c.outside_faults = kept.at("outside_faults").get<int>();
            c.total_lanes = kept.at("total_lanes").get<double>();
            return c;
        } catch (const json::exception&) {  // damaged: made again below
            c = PhysicalCriticality();
        }
    }
    c = pe_criticality(read_site_accuracy(dir + "/faults.csv"), accel, topo);
    json out = {{"key", key},
                {"outside_worst", c.outside_worst},
                {"outside_faults", c.outside_faults},
                {"total_lanes", c.total_lanes},
                {"pes", json::array()}};
    for (const PeCriticality& p : c.pes)
        out["pes"].push_back({{"pe", p.pe}, {"lanes", p.lanes}, {"worst_accuracy", p.worst_accuracy}, {"faults", p.faults}});
    write_file_atomic(path, out.dump(1) + "\n");
    return c;
}

// Runs (or resumes, or skips) one physical-fault campaign: `model` under the
// faults of `accel`, into <dir>/<label>.
std::string physical_step(const PipelineSpec& s, const TrainedModel& t, const std::string& accel,
                          const std::string& dir, const InputBatch& images, const PhysicalFunctions& f,
                          std::ostream& log, bool every_site) {
    PhysicalRequest q;
    q.model_path = t.model_path;
    q.accel_path = accel;
    q.output = dir + "/" + t.entry.label;
    q.sample = every_site ? 0 : s.physical.sample;
    q.weight_margin = every_site ? s.physical.weight_margin : 0;
    q.seed = uint64_t(s.seed);
    q.data_identity = s.dataset + ":test";
    const std::string name = fs::path(dir).filename().string() + "/" + t.entry.label;
    const std::string stamp_path = q.output + "/pipeline.stamp";
    std::string stamp = t.record.value("stamp", "") + "|" + read_or_empty(accel) + "|" +
                        std::to_string(images.count) + "|" + std::to_string(q.sample) + "|" + std::to_string(q.seed);
    if (every_site) stamp += "|every site|" + param::num(q.weight_margin);  // (only new settings extend the stamp)
    q.fresh = read_or_empty(stamp_path) != stamp;
    if (!q.fresh && fs::exists(q.output + "/summary.json")) {
        log << "   " + name + ": up to date, skipped" << std::endl;
        return q.output;
    }
    // The stamp first: an interrupted run resumes from the campaign's rows
    // (its manifest guards the rest); a changed stamp starts over.
    fs::create_directories(q.output);
    write_file_atomic(stamp_path, stamp);
    f.map_faults(q, images);
    const json sum = load_json(q.output + "/summary.json");
    const json& o = sum.at("overall");
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "   %s: error-free %.2f %%, min %.2f %%, mean %.2f %%, %.1f %% of faults cost > 1 point (%zu faults "
                  "x %d images)",
                  name.c_str(), sum.at("error_free_accuracy").get<double>(), o.value("min_accuracy", 0.0),
                  o.value("mean_accuracy", 0.0), 100 * o.value("fraction_costing_over_1_point", 0.0),
                  o.at("faults").get<size_t>(), images.count);
    log << buf << std::endl;
    return q.output;
}

// The first n images of a batch.
InputBatch first_images(const InputBatch& b, int n) {
    InputBatch r = b;
    r.count = std::min(b.count, n);
    r.data.resize(size_t(r.count) * r.dim * r.dim * r.channels);
    r.labels.resize(size_t(r.count));
    return r;
}

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

// One of the paper's claims checked on one seed's numbers: the line of the
// single-seed report, and the paired difference its rule tests (for the
// verdict over several seeds).
struct Claim {
    std::string statement;  // the claim, without numbers
    std::string line;       // "- claim: **holds** (numbers).\n"
    std::string quantity;   // what `difference` is
    double difference = 0;
    std::function<bool(double)> rule;
};

const char* verdict(bool ok) { return ok ? "**holds**" : "**does not hold**"; }

// The paper's claims, checked on these numbers.
std::vector<Claim> check_claims(const std::vector<TrainedModel>& trained, const std::vector<std::string>& channel_dirs,
                                const std::vector<std::string>& pixel_dirs, const std::vector<ReplicationRun>& runs) {
    std::vector<Claim> claims;
    auto add = [&](std::string statement, std::string quantity, double difference, std::function<bool(double)> rule,
                   const std::string& numbers) {
        const bool ok = rule(difference);
        claims.push_back({statement, "- " + statement + ": " + verdict(ok) + " (" + numbers + ").\n", quantity,
                          difference, rule});
    };
    auto summary = [&](const std::vector<std::string>& dirs, const TrainedModel* t) -> json {
        for (size_t i = 0; i < trained.size(); ++i)
            if (&trained[i] == t) return load_json(dirs[i] + "/summary.json");
        return json();
    };
    const TrainedModel* sat = find_mode(trained, kSat);
    const TrainedModel* fat2 = find_mode(trained, "fat2");
    const TrainedModel* fat1 = find_mode(trained, "fat1");
    const TrainedModel* drop = find_mode(trained, "dropout2d");
    if (sat) {
        const json c = summary(channel_dirs, sat);
        const double ef = c["error_free_accuracy"], mn = c["min_accuracy"];
        add("SAT's min accuracy under single channel stuck@ far below its error-free accuracy",
            "SAT error-free - min, points", ef - mn, [](double d) { return d > 5; },
            "error-free " + fmt2(ef) + " %, min " + fmt2(mn) + " %, a drop of " + fmt2(ef - mn) + " points");
    }
    if (sat && fat2) {
        const json cs = summary(channel_dirs, sat), cf = summary(channel_dirs, fat2);
        const double ef = cf["error_free_accuracy"], mn = cf["min_accuracy"], efs = cs["error_free_accuracy"];
        std::ostringstream p;
        p << fat2->entry.p * 100;
        // "A few points": the paper's own FAT gaps (Table II) are 1.3 to 3.8 points.
        add("FAT method 2 (p = " + p.str() + " %) keeps its min accuracy within a few (<= 4) points of error-free",
            fat2->entry.label + " error-free - min, points", ef - mn, [](double d) { return d <= 4; },
            "error-free " + fmt2(ef) + " %, min " + fmt2(mn) + " %, " + fmt2(ef - mn) + " points");
        add("FAT method 2's error-free accuracy within about 1 point of SAT",
            fat2->entry.label + " - SAT error-free, points", ef - efs, [](double d) { return std::fabs(d) <= 1.0; },
            fmt2(ef) + " % vs " + fmt2(efs) + " %, " + fmt2(ef - efs) + " points");
    }
    if (fat1) {
        const json c = summary(channel_dirs, fat1);
        const double ef = c["error_free_accuracy"], mn = c["min_accuracy"];
        std::ostringstream p;
        p << fat1->entry.p * 100;
        add("The same for FAT method 1 (p = " + p.str() + " %)", fat1->entry.label + " error-free - min, points",
            ef - mn, [](double d) { return d <= 4; },
            "error-free " + fmt2(ef) + " %, min " + fmt2(mn) + " %, " + fmt2(ef - mn) + " points");
    }
    if (drop && (fat1 || fat2)) {
        const TrainedModel* fat = fat1 ? fat1 : fat2;
        const double pf = summary(pixel_dirs, fat)["min_accuracy"], pd = summary(pixel_dirs, drop)["min_accuracy"];
        add("FAT beats Dropout2D under pixel stuck@ (min accuracy)",
            fat->entry.label + " - " + drop->entry.label + " pixel min, points", pf - pd, [](double d) { return d > 0; },
            fat->entry.label + " " + fmt2(pf) + " % vs " + drop->entry.label + " " + fmt2(pd) + " %");
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
        add("FAT needs far fewer triplicated channels for the same worst-case error",
            "SAT - " + fat2->entry.label + " channels", double(ks - kf), [](double d) { return d > 0; },
            "to guarantee " + fmt2(target) + " % worst-case error: SAT " + std::to_string(ks) + " channels, " +
                fat2->entry.label + " " + std::to_string(kf));
    }
    return claims;
}

// Two-sided 95 % Student t quantile for df degrees of freedom.
double t95(int df) {
    static const double t[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                               2.074, 2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    return df < 1 ? 0 : df <= 30 ? t[df] : 1.96;
}

struct Spread {
    double mean = 0, sd = 0;  // sd: sample standard deviation (n - 1)
    int n = 0;
    double half95() const { return n >= 2 ? t95(n - 1) * sd / std::sqrt(double(n)) : 0; }
};
Spread spread(const std::vector<double>& v) {
    Spread s;
    s.n = int(v.size());
    for (double x : v) s.mean += x / s.n;
    if (s.n >= 2) {
        double q = 0;
        for (double x : v) q += (x - s.mean) * (x - s.mean);
        s.sd = std::sqrt(q / (s.n - 1));
    }
    return s;
}
std::string mean_sd(const std::vector<double>& v) {
    const Spread s = spread(v);
    return fmt2(s.mean) + " ± " + fmt2(s.sd);
}
std::string each(const std::vector<double>& v) {
    std::string o;
    for (double x : v) o += (o.empty() ? "" : " / ") + fmt2(x);
    return o;
}

}  // namespace

namespace {

// One seed's steps 1-4; s.seed and s.output are this seed's. Writes
// s.output/report.md (the whole report when there is one seed).
// One accelerator's physical-fault part of a seed's run.
struct PhysicalRun {
    std::string name, accel, dir;
    size_t derived = 0;             // index of the derived-model FAT in SeedRun::trained
    std::vector<std::string> dirs;  // per trained model: its physical campaign
    std::vector<bool> every_site;   // per trained model: did it map every non-weight fault?
    std::vector<ReplicationRun> pe_runs;  // per trained model: selective PE replication under these faults
    std::string pe_plot;
};

struct SeedRun {
    int seed = 0;
    std::vector<PhysicalRun> physical;
    std::vector<TrainedModel> trained;
    std::vector<std::string> channel_dirs, pixel_dirs;
    std::vector<ReplicationRun> runs;
    std::string report_path, report;
};

// The FAT model on the paper's channel model that the derived-model FAT is
// compared with: the first fat1 / fat2 model with error_model channel,
// preferring the derived model's mode.
const TrainedModel* paper_fat(const std::vector<TrainedModel>& trained, const std::string& mode) {
    const TrainedModel* any = nullptr;
    for (const auto& t : trained) {
        if ((t.entry.mode != "fat1" && t.entry.mode != "fat2") || t.entry.error_model != "channel") continue;
        if (t.entry.mode == mode) return &t;
        if (!any) any = &t;
    }
    return any;
}

// Does FAT on the derived model beat FAT on the paper's model under the
// physical faults of its own accelerator? (0 or 1 claim)
std::vector<Claim> physical_claim(const SeedRun& run, const PhysicalRun& pr) {
    std::vector<Claim> out;
    const TrainedModel& derived = run.trained[pr.derived];
    const TrainedModel* paper = paper_fat(run.trained, derived.entry.mode);
    if (!paper) return out;
    const size_t pi = size_t(paper - run.trained.data());
    const double md = load_json(pr.dirs[pr.derived] + "/summary.json")["overall"].value("mean_accuracy", 0.0);
    const double mp = load_json(pr.dirs[pi] + "/summary.json")["overall"].value("mean_accuracy", 0.0);
    const double ed = derived.record["test_accuracy"].get<double>(), ep = paper->record["test_accuracy"].get<double>();
    Claim c;
    c.statement = "FAT on the error model derived for " + pr.name + " (" + derived.entry.label + ") beats FAT on the " +
                  "paper's channel model (" + paper->entry.label + ") under " + pr.name +
                  "'s physical faults (mean accuracy)";
    c.quantity = derived.entry.label + " - " + paper->entry.label + " physical mean, points";
    c.difference = md - mp;
    c.rule = [](double d) { return d > 0; };
    c.line = "- " + c.statement + ": " + verdict(c.rule(c.difference)) + " (" + fmt2(md) + " % vs " + fmt2(mp) +
             " %; error-free " + fmt2(ed) + " % vs " + fmt2(ep) + " %, " + fmt2(ed - ep) + " points).\n";
    out.push_back(c);
    return out;
}

// The report's section on physical faults (empty without a physical part).
std::string physical_report(const PipelineSpec& s, const SeedRun& run) {
    std::ostringstream md;
    for (const auto& pr : run.physical) {
        const TrainedModel& derived = run.trained[pr.derived];
        const bool every = s.physical.maps_every_site(pr.accel);
        const std::string sampled = std::to_string(s.physical.sample) + " per class";
        const std::string all = "every non-weight, weight sample";
        md << "\n## Physical faults: " << pr.name << "\n\nSAT's physical faults of " << fs::path(pr.accel).filename().string()
           << " (stuck-at 0/1 of "
           << (every ? "every site of every non-weight fault class; weight-memory faults a seeded sample sized for a " +
                           fmt2(100 * s.physical.weight_margin) + "-point margin at 99 % confidence"
                     : "every fault class, " + std::to_string(s.physical.sample) + " sampled per class by the seed")
           << ") were mapped to activation-level error patterns on " << s.physical.images_for(pr.accel)
           << " test images and aggregated into an error model (physical/" << pr.name << "/derived_error_model.yaml); "
           << derived.entry.label << " was trained on it (" << derived.entry.mode << ", p = " << derived.entry.p * 100
           << " %). Every model under the same faults"
           << (every ? " (SAT, the paper's FAT model and " + derived.entry.label + " under all of them; the other models "
                           "under " + sampled + ", to keep the job's time)"
                     : "")
           << "; min over the faults run, mean, variance and the fraction of faults that cost more than 1 point weigh "
           << "each fault by its class's population over the faults mapped (a stratified estimate; per class with "
           << "intervals in each summary.json).\n\n"
           << "| model | error-free [%] | min [%] | mean [%] | variance | faults costing > 1 point [%] | faults | "
              "mapped |\n"
           << "|---|---:|---:|---:|---:|---:|---:|---|\n";
        for (size_t i = 0; i < run.trained.size(); ++i) {
            const json sum = load_json(pr.dirs[i] + "/summary.json");
            const json& o = sum.at("overall");
            md << "| " << run.trained[i].entry.label << " | " << fmt2(sum.at("error_free_accuracy").get<double>()) << " | "
               << fmt2(o.value("min_accuracy", 0.0)) << " | " << fmt2(o.value("mean_accuracy", 0.0)) << " | "
               << fmt2(o.value("variance", 0.0)) << " | " << fmt2(100 * o.value("fraction_costing_over_1_point", 0.0))
               << " | " << o.at("faults").get<size_t>() << " | " << (pr.every_site[i] ? all : sampled) << " |\n";
        }
        md << "\nSelective PE replication under these faults: PEs ranked by the least accuracy among their faults "
              "run above, the k most critical triplicated (a voter masks every fault sited in the PE: lanes, adder "
              "tree, accumulator, comparators, weight and threshold memory; FIFO faults stay). Cost: PE x SIMD lanes "
              "of the accelerator, a triplicated PE adding twice its lanes (voters not counted). Where faults are "
              "sampled, a PE none of whose faults was drawn is never chosen: a sample's answer, not a guarantee. "
              "PEs to triplicate for a worst-case error:\n\n"
           << replication_table(pr.pe_runs, default_targets(pr.pe_runs), "PE") << "\n![worst-case error vs cost, "
           << pr.name << "](physical/" << pr.name << "/pe_replication/" << fs::path(pr.pe_plot).filename().string()
           << ")\n";
    }
    return md.str();
}

SeedRun run_seed(const PipelineSpec& s, const Topology& topo, const InputBatch& train_set,
                 const InputBatch& test_set, const TrainFunction& train, const PhysicalFunctions* physical,
                 std::ostream& log, std::chrono::steady_clock::time_point t_start) {
    const auto log_line = [&](const std::string& line) { log << line << std::endl; };
    fs::create_directories(s.output);
    SeedRun run;
    run.seed = s.seed;
    log_line("== 1. training (" + std::to_string(s.epochs) + " epochs each)");
    std::vector<TrainedModel>& trained = run.trained;
    trained = train_steps(s, s.models, topo, train_set, test_set, train, log);

    const auto phys_images = [&](const std::string& accel) { return first_images(test_set, s.physical.images_for(accel)); };
    if (!s.physical.accels.empty()) {
        if (!physical) throw std::invalid_argument("pipeline: the spec has a physical section but no physical-fault steps");
        const std::string sampled = std::to_string(s.physical.sample) + " faults per class";
        const auto images_said = [&](int n) { return std::to_string(std::min(test_set.count, n)) + " images"; };
        std::string own_images;  // accelerators with their own image count
        for (const auto& [a, n] : s.physical.accel_images) own_images += "; " + fs::path(a).stem().string() + " " + images_said(n);
        log_line("== 1b. physical faults of SAT -> derived error models (" +
                 (s.physical.every_site.empty() ? sampled
                                                : "every non-weight fault on every_site accelerators, " + sampled +
                                                      " elsewhere") +
                 ", " + images_said(s.physical.images) + own_images + ")");
        const TrainedModel sat = *find_mode(trained, kSat);  // a copy: trained grows below
        std::vector<PipelineModel> derived;
        for (const auto& a : s.physical.accels) {
            PhysicalRun pr;
            pr.name = fs::path(a).stem().string();
            pr.accel = a;
            pr.dir = s.output + "/physical/" + pr.name;
            const std::string sat_dir =
                physical_step(s, sat, a, pr.dir, phys_images(a), *physical, log, s.physical.maps_every_site(a));
            const std::string em = pr.dir + "/derived_error_model.yaml", em_key = em + ".key";
            const std::string key = campaign_key(sat_dir);
            if (fs::exists(em) && read_or_empty(em_key) == key) {
                log_line("   " + pr.name + "/derived_error_model.yaml: up to date, skipped");
            } else {
                physical->derive(sat_dir, sat.model_path, em);
                write_file_atomic(em_key, key);
            }
            PipelineModel e;
            e.label = derived_model_label(a);
            e.mode = s.physical.mode;
            e.p = s.physical.p;
            e.error_model = em;
            derived.push_back(e);
            pr.derived = trained.size() + run.physical.size();
            run.physical.push_back(pr);
        }
        for (auto& t : train_steps(s, derived, topo, train_set, test_set, train, log)) trained.push_back(std::move(t));
    }

    log_line("== 2. stuck@ campaigns (channel on " + std::to_string(s.channel_images) + " images, pixel on " +
             std::to_string(s.pixel_images) + ")");
    std::vector<std::string>&channel_dirs = run.channel_dirs, &pixel_dirs = run.pixel_dirs;
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
    std::vector<ReplicationRun>& runs = run.runs;
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

    if (!run.physical.empty()) {
        log_line("== 3b. physical-fault campaigns (every model, each accelerator)");
        const TrainedModel* paper = paper_fat(trained, s.physical.mode);
        for (auto& pr : run.physical) {
            const InputBatch images = phys_images(pr.accel);
            for (size_t i = 0; i < trained.size(); ++i) {
                const bool compared = trained[i].entry.mode == kSat || &trained[i] == paper || i == pr.derived;
                pr.every_site.push_back(compared && s.physical.maps_every_site(pr.accel));
                pr.dirs.push_back(physical_step(s, trained[i], pr.accel, pr.dir, images, *physical, log,
                                                pr.every_site.back()));
            }
        }
        log_line("== 3c. selective PE replication under the physical faults");
        for (auto& pr : run.physical) {
            Topology accel_topo;
            AccelConfig acc = load_accel(pr.accel, &accel_topo);
            bind_folding(acc, topo);
            for (size_t i = 0; i < trained.size(); ++i) {
                ReplicationRun r;
                r.label = trained[i].entry.label;
                r.error_free = load_json(pr.dirs[i] + "/summary.json").at("error_free_accuracy").get<double>();
                r.curve = pe_replication_tradeoff(r.error_free, campaign_pe_criticality(pr.dirs[i], acc, topo));
                pr.pe_runs.push_back(std::move(r));
            }
            pr.pe_plot = write_replication(pr.pe_runs, pr.dir + "/pe_replication", "PE");
        }
    }

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
    bool any_schedule = false;
    for (const auto& t : trained) any_schedule = any_schedule || t.record.contains("fat2_schedule");
    if (any_schedule) {
        md << "\nFAT method 2's layer schedule (which layer was injected when"
           << (s.fat2_switch_batches > 0 ? "; a new layer every " + std::to_string(s.fat2_switch_batches) +
                                               " batches, a deviation from the paper's Algorithm 2"
                                         : "; one layer per epoch, the paper's Algorithm 2")
           << "):\n\n";
        for (const auto& t : trained)
            if (t.record.contains("fat2_schedule"))
                md << "- " << t.entry.label << ": " << t.record["fat2_schedule"].get<std::string>() << "\n";
    }
    for (const auto& t : trained)
        if (t.record.contains("warnings"))
            for (const auto& w : t.record["warnings"]) md << "\nWarning (" << t.entry.label << "): " << w.get<std::string>() << "\n";
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

    md << physical_report(s, run);
    md << "\n## Do the paper's claims hold here?\n\n";
    for (const Claim& c : check_claims(trained, channel_dirs, pixel_dirs, runs)) md << c.line;
    for (const auto& pr : run.physical)
        for (const Claim& c : physical_claim(run, pr)) md << c.line;
    md << "\n## Table I analogue per model (channel stuck@)\n\n";
    for (const auto& d : channel_dirs) md << table_one(d) << "\n";
    md << "\nRun time of this pipeline invocation: " << fmt2(seconds_since(t_start)) << " s (skipped steps cost "
       << "nothing).\n";
    run.report_path = s.output + "/report.md";
    run.report = md.str();
    write_file_atomic(run.report_path, run.report);
    return run;
}

json campaign_summary(const SeedRun& r, bool pixel, size_t model) {
    return load_json((pixel ? r.pixel_dirs : r.channel_dirs)[model] + "/summary.json");
}

// The report over several seeds: mean, spread and each seed of every number,
// and each claim's verdict per seed and for the mean.
std::string seeds_report(const PipelineSpec& s, const Topology& topo, const std::vector<SeedRun>& runs,
                         std::chrono::steady_clock::time_point t_start) {
    std::ostringstream md;
    std::string seed_list;
    for (const auto& r : runs) seed_list += (seed_list.empty() ? "" : ", ") + std::to_string(r.seed);
    md << "# " << s.name << ": fault-aware training on " << s.dataset << ", " << runs.size() << " seeds\n\n"
       << "Network " << topo.name << " at width " << topo.width << "; " << s.epochs << " training epochs per model; "
       << "every model trained and every campaign run once per seed (seeds " << seed_list << "; each seed's full "
       << "report in seed<N>/report.md). Numbers: mean ± sample standard deviation over the seeds, then each seed "
       << "in the order above.\n\n";
    md << "## Training\n\n| model | mode | test acc. [%] | each seed |\n|---|---|---:|---|\n";
    for (size_t i = 0; i < s.models.size(); ++i) {
        std::vector<double> acc;
        for (const auto& r : runs) acc.push_back(r.trained[i].record["test_accuracy"].get<double>());
        md << "| " << s.models[i].label << " | " << s.models[i].mode << " | " << mean_sd(acc) << " | " << each(acc)
           << " |\n";
    }
    for (const bool pixel : {false, true}) {
        md << "\n## " << (pixel ? "Pixel" : "Channel") << " stuck@ campaigns\n\n"
           << "| model | error-free [%] | min [%] | mean [%] | min, each seed |\n|---|---:|---:|---:|---|\n";
        for (size_t i = 0; i < s.models.size(); ++i) {
            std::vector<double> ef, mn, mean;
            for (const auto& r : runs) {
                const json j = campaign_summary(r, pixel, i);
                ef.push_back(j["error_free_accuracy"].get<double>());
                mn.push_back(j["min_accuracy"].get<double>());
                mean.push_back(j.value("mean_accuracy", 0.0));
            }
            md << "| " << s.models[i].label << " | " << mean_sd(ef) << " | " << mean_sd(mn) << " | " << mean_sd(mean)
               << " | " << each(mn) << " |\n";
        }
    }
    const auto sat = std::find_if(s.models.begin(), s.models.end(), [](const PipelineModel& m) { return m.mode == kSat; });
    if (sat != s.models.end()) {
        const size_t si = size_t(sat - s.models.begin());
        md << "\n## Min accuracy against SAT, paired over the seeds\n\nPer seed, the model's min accuracy minus SAT's "
              "(same seed); mean and 95 % Student t confidence interval.\n\n"
              "| model | campaign | mean [points] | 95 % CI | each seed |\n|---|---|---:|---|---|\n";
        for (size_t i = 0; i < s.models.size(); ++i) {
            if (i == si) continue;
            for (const bool pixel : {false, true}) {
                std::vector<double> d;
                for (const auto& r : runs)
                    d.push_back(campaign_summary(r, pixel, i)["min_accuracy"].get<double>() -
                                campaign_summary(r, pixel, si)["min_accuracy"].get<double>());
                const Spread sp = spread(d);
                md << "| " << s.models[i].label << " | " << (pixel ? "pixel" : "channel") << " | " << fmt2(sp.mean)
                   << " | [" << fmt2(sp.mean - sp.half95()) << ", " << fmt2(sp.mean + sp.half95()) << "] | " << each(d)
                   << " |\n";
            }
        }
    }
    md << "\n## Do the paper's claims hold here?\n\nEach claim's rule tests a paired difference per seed; "
          "\"for the mean\" applies the rule to its mean over the seeds; the interval is the 95 % Student t "
          "confidence interval of that mean.\n\n";
    std::vector<std::vector<Claim>> per_seed;
    for (const auto& r : runs) {
        per_seed.push_back(check_claims(r.trained, r.channel_dirs, r.pixel_dirs, r.runs));
        for (const auto& pr : r.physical)
            for (Claim& c : physical_claim(r, pr)) per_seed.back().push_back(std::move(c));
    }
    for (size_t c = 0; c < per_seed[0].size(); ++c) {
        const Claim& first = per_seed[0][c];
        std::vector<double> d;
        int holds = 0;
        for (const auto& claims : per_seed) {
            d.push_back(claims[c].difference);
            holds += claims[c].rule(claims[c].difference);
        }
        const Spread sp = spread(d);
        md << "- " << first.statement << ": holds in " << holds << " of " << runs.size() << " seeds; for the mean "
           << verdict(first.rule(sp.mean)) << " (" << first.quantity << ": mean " << fmt2(sp.mean) << ", 95 % CI ["
           << fmt2(sp.mean - sp.half95()) << ", " << fmt2(sp.mean + sp.half95()) << "], each seed " << each(d)
           << ").\n";
    }
    md << "\nRun time of this pipeline invocation: " << fmt2(seconds_since(t_start)) << " s (skipped steps cost "
       << "nothing).\n";
    return md.str();
}

}  // namespace

PipelineResult run_pipeline(const PipelineSpec& s, const TrainFunction& train, std::ostream& log,
                            const PhysicalFunctions* physical) {
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
    for (size_t i = 0; i < s.models.size(); ++i)  // a bad error-model file fails before any training
        if (s.models[i].error_model_is_file()) load_error_model(s.models[i].error_model, topo);

    const std::vector<int> seeds = s.training_seeds();
    PipelineResult result;
    if (seeds.size() == 1) {  // one seed: its folders and report are the output's
        PipelineSpec one = s;
        one.seed = seeds[0];
        const SeedRun r = run_seed(one, topo, train_set, test_set, train, physical, log, t_start);
        result.report_path = r.report_path;
        result.report = r.report;
        return result;
    }
    std::vector<SeedRun> runs;
    for (int seed : seeds) {
        log_line("==== seed " + std::to_string(seed));
        PipelineSpec one = s;
        one.seed = seed;
        one.seeds.clear();
        one.output = s.output + "/seed" + std::to_string(seed);
        runs.push_back(run_seed(one, topo, train_set, test_set, train, physical, log, t_start));
    }
    result.report_path = s.output + "/report.md";
    result.report = seeds_report(s, topo, runs, t_start);
    write_file_atomic(result.report_path, result.report);
    return result;
}

}  // namespace fatsim::campaigns
