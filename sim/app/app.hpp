// The fatsim CLI: one binary, one function per command. Each command parses
// its own options (Boost.Program_options) and returns the process exit code.
#pragma once
#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "dataset.hpp"
#include "model.hpp"
#include "shard.hpp"
#include "topology.hpp"

namespace fatsim::hw {
class Accelerator;
}

namespace fatsim::app {

namespace po = boost::program_options;
using Args = std::vector<std::string>;

// A command-line mistake: printed with the command's usage, exit code 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int cmd_eval(const Args& args);
int cmd_model(const Args& args);
int cmd_config(const Args& args);
int cmd_sweep(const Args& args);
int cmd_bench(const Args& args);
int cmd_simulate(const Args& args);   // sim/app/cmd_simulate.cpp
int cmd_bench_hw(const Args& args);   // `fatsim bench hw`
int cmd_fifo_size(const Args& args);   // cmd_fifo_size.cpp
int cmd_bench_fifo(const Args& args);  // cmd_fifo_size.cpp: `fatsim bench fifo`
int cmd_faults(const Args& args);     // cmd_faults.cpp: `fatsim faults list`
int cmd_verify_rtl(const Args& args);  // cmd_verify_rtl.cpp (only with FATSIM_HAVE_RTL)
int cmd_bench_rtl(const Args& args);    // cmd_verify_rtl.cpp: `fatsim bench rtl`
int cmd_campaign(const Args& args);        // cmd_campaign.cpp
int cmd_bench_campaign(const Args& args);  // cmd_campaign.cpp: `fatsim bench campaign`
int cmd_report(const Args& args);          // cmd_report.cpp
int cmd_map_faults(const Args& args);      // cmd_map_faults.cpp
int cmd_bench_physical(const Args& args);  // cmd_map_faults.cpp: `fatsim bench physical`
int cmd_derive_error_model(const Args& args);  // cmd_derive.cpp
int cmd_replicate(const Args& args);       // cmd_replicate.cpp
int cmd_merge(const Args& args);           // cmd_merge.cpp: join --shard folders
int cmd_import(const Args& args);  // cmd_import.cpp (only with FATSIM_HAVE_ONNX)
int cmd_train(const Args& args);   // cmd_train.cpp (only with FATSIM_HAVE_TRAINER)
int cmd_export(const Args& args);  // cmd_train.cpp (only with FATSIM_HAVE_TRAINER)
int cmd_pipeline(const Args& args);  // cmd_pipeline.cpp (only with FATSIM_HAVE_TRAINER)

// The Verilated RTL of (model, accel) for simulate --model-kind rtl (only with
// FATSIM_HAVE_RTL; throws std::invalid_argument for a folding it lacks).
std::unique_ptr<hw::Accelerator> make_rtl_model(const QnnModel& model, const AccelConfig& accel);

// Parses args against desc (+ positional); prints help and returns false on --help.
bool parse_or_help(const Args& args, const po::options_description& desc, po::variables_map& vm,
                   const std::string& usage, const po::positional_options_description* pos = nullptr);

// Throws UsageError ("--images must be at least 1") for the first of these
// int options below `min` (a count that silently meant something else is worse).
void require_at_least(const po::variables_map& vm, std::initializer_list<const char*> names, int min = 1);

// Peak resident memory of this process so far (getrusage ru_maxrss), MiB.
double peak_rss_mib();

// The machine's XNOR-popcount peak on `threads` threads at once: binary ops
// (1-bit multiply-accumulates) per second and per CPU second of a
// register-only loop of the engine's instructions (cmd_bench.cpp).
struct XnorPeak {
    double per_second = 0, per_cpu_second = 0;
};
XnorPeak measure_xnor_peak(int threads);

// Shared dataset options: --dataset, --data-dir, --images.
void add_dataset_options(po::options_description& desc);
InputBatch load_inputs(const po::variables_map& vm, const Topology& topo);

// --shard K/N of `campaign` and `map-faults` (none when absent).
campaigns::ShardSpec shard_option(const po::variables_map& vm);
// Whether this process is one rank of an MPI run (mpirun / srun started
// several); throws when --shard was given to several tasks at once, or
// several were started but the build has no MPI.
bool run_under_mpi(const campaigns::ShardSpec& shard);

// An accelerator YAML, or a FINN folding JSON (by its .json extension),
// validated against the topology of the model it will run.
AccelConfig load_accel_for_model(const std::string& path, const Topology& model_topo);

}  // namespace fatsim::app
