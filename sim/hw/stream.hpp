// Registered valid/ready streams: a FIFO of `depth` words of `width` bits,
// packed least significant first into 64-bit limbs (FINN's AXI stream layout).
//
// Timing contract (two-phase, fixed evaluation order): within one clock cycle
// the top ticks consumers before producers. A consumer sees only words pushed
// in earlier cycles (valid is registered: one cycle from push to pop); a
// producer sees space freed by a pop in the same cycle (ready includes the
// same-cycle read, like an HLS stream FIFO), so a depth-1 FIFO sustains one
// word per cycle. commit() at the end of the cycle makes pushed words visible.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fault.hpp"

namespace fatsim::hw {

inline int limbs_for(int bits) { return (bits + 63) / 64; }
// Copies / zeroes n limbs; most stream words are one limb, where a library
// call would cost more than the word.
inline void copy_limbs(uint64_t* dst, const uint64_t* src, int n) {
    if (n == 1) *dst = *src;
    else std::copy(src, src + n, dst);
}
inline void zero_limbs(uint64_t* dst, int n) {
    if (n == 1) *dst = 0;
    else std::fill(dst, dst + n, 0);
}

// Reads `n` (<= 64) bits at bit position pos.
inline uint64_t get_bits(const uint64_t* w, int pos, int n) {
    const int i = pos >> 6, o = pos & 63;
    uint64_t v = w[i] >> o;
    if (o && o + n > 64) v |= w[i + 1] << (64 - o);
    return n == 64 ? v : v & ((uint64_t(1) << n) - 1);
}
// ORs `n` bits of v (already masked) in at pos; the target bits must be 0.
inline void or_bits(uint64_t* w, int pos, int n, uint64_t v) {
    const int i = pos >> 6, o = pos & 63;
    w[i] |= v << o;
    if (o && o + n > 64) w[i + 1] |= v >> (64 - o);
}
inline int64_t sign_extend(uint64_t v, int bits) {
    if (bits >= 64) return int64_t(v);
    const uint64_t s = uint64_t(1) << (bits - 1);
    return int64_t((v ^ s) - s);
}
inline uint64_t to_field(int64_t v, int bits) {
    return bits >= 64 ? uint64_t(v) : uint64_t(v) & ((uint64_t(1) << bits) - 1);
}

class Stream {
public:
    Stream(std::string name, int width_bits, int depth)
        : name_(std::move(name)), width_(width_bits), limbs_(limbs_for(width_bits)), depth_(depth),
          buf_(size_t(limbs_) * depth, 0) {}

    const std::string& name() const { return name_; }
    int width() const { return width_; }
    int limbs() const { return limbs_; }
    int depth() const { return depth_; }
    int occupancy() const { return count_; }
    int peak() const { return peak_; }
    uint64_t transfers() const { return pops_; }
    // For tracing (VCD): references to the live registers.
    const int& occupancy_ref() const { return count_; }
    const uint64_t& transfers_ref() const { return pops_; }

    bool can_pop() const { return visible_ > 0; }
    const uint64_t* front() const { return &buf_[size_t(head_) * limbs_]; }
    void pop() {
        head_ = head_ + 1 == depth_ ? 0 : head_ + 1;
        --count_;
        --visible_;
        ++pops_;
    }
    bool can_push() const { return count_ < depth_; }
    // Whether a word was pushed this cycle (not yet committed).
    bool push_pending() const { return count_ > visible_; }
    // Zeroed slot for the next word; call push() after filling it.
    uint64_t* push_slot() {
        int tail = head_ + count_;
        if (tail >= depth_) tail -= depth_;
        uint64_t* p = &buf_[size_t(tail) * limbs_];
        zero_limbs(p, limbs_);
        return p;
    }
    void push() {
        if (tap) {
            int tail = head_ + count_;
            if (tail >= depth_) tail -= depth_;
            const uint64_t* p = &buf_[size_t(tail) * limbs_];
            tap->insert(tap->end(), p, p + limbs_);
        }
        ++count_;
    }
    void push_word(const uint64_t* w) {
        uint64_t* p = push_slot();
        copy_limbs(p, w, limbs_);
        push();
    }

    // End of cycle: words pushed this cycle become valid. An armed slot fault
    // corrupts the stored word of that slot (every word written to it).
    void commit() {
        if (hook.armed && count_ > visible_) apply_slot_fault();
        visible_ = count_;
        if (count_ > peak_) peak_ = count_;
    }
    void reset() {
        head_ = count_ = visible_ = peak_ = 0;
        pops_ = 0;
        std::fill(buf_.begin(), buf_.end(), 0);
        hook.rearm_transients();
    }

    FaultHook hook;  // FIFO slot faults: ArmedFault::a = slot
    std::vector<uint64_t>* tap = nullptr;  // when set, every pushed word is appended (tests, capture)

private:
    void apply_slot_fault() {
        for (ArmedFault& f : hook.faults_mut()) {
            const int slot = f.a;
            if (slot < 0 || slot >= depth_ || f.bit >= width_) continue;
            for (int k = visible_; k < count_; ++k) {
                int s = head_ + k;
                if (s >= depth_) s -= depth_;
                if (s != slot) continue;
                uint64_t& limb = buf_[size_t(s) * limbs_ + (f.bit >> 6)];
                const int b = f.bit & 63;
                const int64_t v = int64_t(limb & (uint64_t(1) << b));
                const uint64_t nb = (uint64_t(hook.force(f, b, v, 64, false)) >> b) & 1;
                limb = (limb & ~(uint64_t(1) << b)) | (nb << b);
            }
        }
    }

    std::string name_;
    int width_, limbs_, depth_;
    std::vector<uint64_t> buf_;
    int head_ = 0, count_ = 0, visible_ = 0, peak_ = 0;
    uint64_t pops_ = 0;
};

// Per-unit cycle counters.
struct UnitStats {
    uint64_t busy = 0;       // cycles the unit's loop advanced
    uint64_t stall_in = 0;   // cycles it waited for input (starved)
    uint64_t stall_out = 0;  // cycles it waited for output space (back-pressure)
    void reset() { busy = stall_in = stall_out = 0; }
};

}  // namespace fatsim::hw
