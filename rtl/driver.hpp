// The ports of a Verilated dataflow top (rtl/design.cpp writes them), behind
// one interface so that RtlAccelerator drives any compiled-in design.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "fault.hpp"
#include "verilated.h"
#include "verilated_ports.hpp"

namespace fatsim::rtl {

class TopDriver {
public:
    virtual ~TopDriver() = default;
    virtual uint64_t design_hash() = 0;
    virtual uint64_t cycle() = 0;
    // One clock cycle: inputs set, combinational settle (then the outputs
    // below describe this cycle), and the rising edge with step().
    virtual void settle(bool rst, bool src_valid, const uint64_t* src, int src_limbs) = 0;
    virtual void step() = 0;
    virtual bool src_ready() = 0;
    virtual bool snk_valid() = 0;
    virtual std::vector<uint64_t> snk_data(int bits) = 0;
    // Every stream's push bit / the concatenated push words (stream 0 lowest).
    virtual std::vector<uint64_t> obs_push(int streams) = 0;
    virtual std::vector<uint64_t> obs_data(int bits) = 0;
    // One memory word (held during the next step()).
    virtual void load(int layer, bool weight, int pe, int addr, const uint64_t* data, int limbs) = 0;
    virtual void end_load() = 0;
    // The fault select registers (null: none).
    virtual void set_fault(const hw::ArmedFault* f, int layer, int fifo) = 0;
};

// A Verilated top compiled into fatsim_rtl (designs.cpp lists them).
struct CompiledDesign {
    const char* top;
    std::unique_ptr<TopDriver> (*make)();
};
const std::vector<CompiledDesign>& compiled_designs();

template <class VTop>
class TopDriverOf final : public TopDriver {
public:
    TopDriverOf() : ctx_(std::make_unique<VerilatedContext>()), top_(std::make_unique<VTop>(ctx_.get())) {
        top_->clk = 0;
        top_->eval();
    }
    uint64_t design_hash() override { return top_->design_hash; }
    uint64_t cycle() override { return top_->cycle; }
    void settle(bool rst, bool src_valid, const uint64_t* src, int src_limbs) override {
        top_->rst = rst;
        top_->src_valid = src_valid;
        if (src_valid) set_port(top_->src_data, src, src_limbs);
        top_->clk = 0;
        top_->eval();
    }
    void step() override {
        top_->clk = 1;
        top_->eval();
    }
    bool src_ready() override { return top_->src_ready; }
    bool snk_valid() override { return top_->snk_valid; }
    std::vector<uint64_t> snk_data(int bits) override { return get_port(top_->snk_data, bits); }
    std::vector<uint64_t> obs_push(int streams) override { return get_port(top_->obs_push, streams); }
    std::vector<uint64_t> obs_data(int bits) override { return get_port(top_->obs_data, bits); }
    void load(int layer, bool weight, int pe, int addr, const uint64_t* data, int limbs) override {
        top_->ld_layer = uint16_t(layer);
        top_->ld_w_en = weight;
        top_->ld_t_en = !weight;
        top_->ld_pe = uint16_t(pe);
        top_->ld_addr = uint16_t(addr);
        if (weight) set_port(top_->ld_w_data, data, limbs);
        else top_->ld_t_data = uint32_t(data[0]);
    }
    void end_load() override {
        top_->ld_w_en = 0;
        top_->ld_t_en = 0;
    }
    void set_fault(const hw::ArmedFault* f, int layer, int fifo) override {
        top_->flt_en = f != nullptr;
        if (!f) return;
        top_->flt_cls = uint8_t(f->type);
        top_->flt_layer = uint16_t(layer);
        top_->flt_fifo = uint16_t(fifo);
        top_->flt_pe = uint16_t(f->pe);
        top_->flt_a = uint16_t(f->a);
        top_->flt_b = uint16_t(f->b);
        top_->flt_bit = uint16_t(f->bit);
        top_->flt_kind = uint8_t(f->kind);
        top_->flt_cycle = uint64_t(f->cycle);
    }

private:
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<VTop> top_;
};

}  // namespace fatsim::rtl
