// report: Table I of one campaign, a side-by-side table of several, and the
// min/max-per-layer scatter plot through gnuplot.
#include <cstdio>

#include "app.hpp"
#include "report.hpp"

namespace fatsim::app {

int cmd_report(const Args& args) {
    po::options_description desc("fatsim report options");
    desc.add_options()
        ("results", po::value<std::vector<std::string>>()->multitoken(), "campaign results folders (summary.json)")
        ("plot,p", po::value<std::string>(), "write the min/max scatter plot to this path stem (.png or .svg added)")
        ("format", po::value<std::string>()->default_value("auto"), "plot format: auto | png | svg")
        ("no-table-one", "only the comparison table");
    po::positional_options_description pos;
    pos.add("results", -1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim report RESULTS_DIR... [--plot results/fig3]", &pos)) return 0;
    if (!vm.count("results")) throw UsageError("give at least one results folder");
    const auto results = vm["results"].as<std::vector<std::string>>();
    if (!vm.count("no-table-one"))
        for (const auto& r : results) std::printf("%s\n", campaigns::table_one(r).c_str());
    std::printf("Table II/III style comparison\n%s", campaigns::comparison_table(results).c_str());
    if (vm.count("plot"))
        std::printf("\nplot: %s\n",
                    campaigns::plot_min_max(results, vm["plot"].as<std::string>(), vm["format"].as<std::string>()).c_str());
    return 0;
}

}  // namespace fatsim::app
