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
int bits_for_unsigned(int64_t max) {
    int b = 1;
    while ((int64_t(1) << b) <= max) ++b;
    return b;
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
void Dwc::tick() {
    bool did = false;
    if (bits_ >= ow_) {
        if (out_->can_push()) {
            uint64_t* o = out_->push_slot();
            const int ol = out_->limbs();
            std::copy(buf_.begin(), buf_.begin() + ol, o);
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
    std::fill(buf_.begin(), buf_.end(), 0);
    stats.reset();
}
void Swg::tick() {
    if (image_ >= images_) return;
    if (phase_ == 0) {
        if (!in_->can_pop()) {
            ++stats.stall_in;
            return;
        }
        const int row = cnt_ / (D_ * mult_), pos = cnt_ % (D_ * mult_);
        std::copy(in_->front(), in_->front() + wl_, word(row, pos / mult_, pos % mult_));
        in_->pop();
        if (++cnt_ == init_len_) {
            phase_ = 1;
            cnt_ = 0;
            block_ = 0;
        }
        ++stats.busy;
        return;
    }
    const int j = cnt_;
    const bool w = j < wblock_;
    const bool r = j < rblock_ && block_ + K_ < D_;
    if (w && !out_->can_push()) {
        ++stats.stall_out;
        return;
    }
    if (r && !in_->can_pop()) {
        ++stats.stall_in;
        return;
    }
    if (w) {
        const int kk = K_ * K_ * mult_;
        const int ox = j / kk, rem = j % kk;
        const int ky = rem / (K_ * mult_), kx = (rem / mult_) % K_, cf = rem % mult_;
        const uint64_t* src = word(block_ + ky, ox + kx, cf);
        std::copy(src, src + wl_, out_->push_slot());
        out_->push();
    }
    if (r) {
        std::copy(in_->front(), in_->front() + wl_, word(block_ + K_, j / mult_, j % mult_));
        in_->pop();
    }
    if (++cnt_ == maxc_) {
        cnt_ = 0;
        if (++block_ == O_) {
            ++image_;
            phase_ = 0;
        }
    }
    ++stats.busy;
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
void MaxPool::tick() {
    if (image_ >= images_) return;
    if (phase_ == 0) {
        if (!in_->can_pop()) {
            ++stats.stall_in;
            return;
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
        return;
    }
    if (!out_->can_push()) {
        ++stats.stall_out;
        return;
    }
    uint64_t* o = out_->push_slot();
    if (binary_) {
        std::copy(&orbuf_[size_t(cnt_) * wl_], &orbuf_[size_t(cnt_) * wl_] + wl_, o);
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
}

// ---------------------------------------------------------------- Mvtu
Mvtu::Mvtu(const Params& p, Stream* in, Stream* out) : name_(p.name), in_(in), out_(out) {
    const LayerSpec& s = *p.spec;
    const LayerFolding& f = *p.fold;
    const int mw = s.mw();
    mh_ = s.mh();
    rows_ = f.mh_padded > 0 ? f.mh_padded : mh_;
    PE_ = f.pe;
    SIMD_ = f.simd;
    if (rows_ % PE_ || mw % SIMD_)
        throw std::invalid_argument(name_ + ": PE must divide MH and SIMD must divide MW");
    NF_ = rows_ / PE_;
    SF_ = mw / SIMD_;
    reps_ = s.out_dim * s.out_dim;
    T_ = s.act_bits ? act_range(s.act_bits).thresholds() : 0;
    has_act_ = s.act_bits != 0;
    act_lo_ = has_act_ ? act_range(s.act_bits).lo : 0;
    wb_ = s.weight_bits;
    ib_ = s.in_bits;
    xnor_ = s.binary_xnor();
    blocked_ = f.schedule == Schedule::Blocked;
    in_signed_ = p.in_signed;
    in_bipolar_ = s.in_bipolar;
    // accumulator range
    int64_t amax = in_bipolar_ ? 1 : (in_signed_ ? (int64_t(1) << (ib_ - 1)) : (int64_t(1) << ib_) - 1);
    if (xnor_) {
        acc_bits_ = bits_for_unsigned(mw);
        acc_signed_ = false;
    } else {
        acc_bits_ = bits_for_unsigned(int64_t(mw) * weight_max(wb_) * amax) + 1;
        acc_signed_ = true;
    }
    thr_bits_ = acc_bits_ + 1;
    if (has_act_) {
        ob_ = s.act_bits;
    } else {  // BNN-PYNQ: 16-bit class scores when they fit
        const int64_t bound = xnor_ ? int64_t(mw) : int64_t(mw) * weight_max(wb_) * amax;
        ob_ = bound <= 32767 ? 16 : 32;
    }
    if (out_->width() != PE_ * ob_ || in_->width() != SIMD_ * ib_)
        throw std::invalid_argument(name_ + ": stream widths do not match PE*obits / SIMD*ibits");
    wl_ = limbs_for(SIMD_);
    const auto& W = p.params->weights;
    // weight memory, FINN layout under the schedule
    if (xnor_) wbits_.assign(size_t(PE_) * NF_ * SF_ * wl_, 0);
    else w16_.assign(size_t(PE_) * NF_ * SF_ * SIMD_, 0);
    for (int pe = 0; pe < PE_; ++pe)
        for (int nf = 0; nf < NF_; ++nf) {
            const int row = row_of(pe, nf);
            for (int sf = 0; sf < SF_; ++sf) {
                const size_t word = (size_t(pe) * NF_ + nf) * SF_ + sf;
                for (int e = 0; e < SIMD_; ++e) {
                    const int col = p.colmap[sf * SIMD_ + e];
                    const int v = row < mh_ ? W[size_t(row) * mw + col] : 0;
                    if (xnor_) {
                        if (v > 0) wbits_[word * wl_ + (e >> 6)] |= uint64_t(1) << (e & 63);
                    } else {
                        w16_[word * SIMD_ + e] = int16_t(v);
                    }
                }
            }
        }
    if (has_act_) {
        thr_.assign(size_t(PE_) * NF_ * T_, 0);
        const auto& th = p.params->thresholds;
        for (int pe = 0; pe < PE_; ++pe)
            for (int nf = 0; nf < NF_; ++nf) {
                const int row = row_of(pe, nf);
                for (int t = 0; t < T_; ++t)
                    thr_[(size_t(pe) * NF_ + nf) * T_ + t] = row < mh_ ? th[size_t(row) * T_ + t] : 0;
            }
    }
    if (xnor_) ibits_.assign(size_t(SF_) * wl_, 0);
    else ival_.assign(size_t(SF_) * SIMD_, 0);
    acc_.assign(PE_, 0);
    reset(p.images);
}

std::vector<int> Mvtu::stream_perm() const {
    std::vector<int> perm(rows_);
    for (int nf = 0; nf < NF_; ++nf)
        for (int pe = 0; pe < PE_; ++pe) perm[nf * PE_ + pe] = row_of(pe, nf);
    return perm;
}

void Mvtu::reset(int images) {
    images_ = images;
    total_vecs_ = images * reps_;
    vec_ = nf_ = sf_ = 0;
    std::fill(acc_.begin(), acc_.end(), 0);
    stats.reset();
    hook.fired = false;
}

void Mvtu::arm(const FaultSite& s, const int64_t* clock) {
    auto bad = [&](const std::string& what) {
        throw FaultSiteError("fault site '" + fault_site_name(s) + "': " + what);
    };
    if (s.pe < 0 || s.pe >= PE_) bad("pe " + std::to_string(s.pe) + " out of range (layer " + name_ + " has PE=" + std::to_string(PE_) + ")");
    switch (s.type) {
        case SiteType::Acc:
            if (s.bit >= acc_bits_) bad("accumulator has " + std::to_string(acc_bits_) + " bits");
            break;
        case SiteType::AdderNode:
            if (s.level < 0 || s.node < 0) bad("bad adder node");
            break;
        case SiteType::WeightWord:
            if (s.index < 0 || s.index >= NF_ * SF_) bad("weight memory has " + std::to_string(NF_ * SF_) + " words");
            if (s.bit >= SIMD_ * wb_) bad("weight word has " + std::to_string(SIMD_ * wb_) + " bits");
            break;
        case SiteType::Threshold:
            if (!has_act_) bad("layer has no thresholds");
            if (s.index < 0 || s.index >= NF_ * T_) bad("threshold memory has " + std::to_string(NF_ * T_) + " words");
            if (s.bit >= thr_bits_) bad("threshold word has " + std::to_string(thr_bits_) + " bits");
            break;
        case SiteType::Comparator:
            if (!has_act_ || s.index < 0 || s.index >= T_) bad("comparator index out of range");
            break;
        case SiteType::FifoSlot: bad("not an MVTU site");
    }
    hook.arm(s, clock);
}

void Mvtu::load_input() {
    const uint64_t* w = in_->front();
    if (xnor_) {
        std::copy(w, w + wl_, &ibits_[size_t(sf_) * wl_]);
    } else {
        int16_t* v = &ival_[size_t(sf_) * SIMD_];
        if (in_bipolar_) {
            for (int e = 0; e < SIMD_; ++e) v[e] = int16_t(2 * int(get_bits(w, e, 1)) - 1);
        } else if (in_signed_) {
            for (int e = 0; e < SIMD_; ++e) v[e] = int16_t(sign_extend(get_bits(w, e * ib_, ib_), ib_));
        } else {
            for (int e = 0; e < SIMD_; ++e) v[e] = int16_t(get_bits(w, e * ib_, ib_));
        }
    }
    in_->pop();
}

void Mvtu::compute_fast() {
    const bool first = sf_ == 0;
    if (xnor_) {
        const uint64_t* x = &ibits_[size_t(sf_) * wl_];
        for (int pe = 0; pe < PE_; ++pe) {
            const uint64_t* w = &wbits_[((size_t(pe) * NF_ + nf_) * SF_ + sf_) * wl_];
            int mis = 0;
            for (int j = 0; j < wl_; ++j) mis += __builtin_popcountll(x[j] ^ w[j]);
            const int32_t sum = SIMD_ - mis;
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    } else {
        const int16_t* x = &ival_[size_t(sf_) * SIMD_];
        for (int pe = 0; pe < PE_; ++pe) {
            const int16_t* w = &w16_[((size_t(pe) * NF_ + nf_) * SF_ + sf_) * SIMD_];
            int32_t sum = 0;
            for (int e = 0; e < SIMD_; ++e) sum += int32_t(w[e]) * x[e];
            acc_[pe] = first ? sum : acc_[pe] + sum;
        }
    }
}

// Every value through the hook: weight word, products (l0), adder-tree nodes,
// accumulator register.
void Mvtu::compute_slow() {
    const bool first = sf_ == 0;
    const int widx = nf_ * SF_ + sf_;
    tree_.resize(SIMD_);
    for (int pe = 0; pe < PE_; ++pe) {
        const size_t word = (size_t(pe) * NF_ + nf_) * SF_ + sf_;
        // weight word (packed), through the hook bit by bit of the armed site
        const bool wsite = hook.site.type == SiteType::WeightWord && hook.site.pe == pe && hook.site.index == widx;
        int forced_elem = -1;
        int64_t forced_val = 0;
        if (wsite) {
            const int e = hook.site.bit / wb_, b = hook.site.bit % wb_;
            uint64_t field;
            if (xnor_) field = (wbits_[word * wl_ + (e >> 6)] >> (e & 63)) & 1;
            else field = to_field(w16_[word * SIMD_ + e], wb_);
            FaultSite saved = hook.site;
            hook.site.bit = b;
            const int64_t nf = hook.force(int64_t(field), wb_, !xnor_ && wb_ > 1);
            hook.site = saved;
            forced_elem = e;
            forced_val = xnor_ ? (nf & 1) : (wb_ == 1 ? ((nf & 1) ? 1 : -1) : nf);
        }
        for (int e = 0; e < SIMD_; ++e) {
            int64_t prod;
            if (xnor_) {
                uint64_t wbit = (wbits_[word * wl_ + (e >> 6)] >> (e & 63)) & 1;
                if (e == forced_elem) wbit = uint64_t(forced_val);
                const uint64_t xbit = (ibits_[size_t(sf_) * wl_ + (e >> 6)] >> (e & 63)) & 1;
                prod = (wbit == xbit) ? 1 : 0;
            } else {
                int64_t wv = w16_[word * SIMD_ + e];
                if (e == forced_elem) wv = forced_val;
                prod = wv * ival_[size_t(sf_) * SIMD_ + e];
            }
            tree_[e] = hook.pass(SiteType::AdderNode, pe, 0, e, prod, acc_bits_, acc_signed_);
        }
        int n = SIMD_, level = 0;
        while (n > 1) {
            ++level;
            const int m = (n + 1) / 2;
            for (int k = 0; k < m; ++k) {
                const int64_t v = 2 * k + 1 < n ? tree_[2 * k] + tree_[2 * k + 1] : tree_[2 * k];
                tree_[k] = hook.pass(SiteType::AdderNode, pe, level, k, v, acc_bits_, acc_signed_);
            }
            n = m;
        }
        const int64_t nv = (first ? 0 : int64_t(acc_[pe])) + tree_[0];
        acc_[pe] = int32_t(hook.pass(SiteType::Acc, pe, 0, 0, nv, acc_bits_, acc_signed_));
    }
}

void Mvtu::write_output() {
    uint64_t* o = out_->push_slot();
    const bool slow = hook.armed;
    for (int pe = 0; pe < PE_; ++pe) {
        int64_t v;
        if (!has_act_) {
            v = acc_[pe];
        } else {
            const int32_t* t = &thr_[(size_t(pe) * NF_ + nf_) * T_];
            const int32_t a = acc_[pe];
            int level = 0;
            if (!slow) {
                for (int k = 0; k < T_; ++k) level += t[k] <= a;
            } else {
                for (int k = 0; k < T_; ++k) {
                    const int64_t th = hook.pass(SiteType::Threshold, pe, nf_ * T_ + k, 0, t[k], thr_bits_, true);
                    const int64_t c = th <= a ? 1 : 0;
                    level += int(hook.pass(SiteType::Comparator, pe, k, 0, c, 1, false) & 1);
                }
            }
            v = act_lo_ + level;
        }
        or_bits(o, pe * ob_, ob_, to_field(v, ob_));
    }
    out_->push();
}

void Mvtu::tick() {
    if (vec_ >= total_vecs_) return;
    const bool need_in = nf_ == 0;
    const bool need_out = sf_ == SF_ - 1;
    if (need_in && !in_->can_pop()) {
        ++stats.stall_in;
        return;
    }
    if (need_out && !out_->can_push()) {
        ++stats.stall_out;
        return;
    }
    if (need_in) load_input();
    if (__builtin_expect(hook.armed, 0)) compute_slow();
    else compute_fast();
    if (need_out) write_output();
    ++stats.busy;
    if (++sf_ == SF_) {
        sf_ = 0;
        if (++nf_ == NF_) {
            nf_ = 0;
            ++vec_;
        }
    }
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
void Source::tick() {
    if (next_ >= total_) return;
    if (!out_->can_push()) {
        ++stats.stall_out;
        return;
    }
    uint64_t* o = out_->push_slot();
    const int8_t* px = data_ + next_ * elems_;
    for (int c = 0; c < elems_; ++c) or_bits(o, c * bits_, bits_, to_field(px[c], bits_));
    out_->push();
    ++next_;
    ++stats.busy;
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
void Sink::tick(int64_t cycle) {
    if (image_ >= images_) return;
    if (!in_->can_pop()) {
        ++stats.stall_in;
        return;
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
}

}  // namespace fatsim::hw
