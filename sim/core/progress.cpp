#include "progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace fatsim {

std::string format_duration(double s) {
    char buf[32];
    if (s < 0 || s != s) return "--:--";
    const long t = long(s + 0.5);
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
    return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(int64_t n) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    done_ += n;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_draw_).count();
    if (since >= (tty_ ? 0.2 : 10.0)) {
        last_draw_ = now;
        draw(false);
    }
}

void Progress::finish() {
    if (!enabled_ || finished_) return;
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    draw(true);
}

void Progress::draw(bool final_line) {
    const double el = elapsed_s();
    const double rate = el > 0 ? done_ / el : 0;
    const double left = rate > 0 ? (total_ - done_) / rate : -1;
    const double frac = total_ > 0 ? double(done_) / total_ : 1.0;
    const int width = 30, filled = int(frac * width + 0.5);
    std::string bar(size_t(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s%s [%s] %3.0f%% %lld/%lld %s, %.1f %s/s, %s %s%s", tty_ ? "\r" : "", label_.c_str(),
                 bar.c_str(), 100 * frac, (long long)done_, (long long)total_, unit_.c_str(), rate, unit_.c_str(),
                 final_line ? "took" : "left", format_duration(final_line ? el : left).c_str(),
                 (final_line || !tty_) ? "\n" : "");
    std::fflush(stderr);
}

}  // namespace fatsim
