#include "replicate.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "campaign.hpp"
#include "fault_site.hpp"
#include "files.hpp"
#include "report.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <variant>

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

std::string write_replication(const std::vector<ReplicationRun>& runs, const std::string& out,
                              const std::string& unit) {
    const bool pe = unit == "PE";
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
    gp << (pe ? "set title 'Selective PE replication: worst-case error under the physical faults run'\n"
              : "set title 'Selective channel replication: worst-case error under single channel stuck@'\n")
       << (pe ? "set xlabel 'normalised hardware cost (PE x SIMD lanes)'\n"
              : "set xlabel 'normalised hardware cost (fully unrolled)'\n")
       << "set ylabel 'worst-case error [%]'\n"
       << "set key top right\nset grid\nset datafile separator ','\nplot ";
    for (size_t i = 0; i < runs.size(); ++i)
        gp << (i ? ", " : "") << "'" << out << "/replication_" << runs[i].label
           << ".csv' skip 1 using " << (pe ? 4 : 3) << ":2 with steps lw 2 lc rgb '" << plot_color(i) << "' title '" << runs[i].label
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

std::string replication_table(const std::vector<ReplicationRun>& runs, const std::vector<double>& targets,
                              const std::string& unit) {
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
                std::snprintf(buf, sizeof buf, " %d %s (%.3fx) |", k, unit.c_str(),
                              unit == "ch" ? r.curve[k].cost_unrolled : r.curve[k].cost_folded);
                o << buf;
            }
        }
        o << "\n";
    }
    return o.str();
}

std::vector<SiteAccuracy> read_site_accuracy(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string line;
    if (!std::getline(f, line)) throw std::runtime_error(path + ": empty file, expected a physical faults.csv");
    const size_t columns = fault_csv::split(line).size();
    const int cs = fault_csv::column(line, "site"), ca = fault_csv::column(line, fault_csv::kAccuracy);
    if (cs < 0 || ca < 0)
        throw std::runtime_error(path + ": line 1: no 'site' and 'accuracy' columns (not a `fatsim map-faults` faults.csv)");
    std::vector<SiteAccuracy> out;
    for (int lineno = 2; std::getline(f, line); ++lineno) {
        if (line.empty()) continue;
        const auto cells = fault_csv::split(line);
        const std::string where = path + ": line " + std::to_string(lineno) + ": ";
        if (cells.size() != columns)
            throw std::runtime_error(where + "has " + std::to_string(cells.size()) + " columns, expected " + std::to_string(columns));
        SiteAccuracy r;
        r.site = cells[size_t(cs)];
        char* end = nullptr;
        r.accuracy = std::strtod(cells[size_t(ca)].c_str(), &end);
        if (cells[size_t(ca)].empty() || *end != '\0' || !(r.accuracy >= 0 && r.accuracy <= 100))
            throw std::runtime_error(where + "accuracy '" + cells[size_t(ca)] + "' is not a percentage");
        out.push_back(r);
    }
    return out;
}

PhysicalCriticality pe_criticality(const std::vector<SiteAccuracy>& rows, const AccelConfig& accel,
                                   const Topology& topo) {
    PhysicalCriticality c;
    if (accel.architecture == Architecture::Dataflow) {
        for (const LayerFolding& f : accel.layers) c.total_lanes += double(f.pe) * f.simd;
    } else {
        c.total_lanes = double(accel.loopback.pe) * accel.loopback.simd;
    }
    std::map<std::string, size_t> index;
    for (const auto& r : rows) {
        const FaultSite site = parse_fault_site(r.site);
        std::string layer;
        int p = -1;
        std::visit([&](const auto& w) {
            using W = std::decay_t<decltype(w)>;
            if constexpr (std::is_same_v<W, FifoBit> || std::is_same_v<W, FmBufBit>) {
                (void)w;  // outside every PE
            } else {
                layer = w.layer;
                p = w.pe;
            }
        }, site.where);
        if (p < 0) {
            c.outside_worst = std::min(c.outside_worst, r.accuracy);
            ++c.outside_faults;
            continue;
        }
        const std::string pe = layer + ".pe[" + std::to_string(p) + "]";
        auto [it, fresh] = index.emplace(pe, c.pes.size());
        if (fresh) {
            PeCriticality e;
            e.pe = pe;
            e.worst_accuracy = r.accuracy;
            if (accel.architecture == Architecture::Dataflow) {
                const int l = topo.find_layer(layer);
                if (l < 0 || size_t(l) >= accel.layers.size() || p >= accel.layers[size_t(l)].pe)
                    throw std::invalid_argument("site " + r.site + ": no " + pe + " in " + accel.source);
                e.lanes = accel.layers[size_t(l)].simd;
            } else {
                if (p >= accel.loopback.pe)
                    throw std::invalid_argument("site " + r.site + ": no " + pe + " in " + accel.source);
                e.lanes = accel.loopback.simd;
            }
            c.pes.push_back(e);
        }
        PeCriticality& e = c.pes[it->second];
        e.worst_accuracy = std::min(e.worst_accuracy, r.accuracy);
        ++e.faults;
    }
    return c;
}

std::vector<ReplicationPoint> pe_replication_tradeoff(double error_free_accuracy, PhysicalCriticality crit) {
    auto& pes = crit.pes;
    // Most critical first; ties by name so the order is deterministic.
    std::sort(pes.begin(), pes.end(), [](const auto& a, const auto& b) {
        if (a.worst_accuracy != b.worst_accuracy) return a.worst_accuracy < b.worst_accuracy;
        return a.pe < b.pe;
    });
    const double floor_acc = std::min(error_free_accuracy, crit.outside_worst);
    std::vector<double> suffix_min(pes.size() + 1, floor_acc);
    for (size_t i = pes.size(); i-- > 0;) suffix_min[i] = std::min(suffix_min[i + 1], pes[i].worst_accuracy);
    std::vector<ReplicationPoint> curve;
    double extra = 0;
    for (size_t k = 0; k <= pes.size(); ++k) {
        ReplicationPoint p;
        p.k = int(k);
        if (k > 0) {
            extra += 2.0 * pes[k - 1].lanes;
            p.added = pes[k - 1].pe;
        }
        p.worst_error = 100.0 - suffix_min[k];
        p.cost_folded = p.cost_unrolled = crit.total_lanes > 0 ? (crit.total_lanes + extra) / crit.total_lanes : 0;
        curve.push_back(p);
    }
    return curve;
}

}  // namespace fatsim::campaigns
