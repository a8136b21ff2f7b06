// libFuzzer target: faults.csv as a resumed campaign reads it
// (ResultStore::open keeps the matching rows, rows() parses them).
#include <filesystem>

#include "campaign.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fatsim;
    namespace fs = std::filesystem;
    static const Topology topo = parse_topology(
        "name: tiny\ninput: {channels: 1, dim: 6, bits: 8}\nweight_bits: 1\nact_bits: 2\nlayers:\n"
        "  - {name: c0, type: conv, channels: 3}\n  - {name: f0, type: fc, channels: 4, act_bits: 0}\n",
        "tiny.yaml");
    static const campaigns::StuckAtFaultSource source{ErrorModelKind::Channel, {0}, {}, 0, 1};
    static const std::vector<campaigns::SweepFault> faults = source.faults(topo);
    static const fuzz::ScratchFile dir_name("-campaign");
    const std::string dir = dir_name.path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::ofstream(dir + "/manifest.json") << source.manifest(topo).dump(2) << "\n";
    std::ofstream(dir + "/faults.csv", std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), std::streamsize(size));
    fuzz::expect_clean<std::runtime_error>(dir, [&] {
        campaigns::ResultStore store(dir, ErrorModelKind::Channel);
        const size_t done = store.open(source.manifest(topo), faults, topo, false);
        const auto rows = store.rows();
        if (rows.size() != done) fuzz::fail("resume kept " + std::to_string(done) + " faults but reads " +
                                            std::to_string(rows.size()) + " rows");
    });
    return 0;
}
