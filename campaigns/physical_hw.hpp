// Physical faults and the cycle model: the FIFO geometry the lowering needs,
// the fault sites of an accelerator by class (all, or a seeded sample), and
// the check that a lowered fault gives the cycle model's outputs, image by
// image and layer by layer (`fatsim map-faults --verify`, tests/hw).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "accelerator.hpp"
#include "physical.hpp"

namespace fatsim::campaigns {

// Depth and width of fifo[0..L] of an accelerator model (none for a loopback engine).
std::vector<FifoGeometry> fifo_geometry(const hw::Accelerator& accel, int layers);

// The stuck-at faults (sa0 and sa1 of every location) of the chosen classes,
// in the accelerator's site order; per_class > 0: a seeded random sample of
// that many per class (in site order). Transient flips are not enumerated.
std::vector<FaultSite> physical_faults(const hw::Accelerator& accel, const std::vector<SiteClass>& classes,
                                       uint64_t per_class, uint64_t seed);
// Transient flips: per class a seeded sample of per_class locations, each
// flipped at a cycle drawn uniformly from [0, last_cycle].
std::vector<FaultSite> transient_faults(const hw::Accelerator& accel, const std::vector<SiteClass>& classes,
                                        uint64_t per_class, uint64_t seed, int64_t last_cycle);
// Last cycle at which the schedule moves anything.
int64_t last_cycle(const CycleSchedule& schedule);
// The classes the accelerator has sites of, in SiteClass order.
std::vector<SiteClass> accelerator_classes(const hw::Accelerator& accel);
// Parses "acc,adder,wmem,thr,cmp,fifo"; throws std::invalid_argument naming an unknown class.
std::vector<SiteClass> parse_site_classes(const std::string& list);

// The cycle schedule of a run of `images` images of the batch on the
// accelerator's cycle model (for lowering transient flips; a loopback engine:
// its compute iterations, layer after layer).
CycleSchedule capture_schedule(const QnnModel& model, const AccelConfig& accel, const InputBatch& batch, int images);

// Agreement of the lowering with the cycle model for one class.
struct ClassAgreement {
    SiteClass cls = SiteClass::Acc;
    int sites = 0, agree = 0;
    std::string first_mismatch;  // "site: layer l image i element k: cycle model v, lowered w"
};
// Runs every site on the cycle model (capture on, the images streamed from
// reset) and compares every layer's output and the sink's scores with the
// lowered fault's, image by image. The model must be the engine's.
// Transient flips are lowered against the captured schedule of the run.
std::vector<ClassAgreement> verify_lowering(const QnnModel& model, const AccelConfig& accel, const Engine& engine,
                                            const InputBatch& batch, int images, const std::vector<FaultSite>& sites);

}  // namespace fatsim::campaigns
