#include "physical_hw.hpp"

#include <algorithm>
#include <random>

#include "dataflow.hpp"
#include "loopback.hpp"
#include <random>
#include <sstream>
#include <stdexcept>

namespace fatsim::campaigns {

std::vector<FifoGeometry> fifo_geometry(const hw::Accelerator& accel, int layers) {
    std::vector<FifoGeometry> r;
    if (std::string(accel.architecture()) == "loopback") return r;  // feature maps pass through its buffers
    for (int i = 0; i <= layers; ++i) {
        const std::string name = "fifo[" + std::to_string(i) + "]";
        const hw::Stream* s = accel.find_stream(name);
        if (!s)
            throw std::invalid_argument(std::string(accel.architecture()) + " accelerator has no stream " + name);
        r.push_back({s->depth(), s->width()});
    }
    return r;
}

std::vector<SiteClass> accelerator_classes(const hw::Accelerator& accel) {
    const hw::FaultSiteCounts counts = accel.fault_site_counts();
    std::vector<SiteClass> r;
    for (int c = 0; c < kSiteClasses; ++c)
        if (counts.per_class[c] > 0) r.push_back(SiteClass(c));
    return r;
}

std::vector<SiteClass> parse_site_classes(const std::string& list) {
    std::vector<SiteClass> r;
    std::stringstream in(list);
    for (std::string name; std::getline(in, name, ',');) {
        SiteClass c;
        if (!parse_site_class(name, c)) {
            std::string known;
            for (int k = 0; k < kSiteClasses; ++k) known += std::string(k ? ", " : "") + site_class_name(SiteClass(k));
            throw std::invalid_argument("unknown fault class '" + name + "' (classes: " + known + ")");
        }
        if (std::find(r.begin(), r.end(), c) == r.end()) r.push_back(c);
    }
    return r;
}

std::vector<FaultSite> physical_faults(const hw::Accelerator& accel, const std::vector<SiteClass>& classes,
                                       uint64_t per_class, uint64_t seed) {
    const hw::FaultSiteCounts counts = accel.fault_site_counts();
    std::vector<FaultSite> r;
    for (SiteClass cls : classes) {
        // Faults of the class: 2 per location (sa0, sa1), numbered in site order.
        const uint64_t n = 2 * counts.per_class[int(cls)];
        std::vector<uint64_t> pick;
        if (per_class > 0 && per_class < n) {
            std::mt19937_64 rng(seed ^ (uint64_t(int(cls)) * 0x9E3779B97F4A7C15ull));
            // Floyd's sampling: per_class distinct numbers without listing all n.
            std::vector<uint64_t> chosen;
            for (uint64_t j = n - per_class; j < n; ++j) {
                const uint64_t t = std::uniform_int_distribution<uint64_t>(0, j)(rng);
                chosen.push_back(std::find(chosen.begin(), chosen.end(), t) == chosen.end() ? t : j);
            }
            std::sort(chosen.begin(), chosen.end());
            pick = std::move(chosen);
        }
        r.reserve(r.size() + (pick.empty() ? n : pick.size()));
        uint64_t k = 0;
        size_t next = 0;
        accel.for_each_fault_site([&](const SiteLocation& where) {
            if (site_class(where) != cls) return;
            for (FaultKind kind : {FaultKind::StuckAt0, FaultKind::StuckAt1}) {
                const bool take = pick.empty() ? true : (next < pick.size() && pick[next] == k);
                if (take) {
                    r.push_back({where, kind, 0});
                    if (!pick.empty()) ++next;
                }
                ++k;
            }
        });
    }
    return r;
}

std::vector<FaultSite> transient_faults(const hw::Accelerator& accel, const std::vector<SiteClass>& classes,
                                        uint64_t per_class, uint64_t seed, int64_t last) {
    std::vector<FaultSite> r;
    for (SiteClass cls : classes) {
        // Locations: every other one of the stuck-at list (sa0 and sa1 share one).
        const auto stuck = physical_faults(accel, {cls}, 2 * per_class, seed ^ 0x5EEDull);
        std::mt19937_64 rng(seed ^ (uint64_t(int(cls)) + 1) * 0xD1B54A32D192ED03ull);
        for (size_t k = 0; k < stuck.size(); k += 2) {
            FaultSite f = stuck[k];
            f.kind = FaultKind::Flip;
            f.cycle = int64_t(rng() % uint64_t(last + 1));
            r.push_back(f);
            if (uint64_t(k / 2 + 1) >= per_class) break;
        }
    }
    return r;
}

int64_t last_cycle(const CycleSchedule& schedule) {
    int64_t last = 0;
    for (const auto& v : schedule.push_cycle)
        if (!v.empty()) last = std::max(last, v.back());
    for (const auto& v : schedule.iteration_cycle)
        if (!v.empty()) last = std::max(last, v.back());
    return last;
}

CycleSchedule capture_schedule(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch, int images) {
    if (accel.architecture == Architecture::Loopback) {
        // One compute iteration per cycle of the engine's compute phase, layer after layer.
        hw::LoopbackModel m(model, accel);
        m.load_images(batch.image(0), images);
        CycleSchedule sched;
        sched.iteration_cycle.resize(size_t(m.num_layers()));
        std::vector<uint64_t> busy(size_t(m.num_layers()), 0);
        while (!m.done()) {
            const int64_t c = m.cycle();
            m.tick();
            const hw::CycleReport r = m.report();
            for (size_t l = 0; l < r.layers.size(); ++l)
                for (; busy[l] < r.layers[l].busy; ++busy[l]) sched.iteration_cycle[l].push_back(c);
        }
        return sched;
    }
    hw::DataflowModel m(model, accel);
    m.load_images(batch.image(0), images);
    const int L = m.num_layers();
    CycleSchedule sched;
    sched.iteration_cycle.resize(size_t(L));
    sched.push_cycle.resize(size_t(L) + 1);
    std::vector<uint64_t> busy(size_t(L), 0), pushed(size_t(L) + 1, 0);
    uint64_t idle = 0;
    while (!m.done()) {
        const int64_t c = m.cycle();
        m.tick();
        bool moved = false;
        for (int l = 0; l < L; ++l)
            for (uint64_t b = m.mvtu(l).stats.busy; busy[size_t(l)] < b; ++busy[size_t(l)], moved = true)
                sched.iteration_cycle[size_t(l)].push_back(c);
        for (int i = 0; i <= L; ++i) {
            const hw::Stream& f = m.fifo(i);
            for (uint64_t n = f.transfers() + uint64_t(f.occupancy()); pushed[size_t(i)] < n; ++pushed[size_t(i)], moved = true)
                sched.push_cycle[size_t(i)].push_back(c);
        }
        idle = moved ? 0 : idle + 1;
        if (idle > (uint64_t(1) << 20)) throw std::runtime_error("capture_schedule: the cycle model deadlocked");
    }
    return sched;
}

std::vector<ClassAgreement> verify_lowering(const QnnModel& model, const AccelConfig& accel, const Engine& engine,
                                            const InputBatch& batch, int images, const std::vector<FaultSite>& sites) {
    hw::DataflowOptions opt;
    opt.capture = true;
    auto hw_model = hw::make_accelerator(model, accel, opt);
    const int L = engine.layers();
    Lowering lowering(engine, accel, fifo_geometry(*hw_model, L));
    CycleSchedule schedule;
    if (std::any_of(sites.begin(), sites.end(), [](const FaultSite& s) { return s.kind == FaultKind::Flip; })) {
        schedule = capture_schedule(model, accel, batch, images);
        lowering.use_schedule(&schedule);
    }
    const GoldenTraces golden(engine, batch, 0, images, 0);
    hw_model->load_images(batch.image(0), images);
    std::vector<ClassAgreement> r(kSiteClasses);
    for (int c = 0; c < kSiteClasses; ++c) r[size_t(c)].cls = SiteClass(c);
    Lowering::Scratch scratch;
    LoweredEffect effect;
    for (const FaultSite& site : sites) {
        lowering.check(site);
        hw_model->disarm_faults();
        hw_model->arm_fault(site);
        hw_model->reset();
        hw_model->run();
        ClassAgreement& a = r[size_t(site_class(site.where))];
        ++a.sites;
        std::string mismatch;
        const bool fifo = std::holds_alternative<FifoBit>(site.where);
        for (int i = 0; i < images && mismatch.empty(); ++i) {
            const GoldenImage g = golden.image(i);
            lowering.lower(site, i, g, scratch, effect);
            int pred = 0;
            auto outs = lowered_layer_outputs(engine, g, effect, &pred);
            // The scores the sink read (after fifo[L]).
            std::vector<std::vector<int32_t>> want = outs;
            want.push_back(outs.back());
            // A FIFO slot corrupts words after the producer's output is
            // captured: the captured output of the layer before it is golden.
            if (fifo && effect.layer >= 0) {
                const LayerTrace& t = g.trace->layers[size_t(effect.layer)];
                want[size_t(effect.layer)] = effect.layer + 1 == L ? t.acc : std::vector<int32_t>(t.out.begin(), t.out.end());
            }
            for (int l = 0; l <= L && mismatch.empty(); ++l) {
                const std::vector<int32_t> got = l < L ? hw_model->captured_output(l, i) : hw_model->scores(i);
                const auto& w = want[size_t(l)];
                if (got.size() != w.size()) {
                    mismatch = "size of layer " + std::to_string(l);
                    break;
                }
                for (size_t k = 0; k < got.size(); ++k)
                    if (got[k] != w[k]) {
                        mismatch = (l < L ? "layer " + std::to_string(l) : std::string("sink scores")) + " image " +
                                   std::to_string(i) + " element " + std::to_string(k) + ": cycle model " +
                                   std::to_string(got[k]) + ", lowered " + std::to_string(w[k]);
                        break;
                    }
            }
        }
        if (mismatch.empty()) ++a.agree;
        else if (a.first_mismatch.empty()) a.first_mismatch = fault_site_name(site) + ": " + mismatch;
    }
    hw_model->disarm_faults();
    r.erase(std::remove_if(r.begin(), r.end(), [](const ClassAgreement& a) { return a.sites == 0; }), r.end());
    return r;
}

}  // namespace fatsim::campaigns
