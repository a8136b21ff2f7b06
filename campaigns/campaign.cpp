// Campaign spec parsing (yaml-cpp stays in this file) and the resumable
// runner: fault source, evaluator, result store (faults.csv), summary.
#include "campaign.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "config.hpp"
#include "files.hpp"
#include "yaml_fields.hpp"
#include "dataset.hpp"
#include "model.hpp"

namespace fatsim::campaigns {

namespace fs = std::filesystem;
using Errors = std::vector<std::string>;
using json = nlohmann::json;

// ---------------------------------------------------------------- spec parsing
// Same conventions as sim/core/config.cpp: every error is "path: rule" or
// "path=value rule", all collected, thrown as one ConfigError naming the file.

const ConfigSchema& campaign_spec_schema() {
    static const ConfigSchema schema = [] {
        using namespace param;
        const CampaignSpec c;
        ConfigSchema s;
        s.kind = "campaign";
        s.summary = "a stuck@ fault campaign on one model (campaigns/example_channel.yaml)";
        s.sections = {
            {"",
             {string("name", "file stem", "campaign name (manifest, reports)"),
              required(path("model", "", "model file (.fatq), relative to this file")),
              map("dataset", "the images the faults are evaluated on"),
              required(choice("error_model", {"channel", "pixel"}, "",
                              "a fault sticks one output channel, or one pixel (all its channels)")),
              custom("layers", "all | list of layer names", "all",
                     "layers to sweep (all = every layer with an activation)"),
              custom("values", "all | list of ints -1..15", "all",
                     "stuck activation codes (all = every level of each layer)"),
              required(path("output", "", "results folder, relative to this file")),
              integer("threads", 0, 1024, std::to_string(c.threads), "worker threads (0 = all cores)"),
              integer("seed", 0, 2147483647, std::to_string(c.seed),
                      "seed of the random image sample and fault subset"),
              integer("max_faults", 0, 100000000, std::to_string(c.max_faults),
                      "0 = every fault; else a random subset of that many (by seed)")}},
            {"dataset",
             {choice("name", {"fashion-mnist", "mnist", "cifar10"}, c.dataset, "dataset"),
              path("dir", "the dataset's default folder", "folder of the dataset files"),
              choice("split", {"test", "train"}, c.split, "which split"),
              integer("images", 0, 100000000, std::to_string(c.images), "number of images (0 = all)"),
              choice("sample", {"first", "random"}, c.sample, "the first images, or a random subset by seed")}},
        };
        return s;
    }();
    return schema;
}

using namespace yamlf;

CampaignSpec parse_campaign_spec(const std::string& text, const std::string& source) {
    const YAML::Node root = load_map(text, source);
    const ConfigSchema& schema = campaign_spec_schema();
    Errors errs;
    const SectionReader top(root, schema.section(""), "", errs);
    CampaignSpec s;
    s.source = source;
    s.name = fs::path(source).stem().string();
    top.get("name", s.name);
    if (top.get("model", s.model)) s.model = resolve_relative(source, s.model);
    if (top.get("output", s.output)) s.output = resolve_relative(source, s.output);

    YAML::Node d;
    if (top.get("dataset", d)) {
        const SectionReader r(d, schema.section("dataset"), "dataset", errs);
        r.get("name", s.dataset);
        if (r.get("dir", s.data_dir)) s.data_dir = resolve_relative(source, s.data_dir);
        r.get("split", s.split);
        r.get("images", s.images);
        r.get("sample", s.sample);
    }
    std::string em;
    if (top.get("error_model", em)) s.error_model = parse_error_model_kind(em);

    YAML::Node l;
    if (top.get("layers", l)) {
        if (l.IsScalar() && l.Scalar() == "all") {
        } else if (!l.IsSequence()) {
            errs.push_back("layers" + shown(l) + " must be all or a list of layer names");
        } else {
            for (size_t i = 0; i < l.size(); ++i) {
                const std::string p = "layers[" + std::to_string(i) + "]";
                if (!l[i].IsScalar() || l[i].Scalar().empty())
                    errs.push_back(p + shown(l[i]) + " must be a layer name");
                else if (std::find(s.layers.begin(), s.layers.end(), l[i].Scalar()) != s.layers.end())
                    errs.push_back(p + "=" + l[i].Scalar() + " is listed twice");
                else
                    s.layers.push_back(l[i].Scalar());
            }
            if (l.size() == 0) errs.push_back("layers: must not be empty (or write all)");
        }
    }
    YAML::Node v;
    if (top.get("values", v)) {
        if (v.IsScalar() && v.Scalar() == "all") {
        } else if (!v.IsSequence()) {
            errs.push_back("values" + shown(v) + " must be all or a list of activation codes");
        } else {
            for (size_t i = 0; i < v.size(); ++i) {
                const std::string p = "values[" + std::to_string(i) + "]";
                int x = 0;
                if (!v[i].IsScalar() || !YAML::convert<int>::decode(v[i], x))
                    errs.push_back(p + shown(v[i]) + " must be an integer");
                else if (x < -1 || x > 15)
                    errs.push_back(p + "=" + std::to_string(x) + " must be in -1..15 (activation codes of A1..A4)");
                else if (std::find(s.values.begin(), s.values.end(), x) != s.values.end())
                    errs.push_back(p + "=" + std::to_string(x) + " is listed twice");
                else
                    s.values.push_back(x);
            }
            if (v.size() == 0) errs.push_back("values: must not be empty (or write all)");
        }
    }
    top.get("threads", s.threads);
    int seed = 1;
    if (top.get("seed", seed)) s.seed = uint64_t(seed);
    top.get("max_faults", s.max_faults);
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
    return s;
}

CampaignSpec load_campaign_spec(const std::string& path) { return parse_campaign_spec(read_text_file(path), path); }

// ---------------------------------------------------------------- faults.csv

namespace fault_csv {

std::string index_column(ErrorModelKind kind) { return to_string(kind); }

std::string header(ErrorModelKind kind) {
    return std::string(kLayer) + "," + index_column(kind) + "," + kValue + "," + kAccuracy + "," + kCorrect + "," +
           kChanged + "\n";
}

std::string format_row(const std::string& layer, const FaultResult& r, int images) {
    char b[160];
    std::snprintf(b, sizeof b, "%s,%d,%d,%.4f,%d,%d\n", layer.c_str(), r.fault.index, r.fault.code,
                  images ? 100.0 * r.correct / images : 0.0, r.correct, r.changed);
    return b;
}

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
    return out;
}

int column(const std::string& header_line, const std::string& name) {
    const auto cols = split(header_line);
    const auto it = std::find(cols.begin(), cols.end(), name);
    return it == cols.end() ? -1 : int(it - cols.begin());
}

Row parse_row(const std::string& line, const std::string& path, size_t row_number) {
    const auto cells = split(line);
    const std::string where = path + ": malformed row " + std::to_string(row_number);
    if (cells.size() != 6)
        throw std::runtime_error(where + ": has " + std::to_string(cells.size()) +
                                 " columns, must have 6 (layer, channel or pixel, value, accuracy, correct, changed)");
    // Names the column and the rule, never a bare std::stoi message.
    const auto bad = [&](const char* column, const std::string& cell, const char* rule) {
        return std::runtime_error(where + ": " + column + "='" + cell + "' must be " + rule);
    };
    const auto whole_int = [&](const std::string& c, const char* column) {
        try {
            size_t used = 0;
            const int v = std::stoi(c, &used);
            if (used == c.size()) return v;
        } catch (const std::exception&) {
        }
        throw bad(column, c, "an integer");
    };
    Row r;
    r.layer = cells[0];
    r.index = whole_int(cells[1], "channel/pixel");
    r.value = whole_int(cells[2], kValue);
    try {
        size_t used = 0;
        r.accuracy = std::stod(cells[3], &used);
        if (used != cells[3].size()) throw std::invalid_argument(cells[3]);
    } catch (const std::exception&) {
        throw bad(kAccuracy, cells[3], "a number");
    }
    r.correct = whole_int(cells[4], kCorrect);
    r.changed = whole_int(cells[5], kChanged);
    return r;
}

}  // namespace fault_csv

// ---------------------------------------------------------------- fault source

std::vector<SweepFault> StuckAtFaultSource::faults(const Topology& topo) const {
    std::vector<SweepFault> all = enumerate_faults(topo, kind, layers, values);
    if (max_faults <= 0 || size_t(max_faults) >= all.size()) return all;
    std::vector<size_t> idx(all.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < max_faults; ++i)
        std::swap(idx[i], idx[i + std::uniform_int_distribution<size_t>(0, idx.size() - 1 - i)(rng)]);
    idx.resize(max_faults);
    std::sort(idx.begin(), idx.end());
    std::vector<SweepFault> sel;
    for (size_t i : idx) sel.push_back(all[i]);
    return sel;
}

json StuckAtFaultSource::manifest(const Topology& topo) const {
    json m = {
        {"error_model", to_string(kind)}, {"layers", json::array()}, {"values", values}, {"max_faults", max_faults}};
    for (int l : layers) m["layers"].push_back(topo.layers[l].name);
    return m;
}

// ---------------------------------------------------------------- evaluator

EngineEvaluator::EngineEvaluator(const Engine& engine, const InputBatch& batch, ErrorModelKind kind, SweepMode mode,
                                 int threads)
    : engine_(engine), batch_(batch), kind_(kind), mode_(mode), threads_(threads) {}

bool EngineEvaluator::run(const std::vector<SweepFault>& faults, Progress* progress,
                          const std::function<bool(size_t, const FaultResult&)>& on_done) const {
    std::atomic<bool> cancel{false};
    SweepOptions so;
    so.mode = mode_;
    so.threads = threads_;
    so.progress = progress;
    so.cancel = &cancel;
    so.on_done = [&](size_t k, const FaultResult& r) {
        if (!on_done(k, r)) cancel = true;
    };
    run_sweep(engine_, batch_, kind_, faults, so);
    return !cancel;
}

// ---------------------------------------------------------------- result store

ResultStore::ResultStore(const std::string& dir, ErrorModelKind kind)
    : csv_((fs::path(dir) / "faults.csv").string()),
      manifest_((fs::path(dir) / "manifest.json").string()),
      summary_((fs::path(dir) / "summary.json").string()),
      header_(fault_csv::header(kind)) {}

ResultStore::ResultStore(const std::string& dir, std::string header)
    : csv_((fs::path(dir) / "faults.csv").string()),
      manifest_((fs::path(dir) / "manifest.json").string()),
      summary_((fs::path(dir) / "summary.json").string()),
      header_(std::move(header)) {}

size_t ResultStore::open(const json& manifest, const std::vector<SweepFault>& faults, const Topology& topo,
                         bool fresh) {
    return open(manifest, faults.size(), [&](size_t k, const std::vector<std::string>& cells) {
        const SweepFault& fl = faults[k];
        return cells.size() >= 3 && cells[0] == topo.layers[fl.layer].name && cells[1] == std::to_string(fl.index) &&
               cells[2] == std::to_string(fl.code);
    }, fresh);
}

size_t ResultStore::open(const json& manifest, size_t faults,
                         const std::function<bool(size_t, const std::vector<std::string>&)>& row_matches, bool fresh) {
    fs::create_directories(fs::path(csv_).parent_path());
    size_t done = 0;
    bool resume = !fresh && fs::exists(manifest_) && fs::exists(csv_);
    if (resume) {
        json old;
        try {
            std::ifstream f(manifest_);
            old = json::parse(f);
        } catch (const std::exception&) {
            resume = false;
        }
        if (resume && old != manifest) {
            std::string diff;
            for (auto it = manifest.begin(); it != manifest.end(); ++it)
                if (!old.contains(it.key()) || old[it.key()] != it.value())
                    diff += (diff.empty() ? "" : ", ") + it.key();
            throw std::runtime_error(fs::path(csv_).parent_path().string() +
                                     " holds results of a different campaign (" + diff +
                                     " differ): use --fresh to overwrite or another output folder");
        }
    }
    if (resume) {
        // Keep the complete rows that match the fault list; cut a torn last line.
        std::ifstream f(csv_, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        size_t pos = 0, keep = 0;
        const size_t eol = text.find('\n');
        if (eol == std::string::npos || text.substr(0, eol + 1) != header_) {
            resume = false;
        } else {
            pos = keep = eol + 1;
            while (done < faults) {
                const size_t e = text.find('\n', pos);
                if (e == std::string::npos) break;
                if (!row_matches(done, fault_csv::split(text.substr(pos, e - pos)))) break;
                ++done;
                pos = keep = e + 1;
            }
            fs::resize_file(csv_, keep);
        }
    }
    if (!resume) {
        done = 0;
        std::error_code ec;
        fs::remove(summary_, ec);
        write_file_atomic(csv_, header_);
        write_file_atomic(manifest_, manifest.dump(2) + "\n");
    }
    pending_.clear();
    next_ = 0;
    written_ = 0;
    return done;
}

bool ResultStore::add(size_t position, std::string row, int64_t limit) {
    if (!out_) out_ = std::make_unique<std::ofstream>(csv_, std::ios::binary | std::ios::app);
    pending_[position] = std::move(row);
    const auto limit_reached = [&] { return limit >= 0 && written_ >= limit; };
    // Exactly `limit` rows even when other threads finish more faults.
    while (!pending_.empty() && pending_.begin()->first == next_ && !limit_reached()) {
        *out_ << pending_.begin()->second;
        pending_.erase(pending_.begin());
        ++next_;
        ++written_;
    }
    // Rows reach the file a fraction of a second after they are written
    // (a flush per row made a 3-million-fault campaign mostly system calls);
    // a killed run loses at most those and evaluates them again on resume.
    const auto now = std::chrono::steady_clock::now();
    if (limit_reached() || now - flushed_ > std::chrono::milliseconds(200)) {
        out_->flush();
        flushed_ = now;
    }
    return !limit_reached();
}

void ResultStore::close() { out_.reset(); }

std::vector<fault_csv::Row> ResultStore::rows() const {
    std::ifstream f(csv_);
    std::string line;
    std::getline(f, line);
    std::vector<fault_csv::Row> rows;
    for (size_t k = 0; std::getline(f, line); ++k) rows.push_back(fault_csv::parse_row(line, csv_, k + 2));
    return rows;
}

// ---------------------------------------------------------------- summary

json summarize(const json& manifest, const std::vector<fault_csv::Row>& rows, const std::vector<SweepFault>& faults,
               const std::vector<int>& layers, const Topology& topo, int images, double error_free,
               const std::string& csv) {
    if (rows.size() < faults.size()) throw std::runtime_error(csv + ": fewer rows than faults");
    const std::string index_key = manifest.at("error_model").get<std::string>();
    struct Agg {
        int n = 0;
        double lo = 1e9, hi = -1e9, sum = 0;
        void add(double a) { ++n, lo = std::min(lo, a), hi = std::max(hi, a), sum += a; }
    };
    std::map<std::pair<int, int>, Agg> per;  // (layer, value)
    std::vector<double> accs;
    json worst;
    double worst_acc = 1e9;
    for (size_t k = 0; k < faults.size(); ++k) {
        const double a = images ? 100.0 * rows[k].correct / images : 0.0;
        per[{faults[k].layer, faults[k].code}].add(a);
        accs.push_back(a);
        if (a < worst_acc) {
            worst_acc = a;
            worst = {{"layer", rows[k].layer},
                     {index_key, faults[k].index},
                     {"value", faults[k].code},
                     {"accuracy", a},
                     {"changed", rows[k].changed}};
        }
    }
    double mean = 0, var = 0;
    for (double a : accs) mean += a;
    mean /= accs.size();
    for (double a : accs) var += (a - mean) * (a - mean);
    var /= accs.size();
    json jl = json::array();
    for (int l : layers) {
        const LayerSpec& s = topo.layers[l];
        json vals = json::array();
        for (const auto& [key, g] : per)
            if (key.first == l)
                vals.push_back({{"value", key.second}, {"faults", g.n}, {"min", g.lo}, {"max", g.hi},
                                {"mean", g.sum / g.n}});
        if (vals.empty()) continue;
        jl.push_back({{"layer", s.name},
                      {"index", l},
                      {"channels", s.mh()},
                      {"pixels", s.pooled_dim * s.pooled_dim},
                      {"values", vals}});
    }
    json summary = manifest;
    summary["error_free_accuracy"] = error_free;
    summary["min_accuracy"] = *std::min_element(accs.begin(), accs.end());
    summary["max_accuracy"] = *std::max_element(accs.begin(), accs.end());
    summary["mean_accuracy"] = mean;
    summary["variance"] = var;
    summary["variance_definition"] = "population variance of the faulty accuracies, in %^2";
    summary["worst_fault"] = worst;
    summary["per_layer"] = jl;
    return summary;
}

// ---------------------------------------------------------------- runner

namespace {

// The spec's layers as topology indices, checked against the model's topology
// together with the values; throws ConfigError naming the spec.
std::vector<int> swept_layers(const CampaignSpec& spec, const Topology& topo) {
    Errors errs;
    std::vector<int> layers;
    if (spec.layers.empty()) {
        for (size_t l = 0; l < topo.layers.size(); ++l)
            if (topo.layers[l].act_bits) layers.push_back(int(l));
    } else {
        for (size_t i = 0; i < spec.layers.size(); ++i) {
            const int l = topo.find_layer(spec.layers[i]);
            const std::string p = "layers[" + std::to_string(i) + "]=" + spec.layers[i];
            if (l < 0)
                errs.push_back(p + " is not a layer of " + topo.name);
            else if (topo.layers[l].act_bits == 0)
                errs.push_back(p + " has no activation (classifier outputs are not swept)");
            else
                layers.push_back(l);
        }
    }
    for (size_t i = 0; i < spec.values.size(); ++i) {
        bool ok = false;
        for (int l : layers) {
            const ActRange ar = act_range(topo.layers[l].act_bits);
            ok = ok || (spec.values[i] >= ar.lo && spec.values[i] <= ar.hi);
        }
        if (!ok)
            errs.push_back("values[" + std::to_string(i) + "]=" + std::to_string(spec.values[i]) +
                           " is not an activation code of any swept layer");
    }
    if (!errs.empty()) throw ConfigError(spec.source, errs);
    return layers;
}

}  // namespace

InputBatch campaign_images(const CampaignSpec& spec, const Topology& topo) {
    const DatasetKind dk = parse_dataset_kind(spec.dataset);
    const Dataset ds = load_dataset(dk, spec.data_dir, spec.split, spec.sample == "first" ? spec.images : 0);
    InputBatch all = prepare_inputs(ds, topo);
    if (!(spec.sample == "random" && spec.images > 0 && spec.images < all.count)) return all;
    std::vector<int> idx(all.count);
    for (int i = 0; i < all.count; ++i) idx[i] = i;
    std::mt19937_64 rng(spec.seed);
    for (int i = 0; i < spec.images; ++i)
        std::swap(idx[i], idx[i + std::uniform_int_distribution<int>(0, all.count - 1 - i)(rng)]);
    std::vector<int> picked(idx.begin(), idx.begin() + spec.images);
    std::sort(picked.begin(), picked.end());
    InputBatch batch;
    batch.count = spec.images;
    batch.dim = all.dim;
    batch.channels = all.channels;
    const size_t sz = size_t(all.dim) * all.dim * all.channels;
    for (int i : picked) {
        batch.data.insert(batch.data.end(), all.image(i), all.image(i) + sz);
        batch.labels.push_back(all.labels[i]);
    }
    return batch;
}

namespace {
// A block of run_campaign's faults on the wire: (layer, index, code) per
// fault in; (correct, changed) per fault out.
Words evaluate_fault_block(const EngineEvaluator& evaluator, const Words& work) {
    if (work.size() % 3 != 0) throw std::runtime_error("malformed campaign block: not (layer, index, code) triples");
    std::vector<SweepFault> block;
    for (size_t i = 0; i < work.size(); i += 3) block.push_back({int(work[i]), int(work[i + 1]), int(work[i + 2])});
    Words results(2 * block.size());
    evaluator.run(block, nullptr, [&](size_t k, const FaultResult& r) {
        results[2 * k] = r.correct;
        results[2 * k + 1] = r.changed;
        return true;
    });
    return results;
}
}  // namespace

std::function<Words(const Words&)> campaign_block_evaluator(const CampaignSpec& spec, const CampaignOptions& opt) {
    struct State {
        QnnModel model;
        InputBatch batch;
        std::unique_ptr<Engine> engine;
        std::unique_ptr<EngineEvaluator> evaluator;
    };
    auto s = std::make_shared<State>();
    s->model = load_model(spec.model);
    s->batch = campaign_images(spec, s->model.topology);
    s->engine = std::make_unique<Engine>(s->model);
    s->evaluator = std::make_unique<EngineEvaluator>(*s->engine, s->batch, spec.error_model, opt.mode, spec.threads);
    return [s](const Words& work) { return evaluate_fault_block(*s->evaluator, work); };
}

CampaignOutcome run_campaign(const CampaignSpec& spec, const CampaignOptions& opt) {
    const QnnModel model = load_model(spec.model);
    const Topology& topo = model.topology;
    const std::vector<int> layers = swept_layers(spec, topo);
    const InputBatch batch = campaign_images(spec, topo);

    StuckAtFaultSource source;
    source.kind = spec.error_model;
    source.layers = layers;
    source.values = spec.values;
    source.max_faults = spec.max_faults;
    source.seed = spec.seed;
    std::vector<SweepFault> faults = source.faults(topo);
    if (faults.empty()) throw ConfigError(spec.source, {"values: no fault to sweep in the chosen layers"});

    // Manifest: what defines the results. A resume must match it exactly.
    json manifest = {{"format", 1},
                     {"name", spec.name},
                     {"model", spec.model},
                     {"model_fnv1a", hex64(fnv1a64(read_text_file(spec.model)))},
                     {"topology", topo.name},
                     {"dataset", spec.dataset},
                     {"split", spec.split},
                     {"images", batch.count},
                     {"sample", spec.sample},
                     {"seed", spec.seed},
                     {"faults", faults.size()}};
    manifest.update(source.manifest(topo));

    std::string output = spec.output;
    if (opt.shard.active()) {
        const ShardSlice slice = select_shard(opt.shard, spec.output, faults.size(), manifest);
        faults = std::vector<SweepFault>(faults.begin() + slice.first, faults.begin() + slice.end);
        output = slice.folder;
    }
    ResultStore store(output, spec.error_model);
    const size_t done = store.open(manifest, faults, topo, opt.fresh);

    CampaignOutcome out;
    out.faults = int(faults.size());
    out.resumed_from = int(done);
    out.images = batch.count;
    out.csv = store.csv();
    out.summary = store.summary_path();

    const Engine engine(model);
    const EvalResult clean = engine.evaluate(batch, {}, spec.threads);
    if (done < faults.size()) {
        const std::vector<SweepFault> rest(faults.begin() + done, faults.end());
        Progress progress("campaign " + spec.name, int64_t(rest.size()), "faults", opt.show_progress);
        const EngineEvaluator evaluator(engine, batch, spec.error_model, opt.mode, spec.threads);
        const auto on_done = [&](size_t k, const FaultResult& r) {
            return store.add(k, fault_csv::format_row(topo.layers[r.fault.layer].name, r, batch.count), opt.stop_after);
        };
        bool complete = false;
        if (opt.distribute) {
            BlockJob job;
            job.items = rest.size();
            job.max_block = 4096;
            job.describe = [&](size_t first, size_t n) {
                Words work;
                for (size_t k = first; k < first + n; ++k) work.insert(work.end(), {rest[k].layer, rest[k].index, rest[k].code});
                return work;
            };
            job.evaluate = [&](const Words& work) { return evaluate_fault_block(evaluator, work); };
            job.deliver = [&](size_t first, size_t n, const Words& results) {
                if (results.size() != 2 * n) throw std::runtime_error("malformed campaign results: wrong length");
                for (size_t i = 0; i < n; ++i) {
                    progress.add(1);
                    if (!on_done(first + i, {rest.at(first + i), int(results[2 * i]), int(results[2 * i + 1])}))
                        return false;
                }
                return true;
            };
            complete = opt.distribute(job);
        } else {
            complete = evaluator.run(rest, &progress, on_done);
        }
        progress.finish();
        store.close();
        if (!complete) return out;  // stopped early (testing aid); resumable
    }

    const json summary =
        summarize(manifest, store.rows(), faults, layers, topo, batch.count, clean.accuracy(), store.csv());
    write_file_atomic(store.summary_path(), summary.dump(2) + "\n");
    out.error_free = clean.accuracy();
    out.min_accuracy = summary["min_accuracy"].get<double>();
    out.variance = summary["variance"].get<double>();
    out.complete = true;
    return out;
}

}  // namespace fatsim::campaigns
