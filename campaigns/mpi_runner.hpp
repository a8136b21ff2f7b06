// Campaigns across MPI ranks (built with FATSIM_MPI): rank 0 runs the campaign
// as a single process would (manifest, resume, faults.csv, summary) but hands
// the faults out in blocks to the other ranks as they ask for more (dynamic
// load balancing), evaluating blocks itself while it waits. Results go through
// the same result store, so the files are byte for byte those of one process,
// and a run killed on any rank resumes from rank 0's faults.csv.
#pragma once
#include "campaign.hpp"

namespace fatsim::campaigns::mpi {

// True when an MPI launcher (mpirun, srun with PMI/PMIx) started this process.
bool launched();

struct DistributedOutcome {
    int rank = 0, ranks = 1;
    CampaignOutcome outcome;  // rank 0's; workers leave it empty
};

// Every rank calls it (MPI_Init .. MPI_Finalize inside). Errors on rank 0 stop
// the workers and are rethrown; an error on a worker aborts the job.
DistributedOutcome run_campaign_distributed(const CampaignSpec& spec, const CampaignOptions& opt);

}  // namespace fatsim::campaigns::mpi
