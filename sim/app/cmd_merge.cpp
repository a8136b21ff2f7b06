// merge: join the shard folders of `fatsim campaign --shard K/N` (or of
// `fatsim map-faults --shard K/N`) into the files of a single-process run.
#include <cstdio>

#include "app.hpp"
#include "files.hpp"
#include "physical_campaign.hpp"
#include "report.hpp"
#include "shard.hpp"

namespace fatsim::app {

int cmd_merge(const Args& args) {
    po::options_description desc("fatsim merge options");
    desc.add_options()
        ("dirs", po::value<std::vector<std::string>>()->multitoken(),
         "shard folders (OUTPUT/shard-K-of-N), or campaign folders holding them")
        ("output,o", po::value<std::string>()->default_value(""), "results folder (default: the shards' parent)");
    po::positional_options_description pos;
    pos.add("dirs", -1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim merge DIR... [--output OUT]", &pos)) return 0;
    if (!vm.count("dirs")) throw UsageError("give the shard folders (or the campaign folder holding them)");
    const auto joined =
        campaigns::join_shards(vm["dirs"].as<std::vector<std::string>>(), vm["output"].as<std::string>());
    const bool physical = joined.manifest.value("kind", std::string()) == "physical-faults";  // map-faults shards
    const auto r = physical ? campaigns::merge_physical_shards(joined) : campaigns::merge_campaign_shards(joined);
    std::printf("merged %d shards: %d faults\n", r.shards, r.faults);
    std::printf("wrote %s and %s\n", r.csv.c_str(), r.summary.c_str());
    if (physical)
        std::printf("\n%s", campaigns::format_physical_summary(nlohmann::json::parse(read_text_file(r.summary))).c_str());
    else
        std::printf("\n%s", campaigns::table_one(r.output).c_str());
    return 0;
}

}  // namespace fatsim::app
