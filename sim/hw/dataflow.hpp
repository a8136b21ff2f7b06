// FINN dataflow accelerator built from an AccelConfig and a QnnModel: per
// layer [DWC] -> [SWG] -> MVTU -> [DWC -> max pool], FIFOs of the configured
// depths between layers (fifo[l] in front of layer l, fifo[L] after the last),
// a source streaming images back to back and a sink collecting the class
// scores.
//
// DataflowModel is plain C++ (tick() = one clock edge, all units in a fixed
// consumer-before-producer order, then every stream commits) and implements
// the Accelerator interface; the SystemC wrapper lives in sc_top.hpp. One
// model is reused: load_images()/reset(), arm_fault() and run again.
//
// run() and advance() are event-driven (unless set_fast_path(false)): per
// cycle only the units that can act are ticked, in the same order. A unit
// whose tick changed nothing but its stall counters sleeps until its input
// stream commits a word or its output stream frees a slot (the skipped
// cycles' stall counts are added when it wakes); an MVTU in the middle of a
// fold added up at once (no fault armed) steps over the cycles that touch no
// stream; only streams pushed in a cycle commit; cycles where no unit acts
// are skipped. Every unit still acts at its own cycle (fault hooks see the
// same cycle numbers), so outputs, cycle reports, stream taps and faults,
// transient flips included, equal the per-cycle run's (tests/hw/test_events).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "accelerator.hpp"
#include "config.hpp"
#include "model.hpp"
#include "units.hpp"

namespace fatsim::hw {

class DataflowModel final : public Accelerator {
public:
    DataflowModel(const QnnModel& model, const AccelConfig& accel, DataflowOptions opt = {});
    ~DataflowModel() override;
    DataflowModel(const DataflowModel&) = delete;
    DataflowModel& operator=(const DataflowModel&) = delete;

    const char* architecture() const override { return "dataflow"; }
    void load_images(const int8_t* data, int count) override;
    void reset() override;
    void tick() override;
    bool done() const override;
    int64_t cycle() const override { return cycle_; }
    int64_t run(int64_t max_cycles = -1) override;
    int64_t advance(int64_t max_cycles) override;
    // false: the reference path: run() and advance() tick every unit every
    // cycle, and each MVTU step adds its products in its own cycle.
    void set_fast_path(bool on);
    bool fast_path() const { return fast_path_; }
    uint64_t progress() const override;

    // Sites: the MVTU sites of a layer by its name, FIFO slots of fifo[0..L].
    void arm_fault(const FaultSite& site) override;
    using Accelerator::arm_fault;
    void disarm_faults() override;
    void for_each_fault_site(const std::function<void(const SiteLocation&)>& fn) const override;
    FaultSiteCounts fault_site_counts() const override;

    int images() const override { return images_; }
    std::vector<int32_t> scores(int image) const override;
    // Captured streams (DataflowOptions::capture), decoded into the golden
    // engine's layout: per image, HWC codes in channel order.
    std::vector<int32_t> captured_mvtu(int layer, int image) const;   // pre-pool codes (last: accumulators)
    std::vector<int32_t> captured_output(int layer, int image) const override;  // post-pool codes
    CycleReport report() const override;

    const Topology& topology() const { return topo_; }
    const AccelConfig& accel() const { return accel_; }
    int num_layers() const { return int(layers_.size()); }
    const Mvtu& mvtu(int l) const;
    const Stream& fifo(int i) const { return *fifos_[i]; }
    const Stream* find_stream(const std::string& name) const override;
    std::vector<std::string> stream_names() const override;
    // Appends every word pushed into stream `name` to *tap (null: stop);
    // throws std::invalid_argument for a stream it lacks.
    void set_stream_tap(const std::string& name, std::vector<uint64_t>* tap);

private:
    struct Layer;
    struct Unit;
    bool tick_unit(const Unit& u);
    // Event-driven cycles from cycle_ until done() or `limit`; with
    // last_progress, run_until_done's deadlock check at the same cycles.
    int64_t run_events(int64_t limit, uint64_t* last_progress);
    std::vector<int32_t> decode(const std::vector<uint64_t>& tap, const Stream& s, int bits, bool is_signed,
                                const std::vector<int>& perm, int pixels, int mh, int image) const;
    const QnnModel& model_;
    Topology topo_;
    AccelConfig accel_;
    DataflowOptions opt_;
    std::vector<std::unique_ptr<Stream>> streams_;
    std::vector<Stream*> fifos_;
    std::vector<std::unique_ptr<Layer>> layers_;
    std::unique_ptr<Source> source_;
    std::unique_ptr<Sink> sink_;
    std::vector<Stream*> all_streams_;
    std::vector<Unit> units_;  // every unit in tick order (consumers before producers)
    bool fast_path_ = true;
    const int8_t* data_ = nullptr;
    int images_ = 0;
    int64_t cycle_ = 0;
    double clock_mhz_ = 300;
};

}  // namespace fatsim::hw
