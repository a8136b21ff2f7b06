#include "physical_campaign.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "files.hpp"

namespace fatsim::campaigns {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------- faults.csv
namespace physical_csv {

std::string header() {
    return std::string(kSite) + "," + kClass + "," + kLayer + "," + kEval + "," + kEffect + "," + kMasked + "," + kShape + "," +
           kImagesTouched + "," + kElements + "," + kChannels + "," + kPixels + "," + kTransitions + "," + kCorrect +
           "," + kAccuracy + "," + kChanged + "\n";
}

std::string format_row(const Row& r) {
    char acc[32];
    std::snprintf(acc, sizeof acc, "%.4f", r.accuracy);
    return r.site + "," + r.cls + "," + r.layer + "," + r.eval + "," + r.effect + "," + (r.masked ? "1" : "0") + "," + r.shape + "," +
           std::to_string(r.images_touched) + "," + std::to_string(r.elements) + "," + r.channels + "," +
           std::to_string(r.pixels) + "," + r.transitions + "," + std::to_string(r.correct) + "," + acc + "," +
           std::to_string(r.changed) + "\n";
}

Row parse_row(const std::string& line, const std::string& path, size_t row_number) {
    const auto cells = fault_csv::split(line);
    const auto bad = [&](const std::string& what) {
        return std::runtime_error(path + ": row " + std::to_string(row_number) + ": " + what);
    };
    if (cells.size() != 15) throw bad("has " + std::to_string(cells.size()) + " columns, expected 15");
    auto integer = [&](size_t i, const char* name) {
        try {
            size_t end = 0;
            const long long v = std::stoll(cells[i], &end);
            if (end != cells[i].size()) throw std::invalid_argument("");
            return v;
        } catch (const std::exception&) {
            throw bad(std::string("column ") + name + " is not an integer: '" + cells[i] + "'");
        }
    };
    Row r;
    r.site = cells[0];
    r.cls = cells[1];
    r.layer = cells[2];
    r.eval = cells[3];
    r.effect = cells[4];
    r.masked = integer(5, kMasked) != 0;
    r.shape = cells[6];
    r.images_touched = int(integer(7, kImagesTouched));
    r.elements = integer(8, kElements);
    r.channels = cells[9];
    r.pixels = int(integer(10, kPixels));
    r.transitions = cells[11];
    r.correct = int(integer(12, kCorrect));
    try {
        r.accuracy = std::stod(cells[13]);
    } catch (const std::exception&) {
        throw bad(std::string("column ") + kAccuracy + " is not a number: '" + cells[13] + "'");
    }
    r.changed = int(integer(14, kChanged));
    return r;
}

}  // namespace physical_csv

namespace {

physical_csv::Row row_of(const FaultSite& site, const ErrorPatternStats& st, const std::string& eval,
                         const Topology& topo) {
    physical_csv::Row r;
    r.site = fault_site_name(site);
    r.cls = std::string(site_class_name(site_class(site.where))) + (site.kind == FaultKind::Flip ? "-flip" : "");
    r.layer = st.effect_layer < 0 ? "input" : topo.layers[size_t(st.effect_layer)].name;
    r.eval = eval;
    char h[20];
    std::snprintf(h, sizeof h, "%016llx", (unsigned long long)st.effect_hash);
    r.effect = h;
    r.masked = st.masked();
    r.shape = st.shape();
    r.images_touched = st.images_touched;
    r.elements = st.elements;
    for (size_t k = 0; k < st.channels.size(); ++k) r.channels += (k ? ";" : "") + std::to_string(st.channels[k]);
    r.pixels = int(st.pixels.size());
    for (const auto& [t, n] : st.transitions)
        r.transitions += (r.transitions.empty() ? "" : ";") + std::to_string(t.first) + ">" + std::to_string(t.second) +
                         ":" + std::to_string(n);
    r.correct = st.correct;
    r.accuracy = st.accuracy();
    r.changed = st.changed;
    return r;
}

struct Stat {
    double lo = 1e300, hi = -1e300, sum = 0, sum2 = 0;
    uint64_t n = 0;
    void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v), sum += v, sum2 += v * v, ++n; }
    double mean() const { return n ? sum / double(n) : 0.0; }
    double sd() const { return n > 1 ? std::sqrt(std::max(0.0, (sum2 - sum * sum / double(n)) / double(n - 1))) : 0.0; }
};

json summarize_physical(const json& manifest, const std::vector<physical_csv::Row>& rows, int images,
                        double error_free) {
    const double conf = manifest.at("confidence").get<double>();
    json classes = json::array();
    for (const auto& c : manifest.at("classes")) {
        const std::string cls = c.at("class");
        const uint64_t population = c.at("population");
        uint64_t n = 0, masked = 0, changing = 0, run = 0, reused = 0, collapsed = 0;
        Stat acc;
        std::map<std::string, uint64_t> shapes;
        for (const auto& r : rows) {
            if (r.cls != cls) continue;
            ++n;
            masked += r.masked;
            changing += r.changed > 0;
            acc.add(r.accuracy);
            ++shapes[r.shape];
            run += r.eval == "run";
            reused += r.eval == "reused";
            collapsed += r.eval == "collapsed";
        }
        json entry = {{"class", cls}, {"population", population}, {"faults", n}, {"sampled", n < population}};
        if (n > 0) {
            const double pm = double(masked) / double(n), pc = double(changing) / double(n);
            const auto im = proportion_interval(pm, n, population, conf);
            const auto ic = proportion_interval(pc, n, population, conf);
            const double t = normal_quantile(conf);
            const double fpc = population > 1 ? std::sqrt(double(population - n) / double(population - 1)) : 0.0;
            const double half = n < population ? t * acc.sd() / std::sqrt(double(n)) * fpc : 0.0;
            entry["fraction_masked"] = {{"value", pm}, {"interval", {im.first, im.second}}};
            entry["fraction_changing_a_prediction"] = {{"value", pc}, {"interval", {ic.first, ic.second}}};
            entry["accuracy"] = {{"min", acc.lo}, {"max", acc.hi}, {"mean", acc.mean()},
                                 {"mean_interval", {std::max(0.0, acc.mean() - half), std::min(100.0, acc.mean() + half)}}};
            entry["shapes"] = shapes;
            entry["collapse"] = {{"faults", n}, {"evaluated", run}, {"reused_identical_effect", reused},
                                 {"collapsed_by_construction", collapsed},
                                 {"ratio", run ? double(n) / double(run) : double(n)}};
        }
        classes.push_back(entry);
    }
    return {{"images", images}, {"error_free_accuracy", error_free}, {"confidence", conf}, {"classes", classes}};
}

}  // namespace

PhysicalCampaignOutcome run_physical_campaign(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch,
                                              const PhysicalCampaignOptions& opt) {
    if (opt.output.empty()) throw std::invalid_argument("map-faults: no output folder");
    if (batch.count == 0) throw std::invalid_argument("map-faults: no images");
    const Engine engine(model);
    auto hw_model = hw::make_accelerator(model, accel);
    const int L = engine.layers();
    Lowering lowering(engine, accel, fifo_geometry(*hw_model, L));
    // Fault source: per class all, N, or the sample size for the margin.
    const hw::FaultSiteCounts counts = hw_model->fault_site_counts();
    std::vector<SiteClass> classes = opt.classes;
    if (classes.empty())  // every class the accelerator has
        for (int c = 0; c < kSiteClasses; ++c)
            if (counts.per_class[c] > 0) classes.push_back(SiteClass(c));
    std::vector<FaultSite> sites;
    json class_list = json::array();
    for (SiteClass cls : classes) {
        const uint64_t population = 2 * counts.per_class[int(cls)];  // sa0 and sa1 of every location
        uint64_t n = population;
        if (opt.sample > 0) n = std::min(opt.sample, population);
        else if (opt.margin > 0) n = sample_size(population, opt.margin, opt.confidence);
        const auto s = physical_faults(*hw_model, {cls}, n < population ? n : 0, opt.seed);
        sites.insert(sites.end(), s.begin(), s.end());
        class_list.push_back({{"class", site_class_name(cls)}, {"population", population}, {"faults", s.size()}});
    }
    // Transient flips: at random cycles of this run's cycle schedule.
    CycleSchedule schedule;
    if (opt.flips > 0) {
        schedule = capture_schedule(model, accel, batch, batch.count);
        lowering.use_schedule(&schedule);
        const int64_t last = last_cycle(schedule);
        for (SiteClass cls : classes) {
            const auto f = transient_faults(*hw_model, {cls}, opt.flips, opt.seed, last);
            sites.insert(sites.end(), f.begin(), f.end());
            // Population: every location at every cycle of the run.
            class_list.push_back({{"class", std::string(site_class_name(cls)) + "-flip"},
                                  {"population", counts.per_class[int(cls)] * uint64_t(last + 1)},
                                  {"faults", f.size()}});
        }
    }
    for (const FaultSite& s : sites) lowering.check(s);

    json manifest = {{"kind", "physical-faults"},
                     {"classes", class_list},
                     {"sample", opt.sample},
                     {"margin", opt.margin},
                     {"confidence", opt.confidence},
                     {"flips", opt.flips},
                     {"seed", opt.seed},
                     {"images", batch.count},
                     {"faults", sites.size()},
                     {"identity", opt.identity}};
    ResultStore store(opt.output, physical_csv::header());
    PhysicalCampaignOutcome out;
    out.faults = sites.size();
    out.resumed_from = store.open(manifest, sites.size(), [&](size_t k, const std::vector<std::string>& cells) {
        return !cells.empty() && cells[0] == fault_site_name(sites[k]);
    }, opt.fresh);
    out.csv = store.csv();
    out.summary = store.summary_path();

    const int error_free = engine.evaluate(batch, {}, opt.threads).correct;

    // Static collapsing: the first fault of a key represents it; a key's
    // later faults take its results ("masked": the golden ones).
    std::vector<std::string> keys(sites.size());
    std::map<std::string, size_t> first_of;
    for (size_t k = 0; k < sites.size(); ++k) {
        keys[k] = lowering.collapse_key(sites[k]);
        if (!keys[k].empty() && keys[k] != "masked") first_of.emplace(keys[k], k);
    }
    ErrorPatternStats masked_stats;
    masked_stats.images = batch.count;
    masked_stats.correct = error_free;
    masked_stats.effect_hash = effect_hash({}, 0);
    // Effects already seen (rows done before a resume count): "reused". Only
    // evaluated rows count, as in an uninterrupted run: a statically masked
    // row's golden effect must not turn a later evaluated fault's "run" into
    // "reused".
    std::set<uint64_t> seen;
    {
        std::ifstream f(out.csv);
        std::string line;
        std::getline(f, line);
        for (size_t k = 0; k < out.resumed_from && std::getline(f, line); ++k) {
            const physical_csv::Row r = physical_csv::parse_row(line, out.csv, k + 2);
            if (r.eval != "collapsed") seen.insert(std::stoull(r.effect, nullptr, 16));
        }
    }

    // Blocks in fault order: each block's rows go out before the next starts
    // (a killed run resumes at the last complete row). Each block runs over
    // the images in chunks, so the golden traces of one chunk are in memory.
    Progress progress("map-faults", int64_t(sites.size() - out.resumed_from), "faults", opt.show_progress);
    std::map<size_t, ErrorPatternStats> results;  // by fault position: evaluated faults (and representatives)
    constexpr size_t kBlock = 4096;
    const int chunk = std::max(1, opt.image_chunk);
    for (size_t b = out.resumed_from; b < sites.size(); b += kBlock) {
        const size_t e = std::min(sites.size(), b + kBlock);
        std::vector<size_t> need;  // faults to evaluate: unkeyed ones, and the representatives of keys
        for (size_t k = b; k < e; ++k) {
            const std::string& key = keys[k];
            if (key == "masked") continue;
            const size_t rep = key.empty() ? k : first_of.at(key);
            if (!results.count(rep) && std::find(need.begin(), need.end(), rep) == need.end()) need.push_back(rep);
        }
        std::vector<FaultSite> run;
        for (size_t k : need) run.push_back(sites[k]);
        std::vector<ErrorPatternStats> got(need.size());
        for (int c0 = 0; c0 < batch.count && !run.empty(); c0 += chunk) {
            const GoldenTraces golden(engine, batch, c0, std::min(chunk, batch.count - c0), opt.threads);
            PhysicalEvaluator evaluator(engine, lowering, golden, opt.threads);
            evaluator.run(run, nullptr, [&](size_t j, const ErrorPatternStats& st) {
                if (c0 == 0) got[j] = st;
                else got[j].merge(st);
                return true;
            });
        }
        for (size_t j = 0; j < need.size(); ++j) results[need[j]] = got[j];
        for (size_t k = b; k < e; ++k) {
            const std::string& key = keys[k];
            ErrorPatternStats st;
            std::string eval = "collapsed";
            if (key == "masked") {
                st = masked_stats;
                st.effect_layer = lowering.effect_layer(sites[k]);
            } else {
                const size_t rep = key.empty() ? k : first_of.at(key);
                st = results.at(rep);
                if (rep == k) eval = seen.insert(st.effect_hash).second ? "run" : "reused";
            }
            store.add(k - out.resumed_from, physical_csv::format_row(row_of(sites[k], st, eval, model.topology)));
        }
        // Keep only the representatives later blocks may still need.
        for (auto it = results.begin(); it != results.end();)
            it = keys[it->first].empty() ? results.erase(it) : std::next(it);
        progress.add(int64_t(e - b));
    }
    progress.finish();
    store.close();

    std::vector<physical_csv::Row> rows;
    {
        std::ifstream f(out.csv);
        std::string line;
        std::getline(f, line);
        for (size_t k = 0; std::getline(f, line); ++k) rows.push_back(physical_csv::parse_row(line, out.csv, k + 2));
    }
    if (rows.size() != sites.size())
        throw std::runtime_error(out.csv + ": " + std::to_string(rows.size()) + " rows for " +
                                 std::to_string(sites.size()) + " faults");
    out.summary_json = summarize_physical(manifest, rows, batch.count, 100.0 * error_free / batch.count);
    write_file_atomic(out.summary, out.summary_json.dump(2) + "\n");
    return out;
}

std::string format_physical_summary(const json& s) {
    std::ostringstream o;
    char line[400];
    const double conf = s.at("confidence").get<double>();
    std::snprintf(line, sizeof line, "%d images, error-free accuracy %.2f %%; intervals at %.0f %% confidence\n",
                  s.at("images").get<int>(), s.at("error_free_accuracy").get<double>(), 100 * conf);
    o << line;
    std::snprintf(line, sizeof line, "%-10s %10s %11s %-22s %-22s %-30s %8s\n", "class", "faults", "of", "masked",
                  "changes a prediction", "accuracy min / mean", "collapse");
    o << line;
    for (const auto& c : s.at("classes")) {
        if (!c.contains("fraction_masked")) {
            std::snprintf(line, sizeof line, "%-10s %10llu %11llu (no faults)\n", c.at("class").get<std::string>().c_str(),
                          (unsigned long long)c.at("faults").get<uint64_t>(),
                          (unsigned long long)c.at("population").get<uint64_t>());
            o << line;
            continue;
        }
        auto pct = [](const json& v) {
            char b[64];
            const auto iv = v.at("interval");
            std::snprintf(b, sizeof b, "%.1f%% [%.1f, %.1f]", 100 * v.at("value").get<double>(),
                          100 * iv[0].get<double>(), 100 * iv[1].get<double>());
            return std::string(b);
        };
        const auto& a = c.at("accuracy");
        char accs[80];
        std::snprintf(accs, sizeof accs, "%.2f / %.2f [%.2f, %.2f]", a.at("min").get<double>(), a.at("mean").get<double>(),
                      a.at("mean_interval")[0].get<double>(), a.at("mean_interval")[1].get<double>());
        std::snprintf(line, sizeof line, "%-10s %10llu %11llu %-22s %-22s %-30s %7.1fx\n",
                      c.at("class").get<std::string>().c_str(), (unsigned long long)c.at("faults").get<uint64_t>(),
                      (unsigned long long)c.at("population").get<uint64_t>(), pct(c.at("fraction_masked")).c_str(),
                      pct(c.at("fraction_changing_a_prediction")).c_str(), accs,
                      c.at("collapse").at("ratio").get<double>());
        o << line;
    }
    return o.str();
}

}  // namespace fatsim::campaigns
