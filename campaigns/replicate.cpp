#include "replicate.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "campaign.hpp"
#include "files.hpp"
#include "report.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace fatsim::campaigns {

std::vector<ChannelCriticality> read_channel_criticality(const std::string& path, const Topology& topo) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string line;
    if (!std::getline(f, line)) throw std::runtime_error(path + ": empty file, expected a channel sweep CSV");
    const auto header = fault_csv::split(line);
    // Columns by name: campaign (faults.csv) and sweep CSVs share these.
    auto col = [&](const std::string& name) {
        const int c = fault_csv::column(line, name);
        if (c < 0)
            throw std::runtime_error(path + ": line 1: no '" + name + "' column (a channel sweep CSV has layer, channel, value, accuracy)");
        return size_t(c);
    };
    const size_t cl = col(fault_csv::kLayer), cc = col(fault_csv::index_column(ErrorModelKind::Channel)),
                 ca = col(fault_csv::kAccuracy);
    std::map<std::pair<int, int>, double> worst;
    for (int lineno = 2; std::getline(f, line); ++lineno) {
        if (line.empty()) continue;
        const auto cells = fault_csv::split(line);
        const std::string where = path + ": line " + std::to_string(lineno) + ": ";
        if (cells.size() < header.size()) throw std::runtime_error(where + "has " + std::to_string(cells.size()) + " columns, expected " + std::to_string(header.size()));
        const int layer = topo.find_layer(cells[cl]);
        if (layer < 0) throw std::runtime_error(where + "layer '" + cells[cl] + "' is not in topology " + topo.name);
        int ch;
        double acc;
        try {
            ch = std::stoi(cells[cc]);
            acc = std::stod(cells[ca]);
        } catch (const std::exception&) {
            throw std::runtime_error(where + "channel and accuracy must be numbers");
        }
        if (ch < 0 || ch >= topo.layers[layer].mh()) throw std::runtime_error(where + "channel " + std::to_string(ch) + " out of range for " + cells[cl]);
        auto [it, fresh] = worst.emplace(std::make_pair(layer, ch), acc);
        if (!fresh) it->second = std::min(it->second, acc);
    }
    std::vector<ChannelCriticality> out;
    for (const auto& [key, acc] : worst) out.push_back({key.first, key.second, acc});
    return out;
}

std::vector<ReplicationPoint> replication_tradeoff(const Topology& topo, const AccelConfig* folding,
                                                   double error_free_accuracy,
                                                   std::vector<ChannelCriticality> channels) {
    // Most critical first; ties broken by position so the order is deterministic.
    std::sort(channels.begin(), channels.end(), [](const auto& a, const auto& b) {
        if (a.worst_accuracy != b.worst_accuracy) return a.worst_accuracy < b.worst_accuracy;
        return std::make_pair(a.layer, a.channel) < std::make_pair(b.layer, b.channel);
    });
    const int L = int(topo.layers.size());
    double total_macs = 0;
    std::vector<double> channel_macs(L), outputs(L);
    for (int l = 0; l < L; ++l) {
        const LayerSpec& s = topo.layers[l];
        outputs[l] = double(s.out_dim) * s.out_dim;
        channel_macs[l] = outputs[l] * s.mw();
        total_macs += channel_macs[l] * s.mh();
    }
    double base_pe_simd = 0;
    if (folding)
        for (int l = 0; l < L; ++l) base_pe_simd += double(folding->layers[l].pe) * folding->layers[l].simd;
    std::vector<int> tripled(L, 0);
    auto folded_cost = [&]() {
        if (!folding) return 0.0;
        double r = 0;
        for (int l = 0; l < L; ++l) {
            const LayerFolding& f = folding->layers[l];
            const int rows = f.rows();
            const int nf = rows / f.pe;
            int pe = (rows + 2 * tripled[l] + nf - 1) / nf;
            if (tripled[l] > 0) pe = std::max(pe, 3);
            r += double(pe) * f.simd;
        }
        return r / base_pe_simd;
    };

    std::vector<ReplicationPoint> curve;
    double extra = 0;
    // worst-case error after protecting the first k channels: the least
    // accuracy among the rest (suffix minimum), or error-free when all are protected.
    std::vector<double> suffix_min(channels.size() + 1, error_free_accuracy);
    for (size_t i = channels.size(); i-- > 0;) suffix_min[i] = std::min(suffix_min[i + 1], channels[i].worst_accuracy);
    for (size_t k = 0; k <= channels.size(); ++k) {
        ReplicationPoint p;
        p.k = int(k);
        if (k > 0) {
            const auto& c = channels[k - 1];
            extra += 2 * channel_macs[c.layer] + outputs[c.layer];
            ++tripled[c.layer];
            p.added = topo.layers[c.layer].name + ":" + std::to_string(c.channel);
        }
        p.worst_error = 100.0 - suffix_min[k];
        p.cost_unrolled = (total_macs + extra) / total_macs;
        p.cost_folded = folded_cost();
        curve.push_back(p);
    }
    return curve;
}

int channels_needed(const std::vector<ReplicationPoint>& curve, double target_error) {
    for (const auto& p : curve)
        if (p.worst_error <= target_error + 1e-9) return p.k;
    return -1;
}

std::string write_replication(const std::vector<ReplicationRun>& runs, const std::string& out) {
    std::filesystem::create_directories(out);
    for (const auto& r : runs) {
        std::ostringstream f;
        f << "k,worst_error,cost_unrolled,cost_folded,pareto,added\n";
        double best = 1e9;
        for (const auto& p : r.curve) {
            // On the Pareto front when it lowers the worst-case error (cost only grows with k).
            const bool pareto = p.worst_error < best - 1e-9;
            best = std::min(best, p.worst_error);
            f << p.k << ',' << p.worst_error << ',' << p.cost_unrolled << ',' << p.cost_folded << ','
              << (pareto ? 1 : 0) << ',' << p.added << '\n';
        }
        write_file_atomic(out + "/replication_" + r.label + ".csv", f.str());
    }
    // Fig. 9: worst-case error against normalised cost, one curve per model.
    std::ostringstream gp;
    gp << "set title 'Selective channel replication: worst-case error under single channel stuck@'\n"
       << "set xlabel 'normalised hardware cost (fully unrolled)'\nset ylabel 'worst-case error [%]'\n"
       << "set key top right\nset grid\nset datafile separator ','\nplot ";
    for (size_t i = 0; i < runs.size(); ++i)
        gp << (i ? ", " : "") << "'" << out << "/replication_" << runs[i].label
           << ".csv' skip 1 using 3:2 with steps lw 2 lc rgb '" << plot_color(i) << "' title '" << runs[i].label
           << "'";
    gp << "\n";
    return render_gnuplot(out + "/replication", gp.str());
}

std::vector<double> default_targets(const std::vector<ReplicationRun>& runs) {
    double floor_err = 0;
    for (const auto& r : runs) floor_err = std::max(floor_err, 100.0 - r.error_free);
    std::vector<double> t;
    for (double d : {0.5, 1.0, 2.0, 5.0, 10.0})
        if (floor_err + d < 100) t.push_back(std::ceil((floor_err + d) * 10) / 10);
    return t;
}

std::string replication_table(const std::vector<ReplicationRun>& runs, const std::vector<double>& targets) {
    std::ostringstream o;
    o << "| worst-case error |";
    for (const auto& r : runs) o << " " << r.label << " |";
    o << "\n|---:|";
    for (size_t i = 0; i < runs.size(); ++i) o << "---:|";
    o << "\n";
    char buf[64];
    for (double t : targets) {
        std::snprintf(buf, sizeof buf, "<= %.2f %%", t);
        o << "| " << buf << " |";
        for (const auto& r : runs) {
            const int k = channels_needed(r.curve, t);
            if (k < 0) {
                o << " unreachable |";
            } else {
                std::snprintf(buf, sizeof buf, " %d ch (%.3fx) |", k, r.curve[k].cost_unrolled);
                o << buf;
            }
        }
        o << "\n";
    }
    return o.str();
}

}  // namespace fatsim::campaigns
