#include "dataflow.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace fatsim::hw {

struct DataflowModel::Layer {
    std::string name;
    std::unique_ptr<Dwc> dwc_in;
    std::unique_ptr<Swg> swg;
    std::unique_ptr<Dwc> dwc_swg;
    int swg_simd = 0;
    std::unique_ptr<Mvtu> mvtu;
    std::unique_ptr<Dwc> dwc_pool;
    std::unique_ptr<MaxPool> pool;
    Stream* mvtu_out = nullptr;
    Stream* out = nullptr;
    std::vector<int> perm;  // stream position (within a pixel) -> output channel
    std::vector<uint64_t> tap_mvtu, tap_out;
    int out_bits = 0;
    bool out_signed = false;
};

// One unit in the tick order, with the units at the other ends of its streams.
struct DataflowModel::Unit {
    enum class Kind : uint8_t { Sink, Pool, Dwc, Mvtu, Swg, Source };
    Kind kind;
    void* unit;
    UnitStats* stats;
    Stream* in;
    Stream* out;
    int producer = -1;  // the unit that pushes into `in`
    int consumer = -1;  // the unit that pops `out`
};

DataflowModel::DataflowModel(const QnnModel& model, const AccelConfig& accel, DataflowOptions opt)
    : model_(model), topo_(model.topology), accel_(accel), opt_(opt), clock_mhz_(accel.clock_mhz) {
    const int L = int(topo_.layers.size());
    if (accel.architecture != Architecture::Dataflow)
        throw std::invalid_argument("DataflowModel: accelerator " + accel.source + " is not a dataflow architecture");
    if (int(accel.layers.size()) != L)
        throw std::invalid_argument("DataflowModel: accelerator has " + std::to_string(accel.layers.size()) +
                                    " layers, model has " + std::to_string(L));
    auto make = [&](const std::string& name, int width, int depth) {
        streams_.push_back(std::make_unique<Stream>(name, width, depth));
        all_streams_.push_back(streams_.back().get());
        return streams_.back().get();
    };
    // Streams inside a layer: the model's default depth unless the config names them.
    auto make_internal = [&](const std::string& name, int width) {
        const auto it = accel.dataflow.stream_depths.find(name);
        return make(name, width, it != accel.dataflow.stream_depths.end() ? it->second : opt_.internal_depth);
    };
    auto depth_of = [&](int i) {
        const auto& depths = accel.dataflow.fifo_depths;
        int d = i < int(depths.size()) ? depths[i] : DataflowConfig::kDefaultDepth;
        return std::max(d, opt_.fifo_depth_min);
    };
    // The configured FIFO in front of layer l (fifo[l]) holds words of the
    // width that layer's chain reads (after its input DWC), so a consumer that
    // reads in bursts (an MVTU at nf == 0) is not throttled by a narrow
    // producer; fifo[L] after the last layer holds the score words.
    std::vector<int> in_w(L), swg_simd(L);
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo_.layers[l];
        const int simd = accel.layers[l].simd;
        swg_simd[l] = window_simd(s, simd);
        in_w[l] = swg_simd[l] * s.in_bits;
    }
    fifos_.assign(L + 1, nullptr);
    auto fifo_name = [](int i) { return "fifo[" + std::to_string(i) + "]"; };
    // producer output stream for consumer l: fifo[l] itself when widths agree
    auto producer_stream = [&](const std::string& internal_name, int width, int l) {
        if (l < L && width != in_w[l]) return make_internal(internal_name, width);
        fifos_[l] = make(fifo_name(l), width, depth_of(l));
        return fifos_[l];
    };
    Stream* prev_out = producer_stream("input", topo_.in_channels * topo_.in_bits, 0);
    source_ = std::make_unique<Source>(prev_out, topo_.in_channels, topo_.in_bits);
    std::vector<int> prev_perm(topo_.in_channels);
    for (int c = 0; c < topo_.in_channels; ++c) prev_perm[c] = c;
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo_.layers[l];
        const LayerFolding& f = accel.layers[l];
        const bool last = l + 1 == L;
        if (f.mh_padded > 0 && f.mh_padded != s.mh() && !last)
            throw std::invalid_argument("DataflowModel: " + s.name + ": mh_padded is supported on the last layer only");
        auto lay = std::make_unique<Layer>();
        lay->name = s.name;
        const int need = f.simd * s.in_bits;
        // The SWG's SIMD must divide IFMC; when the MVTU's does not, the SWG
        // runs at gcd(SIMD, IFMC) and a DWC regroups its words (same column order).
        const int swg_w = in_w[l];
        if (!fifos_[l]) {
            fifos_[l] = make(fifo_name(l), swg_w, depth_of(l));
            lay->dwc_in = std::make_unique<Dwc>(s.name + ".dwc_in", prev_out, fifos_[l]);
        }
        Stream* cur = fifos_[l];
        if (s.kind == LayerKind::Conv) {
            Stream* o = make_internal(window_stream_name(s.name), swg_w);
            lay->swg = std::make_unique<Swg>(s.name + ".swg", s.in_dim, s.kernel, s.in_channels, swg_simd[l], cur, o, 0);
            lay->swg_simd = swg_simd[l];
            cur = o;
            if (swg_w != need) {
                Stream* o2 = make_internal(s.name + ".dwc_swg", need);
                lay->dwc_swg = std::make_unique<Dwc>(s.name + ".dwc_swg", cur, o2);
                cur = o2;
            }
        }
        // Widths, signedness and folding from the one datapath description;
        // stream columns follow the producer's output order.
        const LayerGeometry geom = layer_geometry(topo_, l);
        const FoldingMap fold(s.mh(), s.mw(), f.pe, f.simd, f.mh_padded, f.schedule);
        const int rows = fold.rows, out_bits = geom.out_bits;
        lay->out_bits = out_bits;
        lay->out_signed = geom.out_signed;
        const int fifo_width = s.pool > 1 ? rows * out_bits : f.pe * out_bits;
        Stream* next_fifo = producer_stream(s.name + ".out", fifo_width, l + 1);
        Stream* mout = s.pool > 1 ? make_internal(s.name + ".mvtu_out", f.pe * out_bits) : next_fifo;
        lay->mvtu = std::make_unique<Mvtu>(
            LayerProgram(s.name, geom, fold, s.out_dim * s.out_dim, model.layers[l], stream_column_map(s.mw(), prev_perm)),
            cur, mout);
        lay->mvtu_out = mout;
        if (s.pool > 1) {
            Stream* pin = mout;
            if (mout->width() != rows * out_bits) {
                pin = make_internal(s.name + ".dwc_pool", rows * out_bits);
                lay->dwc_pool = std::make_unique<Dwc>(s.name + ".dwc_pool", mout, pin);
            }
            lay->pool = std::make_unique<MaxPool>(s.name + ".pool", s.out_dim, s.pool, rows, out_bits,
                                                  lay->out_signed, pin, next_fifo, 0);
        }
        lay->out = next_fifo;
        lay->perm = fold.stream_perm();
        prev_perm = lay->perm;
        prev_out = next_fifo;
        layers_.push_back(std::move(lay));
    }
    for (const auto& kv : accel.dataflow.stream_depths) {
        const Stream* st = find_stream(kv.first);
        if (!st || std::find(fifos_.begin(), fifos_.end(), st) != fifos_.end())
            throw std::invalid_argument(accel.source + ": stream_depths." + kv.first +
                                        ": no stream of that name inside a layer (fifo[i] depths are fifo_depths)");
    }
    const Layer& lastl = *layers_.back();
    const LayerSpec& ls = topo_.layers.back();
    sink_ = std::make_unique<Sink>(fifos_.back(), lastl.out_bits,
                                   ls.pooled_dim * ls.pooled_dim * lastl.mvtu->rows());
    if (opt_.capture)
        for (auto& lay : layers_) {
            lay->mvtu_out->tap = &lay->tap_mvtu;
            if (lay->out != lay->mvtu_out) lay->out->tap = &lay->tap_out;
        }
    // The tick order: consumers before producers, so that a pop frees space
    // for a push in the same cycle.
    using K = Unit::Kind;
    units_.push_back({K::Sink, sink_.get(), &sink_->stats, sink_->input(), nullptr});
    for (int l = int(layers_.size()) - 1; l >= 0; --l) {
        Layer& lay = *layers_[l];
        if (lay.pool) units_.push_back({K::Pool, lay.pool.get(), &lay.pool->stats, lay.pool->input(), lay.pool->output()});
        if (lay.dwc_pool)
            units_.push_back({K::Dwc, lay.dwc_pool.get(), &lay.dwc_pool->stats, lay.dwc_pool->input(), lay.dwc_pool->output()});
        units_.push_back({K::Mvtu, lay.mvtu.get(), &lay.mvtu->stats, lay.mvtu->input(), lay.mvtu->output()});
        if (lay.dwc_swg)
            units_.push_back({K::Dwc, lay.dwc_swg.get(), &lay.dwc_swg->stats, lay.dwc_swg->input(), lay.dwc_swg->output()});
        if (lay.swg) units_.push_back({K::Swg, lay.swg.get(), &lay.swg->stats, lay.swg->input(), lay.swg->output()});
        if (lay.dwc_in)
            units_.push_back({K::Dwc, lay.dwc_in.get(), &lay.dwc_in->stats, lay.dwc_in->input(), lay.dwc_in->output()});
    }
    units_.push_back({K::Source, source_.get(), &source_->stats, nullptr, source_->output()});
    for (size_t i = 0; i < units_.size(); ++i)
        for (size_t j = 0; j < units_.size(); ++j)
            if (units_[i].in && units_[j].out == units_[i].in) {
                if (j <= i) throw std::logic_error("DataflowModel: a producer ticks before its consumer");
                units_[i].producer = int(j);
                units_[j].consumer = int(i);
            }
}

DataflowModel::~DataflowModel() = default;

const Mvtu& DataflowModel::mvtu(int l) const { return *layers_[l]->mvtu; }

const Stream* DataflowModel::find_stream(const std::string& name) const {
    for (const Stream* s : all_streams_)
        if (s->name() == name) return s;
    return nullptr;
}

void DataflowModel::set_stream_tap(const std::string& name, std::vector<uint64_t>* tap) {
    for (Stream* s : all_streams_)
        if (s->name() == name) {
            s->tap = tap;
            return;
        }
    throw std::invalid_argument("DataflowModel: no stream named '" + name + "'");
}

std::vector<std::string> DataflowModel::stream_names() const {
    std::vector<std::string> r;
    for (const Stream* s : all_streams_) r.push_back(s->name());
    return r;
}

void DataflowModel::load_images(const int8_t* data, int count) {
    data_ = data;
    images_ = count;
    reset();
}

void DataflowModel::reset() {
    cycle_ = 0;
    for (Stream* s : all_streams_) s->reset();
    source_->load(data_, images_, topo_.in_dim * topo_.in_dim);
    source_->reset();
    sink_->reset(images_);
    for (auto& lay : layers_) {
        if (lay->dwc_in) lay->dwc_in->reset();
        if (lay->swg) lay->swg->reset(images_);
        if (lay->dwc_swg) lay->dwc_swg->reset();
        lay->mvtu->reset(images_);
        if (lay->dwc_pool) lay->dwc_pool->reset();
        if (lay->pool) lay->pool->reset(images_);
        lay->tap_mvtu.clear();
        lay->tap_out.clear();
    }
}

bool DataflowModel::done() const { return sink_->done(); }

uint64_t DataflowModel::progress() const {
    uint64_t p = 0;
    for (const Stream* s : all_streams_) p += s->transfers() + uint64_t(s->occupancy());
    return p;
}

inline bool DataflowModel::tick_unit(const Unit& u) {
    using K = Unit::Kind;
    switch (u.kind) {
        case K::Sink: return static_cast<Sink*>(u.unit)->tick(cycle_);
        case K::Pool: return static_cast<MaxPool*>(u.unit)->tick();
        case K::Dwc: return static_cast<Dwc*>(u.unit)->tick();
        case K::Mvtu: return static_cast<Mvtu*>(u.unit)->tick();
        case K::Swg: return static_cast<Swg*>(u.unit)->tick();
        case K::Source: return static_cast<Source*>(u.unit)->tick();
    }
    return false;
}

void DataflowModel::tick() {
    for (const Unit& u : units_) tick_unit(u);
    for (Stream* s : all_streams_) s->commit();
    ++cycle_;
}

void DataflowModel::set_fast_path(bool on) {
    fast_path_ = on;
    for (auto& lay : layers_) lay->mvtu->set_fold_at_once(on);
}

int64_t DataflowModel::run(int64_t max_cycles) {
    if (!fast_path_) return run_until_done(*this, max_cycles);
    uint64_t last_progress = ~uint64_t(0);
    return run_events(max_cycles < 0 || max_cycles > INT64_MAX - cycle_ ? INT64_MAX : cycle_ + max_cycles,
                      &last_progress);
}

int64_t DataflowModel::advance(int64_t max_cycles) {
    if (!fast_path_ || max_cycles <= 1) {
        tick();
        return 1;
    }
    return run_events(max_cycles > INT64_MAX - cycle_ ? INT64_MAX : cycle_ + max_cycles, nullptr);
}

// Each unit is due at a cycle (kAsleep: sleeping since since[i], each idle
// cycle adding idle[i] to its counters). A cycle ticks its due units in the
// tick order: one that acted is due the next cycle (an MVTU after the steps
// it ran ahead over), wakes its producer for this cycle when it popped, and
// has its output stream committed when it pushed, which wakes the consumer
// for the next cycle; one that did not act sleeps. The clock then jumps to
// the earliest due unit. The units due this cycle and the next are bit sets
// (walked in index order, so a producer woken this cycle, whose index is
// higher, is still ticked in it); those due later wait in `ahead`.
int64_t DataflowModel::run_events(int64_t limit, uint64_t* last_progress) {
    constexpr int64_t kAsleep = INT64_MAX;
    const int64_t start = cycle_;
    const size_t n = units_.size(), words = (n + 63) / 64;
    std::vector<int64_t> due(n, cycle_), since(n, cycle_ - 1);
    std::vector<UnitStats> idle(n);
    std::vector<uint64_t> now_set(words, 0), next_set(words, 0);
    for (size_t i = 0; i < n; ++i) now_set[i >> 6] |= uint64_t(1) << (i & 63);
    std::vector<size_t> ahead, pushed;
    int64_t ahead_min = kAsleep;
    pushed.reserve(n);
    auto settle = [&](size_t i, int64_t upto) {  // the idle cycles since[i]+1 .. upto
        const uint64_t k = uint64_t(upto - since[i]);
        UnitStats& st = *units_[i].stats;
        st.busy += k * idle[i].busy;
        st.stall_in += k * idle[i].stall_in;
        st.stall_out += k * idle[i].stall_out;
        since[i] = upto;
    };
    auto settle_all = [&] {
        for (size_t i = 0; i < n; ++i)
            if (due[i] == kAsleep) settle(i, cycle_ - 1);
    };
    while (!done() && cycle_ < limit) {
        const int64_t now = cycle_;
        if (ahead_min == now) {
            ahead_min = kAsleep;
            for (size_t k = 0; k < ahead.size();) {
                const size_t i = ahead[k];
                if (due[i] == now) {
                    now_set[i >> 6] |= uint64_t(1) << (i & 63);
                    ahead[k] = ahead.back();
                    ahead.pop_back();
                } else {
                    ahead_min = std::min(ahead_min, due[i]);
                    ++k;
                }
            }
        }
        for (size_t w = 0; w < words; ++w)
            while (now_set[w]) {
                const size_t i = w * 64 + size_t(__builtin_ctzll(now_set[w]));
                now_set[w] &= now_set[w] - 1;
                const Unit& u = units_[i];
                const UnitStats before = *u.stats;
                const uint64_t pops = u.in ? u.in->transfers() : 0;
                if (tick_unit(u)) {
                    int64_t d = now + 1;
                    if (u.kind == Unit::Kind::Mvtu)
                        d += static_cast<Mvtu*>(u.unit)->run_free(int(std::min<int64_t>(limit - d, INT_MAX)));
                    due[i] = d;
                    if (d == now + 1) {
                        next_set[w] |= uint64_t(1) << (i & 63);
                    } else {
                        ahead.push_back(i);
                        ahead_min = std::min(ahead_min, d);
                    }
                    const int p = u.producer;
                    if (p >= 0 && due[size_t(p)] == kAsleep && u.in->transfers() != pops) {
                        settle(size_t(p), now - 1);
                        due[size_t(p)] = now;
                        now_set[size_t(p) >> 6] |= uint64_t(1) << (p & 63);
                    }
                    if (u.out && u.out->push_pending()) pushed.push_back(i);
                } else {
                    due[i] = kAsleep;
                    since[i] = now;
                    idle[i].busy = u.stats->busy - before.busy;
                    idle[i].stall_in = u.stats->stall_in - before.stall_in;
                    idle[i].stall_out = u.stats->stall_out - before.stall_out;
                }
            }
        for (size_t i : pushed) {
            const Unit& u = units_[i];
            u.out->commit();
            const int c = u.consumer;
            if (c >= 0 && due[size_t(c)] == kAsleep) {
                settle(size_t(c), now);
                due[size_t(c)] = now + 1;
                next_set[size_t(c) >> 6] |= uint64_t(1) << (c & 63);
            }
        }
        pushed.clear();
        now_set.swap(next_set);
        bool any_next = false;
        for (uint64_t m : now_set) any_next |= m != 0;
        cycle_ = now + 1;
        // No unit acts before `next`: the cycles up to it move no word.
        const int64_t next = any_next ? cycle_ : ahead_min;
        const int64_t to = done() ? cycle_ : std::min(next, limit);
        if (last_progress)
            for (int64_t m = (cycle_ + kDeadlockCheckMask) & ~kDeadlockCheckMask; m <= to; m += kDeadlockCheckMask + 1) {
                const int64_t at = cycle_;
                cycle_ = m;
                if (progress() == *last_progress) settle_all();
                check_deadlock(*this, *last_progress);
                cycle_ = at;
            }
        if (to == kAsleep) throw std::logic_error("DataflowModel: no unit due and no limit");
        cycle_ = to;
    }
    settle_all();
    return cycle_ - start;
}

void DataflowModel::arm_fault(const FaultSite& site) {
    if (const auto* fb = std::get_if<FifoBit>(&site.where)) {
        if (fb->fifo >= int(fifos_.size()))
            throw FaultSiteError("fault site '" + fault_site_name(site) + "': no fifo[" + std::to_string(fb->fifo) +
                                 "] (there are " + std::to_string(fifos_.size()) + ")");
        Stream& f = *fifos_[size_t(fb->fifo)];
        if (fb->slot >= f.depth() || fb->bit >= f.width())
            throw FaultSiteError("fault site '" + fault_site_name(site) + "': fifo[" + std::to_string(fb->fifo) +
                                 "] has " + std::to_string(f.depth()) + " slots of " + std::to_string(f.width()) +
                                 " bits");
        f.hook.arm(armed_fault(site), &cycle_);
        return;
    }
    const std::string& layer = site_layer(site.where);
    for (auto& lay : layers_)
        if (lay->name == layer) {
            lay->mvtu->arm(site, &cycle_);
            return;
        }
    throw FaultSiteError("fault site '" + fault_site_name(site) + "': no layer named '" + layer + "'");
}

void DataflowModel::disarm_faults() {
    for (Stream* s : all_streams_) s->hook.disarm();
    for (auto& lay : layers_) lay->mvtu->disarm();
}

void DataflowModel::for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const {
    for (const auto& lay : layers_) lay->mvtu->array().for_each_site(lay->mvtu->program(), fn);
    for (size_t i = 0; i < fifos_.size(); ++i)
        for (int slot = 0; slot < fifos_[i]->depth(); ++slot)
            for (int b = 0; b < fifos_[i]->width(); ++b) fn(FifoBit{int(i), slot, b});
}

FaultSiteCounts DataflowModel::fault_site_counts() const {
    FaultSiteCounts c;
    for (const auto& lay : layers_) lay->mvtu->array().count_sites(lay->mvtu->program(), c.per_class);
    for (const Stream* f : fifos_)
        c.per_class[int(SiteClass::FifoSlot)] += uint64_t(f->depth()) * uint64_t(f->width());
    return c;
}

std::vector<int32_t> DataflowModel::scores(int image) const {
    const Layer& lay = *layers_.back();
    const int mh = topo_.layers.back().mh();
    std::vector<int32_t> r(mh, 0);
    const int rows = lay.mvtu->rows();
    const int32_t* v = &sink_->values()[size_t(image) * rows];
    for (int j = 0; j < rows; ++j)
        if (lay.perm[j] < mh) r[lay.perm[j]] = v[j];
    return r;
}

std::vector<int32_t> DataflowModel::decode(const std::vector<uint64_t>& tap, const Stream& s, int bits,
                                           bool is_signed, const std::vector<int>& perm, int pixels, int mh,
                                           int image) const {
    const int cs = int(perm.size());
    const int lanes = s.width() / bits;
    const size_t per_image = size_t(pixels) * cs;
    std::vector<int32_t> out(size_t(pixels) * mh, 0);
    for (size_t e = 0; e < per_image; ++e) {
        const size_t g = size_t(image) * per_image + e;
        const size_t word = g / lanes;
        const int lane = int(g % lanes);
        if ((word + 1) * s.limbs() > tap.size()) break;
        const uint64_t f = get_bits(&tap[word * s.limbs()], lane * bits, bits);
        const int32_t v = is_signed ? int32_t(sign_extend(f, bits)) : int32_t(f);
        const int ch = perm[e % cs];
        if (ch < mh) out[(e / cs) * mh + ch] = v;
    }
    return out;
}

std::vector<int32_t> DataflowModel::captured_mvtu(int l, int image) const {
    const Layer& lay = *layers_[l];
    const LayerSpec& s = topo_.layers[l];
    return decode(lay.tap_mvtu, *lay.mvtu_out, lay.out_bits, lay.out_signed, lay.perm, s.out_dim * s.out_dim,
                  s.mh(), image);
}

std::vector<int32_t> DataflowModel::captured_output(int l, int image) const {
    const Layer& lay = *layers_[l];
    const LayerSpec& s = topo_.layers[l];
    const auto& tap = lay.out == lay.mvtu_out ? lay.tap_mvtu : lay.tap_out;
    return decode(tap, *lay.out, lay.out_bits, lay.out_signed, lay.perm, s.pooled_dim * s.pooled_dim, s.mh(),
                  image);
}

CycleReport DataflowModel::report() const {
    CycleReport r;
    r.images = images_;
    r.total_cycles = cycle_;
    r.clock_mhz = clock_mhz_;
    const auto& dc = sink_->done_cycles();
    if (!dc.empty() && dc[0] >= 0) r.first_latency = dc[0];
    if (dc.size() >= 2 && dc.back() >= 0) r.steady_interval = dc[dc.size() - 1] - dc[dc.size() - 2];
    for (const auto& lay : layers_) {
        LayerCycles c;
        const Mvtu& m = *lay->mvtu;
        c.name = lay->name;
        c.pe = m.pe();
        c.simd = m.simd();
        c.nf = m.nf();
        c.sf = m.sf();
        c.reps = m.reps();
        c.expected = m.expected_cycles_per_image();
        c.busy = m.stats.busy;
        c.stall_in = m.stats.stall_in;
        c.stall_out = m.stats.stall_out;
        if (lay->swg) {
            c.swg_expected = lay->swg->expected_cycles_per_image();
            c.swg_busy = lay->swg->stats.busy;
            c.swg_simd = lay->swg_simd;
        }
        if (c.expected > r.bottleneck) {
            r.bottleneck = c.expected;
            r.bottleneck_layer = c.name;
        }
        r.layers.push_back(c);
    }
    for (const Stream* f : fifos_) r.fifos.push_back({f->name(), f->depth(), f->width(), f->peak()});
    return r;
}

}  // namespace fatsim::hw
