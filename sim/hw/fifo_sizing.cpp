#include "fifo_sizing.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <thread>

namespace fatsim::hw {

namespace {

bool is_layer_fifo(const std::string& stream, int* index) {
    if (stream.size() < 7 || stream.rfind("fifo[", 0) != 0 || stream.back() != ']') return false;
    const std::string digits = stream.substr(5, stream.size() - 6);
    if (digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    *index = std::stoi(digits);
    return true;
}

struct Trial {
    int64_t interval = -1;  // -1: did not finish within the cycle limit, or deadlocked
    int64_t total_cycles = 0;
    std::vector<int> peaks;  // of the streams asked for
};

Trial run_trial(const QnnModel& model, const AccelConfig& accel, const int8_t* images, int count, int64_t max_cycles,
                const std::vector<std::string>& peaks_of = {}, CycleReport* report_out = nullptr) {
    Trial t;
    const std::unique_ptr<Accelerator> sim = make_accelerator(model, accel);
    sim->load_images(images, count);
    try {
        sim->run(max_cycles);
    } catch (const std::runtime_error&) {  // deadlock
        return t;
    }
    if (!sim->done()) return t;
    const CycleReport r = sim->report();
    t.interval = r.steady_interval;
    t.total_cycles = r.total_cycles;
    for (const std::string& name : peaks_of) t.peaks.push_back(sim->find_stream(name)->peak());
    if (report_out) *report_out = r;
    return t;
}

}  // namespace

int64_t measure_interval(const QnnModel& model, const AccelConfig& accel, const int8_t* images, int count,
                         int64_t max_cycles, CycleReport* report_out) {
    return run_trial(model, accel, images, count, max_cycles, {}, report_out).interval;
}

int configured_depth(const AccelConfig& accel, const std::string& stream) {
    int i = 0;
    if (is_layer_fifo(stream, &i))
        return i < int(accel.dataflow.fifo_depths.size()) ? accel.dataflow.fifo_depths[i]
                                                          : DataflowConfig::kDefaultDepth;
    const auto it = accel.dataflow.stream_depths.find(stream);
    return it != accel.dataflow.stream_depths.end() ? it->second : DataflowOptions{}.internal_depth;
}

void set_depth(AccelConfig& accel, const std::string& stream, int depth) {
    int i = 0;
    if (is_layer_fifo(stream, &i)) {
        auto& d = accel.dataflow.fifo_depths;
        if (int(d.size()) <= i) d.resize(size_t(i) + 1, DataflowConfig::kDefaultDepth);
        d[size_t(i)] = depth;
    } else if (depth == DataflowOptions{}.internal_depth) {
        accel.dataflow.stream_depths.erase(stream);  // the default needs no entry
    } else {
        accel.dataflow.stream_depths[stream] = depth;
    }
}

FifoSizing size_fifos(const QnnModel& model, const AccelConfig& accel, const int8_t* images, int count,
                      const FifoSizingOptions& opt) {
    if (accel.architecture != Architecture::Dataflow)
        throw std::invalid_argument(accel.source + ": FIFO sizing needs a dataflow accelerator (a " +
                                    architecture_name(accel.architecture) + " one has no inter-layer FIFOs)");
    if (count < 3) throw std::invalid_argument("FIFO sizing needs at least 3 images for a steady-state interval");
    const Topology& topo = model.topology;
    const int L = int(topo.layers.size());

    FifoSizing res;
    res.images = count;
    // The sized streams in pipeline order, with their widths from the model.
    {
        const std::unique_ptr<Accelerator> probe = make_accelerator(model, accel);
        auto add = [&](const std::string& name, int min_depth) {
            const Stream* s = probe->find_stream(name);
            if (!s) return;
            SizedFifo f;
            f.name = name;
            f.width = s->width();
            f.depth_before = s->depth();
            f.min_depth = min_depth;
            res.fifos.push_back(f);
        };
        const int internal_min = DataflowOptions{}.internal_depth;
        for (int l = 0; l <= L; ++l) {
            add("fifo[" + std::to_string(l) + "]", 1);
            if (l < L && topo.layers[l].kind == LayerKind::Conv)
                add(window_stream_name(topo.layers[l].name), internal_min);
        }
    }
    std::vector<std::string> names;
    for (const auto& f : res.fifos) names.push_back(f.name);

    CycleReport before;
    res.interval_before = run_trial(model, accel, images, count, -1, {}, &before).interval;
    res.bottleneck = before.bottleneck;
    res.bottleneck_layer = before.bottleneck_layer;

    // Invariant: `cur` reaches the target, and `peaks` are its streams' peak
    // occupancies. Streams not sized yet stay deep.
    AccelConfig cur = accel;
    for (const auto& f : res.fifos) set_depth(cur, f.name, opt.deep_depth);
    const Trial deep = run_trial(model, cur, images, count, -1, names);
    ++res.runs;
    if (deep.interval < 0) throw std::runtime_error(accel.source + ": the design does not finish even with deep FIFOs");
    res.interval_deep = deep.interval;
    res.target = std::max<int64_t>(deep.interval, int64_t(res.bottleneck));
    const int64_t cap = 2 * deep.total_cycles;
    std::vector<int> peaks = deep.peaks;
    for (auto& f : res.fifos) f.peak = peaks[size_t(&f - res.fifos.data())];

    // Trial runs of `cur` with one stream changed per trial ({stream, depth}),
    // side by side on the worker threads; the first trial that reaches the
    // target becomes `cur`. Returns its position (trials.size() if none).
    using Change = std::pair<size_t, int>;
    const int threads = opt.threads > 0 ? opt.threads : std::max(1, int(std::thread::hardware_concurrency()));
    auto try_changes = [&](const std::vector<Change>& changes) {
        std::vector<AccelConfig> trials(changes.size(), cur);
        std::vector<Trial> out(changes.size());
        std::vector<std::exception_ptr> errors(changes.size());
        std::vector<std::thread> workers;
        for (size_t k = 0; k < changes.size(); ++k) {
            set_depth(trials[k], res.fifos[changes[k].first].name, changes[k].second);
            auto job = [&, k] {
                try {
                    out[k] = run_trial(model, trials[k], images, count, cap, names);
                } catch (...) {
                    errors[k] = std::current_exception();
                }
            };
            if (k + 1 < changes.size())
                workers.emplace_back(job);
            else
                job();
        }
        for (auto& w : workers) w.join();
        for (const auto& e : errors)
            if (e) std::rethrow_exception(e);
        res.runs += int(changes.size());
        for (size_t k = 0; k < changes.size(); ++k)
            if (out[k].interval >= 0 && out[k].interval <= res.target) {
                cur = std::move(trials[k]);
                peaks = std::move(out[k].peaks);
                return k;
            }
        return changes.size();
    };
    // Stream i at each of `depths` (ascending, at most one per thread).
    auto probe = [&](size_t i, const std::vector<int>& depths) {
        std::vector<Change> changes;
        for (int d : depths) changes.push_back({i, d});
        return try_changes(changes);
    };
    // The smallest depth that holds, the others as they are. As deep as its
    // peak, a stream never blocks its producer (the run stays the same), so
    // that depth holds. Most streams end at the minimum or just below their
    // peak: those first, then galloping up from the minimum, then a search
    // between the last failing depth and the first holding one.
    auto shrink = [&](size_t i) {
        SizedFifo& f = res.fifos[i];
        int ok = std::max(peaks[i], f.min_depth), fails = f.min_depth - 1;
        set_depth(cur, f.name, ok);
        auto step = [&](const std::vector<int>& ds) {  // ascending depths in (fails, ok)
            const size_t k = probe(i, ds);
            if (k > 0) fails = ds[k - 1];
            if (k < ds.size()) ok = ds[k];
            return k < ds.size();
        };
        std::vector<int> likely{f.min_depth};
        if (ok - 1 > f.min_depth) likely.push_back(ok - 1);
        for (size_t s = 0; s < likely.size() && ok - fails > 1; s += size_t(threads))
            if (step({likely.begin() + long(s), likely.begin() + long(std::min(likely.size(), s + size_t(threads)))}))
                break;
        for (int d = fails + 1; ok - fails > 1 && d < ok;) {
            std::vector<int> ds;
            for (; d < ok && int(ds.size()) < threads; d = std::max(d + 1, 2 * d)) ds.push_back(d);
            if (step(ds)) break;
        }
        while (ok - fails > 1) {
            // split (fails, ok) evenly among the threads
            std::vector<int> ds;
            const int n = std::min(threads, ok - fails - 1);
            for (int j = 1; j <= n; ++j) {
                const int d = fails + int((int64_t(ok - fails) * j) / (n + 1));
                if (d > fails && d < ok && (ds.empty() || d > ds.back())) ds.push_back(d);
            }
            step(ds);
        }
        f.depth = ok;
        set_depth(cur, f.name, ok);
    };
    // Streams inside layers first, while the FIFOs in front are deep: the
    // buffering goes to the inter-layer FIFOs, as in FINN's designs.
    for (size_t i = 0; i < res.fifos.size(); ++i)
        if (res.fifos[i].min_depth > 1) shrink(i);
    for (size_t i = 0; i < res.fifos.size(); ++i)
        if (res.fifos[i].min_depth == 1) shrink(i);
    // Shrinking a later stream can free an earlier one: repeat until no
    // stream can be made one smaller (one trial per stream, side by side).
    for (bool changed = true; changed;) {
        changed = false;
        std::vector<Change> batch;
        for (size_t i = 0; i <= res.fifos.size(); ++i) {
            if (i < res.fifos.size() && res.fifos[i].depth > res.fifos[i].min_depth)
                batch.push_back({i, res.fifos[i].depth - 1});
            if (batch.empty() || (int(batch.size()) < threads && i < res.fifos.size())) continue;
            const size_t k = try_changes(batch);
            if (k < batch.size()) {
                SizedFifo& f = res.fifos[batch[k].first];
                f.depth = batch[k].second;
                shrink(batch[k].first);
                changed = true;
            }
            batch.clear();
        }
    }
    res.sized = cur;
    ++res.runs;
    res.interval_sized = run_trial(model, cur, images, count, cap).interval;
    return res;
}

}  // namespace fatsim::hw
