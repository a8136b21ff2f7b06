// --shard K/N slices and `fatsim merge`.
#include "shard.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "campaign.hpp"
#include "files.hpp"
#include "model.hpp"

namespace fatsim::campaigns {

namespace fs = std::filesystem;
using json = nlohmann::json;

ShardSpec parse_shard(const std::string& text) {
    const std::string rule = "--shard=" + text + " must be K/N with whole numbers 0 <= K < N (e.g. 0/4)";
    const size_t slash = text.find('/');
    if (slash == std::string::npos) throw std::invalid_argument(rule);
    const auto whole = [&](const std::string& s) {
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument(rule);
        return std::stoi(s);
    };
    ShardSpec s;
    s.index = whole(text.substr(0, slash));
    s.count = whole(text.substr(slash + 1));
    if (s.count < 1 || s.index >= s.count) throw std::invalid_argument(rule);
    return s;
}

std::pair<size_t, size_t> shard_range(size_t faults, const ShardSpec& shard) {
    const auto bound = [&](size_t k) { return faults * k / size_t(shard.count); };
    return {bound(shard.index), bound(shard.index + 1)};
}

namespace {
std::string shard_folder_name(int index, int count) {
    return "shard-" + std::to_string(index) + "-of-" + std::to_string(count);
}
}  // namespace

ShardSlice select_shard(const ShardSpec& shard, const std::string& output, size_t faults, json& manifest) {
    const auto [first, end] = shard_range(faults, shard);
    if (first == end)  // a summary needs at least one fault
        throw std::invalid_argument("--shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                                    ": the campaign has only " + std::to_string(faults) +
                                    " faults, so at most that many shards");
    manifest["shard"] = {{"index", shard.index}, {"count", shard.count}, {"first", first}, {"end", end}};
    return {first, end, (fs::path(output) / shard_folder_name(shard.index, shard.count)).string()};
}

// ---------------------------------------------------------------- merge

namespace {

json read_json(const fs::path& p) {
    std::ifstream f(p);
    if (!f) throw std::runtime_error(p.string() + ": cannot be read");
    try {
        return json::parse(f);
    } catch (const json::exception& e) {
        throw std::runtime_error(p.string() + ": not valid JSON (" + e.what() + ")");
    }
}

bool is_shard_folder(const fs::path& dir) {
    return fs::exists(dir / "manifest.json") && read_json(dir / "manifest.json").contains("shard");
}

// The shard folders named on the command line, a campaign folder standing for its shard-K-of-N folders.
std::vector<fs::path> shard_folders(const std::vector<std::string>& dirs) {
    std::vector<fs::path> out;
    for (const std::string& d : dirs) {
        const fs::path dir(d);
        if (!fs::is_directory(dir)) throw std::runtime_error(d + ": no such folder");
        if (is_shard_folder(dir)) {
            out.push_back(dir);
            continue;
        }
        std::vector<fs::path> inside;
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_directory() && e.path().filename().string().rfind("shard-", 0) == 0 && is_shard_folder(e.path()))
                inside.push_back(e.path());
        if (inside.empty())
            throw std::runtime_error(d + ": neither a shard folder nor a campaign folder holding shard-K-of-N folders");
        std::sort(inside.begin(), inside.end());
        out.insert(out.end(), inside.begin(), inside.end());
    }
    return out;
}

struct Shard {
    fs::path dir;
    int index = 0, count = 0;
    size_t first = 0, end = 0;
    std::string header, rows;  // faults.csv: header line, then the rows as written
    double error_free = 0;
};

Shard read_shard(const fs::path& dir, json& base) {
    json m = read_json(dir / "manifest.json");
    const std::string where = (dir / "manifest.json").string();
    Shard s;
    s.dir = dir;
    try {
        const json& sh = m.at("shard");
        s.index = sh.at("index").get<int>();
        s.count = sh.at("count").get<int>();
        s.first = sh.at("first").get<size_t>();
        s.end = sh.at("end").get<size_t>();
    } catch (const json::exception&) {
        throw std::runtime_error(where + ": shard: must hold whole numbers index, count, first, end");
    }
    m.erase("shard");
    base = std::move(m);

    const fs::path csv = dir / "faults.csv";
    const std::string text = fs::exists(csv) ? read_text_file(csv.string()) : std::string();
    const size_t eol = text.find('\n');
    if (eol == std::string::npos) throw std::runtime_error(csv.string() + ": missing or without a header line");
    s.header = text.substr(0, eol + 1);
    s.rows = text.substr(eol + 1);
    const size_t rows = size_t(std::count(s.rows.begin(), s.rows.end(), '\n'));
    if (rows != s.end - s.first || !fs::exists(dir / "summary.json"))
        throw std::runtime_error(dir.string() + ": shard " + std::to_string(s.index) + "/" + std::to_string(s.count) +
                                 " is incomplete (" + std::to_string(rows) + " of " +
                                 std::to_string(s.end - s.first) +
                                 " faults): run its `fatsim campaign ... --shard` again to finish it");
    try {
        s.error_free = read_json(dir / "summary.json").at("error_free_accuracy").get<double>();
    } catch (const json::exception&) {
        throw std::runtime_error((dir / "summary.json").string() + ": error_free_accuracy: missing or not a number");
    }
    return s;
}

}  // namespace

JoinedShards join_shards(const std::vector<std::string>& dirs, const std::string& output) {
    if (dirs.empty()) throw std::runtime_error("merge: no shard folder given");
    json base;
    std::vector<Shard> shards;
    for (const fs::path& dir : shard_folders(dirs)) {
        json b;
        Shard s = read_shard(dir, b);
        if (shards.empty()) {
            base = std::move(b);
        } else if (b != base || s.count != shards[0].count || s.header != shards[0].header) {
            throw std::runtime_error(dir.string() + ": a shard of another campaign than " + shards[0].dir.string() +
                                     " (manifest, shard count or CSV header differ)");
        }
        shards.push_back(std::move(s));
    }
    std::sort(shards.begin(), shards.end(), [](const Shard& a, const Shard& b) { return a.index < b.index; });
    const int count = shards[0].count;
    for (int k = 0; k < count; ++k) {
        const std::string name = "shard " + std::to_string(k) + "/" + std::to_string(count);
        const auto it = std::find_if(shards.begin(), shards.end(), [&](const Shard& s) { return s.index == k; });
        if (it == shards.end()) throw std::runtime_error("merge: " + name + " is missing");
        if (it + 1 != shards.end() && (it + 1)->index == k)
            throw std::runtime_error("merge: " + name + " is given twice (" + it->dir.string() + ", " +
                                     (it + 1)->dir.string() + ")");
        const size_t expected_first = k == 0 ? 0 : shards[k - 1].end;
        if (it->first != expected_first || it->error_free != shards[0].error_free)
            throw std::runtime_error(it->dir.string() + ": " + name +
                                     " does not continue the previous shard (fault range or error-free accuracy)");
    }
    if (shards.back().end != base.value("faults", size_t(0)))
        throw std::runtime_error(shards.back().dir.string() + ": the shards do not cover the campaign's " +
                                 base.value("faults", json()).dump() + " faults");

    JoinedShards out;
    out.shards = count;
    out.manifest = std::move(base);
    out.header = shards[0].header;
    for (const Shard& s : shards) out.rows += s.rows;
    out.error_free = shards[0].error_free;
    out.first_manifest = (shards[0].dir / "manifest.json").string();
    out.output = output;
    if (out.output.empty()) {
        const fs::path parent = fs::absolute(shards[0].dir).lexically_normal().parent_path();
        for (const Shard& s : shards)
            if (fs::absolute(s.dir).lexically_normal().parent_path() != parent)
                throw std::runtime_error("merge: the shards lie in different folders; give --output");
        const fs::path given = shards[0].dir.lexically_normal().parent_path();  // as the user named it
        out.output = given.empty() ? "." : given.string();
    }
    return out;
}

MergeOutcome write_merged_files(const JoinedShards& joined, const std::string& csv) {
    MergeOutcome out;
    out.shards = joined.shards;
    out.output = joined.output;
    fs::create_directories(out.output);
    out.csv = (fs::path(out.output) / "faults.csv").string();
    out.summary = (fs::path(out.output) / "summary.json").string();
    write_file_atomic(out.csv, csv);
    write_file_atomic((fs::path(out.output) / "manifest.json").string(), joined.manifest.dump(2) + "\n");
    return out;
}

MergeOutcome merge_campaign_shards(const JoinedShards& joined) {
    const json& base = joined.manifest;
    MergeOutcome out = write_merged_files(joined, joined.header + joined.rows);

    // summary.json as run_campaign writes it: the model gives the layer shapes.
    const std::string model_path = base.value("model", std::string());
    QnnModel model;
    try {
        model = load_model(model_path);
    } catch (const std::exception& e) {
        throw std::runtime_error(joined.first_manifest + ": model: " + e.what() +
                                 " (merge reads it at the path the campaign ran with: run it from the same folder)");
    }
    if (hex64(fnv1a64(read_text_file(model_path))) != base.value("model_fnv1a", std::string()))
        throw std::runtime_error(model_path + ": the model file changed since the shards ran (model_fnv1a differs)");
    const Topology& topo = model.topology;
    std::vector<int> layers;
    for (const auto& name : base.value("layers", json::array())) {
        const int l = topo.find_layer(name.get<std::string>());
        if (l < 0) throw std::runtime_error(model_path + ": has no layer " + name.get<std::string>());
        layers.push_back(l);
    }
    ResultStore store(out.output, parse_error_model_kind(base.value("error_model", std::string())));
    const std::vector<fault_csv::Row> rows = store.rows();
    std::vector<SweepFault> faults;
    for (const fault_csv::Row& r : rows) faults.push_back({topo.find_layer(r.layer), r.index, r.value});
    const json summary = summarize(base, rows, faults, layers, topo, base.value("images", 0), joined.error_free,
                                   out.csv);
    write_file_atomic(out.summary, summary.dump(2) + "\n");
    out.faults = int(rows.size());
    return out;
}

}  // namespace fatsim::campaigns
