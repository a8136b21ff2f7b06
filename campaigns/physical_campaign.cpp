#include "physical_campaign.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

namespace {
void format_accuracy(char (&out)[64], double accuracy) { std::snprintf(out, sizeof out, "%.4f", accuracy); }
}  // namespace

double accuracy_as_written(double accuracy) {
    char acc[64];
    format_accuracy(acc, accuracy);
    return std::strtod(acc, nullptr);
}

std::string format_row(const Row& r) {
    char acc[64];
    format_accuracy(acc, r.accuracy);
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
    if (!st.layers.empty()) {  // loopback: every layer the fault changed
        r.layer.clear();
        for (size_t k = 0; k < st.layers.size(); ++k) r.layer += (k ? ";" : "") + topo.layers[size_t(st.layers[k])].name;
    }
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
    r.accuracy = physical_csv::accuracy_as_written(st.accuracy());  // (the summary reads rows as resumed ones are)
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

// What the summary reads of each row, a few bytes a row (a loopback
// campaign has millions), in row order.
class RowTally {
public:
    struct Facts {
        uint16_t cls = 0, shape = 0;  // indices into classes / shapes
        uint8_t eval = 0;             // 0 run, 1 reused, 2 collapsed
        bool masked = false, changing = false;
        double accuracy = 0;
    };
    void add(const physical_csv::Row& r) {
        Facts f;
        f.cls = index(classes, r.cls);
        f.shape = index(shapes, r.shape);
        f.eval = r.eval == "run" ? 0 : r.eval == "reused" ? 1 : 2;
        f.masked = r.masked;
        f.changing = r.changed > 0;
        f.accuracy = r.accuracy;
        rows.push_back(f);
    }
    std::vector<std::string> classes, shapes;
    std::vector<Facts> rows;

private:
    static uint16_t index(std::vector<std::string>& names, const std::string& name) {
        for (size_t k = names.size(); k-- > 0;)
            if (names[k] == name) return uint16_t(k);
        names.push_back(name);
        return uint16_t(names.size() - 1);
    }
};

json summarize_physical(const json& manifest, const RowTally& tally, int images, double error_free) {
    const double conf = manifest.at("confidence").get<double>();
    const std::vector<RowTally::Facts>& rows = tally.rows;
    json classes = json::array();
    for (const auto& c : manifest.at("classes")) {
        const std::string cls = c.at("class");
        const uint64_t population = c.at("population");
        uint64_t n = 0, masked = 0, changing = 0, run = 0, reused = 0, collapsed = 0;
        Stat acc;
        std::vector<uint64_t> shape_count(tally.shapes.size());
        const size_t ci = std::find(tally.classes.begin(), tally.classes.end(), cls) - tally.classes.begin();
        for (const auto& r : rows) {
            if (r.cls != ci) continue;
            ++n;
            masked += r.masked;
            changing += r.changing;
            acc.add(r.accuracy);
            ++shape_count[r.shape];
            run += r.eval == 0;
            reused += r.eval == 1;
            collapsed += r.eval == 2;
        }
        std::map<std::string, uint64_t> shapes;
        for (size_t k = 0; k < shape_count.size(); ++k)
            if (shape_count[k]) shapes[tally.shapes[k]] = shape_count[k];
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
    // Over every class: each fault weighs its class's population / faults
    // mapped (a stratified estimate; exact when every class was enumerated).
    std::vector<double> weight(tally.classes.size(), 0.0);  // (a class missing from the manifest: 0)
    for (const auto& c : classes)
        if (c.at("faults").get<uint64_t>() > 0) {
            const auto it = std::find(tally.classes.begin(), tally.classes.end(), c.at("class").get<std::string>());
            if (it != tally.classes.end())
                weight[size_t(it - tally.classes.begin())] = c.at("population").get<double>() / c.at("faults").get<double>();
        }
    double w_sum = 0, mean = 0, lo = 1e300;
    for (const auto& r : rows) w_sum += weight[r.cls], mean += weight[r.cls] * r.accuracy, lo = std::min(lo, r.accuracy);
    json overall = {{"faults", rows.size()}};
    if (w_sum > 0) {
        mean /= w_sum;
        double var = 0, costly = 0;
        for (const auto& r : rows) {
            var += weight[r.cls] * (r.accuracy - mean) * (r.accuracy - mean);
            costly += weight[r.cls] * (r.accuracy < error_free - 1.0);
        }
        overall["population"] = w_sum;
        overall["min_accuracy"] = lo;
        overall["mean_accuracy"] = mean;
        overall["variance"] = var / w_sum;
        overall["fraction_costing_over_1_point"] = costly / w_sum;
    }
    return {{"images", images}, {"error_free_accuracy", error_free}, {"confidence", conf}, {"classes", classes},
            {"overall", overall}};
}

// "run" for the first evaluated row of an effect, "reused" for later ones
// with the same effect; collapsed rows (whose representative came earlier, or
// statically masked) do not count. Rows in fault order; the same rule on a
// run, a resume (from the stored rows) and a merge of shards.
class EffectLabels {
public:
    std::string label(const std::string& eval, uint64_t effect) {
        if (eval == "collapsed") return eval;
        return seen_.insert(effect).second ? "run" : "reused";
    }
    // A stored row's label (where: the file, for the message).
    std::string label(const physical_csv::Row& r, const std::string& where) {
        if (r.effect.size() != 16 || r.effect.find_first_not_of("0123456789abcdef") != std::string::npos)
            throw std::runtime_error(where + ": site " + r.site + ": effect '" + r.effect + "' is not 16 hex digits");
        return label(r.eval, std::stoull(r.effect, nullptr, 16));
    }

private:
    std::set<uint64_t> seen_;
};

std::vector<physical_csv::Row> read_rows(const std::string& csv) {
    std::vector<physical_csv::Row> rows;
    std::ifstream f(csv);
    std::string line;
    std::getline(f, line);
    for (size_t k = 0; std::getline(f, line); ++k) rows.push_back(physical_csv::parse_row(line, csv, k + 2));
    return rows;
}

// ErrorPatternStats on the wire (MPI blocks).
void put_stats(Words& w, const ErrorPatternStats& st) {
    w.insert(w.end(), {st.effect_layer, st.images, st.correct, st.changed, st.images_touched, st.elements,
                       int64_t(st.effect_hash), int64_t(st.channels.size()), int64_t(st.pixels.size()),
                       int64_t(st.transitions.size()), int64_t(st.layers.size())});
    w.insert(w.end(), st.layers.begin(), st.layers.end());
    w.insert(w.end(), st.channels.begin(), st.channels.end());
    w.insert(w.end(), st.pixels.begin(), st.pixels.end());
    for (const auto& [t, n] : st.transitions) w.insert(w.end(), {t.first, t.second, n});
}
ErrorPatternStats get_stats(WordReader& r) {
    ErrorPatternStats st;
    st.effect_layer = int(r.next());
    st.images = int(r.next());
    st.correct = int(r.next());
    st.changed = int(r.next());
    st.images_touched = int(r.next());
    st.elements = r.next();
    st.effect_hash = uint64_t(r.next());
    const int64_t channels = r.next(), pixels = r.next(), transitions = r.next(), layers = r.next();
    for (int64_t k = 0; k < layers; ++k) st.layers.push_back(int(r.next()));
    for (int64_t k = 0; k < channels; ++k) st.channels.push_back(int(r.next()));
    for (int64_t k = 0; k < pixels; ++k) st.pixels.push_back(int(r.next()));
    for (int64_t k = 0; k < transitions; ++k) {
        const int golden = int(r.next()), faulty = int(r.next());
        st.transitions[{golden, faulty}] = r.next();
    }
    return st;
}

}  // namespace

// Everything a rank needs to evaluate the campaign's faults; rank 0 also runs it.
struct PhysicalCampaign::Impl {
    const QnnModel& model;
    const InputBatch& batch;
    PhysicalCampaignOptions opt;
    Engine engine;
    std::unique_ptr<hw::Accelerator> hw_model;
    CycleSchedule schedule;
    std::unique_ptr<Lowering> lowering;
    std::vector<FaultSite> sites;
    json class_list = json::array();
    uint64_t sites_hash = 0;  // of every site's name: ranks check they built the same list
    // Images in one chunk: the golden traces and the evaluator's caches outlive a block.
    std::unique_ptr<GoldenTraces> golden;
    std::unique_ptr<PhysicalEvaluator> evaluator;

    Impl(const QnnModel& m, const AccelConfig& accel, const InputBatch& b, const PhysicalCampaignOptions& o)
        : model(m), batch(b), opt(o), engine(m), hw_model(hw::make_accelerator(m, accel)) {
        if (batch.count == 0) throw std::invalid_argument("map-faults: no images");
        lowering = std::make_unique<Lowering>(engine, accel, fifo_geometry(*hw_model, engine.layers()));
        // Fault source: per class all, N, or the sample size for the margin.
        const hw::FaultSiteCounts counts = hw_model->fault_site_counts();
        const std::vector<SiteClass> classes = opt.classes.empty() ? accelerator_classes(*hw_model) : opt.classes;
        for (SiteClass cls : classes) {
            const uint64_t population = 2 * counts.per_class[int(cls)];  // sa0 and sa1 of every location
            uint64_t n = population;
            if (cls == SiteClass::WeightWord && opt.weight_margin > 0)
                n = sample_size(population, opt.weight_margin, opt.confidence);
            else if (opt.sample > 0) n = std::min(opt.sample, population);
            else if (opt.margin > 0) n = sample_size(population, opt.margin, opt.confidence);
            const auto s = physical_faults(*hw_model, {cls}, n < population ? n : 0, opt.seed);
            sites.insert(sites.end(), s.begin(), s.end());
            class_list.push_back({{"class", site_class_name(cls)}, {"population", population}, {"faults", s.size()}});
        }
        // Transient flips: at random cycles of this run's cycle schedule.
        if (opt.flips > 0) {
            schedule = capture_schedule(model, accel, batch, batch.count);
            lowering->use_schedule(&schedule);
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
        for (const FaultSite& s : sites) {
            lowering->check(s);
            sites_hash = fnv1a64(fault_site_name(s) + "\n", sites_hash);
        }
    }

    // The stats of sites on every image, in chunks of images.
    std::vector<ErrorPatternStats> evaluate(const std::vector<FaultSite>& run) {
        std::vector<ErrorPatternStats> got(run.size());
        const int chunk = std::max(1, opt.image_chunk);
        for (int c0 = 0; c0 < batch.count && !run.empty(); c0 += chunk) {
            std::unique_ptr<GoldenTraces> g;
            std::unique_ptr<PhysicalEvaluator> e;
            if (batch.count <= chunk && !evaluator) {
                golden = std::make_unique<GoldenTraces>(engine, batch, 0, batch.count, opt.threads);
                evaluator = std::make_unique<PhysicalEvaluator>(engine, *lowering, *golden, opt.threads);
            } else if (batch.count > chunk) {
                g = std::make_unique<GoldenTraces>(engine, batch, c0, std::min(chunk, batch.count - c0), opt.threads);
                e = std::make_unique<PhysicalEvaluator>(engine, *lowering, *g, opt.threads);
            }
            (e ? *e : *evaluator).run(run, nullptr, [&](size_t j, const ErrorPatternStats& st) {
                if (c0 == 0) got[j] = st;
                else got[j].merge(st);
                return true;
            });
        }
        return got;
    }

    // A block on the wire: (site count, site list hash, site positions) in,
    // the stats of each out.
    Words evaluate_block(const Words& work) {
        WordReader r(work, "map-faults block");
        if (uint64_t(r.next()) != sites.size() || uint64_t(r.next()) != sites_hash)
            throw std::runtime_error("this rank built another fault list than rank 0 (other model, accelerator or "
                                     "images on this machine?)");
        std::vector<FaultSite> run;
        while (!r.done()) {
            const int64_t k = r.next();
            if (k < 0 || size_t(k) >= sites.size()) throw std::runtime_error("malformed map-faults block: site position");
            run.push_back(sites[size_t(k)]);
        }
        Words out;
        for (const ErrorPatternStats& st : evaluate(run)) put_stats(out, st);
        return out;
    }

    PhysicalCampaignOutcome run();
};

PhysicalCampaignOutcome PhysicalCampaign::Impl::run() {
    if (opt.output.empty()) throw std::invalid_argument("map-faults: no output folder");
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
    if (opt.weight_margin > 0) manifest["weight_margin"] = opt.weight_margin;  // (absent before it existed)
    // A shard writes the rows of its slice; static collapsing still looks at
    // every fault, so a slice's rows are those of one process (`fatsim merge`
    // relabels run / reused over all rows).
    size_t first = 0, end = sites.size();
    std::string output = opt.output;
    if (opt.shard.active()) {
        const ShardSlice slice = select_shard(opt.shard, opt.output, sites.size(), manifest);
        first = slice.first, end = slice.end, output = slice.folder;
    }
    ResultStore store(output, physical_csv::header());
    PhysicalCampaignOutcome out;
    out.faults = end - first;
    out.resumed_from = store.open(manifest, end - first, [&](size_t k, const std::vector<std::string>& cells) {
        return !cells.empty() && cells[0] == fault_site_name(sites[first + k]);
    }, opt.fresh);
    out.csv = store.csv();
    out.summary = store.summary_path();
    const size_t begin = first + out.resumed_from;

    const int error_free = engine.evaluate(batch, {}, opt.threads).correct;

    // Static collapsing: the first fault of a key represents it; a key's
    // later faults take its results ("masked": the golden ones).
    std::vector<std::string> keys(sites.size());
    std::map<std::string, size_t> first_of;
    for (size_t k = 0; k < sites.size(); ++k) {
        keys[k] = lowering->collapse_key(sites[k]);
        if (!keys[k].empty() && keys[k] != "masked") first_of.emplace(keys[k], k);
    }
    const auto representative = [&](size_t k) { return keys[k].empty() ? k : first_of.at(keys[k]); };
    ErrorPatternStats masked_stats;
    masked_stats.images = batch.count;
    masked_stats.correct = error_free;
    masked_stats.effect_hash = effect_hash({}, 0);
    EffectLabels labels;
    RowTally tally;
    for (const auto& r : read_rows(out.csv)) labels.label(r, out.csv), tally.add(r);  // the rows done before a resume

    // The faults to evaluate, in the order rows need them: unkeyed ones, and
    // the representatives of keys (maybe before the slice or the resume).
    std::vector<size_t> evals;
    {
        std::vector<bool> listed(sites.size());
        for (size_t k = begin; k < end; ++k) {
            if (keys[k] == "masked") continue;
            const size_t rep = representative(k);
            if (!listed[rep]) listed[rep] = true, evals.push_back(rep);
        }
    }
    // Rows go out in fault order as soon as the results they need are in (a
    // killed run resumes at the last complete row).
    Progress progress("map-faults", int64_t(end - begin), "faults", opt.show_progress);
    std::map<size_t, ErrorPatternStats> results;  // by fault position: evaluated, not yet written or still needed
    size_t next_row = begin;
    const auto write_ready_rows = [&] {
        for (; next_row < end; ++next_row) {
            const size_t k = next_row;
            ErrorPatternStats st;
            std::string eval = "collapsed";
            if (keys[k] == "masked") {
                st = masked_stats;
                st.effect_layer = lowering->effect_layer(sites[k]);
            } else {
                const size_t rep = representative(k);
                const auto it = results.find(rep);
                if (it == results.end()) break;
                st = it->second;
                if (rep == k) eval = "run";
                if (keys[k].empty()) results.erase(it);  // only its own row needs it
            }
            eval = labels.label(eval, st.effect_hash);
            const physical_csv::Row row = row_of(sites[k], st, eval, model.topology);
            tally.add(row);
            store.add(k - begin, physical_csv::format_row(row));
            progress.add(1);
        }
    };
    BlockJob job;
    job.items = evals.size();
    job.max_block = 4096;  // each block starts with a fault-free pass over the images (more than one chunk)
    job.describe = [&](size_t f, size_t n) {
        Words work{int64_t(sites.size()), int64_t(sites_hash)};
        for (size_t i = f; i < f + n; ++i) work.push_back(int64_t(evals[i]));
        return work;
    };
    job.evaluate = [&](const Words& work) { return evaluate_block(work); };
    job.deliver = [&](size_t f, size_t n, const Words& words) {
        WordReader r(words, "map-faults results");
        for (size_t i = f; i < f + n; ++i) results[evals[i]] = get_stats(r);
        if (!r.done()) throw std::runtime_error("malformed map-faults results: too long");
        write_ready_rows();
        return true;
    };
    write_ready_rows();  // rows of statically masked faults before the first evaluation
    if (opt.distribute) opt.distribute(job);
    else run_blocks_here(job);
    if (next_row != end) throw std::logic_error("map-faults: results missing for row " + std::to_string(next_row));
    progress.finish();
    store.close();

    if (tally.rows.size() != end - first)
        throw std::runtime_error(out.csv + ": " + std::to_string(tally.rows.size()) + " rows for " +
                                 std::to_string(end - first) + " faults");
    out.summary_json = summarize_physical(manifest, tally, batch.count, 100.0 * error_free / batch.count);
    write_file_atomic(out.summary, out.summary_json.dump(2) + "\n");
    return out;
}

PhysicalCampaign::PhysicalCampaign(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch,
                                   const PhysicalCampaignOptions& opt)
    : impl_(std::make_unique<Impl>(model, accel, batch, opt)) {}
PhysicalCampaign::~PhysicalCampaign() = default;
PhysicalCampaignOutcome PhysicalCampaign::run() { return impl_->run(); }
Words PhysicalCampaign::evaluate_block(const Words& work) { return impl_->evaluate_block(work); }

PhysicalCampaignOutcome run_physical_campaign(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch,
                                              const PhysicalCampaignOptions& opt) {
    return PhysicalCampaign(model, accel, batch, opt).run();
}

MergeOutcome merge_physical_shards(const JoinedShards& joined) {
    // Each shard labelled run / reused over its own rows: again, over all.
    RowTally rows;
    std::string csv = joined.header;
    {
        std::istringstream in(joined.rows);
        EffectLabels labels;
        std::string line;
        for (size_t k = 0; std::getline(in, line); ++k) {
            const std::string where = joined.first_manifest + " (shard rows)";
            physical_csv::Row r = physical_csv::parse_row(line, where, k + 2);
            r.eval = labels.label(r, where);
            csv += physical_csv::format_row(r);
            rows.add(r);
        }
    }
    MergeOutcome out = write_merged_files(joined, csv);
    const json summary = summarize_physical(joined.manifest, rows, joined.manifest.value("images", 0), joined.error_free);
    write_file_atomic(out.summary, summary.dump(2) + "\n");
    out.faults = int(rows.rows.size());
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
