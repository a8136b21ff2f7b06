// Physical-fault error patterns -> ErrorModel (see derive.hpp).
#include "derive.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config.hpp"
#include "fault_site.hpp"
#include "files.hpp"
#include "model.hpp"

namespace fatsim::campaigns {

namespace {

// A non-negative integer cell of a CSV list item; errors name where it came from.
long long parse_int(const std::string& s, const std::string& where, const char* what) {
    size_t used = 0;
    long long v = 0;
    try {
        v = std::stoll(s, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != s.size())
        throw std::runtime_error(where + ": " + what + " '" + s + "' is not an integer");
    return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    if (s.empty()) return out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, sep)) out.push_back(item);
    return out;
}

// Identity of a class for merging: everything but name and weight.
bool same_pattern(const PatternClass& a, const PatternClass& b) {
    return a.layer_scope == b.layer_scope && a.layers == b.layers && a.channels == b.channels &&
           a.pixels == b.pixels && a.effect == b.effect && a.stuck_code == b.stuck_code &&
           a.transition == b.transition;
}

}  // namespace

FaultRates parse_fault_rates(const std::string& text, const std::string& source) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw ConfigError(source, {std::string("not valid YAML: ") + e.what()});
    }
    std::vector<std::string> errs;
    FaultRates rates;
    if (!root.IsMap()) throw ConfigError(source, {"expected a mapping with the key 'rates'"});
    for (const auto& kv : root) {
        const std::string key = kv.first.as<std::string>();
        if (key != "rates") errs.push_back(key + ": unknown key (allowed: rates)");
    }
    const YAML::Node r = root["rates"];
    if (!r) errs.push_back("rates: missing");
    else if (!r.IsMap()) errs.push_back("rates: expected a mapping fault class: rate");
    else
        for (const auto& kv : r) {
            const std::string cls = kv.first.as<std::string>();
            const std::string field = "rates." + cls;
            // Stuck-at classes and their transient "-flip" forms.
            const std::string base = cls.size() > 5 && cls.compare(cls.size() - 5, 5, "-flip") == 0
                                         ? cls.substr(0, cls.size() - 5) : cls;
            SiteClass parsed;
            if (!parse_site_class(base, parsed)) {
                errs.push_back(field + ": unknown fault class (acc, adder, wmem, thr, cmp, fifo, or X-flip)");
                continue;
            }
            double v = 0;
            bool ok = kv.second.IsScalar();
            if (ok) {
                try {
                    v = kv.second.as<double>();
                } catch (const YAML::Exception&) {
                    ok = false;
                }
            }
            if (!ok || !std::isfinite(v) || v < 0) {
                errs.push_back(field + ": must be a finite number >= 0");
                continue;
            }
            rates[cls] = v;
        }
    if (!errs.empty()) throw ConfigError(source, errs);
    return rates;
}

FaultRates load_fault_rates(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(path, {"cannot read the file"});
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_fault_rates(ss.str(), path);
}

void set_effect_from_transitions(PatternClass& c, const std::string& transitions, const std::string& where) {
    std::map<int, std::map<int, long long>> counts;  // golden -> faulty -> count
    for (const auto& item : split(transitions, ';')) {
        const size_t gt = item.find('>'), colon = item.find(':');
        if (gt == std::string::npos || colon == std::string::npos || colon < gt)
            throw std::runtime_error(where + ": transition '" + item + "' is not golden>faulty:count");
        const int golden = int(parse_int(item.substr(0, gt), where, "golden code"));
        const int faulty = int(parse_int(item.substr(gt + 1, colon - gt - 1), where, "faulty code"));
        counts[golden][faulty] += parse_int(item.substr(colon + 1), where, "count");
    }
    if (counts.empty()) throw std::runtime_error(where + ": no transitions in an unmasked fault");
    std::map<int, int> table;
    for (const auto& [golden, to] : counts) {
        // The most frequent faulty code; ties go to the smallest code (deterministic).
        auto best = to.begin();
        for (auto it = to.begin(); it != to.end(); ++it)
            if (it->second > best->second) best = it;
        table[golden] = best->first;
    }
    const int first = table.begin()->second;
    const bool stuck = std::all_of(table.begin(), table.end(), [&](const auto& t) { return t.second == first; });
    if (stuck) {
        c.effect = Effect::Stuck;
        c.stuck_code = first;
        c.transition.clear();
    } else {
        c.effect = Effect::Transition;
        c.transition = table;
    }
}

ChannelSet channel_set_of(const std::string& channels, int layer_channels, const std::string& where) {
    std::vector<int> list;
    for (const auto& s : split(channels, ';')) list.push_back(int(parse_int(s, where, "channel")));
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    ChannelSet set;
    if (list.empty()) throw std::runtime_error(where + ": no channels in an unmasked fault");
    if (int(list.size()) == layer_channels) return set;  // every channel
    // One PE's channels {c : c mod m == r} (m > 1) of the layer, all of them.
    if (list.size() >= 2) {
        ChannelSet mod;
        mod.modulus = list[1] - list[0];
        mod.residue = list[0];
        if (mod.modulus > 1 && mod.residue < mod.modulus && mod.resolve(layer_channels) == list) return mod;
    }
    set.list = list;
    return set;
}

DerivedErrorModel derive_error_model(const std::vector<physical_csv::Row>& rows,
                                     const std::map<std::string, double>& population, const Topology& topo,
                                     const DeriveOptions& opt) {
    DerivedErrorModel out;
    out.faults = rows.size();
    std::map<std::string, size_t> mapped;  // faults per class in the CSV
    for (const auto& r : rows) ++mapped[r.cls];
    std::vector<PatternClass> classes;
    for (size_t k = 0; k < rows.size(); ++k) {
        const auto& r = rows[k];
        const std::string where = "faults.csv row " + std::to_string(k + 1) + " (" + r.site + ")";
        if (r.masked) {
            ++out.masked;
            continue;
        }
        // The layers it changed (a loopback fault: several, ';'-separated);
        // the classifier's scores are not codes a pattern can describe.
        std::vector<std::string> layers;
        int widest = -1;  // the listed layer with the most channels
        for (const std::string& name : split(r.layer, ';')) {
            const int l = topo.find_layer(name);
            if (l < 0 && name != "input") throw std::runtime_error(where + ": layer '" + name + "' is not a layer of the model");
            if (l < 0 || topo.layers[size_t(l)].act_bits == 0) continue;
            layers.push_back(name);
            if (widest < 0 || topo.layers[size_t(l)].mh() > topo.layers[size_t(widest)].mh()) widest = l;
        }
        if (layers.empty() || r.transitions.empty()) {
            ++out.unrepresentable;
            continue;
        }
        const auto rate_it = opt.rates.find(r.cls);
        const double rate = rate_it == opt.rates.end() ? 1.0 : rate_it->second;
        if (rate == 0) {
            ++out.zero_rate;
            continue;
        }
        const auto pop = population.find(r.cls);
        // A sampled class's fault stands for population / mapped faults of it.
        const double represents = pop == population.end() ? 1.0 : pop->second / double(mapped[r.cls]);
        PatternClass c;
        c.layer_scope = LayerScope::Listed;
        c.layers = layers;
        c.channels = channel_set_of(r.channels, topo.layers[size_t(widest)].mh(), where);
        set_effect_from_transitions(c, r.transitions, where);
        c.weight = rate * represents;
        c.name = r.cls;
        ++out.faults_per_class[r.cls];
        auto same = std::find_if(classes.begin(), classes.end(), [&](const PatternClass& o) { return same_pattern(o, c); });
        if (same == classes.end()) {
            classes.push_back(c);
        } else {
            same->weight += c.weight;
            // The label lists every fault class that produces the pattern.
            if (("," + same->name + ",").find("," + c.name + ",") == std::string::npos) same->name += "," + c.name;
        }
    }
    auto normalise = [&] {
        double total = 0;
        for (const auto& c : classes) total += c.weight;
        for (auto& c : classes) c.weight = total > 0 ? c.weight / total : 0;
    };
    normalise();
    const size_t before = classes.size();
    classes.erase(std::remove_if(classes.begin(), classes.end(),
                                 [&](const PatternClass& c) { return c.weight < opt.min_weight; }),
                  classes.end());
    out.dropped = before - classes.size();
    normalise();
    // Most likely first: a person reads the file top-down.
    std::stable_sort(classes.begin(), classes.end(),
                     [](const PatternClass& a, const PatternClass& b) { return a.weight > b.weight; });
    out.model.granularity = ErrorModelKind::Channel;
    out.model.classes = std::move(classes);
    return out;
}

FaultMap read_fault_map(const std::string& dir) {
    FaultMap m;
    m.dir = dir;
    const std::string manifest_path = dir + "/manifest.json";
    try {
        m.manifest = nlohmann::json::parse(read_text_file(manifest_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(manifest_path + ": not valid JSON: " + e.what());
    }
    if (m.manifest.value("kind", "") != "physical-faults")
        throw std::runtime_error(manifest_path + ": kind is not physical-faults (not a `fatsim map-faults` folder)");
    try {
        for (const auto& c : m.manifest.at("classes"))
            m.population[c.at("class").get<std::string>()] = c.at("population").get<double>();
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(manifest_path + ": classes: " + e.what());
    }
    const std::string csv_path = dir + "/faults.csv";
    std::ifstream csv(csv_path);
    if (!csv) throw std::runtime_error("cannot read " + csv_path);
    std::string line;
    for (size_t n = 0; std::getline(csv, line); ++n)
        if (n > 0 && !line.empty()) m.rows.push_back(physical_csv::parse_row(line, csv_path, n));
    return m;
}

void write_derived_error_model(const DerivedErrorModel& d, const FaultMap& map, const std::string& model_path,
                               const std::string& rates_source, double min_weight, const std::string& out_path) {
    if (out_path.size() >= 5 && out_path.substr(out_path.size() - 5) == ".json") {
        write_file_atomic(out_path, error_model_to_json(d.model));  // JSON has no comments
        return;
    }
    std::string per_class;
    for (const auto& [cls, n] : d.faults_per_class) per_class += " " + cls + "=" + std::to_string(n);
    const nlohmann::json identity = map.manifest.value("identity", nlohmann::json::object());
    std::ostringstream text;
    text << "# Error model derived by `fatsim derive-error-model` from the physical-fault map " << map.dir << "\n"
         << "# accelerator: " << identity.value("accel", std::string("?")) << "\n# model: " << model_path << "\n"
         << "# images: " << map.manifest.value("images", 0) << ", faults: " << d.faults
         << ", masked (left out): " << d.masked << ", scores/input only (left out): " << d.unrepresentable
         << ", rate 0 (left out): " << d.zero_rate << "\n# unmasked faults per class:" << per_class << "\n"
         << "# classes: " << d.model.classes.size() << " (after merging identical patterns; " << d.dropped
         << " below --min-weight " << min_weight << " dropped); weights sum to 1, each fault weighing\n"
         << "# (class population / faults mapped) x the class's rate";
    if (!rates_source.empty()) text << " from " << rates_source;
    text << "\n\n" << error_model_to_yaml(d.model);
    write_file_atomic(out_path, text.str());
}

DerivedErrorModel derive_error_model_file(const std::string& map_dir, std::string model_path,
                                          const std::string& out_path, const DeriveOptions& opt,
                                          const std::string& rates_source) {
    const FaultMap map = read_fault_map(map_dir);
    if (model_path.empty())
        model_path = map.manifest.value("identity", nlohmann::json::object()).value("model", std::string());
    if (model_path.empty()) throw std::runtime_error(map_dir + "/manifest.json names no model: give --model");
    const QnnModel model = load_model(model_path);
    DerivedErrorModel d = derive_error_model(map.rows, map.population, model.topology, opt);
    validate_error_model(d.model, model.topology, out_path);
    write_derived_error_model(d, map, model_path, rates_source, opt.min_weight, out_path);
    return d;
}

}  // namespace fatsim::campaigns
