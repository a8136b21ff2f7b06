// Rank 0: coordinator (and evaluator when idle); ranks 1..N-1: workers.
// Messages are int64 arrays on MPI_COMM_WORLD:
//   kWork   0 -> w: [first item, items, the job's description of the block]
//   kResult w -> 0: [first item, items, the block's results]
//   kStop   0 -> w: [] no more work
#include "mpi_runner.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace fatsim::campaigns::mpi {

namespace {

enum Tag : int { kWork = 1, kResult = 2, kStop = 3 };
constexpr int kBlocksInFlight = 2;  // per worker: it starts the next block while rank 0 is busy
constexpr auto kPollPause = std::chrono::microseconds(200);  // Open MPI's blocking calls would spin a core

// Test hook for the kill-and-resume tests: FATSIM_MPI_TEST_DIE_RANK=R makes
// rank R SIGKILL itself once rank 0 has taken in the results of block 0, so
// the test kills a rank mid-run deterministically instead of racing a fast
// machine to the end of the campaign. While it is set, rank 0 evaluates
// nothing itself, so every worker gets blocks whatever the machine's speed.
int test_die_rank() {
    const char* v = std::getenv("FATSIM_MPI_TEST_DIE_RANK");
    return v && *v ? std::atoi(v) : -1;
}
void die_here_if_asked(int rank) {
    if (test_die_rank() == rank) std::raise(SIGKILL);
}

// Initialises MPI for the lifetime of one distributed run.
struct Session {
    int rank = 0, ranks = 1;
    Session() {
        int provided = 0;
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);  // only this thread calls MPI
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    }
    ~Session() { MPI_Finalize(); }
};

// Waits (politely) for a message matching (source, tag) and receives it.
Words receive(int source, int tag, MPI_Status& st) {
    for (int flag = 0;;) {
        MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        std::this_thread::sleep_for(kPollPause);
    }
    int n = 0;
    MPI_Get_count(&st, MPI_INT64_T, &n);
    Words msg(size_t(std::max(n, 0)));
    MPI_Recv(msg.data(), n, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return msg;
}

void send(const Words& msg, int dest, int tag) {
    MPI_Send(msg.data(), int(msg.size()), MPI_INT64_T, dest, tag, MPI_COMM_WORLD);
}

// Items per block: about four blocks per rank for balance, no more, since
// each block starts with a fault-free pass over every image.
size_t block_size(size_t items, int ranks, size_t max_block) {
    return std::max<size_t>(1, std::min(max_block, std::max<size_t>(16, items / (size_t(ranks) * 4))));
}

class Coordinator {
public:
    explicit Coordinator(int ranks) : ranks_(ranks) {}

    bool run(const BlockJob& job) {
        const size_t block = block_size(job.items, ranks_, job.max_block);
        size_t next = 0;
        bool keep = true;
        const auto take = [&](size_t first, size_t n, const Words& results) {
            if (keep) keep = job.deliver(first, n, results);
        };
        const auto hand_out = [&](int worker) {
            if (!keep || next >= job.items) return;
            const size_t n = std::min(block, job.items - next);
            Words msg{int64_t(next), int64_t(n)};
            const Words work = job.describe(next, n);
            msg.insert(msg.end(), work.begin(), work.end());
            send(msg, worker, kWork);
            next += n;
            ++outstanding_;
        };
        for (int d = 0; d < kBlocksInFlight; ++d)
            for (int w = 1; w < ranks_; ++w) hand_out(w);
        while (outstanding_ > 0 || (keep && next < job.items)) {
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, kResult, MPI_COMM_WORLD, &flag, &st);
            if (flag) {
                const Words msg = receive(st.MPI_SOURCE, kResult, st);
                --outstanding_;
                if (msg.size() < 2) throw std::runtime_error("malformed result message from rank " + std::to_string(st.MPI_SOURCE));
                const size_t first = size_t(msg[0]);
                take(first, size_t(msg[1]), Words(msg.begin() + 2, msg.end()));
                if (first == 0) die_here_if_asked(0);  // block 0's rows are on disk by now
                hand_out(st.MPI_SOURCE);
            } else if (keep && next < job.items && test_die_rank() < 0) {
                // Nothing to collect: evaluate a block here rather than wait.
                const size_t first = next, n = std::min(block, job.items - next);
                next += n;
                take(first, n, job.evaluate(job.describe(first, n)));
            } else {
                std::this_thread::sleep_for(kPollPause);
            }
        }
        stop_workers();
        return keep;
    }

    // Collects the blocks still out (so no worker is left blocked in a send)
    // and tells every worker to finish.
    void stop_workers() {
        if (stopped_) return;
        stopped_ = true;
        for (MPI_Status st; outstanding_ > 0; --outstanding_) receive(MPI_ANY_SOURCE, kResult, st);
        for (int w = 1; w < ranks_; ++w) send({}, w, kStop);
    }

private:
    int ranks_, outstanding_ = 0;
    bool stopped_ = false;
};

void serve(int rank, const std::function<Words(const Words&)>& evaluate) {
    for (int blocks_received = 0;;) {
        MPI_Status st;
        const Words msg = receive(0, MPI_ANY_TAG, st);
        if (st.MPI_TAG == kStop) return;
        // A third block is handed out only after rank 0 took in this worker's first.
        if (++blocks_received == kBlocksInFlight + 1) die_here_if_asked(rank);
        if (msg.size() < 2) throw std::runtime_error("malformed work message from rank 0");
        Words reply{msg[0], msg[1]};
        const Words results = evaluate(Words(msg.begin() + 2, msg.end()));
        reply.insert(reply.end(), results.begin(), results.end());
        send(reply, 0, kResult);
    }
}

}  // namespace

bool launched() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
        if (std::getenv(v)) return true;
    return false;
}

Ranks run_distributed(const char* command, const std::function<void(const Distribute&)>& lead,
                      const std::function<std::function<Words(const Words&)>()>& make_worker) {
    const Session session;
    const Ranks out{session.rank, session.ranks};
    if (session.ranks == 1) {
        lead(Distribute());
        return out;
    }
    if (session.rank != 0) {
        try {
            serve(session.rank, make_worker());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "fatsim %s: error on rank %d: %s\n", command, session.rank, e.what());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        return out;
    }
    Coordinator coordinator(session.ranks);
    try {
        lead([&](const BlockJob& job) { return coordinator.run(job); });
    } catch (...) {
        coordinator.stop_workers();  // they finish cleanly; the error is rank 0's to report
        throw;
    }
    coordinator.stop_workers();  // nothing was left to evaluate (a complete campaign resumed)
    return out;
}

DistributedOutcome run_campaign_distributed(const CampaignSpec& spec, const CampaignOptions& opt) {
    DistributedOutcome out;
    const Ranks r = run_distributed(
        "campaign",
        [&](const Distribute& distribute) {
            CampaignOptions o = opt;
            o.distribute = distribute;
            out.outcome = run_campaign(spec, o);
        },
        [&] { return campaign_block_evaluator(spec, opt); });
    out.rank = r.rank;
    out.ranks = r.ranks;
    return out;
}

}  // namespace fatsim::campaigns::mpi
