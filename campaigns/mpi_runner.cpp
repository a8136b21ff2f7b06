// Rank 0: coordinator (and evaluator when idle); ranks 1..N-1: workers.
// Messages are int arrays on MPI_COMM_WORLD:
//   kWork   0 -> w: [first position, (layer, index, code) per fault]
//   kResult w -> 0: [first position, (correct, changed) per fault]
//   kStop   0 -> w: [] no more work
#include "mpi_runner.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "engine.hpp"
#include "model.hpp"

namespace fatsim::campaigns::mpi {

namespace {

enum Tag : int { kWork = 1, kResult = 2, kStop = 3 };
constexpr int kBlocksInFlight = 2;  // per worker: it starts the next block while rank 0 is busy
constexpr auto kPollPause = std::chrono::microseconds(200);  // Open MPI's blocking calls would spin a core

// Test hook for the kill-and-resume test: FATSIM_MPI_TEST_DIE_RANK=R makes
// rank R SIGKILL itself once rank 0 has written the rows of block 0, so the
// test kills a rank mid-run deterministically instead of racing a fast machine
// to the end of the campaign. While it is set, rank 0 evaluates nothing itself,
// so every worker gets blocks whatever the machine's speed.
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
std::vector<int> receive(int source, int tag, MPI_Status& st) {
    for (int flag = 0;;) {
        MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        std::this_thread::sleep_for(kPollPause);
    }
    int n = 0;
    MPI_Get_count(&st, MPI_INT, &n);
    std::vector<int> msg(n);
    MPI_Recv(msg.data(), n, MPI_INT, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return msg;
}

void send(const std::vector<int>& msg, int dest, int tag) {
    MPI_Send(msg.data(), int(msg.size()), MPI_INT, dest, tag, MPI_COMM_WORLD);
}

// Faults per block: about four blocks per rank for balance, no more, since
// each block's sweep starts with a fault-free pass over every image.
size_t block_size(size_t faults, int ranks) {
    return std::clamp<size_t>(faults / (size_t(ranks) * 4), 16, 4096);
}

class Coordinator {
public:
    explicit Coordinator(int ranks) : ranks_(ranks) {}

    bool run(const EngineEvaluator& local, const std::vector<SweepFault>& faults, Progress* progress,
             const std::function<bool(size_t, const FaultResult&)>& on_done) {
        const size_t block = block_size(faults.size(), ranks_);
        size_t next = 0;
        bool keep = true;
        const auto deliver = [&](size_t position, const FaultResult& r) {
            if (!keep) return false;
            if (progress) progress->add(1);
            keep = on_done(position, r);
            return keep;
        };
        const auto hand_out = [&](int worker) {
            if (!keep || next >= faults.size()) return;
            const size_t n = std::min(block, faults.size() - next);
            std::vector<int> msg{int(next)};
            for (size_t k = next; k < next + n; ++k)
                msg.insert(msg.end(), {faults[k].layer, faults[k].index, faults[k].code});
            send(msg, worker, kWork);
            next += n;
            ++outstanding_;
        };
        for (int d = 0; d < kBlocksInFlight; ++d)
            for (int w = 1; w < ranks_; ++w) hand_out(w);
        while (outstanding_ > 0 || (keep && next < faults.size())) {
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, kResult, MPI_COMM_WORLD, &flag, &st);
            if (flag) {
                const std::vector<int> msg = receive(st.MPI_SOURCE, kResult, st);
                --outstanding_;
                const size_t first = size_t(msg.at(0));
                for (size_t i = 0; i < (msg.size() - 1) / 2; ++i) {
                    FaultResult r;
                    r.fault = faults.at(first + i);
                    r.correct = msg[1 + 2 * i];
                    r.changed = msg[2 + 2 * i];
                    deliver(first + i, r);
                }
                if (first == 0) die_here_if_asked(0);  // block 0's rows are on disk by now
                hand_out(st.MPI_SOURCE);
            } else if (keep && next < faults.size() && test_die_rank() < 0) {
                // Nothing to collect: evaluate a block here rather than wait.
                const size_t first = next, n = std::min(block, faults.size() - next);
                next += n;
                const std::vector<SweepFault> part(faults.begin() + first, faults.begin() + first + n);
                local.run(part, nullptr, [&](size_t k, const FaultResult& r) { return deliver(first + k, r); });
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

void serve(int rank, const CampaignSpec& spec, const CampaignOptions& opt) {
    const QnnModel model = load_model(spec.model);
    const InputBatch batch = campaign_images(spec, model.topology);
    const Engine engine(model);
    const EngineEvaluator evaluator(engine, batch, spec.error_model, opt.mode, spec.threads);
    for (int blocks_received = 0;;) {
        MPI_Status st;
        const std::vector<int> msg = receive(0, MPI_ANY_TAG, st);
        if (st.MPI_TAG == kStop) return;
        // A third block is handed out only after rank 0 wrote this worker's first.
        if (++blocks_received == kBlocksInFlight + 1) die_here_if_asked(rank);
        if (msg.empty() || (msg.size() - 1) % 3 != 0) throw std::runtime_error("malformed work message from rank 0");
        std::vector<SweepFault> block;
        for (size_t i = 1; i < msg.size(); i += 3) block.push_back({msg[i], msg[i + 1], msg[i + 2]});
        std::vector<int> reply(1 + 2 * block.size());
        reply[0] = msg[0];
        evaluator.run(block, nullptr, [&](size_t k, const FaultResult& r) {
            reply[1 + 2 * k] = r.correct;
            reply[2 + 2 * k] = r.changed;
            return true;
        });
        send(reply, 0, kResult);
    }
}

}  // namespace

bool launched() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
        if (std::getenv(v)) return true;
    return false;
}

DistributedOutcome run_campaign_distributed(const CampaignSpec& spec, const CampaignOptions& opt) {
    const Session session;
    DistributedOutcome out;
    out.rank = session.rank;
    out.ranks = session.ranks;
    if (session.ranks == 1) {
        out.outcome = run_campaign(spec, opt);
        return out;
    }
    if (session.rank != 0) {
        try {
            serve(session.rank, spec, opt);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "fatsim campaign: error on rank %d: %s\n", session.rank, e.what());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        return out;
    }
    Coordinator coordinator(session.ranks);
    CampaignOptions o = opt;
    o.distribute = [&](const EngineEvaluator& local, const std::vector<SweepFault>& faults, Progress* progress,
                       const std::function<bool(size_t, const FaultResult&)>& on_done) {
        return coordinator.run(local, faults, progress, on_done);
    };
    try {
        out.outcome = run_campaign(spec, o);
    } catch (...) {
        coordinator.stop_workers();  // they finish cleanly; the error is rank 0's to report
        throw;
    }
    coordinator.stop_workers();  // nothing was left to evaluate (a complete campaign resumed)
    return out;
}

}  // namespace fatsim::campaigns::mpi
