// Campaign spec parsing (yaml-cpp stays in this file) and the resumable runner.
#include "campaign.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
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

using namespace yamlf;

CampaignSpec parse_campaign_spec(const std::string& text, const std::string& source) {
    const YAML::Node root = load_map(text, source);
    Errors errs;
    check_keys(root, "",
               {"name", "model", "dataset", "error_model", "layers", "values", "output", "threads", "seed",
                "max_faults"},
               errs);
    CampaignSpec s;
    s.source = source;
    s.name = fs::path(source).stem().string();
    get_string(root, "name", "", s.name, errs);
    if (get_string(root, "model", "", s.model, errs, true)) s.model = resolve_relative(source, s.model);
    if (get_string(root, "output", "", s.output, errs, true)) s.output = resolve_relative(source, s.output);

    if (const YAML::Node d = root["dataset"]) {
        if (!d.IsMap()) {
            errs.push_back("dataset" + shown(d) + " must be a map");
        } else {
            check_keys(d, "dataset", {"name", "dir", "split", "images", "sample"}, errs);
            get_choice(d, "name", "dataset", {"fashion-mnist", "mnist", "cifar10"}, s.dataset, errs);
            if (get_string(d, "dir", "dataset", s.data_dir, errs)) s.data_dir = resolve_relative(source, s.data_dir);
            get_choice(d, "split", "dataset", {"test", "train"}, s.split, errs);
            get_int(d, "images", "dataset", s.images, errs, 0, 100000000);
            get_choice(d, "sample", "dataset", {"first", "random"}, s.sample, errs);
        }
    }
    std::string em;
    if (!root["error_model"])
        errs.push_back("error_model: required key missing");
    else if (get_choice(root, "error_model", "", {"channel", "pixel"}, em, errs))
        s.error_model = parse_error_model_kind(em);

    if (const YAML::Node l = root["layers"]) {
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
    if (const YAML::Node v = root["values"]) {
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
    get_int(root, "threads", "", s.threads, errs, 0, 1024);
    int seed = 1;
    if (get_int(root, "seed", "", seed, errs, 0, 2147483647)) s.seed = uint64_t(seed);
    get_int(root, "max_faults", "", s.max_faults, errs, 0, 100000000);
    if (!errs.empty()) throw ConfigError(source, std::move(errs));
    return s;
}

CampaignSpec load_campaign_spec(const std::string& path) { return parse_campaign_spec(read_text_file(path), path); }

// ---------------------------------------------------------------- runner

namespace {

std::string format_row(const Topology& topo, const FaultResult& r, int images) {
    char b[160];
    std::snprintf(b, sizeof b, "%s,%d,%d,%.4f,%d,%d\n", topo.layers[r.fault.layer].name.c_str(), r.fault.index,
                  r.fault.code, images ? 100.0 * r.correct / images : 0.0, r.correct, r.changed);
    return b;
}

}  // namespace

CampaignOutcome run_campaign(const CampaignSpec& spec, const CampaignOptions& opt) {
    const QnnModel model = load_model(spec.model);
    const Topology& topo = model.topology;

    // Model-dependent checks of the spec.
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

    // Images: the first N, or a random N (by seed) in ascending order.
    const DatasetKind dk = parse_dataset_kind(spec.dataset);
    const Dataset ds = load_dataset(dk, spec.data_dir, spec.split, spec.sample == "first" ? spec.images : 0);
    InputBatch all = prepare_inputs(ds, topo);
    InputBatch batch;
    std::vector<int> picked;
    if (spec.sample == "random" && spec.images > 0 && spec.images < all.count) {
        std::vector<int> idx(all.count);
        for (int i = 0; i < all.count; ++i) idx[i] = i;
        std::mt19937_64 rng(spec.seed);
        for (int i = 0; i < spec.images; ++i)
            std::swap(idx[i], idx[i + std::uniform_int_distribution<int>(0, all.count - 1 - i)(rng)]);
        picked.assign(idx.begin(), idx.begin() + spec.images);
        std::sort(picked.begin(), picked.end());
        batch.count = spec.images;
        batch.dim = all.dim;
        batch.channels = all.channels;
        const size_t sz = size_t(all.dim) * all.dim * all.channels;
        for (int i : picked) {
            batch.data.insert(batch.data.end(), all.image(i), all.image(i) + sz);
            batch.labels.push_back(all.labels[i]);
        }
    } else {
        batch = std::move(all);
    }

    std::vector<SweepFault> faults = enumerate_faults(topo, spec.error_model, layers, spec.values);
    if (spec.max_faults > 0 && size_t(spec.max_faults) < faults.size()) {
        std::vector<size_t> idx(faults.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::mt19937_64 rng(spec.seed ^ 0x9e3779b97f4a7c15ull);
        for (int i = 0; i < spec.max_faults; ++i)
            std::swap(idx[i], idx[i + std::uniform_int_distribution<size_t>(0, idx.size() - 1 - i)(rng)]);
        idx.resize(spec.max_faults);
        std::sort(idx.begin(), idx.end());
        std::vector<SweepFault> sel;
        for (size_t i : idx) sel.push_back(faults[i]);
        faults = std::move(sel);
    }
    if (faults.empty()) throw ConfigError(spec.source, {"values: no fault to sweep in the chosen layers"});

    // Manifest: what defines the results. A resume must match it exactly.
    std::ifstream mf(spec.model, std::ios::binary);
    std::ostringstream mbytes;
    mbytes << mf.rdbuf();
    json manifest = {{"format", 1},
                     {"name", spec.name},
                     {"model", spec.model},
                     {"model_fnv1a", hex64(fnv1a64(mbytes.str()))},
                     {"topology", topo.name},
                     {"dataset", spec.dataset},
                     {"split", spec.split},
                     {"images", batch.count},
                     {"sample", spec.sample},
                     {"seed", spec.seed},
                     {"error_model", to_string(spec.error_model)},
                     {"layers", json::array()},
                     {"values", spec.values},
                     {"max_faults", spec.max_faults},
                     {"faults", faults.size()}};
    for (int l : layers) manifest["layers"].push_back(topo.layers[l].name);

    fs::create_directories(spec.output);
    const std::string csv = (fs::path(spec.output) / "faults.csv").string();
    const std::string man = (fs::path(spec.output) / "manifest.json").string();
    const std::string sum = (fs::path(spec.output) / "summary.json").string();
    const std::string header =
        std::string("layer,") + to_string(spec.error_model) + ",value,accuracy,correct,changed\n";

    size_t done = 0;
    bool resume = !opt.fresh && fs::exists(man) && fs::exists(csv);
    if (resume) {
        json old;
        try {
            std::ifstream f(man);
            old = json::parse(f);
        } catch (const std::exception&) {
            resume = false;
        }
        if (resume && old != manifest) {
            std::string diff;
            for (auto it = manifest.begin(); it != manifest.end(); ++it)
                if (!old.contains(it.key()) || old[it.key()] != it.value())
                    diff += (diff.empty() ? "" : ", ") + it.key();
            throw std::runtime_error(spec.output + " holds results of a different campaign (" + diff +
                                     " differ): use --fresh to overwrite or another output folder");
        }
    }
    if (resume) {
        // Keep the complete rows that match the fault list; cut a torn last line.
        std::ifstream f(csv, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        size_t pos = 0, keep = 0;
        const size_t eol = text.find('\n');
        if (eol == std::string::npos || text.substr(0, eol + 1) != header) {
            resume = false;
        } else {
            pos = keep = eol + 1;
            while (done < faults.size()) {
                const size_t e = text.find('\n', pos);
                if (e == std::string::npos) break;
                const std::string line = text.substr(pos, e - pos);
                std::stringstream ss(line);
                std::string name, idx, val;
                std::getline(ss, name, ',');
                std::getline(ss, idx, ',');
                std::getline(ss, val, ',');
                const SweepFault& fl = faults[done];
                if (name != topo.layers[fl.layer].name || idx != std::to_string(fl.index) ||
                    val != std::to_string(fl.code))
                    break;
                ++done;
                pos = keep = e + 1;
            }
            fs::resize_file(csv, keep);
        }
    }
    if (!resume) {
        done = 0;
        std::error_code ec;
        fs::remove(sum, ec);
        write_file_atomic(csv, header);
        write_file_atomic(man, manifest.dump(2) + "\n");
    }

    CampaignOutcome out;
    out.faults = int(faults.size());
    out.resumed_from = int(done);
    out.images = batch.count;
    out.csv = csv;
    out.summary = sum;

    const Engine engine(model);
    const EvalResult clean = engine.evaluate(batch, {}, spec.threads);
    if (done < faults.size()) {
        std::ofstream f(csv, std::ios::binary | std::ios::app);
        const std::vector<SweepFault> rest(faults.begin() + done, faults.end());
        std::map<size_t, std::string> pending;
        size_t next_row = 0;
        std::atomic<bool> cancel{false};
        int64_t written = 0;
        Progress progress("campaign " + spec.name, int64_t(rest.size()), "faults", opt.show_progress);
        SweepOptions so;
        so.mode = opt.mode;
        so.threads = spec.threads;
        so.progress = &progress;
        so.cancel = &cancel;
        so.on_done = [&](size_t k, const FaultResult& r) {
            // Rows go out in fault order, each as soon as all before it are done.
            pending[k] = format_row(topo, r, batch.count);
            const auto stop_reached = [&] { return opt.stop_after >= 0 && written >= opt.stop_after; };
            // Exactly stop_after rows even when other threads finish more faults.
            while (!pending.empty() && pending.begin()->first == next_row && !stop_reached()) {
                f << pending.begin()->second;
                pending.erase(pending.begin());
                ++next_row;
                ++written;
            }
            if (stop_reached()) cancel = true;
            f.flush();
        };
        run_sweep(engine, batch, spec.error_model, rest, so);
        progress.finish();
        f.close();
        if (cancel) return out;  // stopped early (testing aid); resumable
    }

    // Summary, from the CSV itself so a resumed run gives the same numbers.
    std::ifstream f(csv);
    std::string line;
    std::getline(f, line);
    struct Agg {
        int n = 0;
        double lo = 1e9, hi = -1e9, sum = 0;
        void add(double a) { ++n, lo = std::min(lo, a), hi = std::max(hi, a), sum += a; }
    };
    std::map<std::pair<int, int>, Agg> per;  // (layer, value)
    std::vector<double> accs;
    json worst;
    double worst_acc = 1e9;
    for (size_t k = 0; k < faults.size() && std::getline(f, line); ++k) {
        std::stringstream ss(line);
        std::string tok;
        std::vector<std::string> cols;
        while (std::getline(ss, tok, ',')) cols.push_back(tok);
        if (cols.size() != 6) throw std::runtime_error(csv + ": malformed row " + std::to_string(k + 2));
        const int correct = std::stoi(cols[4]);
        const double a = batch.count ? 100.0 * correct / batch.count : 0.0;
        per[{faults[k].layer, faults[k].code}].add(a);
        accs.push_back(a);
        if (a < worst_acc) {
            worst_acc = a;
            worst = {{"layer", cols[0]}, {to_string(spec.error_model), faults[k].index}, {"value", faults[k].code},
                     {"accuracy", a}, {"changed", std::stoi(cols[5])}};
        }
    }
    if (accs.size() != faults.size()) throw std::runtime_error(csv + ": fewer rows than faults");
    double mean = 0, var = 0;
    for (double a : accs) mean += a;
    mean /= accs.size();
    for (double a : accs) var += (a - mean) * (a - mean);
    var /= accs.size();
    const double lo = *std::min_element(accs.begin(), accs.end());
    const double hi = *std::max_element(accs.begin(), accs.end());
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
    summary["error_free_accuracy"] = clean.accuracy();
    summary["min_accuracy"] = lo;
    summary["max_accuracy"] = hi;
    summary["mean_accuracy"] = mean;
    summary["variance"] = var;
    summary["variance_definition"] = "population variance of the faulty accuracies, in %^2";
    summary["worst_fault"] = worst;
    summary["per_layer"] = jl;
    write_file_atomic(sum, summary.dump(2) + "\n");
    out.error_free = clean.accuracy();
    out.min_accuracy = lo;
    out.variance = var;
    out.complete = true;
    return out;
}

}  // namespace fatsim::campaigns
