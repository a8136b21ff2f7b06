// Selective channel replication (TMR): rank channels by criticality under
// single channel stuck@, triplicate the k most critical, and trace worst-case
// error against hardware cost for k = 0 .. all.
#pragma once
#include <string>
#include <vector>

#include "config.hpp"
#include "topology.hpp"

namespace fatsim::campaigns {

struct ChannelCriticality {
    int layer = 0, channel = 0;
    double worst_accuracy = 0;  // accuracy under the channel's worst stuck value, %
};

// Per channel, the minimum accuracy over its stuck values, from channel-sweep
// CSV rows (columns layer, channel, value, accuracy; any order, extra columns
// allowed). Throws std::runtime_error naming the file, line and problem.
std::vector<ChannelCriticality> read_channel_criticality(const std::string& csv_path, const Topology& topo);

struct ReplicationPoint {
    int k = 0;                  // channels triplicated (the k most critical)
    double worst_error = 0;     // 100 - min accuracy over unprotected channels (error-free when none is left)
    double cost_unrolled = 1;   // normalised cost of a fully unrolled network
    double cost_folded = 1;     // normalised MVTU PE x SIMD resources under the folding (0 when none given)
    std::string added;          // the channel added at this step, "layer:channel"
};

// Cost models:
//  - unrolled: every MAC of one inference is its own unit; a triplicated
//    channel adds twice its MACs (OFM^2 * MW) plus a voter per output value
//    (OFM^2 units); normalised by the network's MACs.
//  - folded: per layer PE x SIMD; keeping the layer's NF (its throughput),
//    MH + 2t rows need ceil((MH + 2t)/NF) PEs, and at least 3 so that the
//    three copies sit on distinct PEs (as FINN's selective TMR requires);
//    normalised by the unreplicated PE x SIMD.
std::vector<ReplicationPoint> replication_tradeoff(const Topology& topo, const AccelConfig* folding,
                                                   double error_free_accuracy,
                                                   std::vector<ChannelCriticality> channels);

// Smallest k whose worst-case error is at most `target_error` (-1 if none).
int channels_needed(const std::vector<ReplicationPoint>& curve, double target_error);

// One model's trade-off, for writing and comparing several models.
struct ReplicationRun {
    std::string label;
    double error_free = 0;
    std::vector<ReplicationPoint> curve;
};
// Writes <out>/replication_<label>.csv per run (k, worst_error, cost_unrolled,
// cost_folded, pareto, added) and the Fig. 9 plot <out>/replication.png;
// returns the plot's path.
// `unit`: "ch" (channels, unrolled cost) or "PE" (folded cost), for the plot.
std::string write_replication(const std::vector<ReplicationRun>& runs, const std::string& out,
                              const std::string& unit = "ch");
// Default targets: 0.5, 1, 2, 5 and 10 points above the worst error-free error.
std::vector<double> default_targets(const std::vector<ReplicationRun>& runs);
// Markdown table: per target, the channels (and unrolled cost) each model
// needs; with unit "PE", the PEs and their folded cost (pe_replication_tradeoff).
std::string replication_table(const std::vector<ReplicationRun>& runs, const std::vector<double>& targets,
                              const std::string& unit = "ch");

// Selective PE replication under physical faults. A triplicated PE (its SIMD
// lanes, adder tree, accumulator, comparators, weight and threshold memory)
// masks every fault sited in it; faults outside every PE (FIFOs, feature-map
// buffers) stay. Criticality comes from the faults a physical campaign ran,
// so with a sampled campaign it is a sample's: a PE none of whose faults was
// drawn is never chosen.
struct PeCriticality {
    std::string pe;             // "<layer>.pe[<p>]" ("engine.pe[<p>]" on a loopback engine)
    int lanes = 0;              // its SIMD lanes
    double worst_accuracy = 0;  // min accuracy over its faults in the campaign, %
    int faults = 0;
};
struct PhysicalCriticality {
    std::vector<PeCriticality> pes;  // PEs with at least one fault in the campaign
    double outside_worst = 100;      // min accuracy over the faults in no PE (100 when none)
    int outside_faults = 0;
    double total_lanes = 0;          // PE x SIMD over the whole accelerator
};
struct SiteAccuracy {
    std::string site;
    double accuracy = 0;  // %
};
// The site and accuracy columns of a physical faults.csv (`fatsim
// map-faults`). Throws std::runtime_error naming the file and line.
std::vector<SiteAccuracy> read_site_accuracy(const std::string& faults_csv);
// Throws FaultSiteError on a malformed site, std::invalid_argument naming the
// site when a PE site's layer or PE is not in the accelerator.
PhysicalCriticality pe_criticality(const std::vector<SiteAccuracy>& rows, const AccelConfig& accel,
                                   const Topology& topo);
// Triplicate the k most critical PEs, k = 0 .. all: worst_error = 100 - the
// least accuracy left (never below the error-free error); cost_folded =
// cost_unrolled = (lanes + 2 x the triplicated PEs' lanes) / lanes (voters
// not counted); added = the PE added at this step.
std::vector<ReplicationPoint> pe_replication_tradeoff(double error_free_accuracy, PhysicalCriticality crit);

}  // namespace fatsim::campaigns
