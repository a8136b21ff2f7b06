// Reports of finished campaigns: the paper's Table I (per layer min/max for
// each stuck value), Table II/III-style comparisons of several results side by
// side, and the Fig. 3/6 scatter (min/max accuracy per layer, error-free line)
// through gnuplot.
#pragma once
#include <string>
#include <vector>

namespace fatsim::campaigns {

// A results folder (with summary.json) or a summary.json path.
std::string table_one(const std::string& results);
std::string comparison_table(const std::vector<std::string>& results);
// Writes <out_stem>.gp with the terminal and output set, then plot_commands,
// and runs gnuplot; renders <out_stem>.png (pngcairo or png) or .svg when
// gnuplot has no PNG terminal. Returns the image path.
std::string render_gnuplot(const std::string& out_stem, const std::string& plot_commands,
                           const std::string& format = "auto");
const char* plot_color(size_t i);
// The Fig. 3/6 scatter: writes <out_stem>.dat/.gp and renders <out_stem>.png (pngcairo or png) or
// .svg when gnuplot has no PNG terminal; returns the image path.
std::string plot_min_max(const std::vector<std::string>& results, const std::string& out_stem,
                         const std::string& format = "auto");

}  // namespace fatsim::campaigns
