// Campaigns across MPI ranks (built with FATSIM_MPI): rank 0 runs the campaign
// as a single process would (manifest, resume, faults.csv, summary) but hands
// its blocks of work (blocks.hpp) out to the other ranks as they ask for more
// (dynamic load balancing), evaluating blocks itself while it waits. Results
// go through the same result store, so the files are byte for byte those of
// one process, and a run killed on any rank resumes from rank 0's faults.csv.
// One runner for every campaign kind: `fatsim campaign` and `fatsim map-faults`.
#pragma once
#include <functional>

#include "blocks.hpp"
#include "campaign.hpp"

namespace fatsim::campaigns::mpi {

// True when an MPI launcher (mpirun, srun with PMI/PMIx) started this process.
bool launched();

struct Ranks {
    int rank = 0, ranks = 1;
};

// Every rank calls it (MPI_Init .. MPI_Finalize inside). Rank 0 calls
// lead(distribute): the campaign, with `distribute` handing its blocks to
// every rank (empty when there is only one rank: run it here). The other
// ranks call make_worker() (the same setup as rank 0's: model, images, fault
// list) and evaluate what rank 0 sends until it is done. Errors on rank 0
// stop the workers and are rethrown; an error on a worker aborts the job,
// naming `command` and the rank.
Ranks run_distributed(const char* command, const std::function<void(const Distribute&)>& lead,
                      const std::function<std::function<Words(const Words&)>()>& make_worker);

struct DistributedOutcome {
    int rank = 0, ranks = 1;
    CampaignOutcome outcome;  // rank 0's; workers leave it empty
};

// `fatsim campaign` on every rank.
DistributedOutcome run_campaign_distributed(const CampaignSpec& spec, const CampaignOptions& opt);

}  // namespace fatsim::campaigns::mpi
