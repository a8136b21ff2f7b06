#include "units.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace fatsim::hw {

namespace {
// buf >>= k bits (buffer of n limbs)
void shift_right(uint64_t* buf, int n, int k) {
    const int ls = k >> 6, bs = k & 63;
    for (int i = 0; i < n; ++i) {
        const int s = i + ls;
        uint64_t v = s < n ? buf[s] >> bs : 0;
        if (bs && s + 1 < n) v |= buf[s + 1] << (64 - bs);
        buf[i] = v;
    }
}
}  // namespace

// ---------------------------------------------------------------- Dwc
Dwc::Dwc(std::string name, Stream* in, Stream* out)
    : name_(std::move(name)), in_(in), out_(out), iw_(in->width()), ow_(out->width()) {
    cap_ = iw_ + ow_;
    buf_.assign(limbs_for(cap_) + 1, 0);
}
void Dwc::reset() {
    bits_ = 0;
    std::fill(buf_.begin(), buf_.end(), 0);
    stats.reset();
}
bool Dwc::tick() {
    bool did = false;
    if (bits_ >= ow_) {
        if (out_->can_push()) {
            uint64_t* o = out_->push_slot();
            const int ol = out_->limbs();
            copy_limbs(o, buf_.data(), ol);
            if (ow_ & 63) o[ol - 1] &= (uint64_t(1) << (ow_ & 63)) - 1;
            out_->push();
            shift_right(buf_.data(), int(buf_.size()), ow_);
            bits_ -= ow_;
            did = true;
        } else {
            ++stats.stall_out;
        }
    }
    if (bits_ + iw_ <= cap_) {
        if (in_->can_pop()) {
            const uint64_t* w = in_->front();
            for (int done = 0; done < iw_; done += 64) {
                const int n = std::min(64, iw_ - done);
                or_bits(buf_.data(), bits_ + done, n, get_bits(w, done, n));
            }
            in_->pop();
            bits_ += iw_;
            did = true;
        } else if (!did) {
            ++stats.stall_in;
        }
    }
    if (did) ++stats.busy;
    return did;
}

// ---------------------------------------------------------------- Swg
Swg::Swg(std::string name, int ifm_dim, int kernel, int ifm_ch, int simd, Stream* in, Stream* out, int images)
    : name_(std::move(name)), in_(in), out_(out), D_(ifm_dim), K_(kernel), C_(ifm_ch), simd_(simd) {
    mult_ = C_ / simd_;
    O_ = D_ - K_ + 1;
    wl_ = in_->limbs();
    init_len_ = D_ * K_ * mult_;
    wblock_ = O_ * K_ * K_ * mult_;
    rblock_ = D_ * mult_;
    maxc_ = std::max(wblock_, rblock_);
    buf_.assign(size_t(K_ + 1) * D_ * mult_ * wl_, 0);
    reset(images);
}
void Swg::reset(int images) {
    images_ = images;
    image_ = phase_ = cnt_ = block_ = 0;
    wcf_ = wkx_ = wky_ = wox_ = 0;
    std::fill(buf_.begin(), buf_.end(), 0);
    stats.reset();
}
bool Swg::tick() {
    if (image_ >= images_) return false;
    if (phase_ == 0) {
        if (!in_->can_pop()) {
            ++stats.stall_in;
            return false;
        }
        // rows 0..K-1 in order: word cnt_ of the buffer
        copy_limbs(row_words(0) + size_t(cnt_) * wl_, in_->front(), wl_);
        in_->pop();
        if (++cnt_ == init_len_) {
            phase_ = 1;
            cnt_ = 0;
            block_ = 0;
            wcf_ = wkx_ = wky_ = wox_ = 0;
        }
        ++stats.busy;
        return true;
    }
    const int j = cnt_;
    const bool w = j < wblock_;
    const bool r = j < rblock_ && block_ + K_ < D_;
    if (w && !out_->can_push()) {
        ++stats.stall_out;
        return false;
    }
    if (r && !in_->can_pop()) {
        ++stats.stall_in;
        return false;
    }
    if (w) {  // word j = ((ox * K + ky) * K + kx) * mult + cf of the row's windows
        copy_limbs(out_->push_slot(), word(block_ + wky_, wox_ + wkx_, wcf_), wl_);
        out_->push();
        if (++wcf_ == mult_) {
            wcf_ = 0;
            if (++wkx_ == K_) {
                wkx_ = 0;
                if (++wky_ == K_) {
                    wky_ = 0;
                    ++wox_;
                }
            }
        }
    }
    if (r) {  // word j of the next input row
        copy_limbs(row_words(block_ + K_) + size_t(j) * wl_, in_->front(), wl_);
        in_->pop();
    }
    if (++cnt_ == maxc_) {
        cnt_ = 0;
        wcf_ = wkx_ = wky_ = wox_ = 0;
        if (++block_ == O_) {
            ++image_;
            phase_ = 0;
        }
    }
    ++stats.busy;
    return true;
}

// ---------------------------------------------------------------- MaxPool
MaxPool::MaxPool(std::string name, int img_dim, int pool, int channels, int bits, bool is_signed, Stream* in,
                 Stream* out, int images)
    : name_(std::move(name)), in_(in), out_(out), D_(img_dim), P_(pool), Q_(img_dim / pool), C_(channels),
      bits_(bits), signed_(is_signed) {
    binary_ = bits == 1;
    lo_ = signed_ ? -(1 << (bits - 1)) : 0;
    wl_ = in_->limbs();
    orbuf_.assign(size_t(Q_) * wl_, 0);
    maxbuf_.assign(size_t(Q_) * C_, lo_);
    reset(images);
}
void MaxPool::reset(int images) {
    images_ = images;
    image_ = row_ = phase_ = cnt_ = 0;
    stats.reset();
}
bool MaxPool::tick() {
    if (image_ >= images_) return false;
    if (phase_ == 0) {
        if (!in_->can_pop()) {
            ++stats.stall_in;
            return false;
        }
        if (cnt_ == 0) {
            std::fill(orbuf_.begin(), orbuf_.end(), 0);
            std::fill(maxbuf_.begin(), maxbuf_.end(), lo_);
        }
        const int x = cnt_ % D_;
        if (x < Q_ * P_) {
            const int qx = x / P_;
            const uint64_t* w = in_->front();
            if (binary_) {
                for (int i = 0; i < wl_; ++i) orbuf_[size_t(qx) * wl_ + i] |= w[i];
            } else {
                int32_t* m = &maxbuf_[size_t(qx) * C_];
                for (int c = 0; c < C_; ++c) {
                    const uint64_t f = get_bits(w, c * bits_, bits_);
                    const int32_t v = signed_ ? int32_t(sign_extend(f, bits_)) : int32_t(f);
                    if (v > m[c]) m[c] = v;
                }
            }
        }
        in_->pop();
        if (++cnt_ == P_ * D_) {
            phase_ = 1;
            cnt_ = 0;
        }
        ++stats.busy;
        return true;
    }
    if (!out_->can_push()) {
        ++stats.stall_out;
        return false;
    }
    uint64_t* o = out_->push_slot();
    if (binary_) {
        copy_limbs(o, &orbuf_[size_t(cnt_) * wl_], wl_);
    } else {
        const int32_t* m = &maxbuf_[size_t(cnt_) * C_];
        for (int c = 0; c < C_; ++c) or_bits(o, c * bits_, bits_, to_field(m[c], bits_));
    }
    out_->push();
    ++stats.busy;
    if (++cnt_ == Q_) {
        cnt_ = 0;
        phase_ = 0;
        if (++row_ == Q_) {
            row_ = 0;
            ++image_;
        }
    }
    return true;
}

// ---------------------------------------------------------------- Mvtu
Mvtu::Mvtu(LayerProgram program, Stream* in, Stream* out, int images)
    : prog_(std::move(program)), array_(prog_.fold.pe, prog_.fold.simd), in_(in), out_(out) {
    const FoldingMap& f = prog_.fold;
    if (out_->width() != f.pe * prog_.geom.out_bits || in_->width() != f.simd * prog_.geom.in_bits)
        throw std::invalid_argument(prog_.name + ": stream widths do not match PE*obits / SIMD*ibits");
    // Pixel: two input buffers of PE windows, two output buffers of PE pixels.
    const size_t windows = f.schedule == Schedule::Pixel ? size_t(2) * f.pe : 1;
    if (prog_.geom.xnor) ibits_.assign(windows * f.sf * prog_.word_limbs, 0);
    if (prog_.geom.xnor) idense_.assign(size_t(prog_.dense_limbs), 0);
    else ival_.assign(std::max(windows * f.sf * f.simd, size_t(prog_.dense_values)), 0);  // zeros past SF words
    if (f.schedule == Schedule::Pixel) {
        obuf_.assign(size_t(2) * f.pe * f.rows, 0);
        pin_.assign(size_t(f.pe), PeInput{});
        groups_ = (prog_.reps + f.pe - 1) / f.pe;
    }
    reset(images);
}

void Mvtu::reset(int images) {
    images_ = images;
    total_vecs_ = images * prog_.reps;
    vec_ = nf_ = sf_ = 0;
    fold_at_once_ = false;
    total_groups_ = images * groups_;
    gather_g_ = gather_n_ = compute_g_ = drain_g_ = drain_k_ = drain_nf_ = 0;
    in_full_[0] = in_full_[1] = out_full_[0] = out_full_[1] = false;
    array_.clear();
    stats.reset();
    array_.hook.rearm_transients();
}

void Mvtu::arm(const FaultSite& s, const int64_t* clock) {
    array_.check_site(prog_, s);
    array_.hook.arm(armed_fault(s), clock);
}

void Mvtu::load_input(uint64_t* bits, int16_t* v) {
    const uint64_t* w = in_->front();
    const LayerGeometry& g = prog_.geom;
    const int SIMD = prog_.fold.simd, ib = g.in_bits;
    if (g.xnor) {
        copy_limbs(bits, w, prog_.word_limbs);
    } else {
        if (g.in_bipolar) {
            for (int e = 0; e < SIMD; ++e) v[e] = int16_t(g.input_value(int(get_bits(w, e, 1))));
        } else if (g.in_signed) {
            for (int e = 0; e < SIMD; ++e) v[e] = int16_t(sign_extend(get_bits(w, e * ib, ib), ib));
        } else {
            for (int e = 0; e < SIMD; ++e) v[e] = int16_t(get_bits(w, e * ib, ib));
        }
    }
    in_->pop();
}

void Mvtu::write_output() {
    array_.output_word(prog_, nf_, out_->push_slot());
    out_->push();
}

bool Mvtu::tick() {
    if (prog_.fold.schedule == Schedule::Pixel) return tick_pixel();
    if (vec_ >= total_vecs_) return false;
    const int NF = prog_.fold.nf, SF = prog_.fold.sf;
    const bool need_in = nf_ == 0;
    const bool need_out = sf_ == SF - 1;
    if (need_in && !in_->can_pop()) {
        ++stats.stall_in;
        return false;
    }
    if (need_out && !out_->can_push()) {
        ++stats.stall_out;
        return false;
    }
    if (need_in) load_input(prog_.geom.xnor ? &ibits_[size_t(sf_) * prog_.word_limbs] : nullptr,
                            prog_.geom.xnor ? nullptr : &ival_[size_t(sf_) * prog_.fold.simd]);
    // With no fault armed when a fold starts, its SF steps are added up at
    // once when the output is due (the accumulators are seen only there);
    // armed, every step passes the hook in its own cycle.
    if (sf_ == 0) fold_at_once_ = fold_at_once_allowed_ && !array_.hook.armed;
    if (need_in && prog_.geom.xnor && fold_at_once_allowed_) {  // the dense copy of the input words
        if (sf_ == 0) zero_limbs(idense_.data(), prog_.dense_limbs);
        prog_.pack_dense(&ibits_[size_t(sf_) * prog_.word_limbs], sf_, idense_.data());
    }
    PeInput x;
    if (prog_.geom.xnor) x.bits = fold_at_once_ ? idense_.data() : &ibits_[size_t(sf_) * prog_.word_limbs];
    else x.values = &ival_[fold_at_once_ ? 0 : size_t(sf_) * prog_.fold.simd];
    if (!fold_at_once_) array_.accumulate(prog_, nf_, sf_, x);
    else if (need_out) array_.accumulate_fold(prog_, nf_, x);
    if (need_out) write_output();
    ++stats.busy;
    if (++sf_ == SF) {
        sf_ = 0;
        if (++nf_ == NF) {
            nf_ = 0;
            ++vec_;
        }
    }
    return true;
}

int Mvtu::run_free(int max_steps) {
    // Steps that read no input (nf > 0) and write no output (sf < SF-1),
    // added up at once: only while the fold's sum waits for its output.
    if (prog_.fold.schedule == Schedule::Pixel || !fold_at_once_ || vec_ >= total_vecs_ || nf_ == 0) return 0;
    const int n = std::min(max_steps, prog_.fold.sf - 1 - sf_);
    if (n <= 0) return 0;
    sf_ += n;
    stats.busy += uint64_t(n);
    return n;
}

int Mvtu::group_pes(int group) const {
    const int first = (group % groups_) * prog_.fold.pe;
    return std::min(prog_.fold.pe, prog_.reps - first);
}

// The stages in reverse order, so that a buffer a stage fills this cycle is
// seen by the next stage only in the next cycle.
bool Mvtu::tick_pixel() {
    const FoldingMap& f = prog_.fold;
    const int PE = f.pe, SF = f.sf, rows = f.rows;
    const size_t wstep = prog_.geom.xnor ? size_t(prog_.word_limbs) : size_t(f.simd);  // one input word
    auto window = [&](int buffer, int pe, int sf) { return ((size_t(buffer) * PE + pe) * SF + sf) * wstep; };
    bool moved = false;
    // Drain: pixel drain_k_ of the group, output fold drain_nf_.
    if (drain_g_ < total_groups_ && out_full_[drain_g_ & 1] && out_->can_push()) {
        moved = true;
        const int32_t* o = &obuf_[(size_t(drain_g_ & 1) * PE + drain_k_) * rows];
        const int ob = prog_.geom.out_bits;
        uint64_t* w = out_->push_slot();
        for (int p = 0; p < PE; ++p) or_bits(w, p * ob, ob, to_field(o[f.row_of(p, drain_nf_)], ob));
        out_->push();
        if (++drain_nf_ == f.nf) {
            drain_nf_ = 0;
            if (++drain_k_ == group_pes(drain_g_)) {
                drain_k_ = 0;
                out_full_[drain_g_ & 1] = false;
                ++drain_g_;
            }
        }
    }
    // Compute: channel nf_, fold sf_ of group compute_g_.
    if (compute_g_ < total_groups_) {
        const int b = compute_g_ & 1;
        if (!in_full_[b]) {
            ++stats.stall_in;
        } else if (out_full_[b]) {
            ++stats.stall_out;
        } else {
            const int pes = group_pes(compute_g_);
            for (int k = 0; k < pes; ++k) {
                if (prog_.geom.xnor) pin_[size_t(k)].bits = &ibits_[window(b, k, sf_)];
                else pin_[size_t(k)].values = &ival_[window(b, k, sf_)];
            }
            array_.accumulate_pixels(prog_, nf_, sf_, pin_.data(), pes);
            if (sf_ == SF - 1) {
                const int bank = f.pe_of(nf_), fold = f.fold_of(nf_);
                for (int k = 0; k < pes; ++k)
                    obuf_[(size_t(b) * PE + k) * rows + nf_] = int32_t(array_.output_of(prog_, k, bank, fold));
            }
            ++stats.busy;
            moved = true;
            if (++sf_ == SF) {
                sf_ = 0;
                if (++nf_ == rows) {
                    nf_ = 0;
                    in_full_[b] = false;
                    out_full_[b] = true;
                    ++compute_g_;
                }
            }
        }
    }
    // Gather: word gather_n_ (pixel k, fold s) of group gather_g_.
    if (gather_g_ < total_groups_ && !in_full_[gather_g_ & 1] && in_->can_pop()) {
        moved = true;
        const int b = gather_g_ & 1, k = gather_n_ / SF, s = gather_n_ % SF;
        const size_t at = window(b, k, s);
        load_input(prog_.geom.xnor ? &ibits_[at] : nullptr, prog_.geom.xnor ? nullptr : &ival_[at]);
        if (++gather_n_ == group_pes(gather_g_) * SF) {
            gather_n_ = 0;
            in_full_[b] = true;
            ++gather_g_;
        }
    }
    return moved;
}

// ---------------------------------------------------------------- Source / Sink
Source::Source(Stream* out, int pixel_elems, int bits) : out_(out), elems_(pixel_elems), bits_(bits) {}
void Source::load(const int8_t* data, int images, int pixels_per_image) {
    data_ = data;
    total_ = size_t(images) * pixels_per_image;
    next_ = 0;
}
void Source::reset() {
    next_ = 0;
    stats.reset();
}
bool Source::tick() {
    if (next_ >= total_) return false;
    if (!out_->can_push()) {
        ++stats.stall_out;
        return false;
    }
    uint64_t* o = out_->push_slot();
    const int8_t* px = data_ + next_ * elems_;
    for (int c = 0; c < elems_; ++c) or_bits(o, c * bits_, bits_, to_field(px[c], bits_));
    out_->push();
    ++next_;
    ++stats.busy;
    return true;
}

Sink::Sink(Stream* in, int bits, int elems_per_image)
    : in_(in), bits_(bits), lanes_(in->width() / bits), per_image_(elems_per_image) {}
void Sink::reset(int images) {
    images_ = images;
    image_ = got_ = 0;
    values_.assign(size_t(images) * per_image_, 0);
    done_cycles_.assign(images, -1);
    stats.reset();
}
bool Sink::tick(int64_t cycle) {
    if (image_ >= images_) return false;
    if (!in_->can_pop()) {
        ++stats.stall_in;
        return false;
    }
    const uint64_t* w = in_->front();
    int32_t* dst = &values_[size_t(image_) * per_image_];
    for (int k = 0; k < lanes_; ++k) dst[got_ + k] = int32_t(sign_extend(get_bits(w, k * bits_, bits_), bits_));
    in_->pop();
    ++stats.busy;
    got_ += lanes_;
    if (got_ >= per_image_) {
        done_cycles_[image_] = cycle + 1;
        got_ = 0;
        ++image_;
    }
    return true;
}

}  // namespace fatsim::hw
