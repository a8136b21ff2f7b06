// The Verilated RTL of the dataflow accelerator behind the Accelerator
// interface (sim/hw/accelerator.hpp): the same images in, the same clock,
// the same fault sites (set at run time through the top's fault select
// registers), the same class scores out. A C++ DataflowModel of the same
// model and folding names the fault sites and checks them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "accelerator.hpp"
#include "dataflow.hpp"
#include "design.hpp"

namespace fatsim::rtl {

class TopDriver;

class RtlAccelerator final : public hw::Accelerator {
public:
    // One push into stream `stream` (an index into design().streams) at `cycle`.
    using Observer = std::function<void(int stream, int64_t cycle, const std::vector<uint64_t>& word)>;

    RtlAccelerator(const QnnModel& model, const AccelConfig& accel, std::unique_ptr<TopDriver> top,
                   DataflowDesign design);
    ~RtlAccelerator() override;

    const char* architecture() const override { return "dataflow-rtl"; }
    void load_images(const int8_t* data, int count) override;
    void reset() override;
    void tick() override;
    bool done() const override { return image_ >= images_; }
    int64_t cycle() const override { return cycle_; }
    int64_t run(int64_t max_cycles = -1) override { return hw::run_until_done(*this, max_cycles); }
    uint64_t progress() const override { return pushed_ + popped_; }

    // The RTL has one set of fault select registers: one fault at a time.
    void arm_fault(const FaultSite& site) override;
    using Accelerator::arm_fault;
    void disarm_faults() override;
    void for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const override;
    hw::FaultSiteCounts fault_site_counts() const override;

    int images() const override { return images_; }
    std::vector<int32_t> scores(int image) const override;
    // Layer outputs are not captured in the RTL (verify-rtl observes streams instead).
    std::vector<int32_t> captured_output(int layer, int image) const override;
    hw::CycleReport report() const override;
    const hw::Stream* find_stream(const std::string&) const override { return nullptr; }
    std::vector<std::string> stream_names() const override { return {}; }

    const DataflowDesign& design() const { return design_; }
    // Called for every stream push of every cycle (slows the run).
    void set_observer(Observer obs) { observer_ = std::move(obs); }

private:
    void load_memories();
    void apply_fault();

    hw::DataflowModel ref_;  // names and checks fault sites; the C++ structure
    std::unique_ptr<TopDriver> top_;
    DataflowDesign design_;
    Observer observer_;
    std::vector<int> stream_offset_;
    int obs_bits_ = 0;
    const int8_t* data_ = nullptr;
    int images_ = 0, image_ = 0, got_ = 0, per_image_ = 0, lanes_ = 0, out_bits_ = 0;
    size_t next_pixel_ = 0, total_pixels_ = 0;
    int64_t cycle_ = 0;
    uint64_t pushed_ = 0, popped_ = 0;
    std::vector<uint64_t> pixel_;
    std::vector<int32_t> values_;
    std::vector<int64_t> done_cycles_;
    std::vector<FaultSite> armed_;
};

// Names of the designs compiled into fatsim_rtl (their top modules).
std::vector<std::string> rtl_designs();
// The RTL model of (model, accel); throws std::invalid_argument naming the
// compiled-in designs when none was generated from this folding.
std::unique_ptr<RtlAccelerator> make_rtl_accelerator(const QnnModel& model, const AccelConfig& accel);

}  // namespace fatsim::rtl
