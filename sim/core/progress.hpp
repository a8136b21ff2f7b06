// Progress bar for long work: rate and time left on stderr. Redraws in place
// on a terminal; on a pipe or log it prints a line at most every few seconds.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace fatsim {

class Progress {
public:
    Progress(std::string label, int64_t total, std::string unit = "it", bool enabled = true);
    ~Progress();
    void add(int64_t n = 1);   // thread-safe
    void finish();
    double elapsed_s() const;

private:
    void draw(bool final_line);
    std::string label_, unit_;
    int64_t total_, done_ = 0;
    bool enabled_, tty_, finished_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
    std::mutex mu_;
};

std::string format_duration(double seconds);

}  // namespace fatsim
