#include "rtl_accelerator.hpp"

#include <algorithm>
#include <stdexcept>

#include "driver.hpp"
#include "stream.hpp"

namespace fatsim::rtl {

std::vector<std::string> rtl_designs() {
    std::vector<std::string> r;
    for (const CompiledDesign& d : compiled_designs()) r.push_back(d.top);
    return r;
}

std::unique_ptr<RtlAccelerator> make_rtl_accelerator(const QnnModel& model, const AccelConfig& accel) {
    const hw::DataflowModel structure(model, accel);
    std::string known;
    for (const CompiledDesign& c : compiled_designs()) {
        DataflowDesign d = describe_dataflow(structure, c.top);
        std::unique_ptr<TopDriver> top = c.make();
        if (top->design_hash() == design_hash(d))
            return std::make_unique<RtlAccelerator>(model, accel, std::move(top), std::move(d));
        known += std::string(known.empty() ? "" : ", ") + c.top;
    }
    throw std::invalid_argument(accel.source + ": no RTL build of this folding and topology (compiled in: " +
                                (known.empty() ? "none" : known) +
                                "); add one with fatsim_rtl_gen to rtl/generated and rtl/CMakeLists.txt");
}

RtlAccelerator::RtlAccelerator(const QnnModel& model, const AccelConfig& accel, std::unique_ptr<TopDriver> top,
                               DataflowDesign design)
    : ref_(model, accel), top_(std::move(top)), design_(std::move(design)) {
    for (const StreamDesc& s : design_.streams) {
        stream_offset_.push_back(obs_bits_);
        obs_bits_ += s.width;
    }
    const Topology& t = ref_.topology();
    const hw::Mvtu& last = ref_.mvtu(ref_.num_layers() - 1);
    out_bits_ = last.out_bits();
    lanes_ = design_.streams.back().width / out_bits_;
    per_image_ = t.layers.back().pooled_dim * t.layers.back().pooled_dim * last.rows();
    pixel_.assign(size_t(hw::limbs_for(design_.streams.front().width)), 0);
    load_memories();
}

RtlAccelerator::~RtlAccelerator() = default;

// Weight and threshold words of every MVTU through the load port, in the
// C++ program's layout.
void RtlAccelerator::load_memories() {
    for (int l = 0; l < ref_.num_layers(); ++l) {
        const hw::LayerProgram& p = ref_.mvtu(l).program();
        const int wb = p.geom.weight_bits;
        std::vector<uint64_t> word(size_t(hw::limbs_for(p.fold.simd * wb)));
        for (int pe = 0; pe < p.fold.pe; ++pe) {
            for (int w = 0; w < p.fold.weight_words(); ++w) {
                std::fill(word.begin(), word.end(), 0);
                for (int e = 0; e < p.fold.simd; ++e)
                    hw::or_bits(word.data(), e * wb, wb, p.weight_field(p.weight(pe, w, e)));
                top_->load(l, true, pe, w, word.data(), int(word.size()));
                top_->settle(true, false, nullptr, 0);
                top_->step();
            }
            if (!p.geom.has_act) continue;
            const int T = p.geom.thresholds;
            for (int t = 0; t < p.fold.nf * T; ++t) {
                const uint64_t v = uint32_t(p.thr[size_t(pe) * p.fold.nf * T + t]);
                top_->load(l, false, pe, t, &v, 1);
                top_->settle(true, false, nullptr, 0);
                top_->step();
            }
        }
    }
    top_->end_load();
}

void RtlAccelerator::load_images(const int8_t* data, int count) {
    data_ = data;
    images_ = count;
    reset();
}

void RtlAccelerator::reset() {
    apply_fault();
    top_->settle(true, false, nullptr, 0);
    top_->step();
    cycle_ = 0;
    image_ = got_ = 0;
    pushed_ = popped_ = 0;
    next_pixel_ = 0;
    const Topology& t = ref_.topology();
    total_pixels_ = size_t(images_) * t.in_dim * t.in_dim;
    values_.assign(size_t(images_) * per_image_, 0);
    done_cycles_.assign(size_t(images_), -1);
}

void RtlAccelerator::tick() {
    // the source offers the next pixel (channels of in_bits, least significant first)
    const Topology& t = ref_.topology();
    const bool offer = next_pixel_ < total_pixels_;
    if (offer) {
        std::fill(pixel_.begin(), pixel_.end(), 0);
        const int8_t* px = data_ + next_pixel_ * t.in_channels;
        for (int c = 0; c < t.in_channels; ++c)
            hw::or_bits(pixel_.data(), c * t.in_bits, t.in_bits, hw::to_field(px[c], t.in_bits));
    }
    // the sink takes every word (words after the last image are not counted)
    top_->settle(false, offer, pixel_.data(), int(pixel_.size()));
    if (image_ < images_ && top_->snk_valid()) {
        const std::vector<uint64_t> w = top_->snk_data(design_.streams.back().width);
        int32_t* dst = &values_[size_t(image_) * per_image_];
        for (int k = 0; k < lanes_; ++k)
            dst[got_ + k] = int32_t(hw::sign_extend(hw::get_bits(w.data(), k * out_bits_, out_bits_), out_bits_));
        ++popped_;
        got_ += lanes_;
        if (got_ >= per_image_) {
            done_cycles_[size_t(image_)] = cycle_ + 1;
            got_ = 0;
            ++image_;
        }
    }
    if (offer && top_->src_ready()) {
        ++next_pixel_;
        ++pushed_;
    }
    if (observer_) {
        const int S = int(design_.streams.size());
        const std::vector<uint64_t> push = top_->obs_push(S);
        bool any = false;
        for (uint64_t p : push) any |= p != 0;
        if (any) {
            const std::vector<uint64_t> data = top_->obs_data(obs_bits_);
            for (int s = 0; s < S; ++s) {
                if (!((push[size_t(s) >> 6] >> (s & 63)) & 1)) continue;
                const int w = design_.streams[size_t(s)].width;
                std::vector<uint64_t> word(size_t(hw::limbs_for(w)), 0);
                for (int done = 0; done < w; done += 64) {
                    const int n = std::min(64, w - done);
                    word[size_t(done >> 6)] = hw::get_bits(data.data(), stream_offset_[size_t(s)] + done, n);
                }
                observer_(s, cycle_, word);
            }
        }
    }
    top_->step();
    ++cycle_;
}

void RtlAccelerator::arm_fault(const FaultSite& site) {
    if (!armed_.empty())
        throw FaultSiteError("fault site '" + fault_site_name(site) +
                             "': the RTL has one set of fault select registers and '" + fault_site_name(armed_[0]) +
                             "' is armed");
    ref_.arm_fault(site);  // checks the site exists
    armed_.push_back(site);
    apply_fault();
}

void RtlAccelerator::disarm_faults() {
    ref_.disarm_faults();
    armed_.clear();
    apply_fault();
}

void RtlAccelerator::apply_fault() {
    if (armed_.empty()) {
        top_->set_fault(nullptr, 0, 0);
        return;
    }
    const FaultSite& s = armed_[0];
    const hw::ArmedFault f = hw::armed_fault(s);
    int layer = 0xFFFF, fifo = 0xFFFF;
    if (const auto* fb = std::get_if<FifoBit>(&s.where)) {
        fifo = fb->fifo;
    } else {
        for (int l = 0; l < ref_.num_layers(); ++l)
            if (ref_.topology().layers[size_t(l)].name == site_layer(s.where)) layer = l;
    }
    top_->set_fault(&f, layer, fifo);
}

void RtlAccelerator::for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const {
    ref_.for_each_fault_site(fn);
}

hw::FaultSiteCounts RtlAccelerator::fault_site_counts() const { return ref_.fault_site_counts(); }

std::vector<int32_t> RtlAccelerator::scores(int image) const {
    const int L = ref_.num_layers();
    const hw::Mvtu& last = ref_.mvtu(L - 1);
    const int mh = ref_.topology().layers.back().mh();
    const std::vector<int> perm = last.stream_perm();
    std::vector<int32_t> r(size_t(mh), 0);
    const int32_t* v = &values_[size_t(image) * per_image_];
    for (int j = 0; j < last.rows(); ++j)
        if (perm[size_t(j)] < mh) r[size_t(perm[size_t(j)])] = v[j];
    return r;
}

std::vector<int32_t> RtlAccelerator::captured_output(int, int) const {
    throw std::logic_error("the RTL model does not capture layer outputs; use fatsim verify-rtl");
}

hw::CycleReport RtlAccelerator::report() const {
    // the structure and the analytic figures of the C++ model; the cycles the RTL ran
    hw::CycleReport r = ref_.report();
    r.images = images_;
    r.total_cycles = cycle_;
    r.first_latency = !done_cycles_.empty() && done_cycles_[0] >= 0 ? done_cycles_[0] : 0;
    r.steady_interval = done_cycles_.size() >= 2 && done_cycles_.back() >= 0
                            ? done_cycles_[done_cycles_.size() - 1] - done_cycles_[done_cycles_.size() - 2]
                            : 0;
    for (hw::LayerCycles& c : r.layers) c.busy = c.stall_in = c.stall_out = c.swg_busy = 0;
    for (hw::FifoReport& f : r.fifos) f.peak = 0;
    return r;
}

}  // namespace fatsim::rtl
