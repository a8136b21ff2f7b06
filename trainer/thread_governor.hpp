// The training loop's thread count, adapted to the machine's load. On a
// shared machine a process busy on one core makes LibTorch's 2-thread team
// wait for its slower thread at every parallel region, so 2 threads ran
// slower than 1 (README "fatsim train"); the governor runs as many threads as
// there are cores that other processes leave free (at least 1, at most the
// maximum). Changing the count mid-training is only allowed because the
// trainer's results do not depend on it (ThreadInvariantConv, nn.hpp).
// No LibTorch here: the caller applies the count.
#pragma once
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace fatsim::trainer {

// Cores that other processes kept busy since the last call: busy time of the
// CPUs this process may run on (/proc/stat, steal included) minus this
// process's own CPU time, over the wall time. 0 where /proc/stat is missing.
class OtherLoadMeter {
public:
    OtherLoadMeter() {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) == 0)
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &set)) cpus_.push_back(c);
        read(busy_, self_, wall_);
    }
    int cores() const { return std::max<int>(1, int(cpus_.size())); }
    double operator()() {
        double busy, self, wall;
        read(busy, self, wall);
        const double dw = wall - wall_;
        const double others = dw > 0 ? ((busy - busy_) - (self - self_)) / dw : 0.0;
        busy_ = busy, self_ = self, wall_ = wall;
        return std::clamp(others, 0.0, double(cores()));
    }

private:
    void read(double& busy, double& self, double& wall) const {
        wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        self = double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
        busy = 0;
        std::ifstream f("/proc/stat");
        const double hz = double(sysconf(_SC_CLK_TCK));
        for (std::string line; std::getline(f, line);) {
            if (line.compare(0, 3, "cpu") != 0 || line.size() < 4 || !std::isdigit(static_cast<unsigned char>(line[3])))
                continue;
            std::istringstream in(line.substr(3));
            int cpu;
            double user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
            in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
            if (std::find(cpus_.begin(), cpus_.end(), cpu) != cpus_.end())
                busy += (user + nice + sys + irq + softirq + steal) / hz;
        }
    }
    std::vector<int> cpus_;
    double busy_ = 0, self_ = 0, wall_ = 0;
};

class ThreadGovernor {
public:
    struct Options {
        int max_threads = 2;
        bool adapt = true;        // false: always max_threads
        int window = 16;          // batches between two load readings
        int alternate_every = 0;  // tests: switch between max_threads and one fewer every N batches
    };
    // cores: the CPUs this process may use; other_load: cores other processes
    // kept busy since its last call (OtherLoadMeter in the trainer, a script in tests).
    ThreadGovernor(Options o, int cores, std::function<double()> other_load)
        : o_(o), cores_(std::max(1, cores)), load_(std::move(other_load)), cur_(std::max(1, o.max_threads)) {
        counts_.assign(size_t(cur_) + 1, 0);
    }

    int threads() const { return cur_; }
    // Batches run at each thread count so far (index = count).
    long batches_at(int threads) const {
        return threads >= 0 && size_t(threads) < counts_.size() ? counts_[size_t(threads)] : 0;
    }

    // After each batch: the count for the next one. Every window batches the
    // load is read; the count changes when two readings in a row want the same
    // other count (the free cores, rounded, between 1 and max_threads).
    int batch_done() {
        ++counts_[size_t(cur_)];
        ++batches_;
        if (o_.max_threads <= 1 || !o_.adapt) return cur_;
        if (o_.alternate_every > 0) {
            if (batches_ % o_.alternate_every == 0) cur_ = cur_ == o_.max_threads ? o_.max_threads - 1 : o_.max_threads;
            return cur_;
        }
        if (batches_ % o_.window != 0) return cur_;
        const double free_cores = double(cores_) - (load_ ? load_() : 0.0);
        const int want = std::clamp(int(std::floor(free_cores + 0.5)), 1, o_.max_threads);
        if (want != cur_ && want == last_want_) cur_ = want;
        last_want_ = want;
        return cur_;
    }

private:
    Options o_;
    int cores_;
    std::function<double()> load_;
    int cur_, last_want_ = 0;
    long batches_ = 0;
    std::vector<long> counts_;
};

}  // namespace fatsim::trainer
