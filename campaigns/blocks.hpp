// Work split into blocks of consecutive items that can be evaluated in this
// process or on another MPI rank (mpi_runner.hpp): a block travels as words
// (its description, then its results), so the job says how to describe a
// block, how to evaluate a description on any rank, and how rank 0 takes in
// the results (writing rows in order). One runner serves every campaign kind.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fatsim::campaigns {

using Words = std::vector<int64_t>;

struct BlockJob {
    size_t items = 0;       // items 0 .. items-1
    size_t max_block = 1;   // most items in one block (memory, or the cost of starting a block)
    std::function<Words(size_t first, size_t n)> describe;  // what evaluating items [first, first + n) needs
    std::function<Words(const Words& work)> evaluate;       // a description -> its results (any rank)
    // Rank 0 takes the results of items [first, first + n), blocks in any
    // order; returns false to stop (no further block is handed out).
    std::function<bool(size_t first, size_t n, const Words& results)> deliver;
};

// Evaluates a job's blocks somewhere; returns whether every block was delivered.
using Distribute = std::function<bool(const BlockJob&)>;

// The blocks one after the other in this process.
inline bool run_blocks_here(const BlockJob& job) {
    for (size_t first = 0; first < job.items; first += job.max_block) {
        const size_t n = std::min(job.max_block, job.items - first);
        if (!job.deliver(first, n, job.evaluate(job.describe(first, n)))) return false;
    }
    return true;
}

// Reads a message word by word; a short message is an error naming `what`.
class WordReader {
public:
    WordReader(const Words& words, std::string what) : words_(words), what_(std::move(what)) {}
    int64_t next() {
        if (at_ >= words_.size()) throw std::runtime_error("malformed " + what_ + ": too short");
        return words_[at_++];
    }
    bool done() const { return at_ == words_.size(); }

private:
    const Words& words_;
    std::string what_;
    size_t at_ = 0;
};

}  // namespace fatsim::campaigns
