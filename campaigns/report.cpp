#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "files.hpp"

namespace fatsim::campaigns {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json load_summary(const std::string& results) {
    fs::path p(results);
    if (fs::is_directory(p)) p /= "summary.json";
    std::ifstream f(p);
    if (!f) throw std::runtime_error(p.string() + ": cannot open (is the campaign finished?)");
    try {
        return json::parse(f);
    } catch (const std::exception& e) {
        throw std::runtime_error(p.string() + ": " + e.what());
    }
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

bool has_terminal(const std::string& name) {
    FILE* p = popen("gnuplot -e 'set terminal' 2>&1", "r");
    if (!p) return false;
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
    std::stringstream ss(out);
    for (std::string line; std::getline(ss, line);) {
        std::stringstream ls(line);
        std::string first;
        ls >> first;
        if (first == name) return true;
    }
    return false;
}

}  // namespace

std::string table_one(const std::string& results) {
    const json s = load_summary(results);
    std::ostringstream o;
    std::vector<int> values;
    for (const auto& l : s["per_layer"])
        for (const auto& v : l["values"])
            if (std::find(values.begin(), values.end(), v["value"].get<int>()) == values.end())
                values.push_back(v["value"].get<int>());
    std::sort(values.begin(), values.end());
    const std::string unit = s["error_model"] == "channel" ? "channels" : "pixels";
    o << "Table I: " << s["name"].get<std::string>() << " (" << s["topology"].get<std::string>() << ", "
      << s["error_model"].get<std::string>() << " stuck@, " << s["images"].get<int>() << " images)\n";
    o << "Error-free: " << fmt("%.2f", s["error_free_accuracy"].get<double>()) << "%\n";
    o << "| layer | " << unit << " |";
    for (int v : values) o << " s@" << v << " min | s@" << v << " max |";
    o << "\n|---|---:|";
    for (size_t i = 0; i < values.size(); ++i) o << "---:|---:|";
    o << "\n";
    for (const auto& l : s["per_layer"]) {
        o << "| " << l["layer"].get<std::string>() << " | " << l[unit].get<int>() << " |";
        for (int v : values) {
            bool found = false;
            for (const auto& x : l["values"])
                if (x["value"].get<int>() == v) {
                    o << " " << fmt("%.2f", x["min"].get<double>()) << " | " << fmt("%.2f", x["max"].get<double>())
                      << " |";
                    found = true;
                }
            if (!found) o << " - | - |";
        }
        o << "\n";
    }
    o << "min " << fmt("%.2f", s["min_accuracy"].get<double>()) << "%, variance "
      << fmt("%.3f", s["variance"].get<double>()) << " over " << s["faults"].get<int>() << " faults\n";
    return o.str();
}

std::string comparison_table(const std::vector<std::string>& results) {
    std::ostringstream o;
    o << "| campaign | topology | error model | images | faults | error-free [%] | min acc. [%] | variance |\n";
    o << "|---|---|---|---:|---:|---:|---:|---:|\n";
    for (const auto& r : results) {
        const json s = load_summary(r);
        o << "| " << s["name"].get<std::string>() << " | " << s["topology"].get<std::string>() << " | "
          << s["error_model"].get<std::string>() << " | " << s["images"].get<int>() << " | "
          << s["faults"].get<int>() << " | " << fmt("%.2f", s["error_free_accuracy"].get<double>()) << " | "
          << fmt("%.2f", s["min_accuracy"].get<double>()) << " | " << fmt("%.3f", s["variance"].get<double>())
          << " |\n";
    }
    return o.str();
}

std::string render_gnuplot(const std::string& out_stem, const std::string& plot_commands, const std::string& format) {
    std::string term, ext;
    if ((format == "auto" || format == "png") && has_terminal("pngcairo"))
        term = "pngcairo size 900,560 noenhanced font 'Sans,10'", ext = ".png";
    else if ((format == "auto" || format == "png") && has_terminal("png"))
        term = "png size 900,560 noenhanced", ext = ".png";
    else if (format == "auto" || format == "svg")
        term = "svg size 900,560 noenhanced", ext = ".svg";
    else
        throw std::runtime_error("gnuplot has no " + format + " terminal");
    const fs::path stem(out_stem);
    if (stem.has_parent_path()) fs::create_directories(stem.parent_path());
    const std::string image = out_stem + ext;
    // gnuplot draws into a scratch name renamed into place, so a killed run
    // leaves no partial image; the .gp file alone still draws the image.
    write_file_atomic(out_stem + ".gp", "set terminal " + term + "\nif (!exists('fatsim_image')) fatsim_image = '" +
                                            image + "'\nset output fatsim_image\n" + plot_commands);
    const std::string tmp = image + ".tmp";
    const std::string cmd = "gnuplot -e \"fatsim_image='" + tmp + "'\" '" + out_stem + ".gp' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("cannot run gnuplot");
    std::string err;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) err += buf;
    if (pclose(p) != 0 || !fs::exists(tmp)) throw std::runtime_error("gnuplot failed: " + err);
    fs::rename(tmp, image);
    return image;
}

const char* plot_color(size_t i) {
    static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
    return colors[i % 6];
}

std::string plot_min_max(const std::vector<std::string>& results, const std::string& out_stem,
                         const std::string& format) {
    // The paper's Fig. 3/6: one point per layer at (min, max) accuracy over its
    // faults, and each model's error-free accuracy on the diagonal.
    const fs::path stem(out_stem);
    if (stem.has_parent_path()) fs::create_directories(stem.parent_path());
    std::vector<json> sums;
    for (const auto& r : results) sums.push_back(load_summary(r));
    {
        std::ostringstream dat;
        for (const json& s : sums) {
            dat << "# " << s["name"].get<std::string>() << "\n# layer min max\n";
            for (const auto& l : s["per_layer"]) {
                double lo = 1e9, hi = -1e9;
                for (const auto& v : l["values"]) {
                    lo = std::min(lo, v["min"].get<double>());
                    hi = std::max(hi, v["max"].get<double>());
                }
                dat << l["layer"].get<std::string>() << " " << lo << " " << hi << "\n";
            }
            dat << "\n\n";
        }
        write_file_atomic(out_stem + ".dat", dat.str());
    }
    std::ostringstream gp;
    gp << "set title 'Single " << sums[0]["error_model"].get<std::string>()
       << " stuck@: min and max accuracy per layer'\n"
       << "set xlabel 'min. accuracy [%]'\nset ylabel 'max. accuracy [%]'\nset key outside right\nset grid\n"
       << "set offsets 1, 1, 1, 1\n";
    gp << "plot ";
    const std::string file = out_stem + ".dat";
    for (size_t i = 0; i < sums.size(); ++i) {
        const std::string name = sums[i]["name"].get<std::string>();
        const double ef = sums[i]["error_free_accuracy"].get<double>();
        if (i) gp << ", \\\n     ";
        gp << "'" << file << "' index " << i << " using 2:3 with points pt 7 ps 1.2 lc rgb '" << plot_color(i)
           << "' title '" << name << "', \\\n     "
           << "'+' using (" << ef << "):(" << ef << ") every ::0::0 with points pt 9 ps 2.2 lc rgb '"
           << plot_color(i) << "' title '" << name << " error-free'";
    }
    gp << "\n";
    return render_gnuplot(out_stem, gp.str(), format);
}

}  // namespace fatsim::campaigns
