#include "model.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "config.hpp"

namespace fatsim {
using nlohmann::json;

namespace {

constexpr const char* kFormatName = "fatsim-qnn";

json topology_to_json(const Topology& t) {
    json layers = json::array();
    for (const auto& l : t.layers) {
        layers.push_back({{"name", l.name},
                          {"type", l.kind == LayerKind::Conv ? "conv" : "fc"},
                          {"channels", l.channels},
                          {"kernel", l.kernel},
                          {"pool", l.pool},
                          {"weight_bits", l.weight_bits},
                          {"act_bits", l.act_bits}});
    }
    // Channels are stored after the width multiplier; width is kept for information.
    json input = {{"channels", t.in_channels}, {"dim", t.in_dim}, {"bits", t.in_bits}};
    if (!t.pixel_codes.empty()) {  // one row of 256 codes per channel
        json rows = json::array();
        for (size_t c = 0; c * 256 < t.pixel_codes.size(); ++c)
            rows.push_back(std::vector<int>(t.pixel_codes.begin() + long(c * 256),
                                            t.pixel_codes.begin() + long(c * 256 + 256)));
        input["pixel_codes"] = rows;
    }
    return {{"name", t.name}, {"input", input}, {"width", t.width}, {"layers", layers}};
}

Topology topology_from_json(const json& j, const std::string& source) {
    Topology t;
    t.name = j.at("name").get<std::string>();
    t.in_channels = j.at("input").at("channels").get<int>();
    t.in_dim = j.at("input").at("dim").get<int>();
    t.in_bits = j.at("input").at("bits").get<int>();
    if (j.at("input").contains("pixel_codes"))
        for (const auto& row : j.at("input").at("pixel_codes")) {
            if (row.size() != 256)
                throw ModelFileError(source + ": input.pixel_codes: a row has " + std::to_string(row.size()) +
                                     " codes, expected 256 (one per pixel value)");
            for (const auto& v : row) t.pixel_codes.push_back(v.get<int>());
        }
    t.width = j.at("width").get<double>();
    for (const auto& jl : j.at("layers")) {
        LayerSpec l;
        l.name = jl.at("name").get<std::string>();
        l.kind = jl.at("type").get<std::string>() == "fc" ? LayerKind::Fc : LayerKind::Conv;
        l.channels = jl.at("channels").get<int>();
        l.kernel = jl.at("kernel").get<int>();
        l.pool = jl.at("pool").get<int>();
        l.weight_bits = jl.at("weight_bits").get<int>();
        l.act_bits = jl.at("act_bits").get<int>();
        l.scale_with_width = false;  // already applied
        t.layers.push_back(l);
    }
    finalize_topology(t, source);
    return t;
}

uint32_t crc32_of(const std::vector<uint8_t>& bytes) {
    return static_cast<uint32_t>(::crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
}

}  // namespace

void QnnModel::validate(const std::string& source) const {
    auto fail = [&](const std::string& what) { throw ModelFileError(source + ": " + what); };
    if (layers.size() != topology.layers.size())
        fail("has " + std::to_string(layers.size()) + " layers of parameters but the topology has " +
             std::to_string(topology.layers.size()));
    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerSpec& s = topology.layers[i];
        const LayerParams& p = layers[i];
        const std::string where = "layer " + s.name + ": ";
        if (p.weights.size() != size_t(s.mh()) * s.mw())
            fail(where + "weights has " + std::to_string(p.weights.size()) + " entries, expected MH*MW = " +
                 std::to_string(size_t(s.mh()) * s.mw()));
        const int wmax = weight_max(s.weight_bits);
        for (size_t k = 0; k < p.weights.size(); ++k) {
            const int w = p.weights[k];
            const bool ok = s.weight_bits == 1 ? (w == 1 || w == -1) : (w >= -wmax && w <= wmax);
            if (!ok)
                fail(where + "weight[" + std::to_string(k) + "]=" + std::to_string(w) +
                     " is not representable in " + std::to_string(s.weight_bits) + " bits");
        }
        const size_t t = s.act_bits ? size_t(act_range(s.act_bits).thresholds()) : 0;
        if (p.thresholds.size() != size_t(s.mh()) * t)
            fail(where + "thresholds has " + std::to_string(p.thresholds.size()) + " entries, expected " +
                 std::to_string(size_t(s.mh()) * t));
        for (int r = 0; r < s.mh() && t > 1; ++r)
            for (size_t k = 1; k < t; ++k)
                if (p.thresholds[r * t + k - 1] > p.thresholds[r * t + k])
                    fail(where + "thresholds of channel " + std::to_string(r) + " are not ascending");
    }
}

std::vector<uint8_t> serialize_model(const QnnModel& model) {
    json layers = json::array();
    for (size_t i = 0; i < model.layers.size(); ++i) {
        const auto& p = model.layers[i];
        std::vector<uint8_t> w(p.weights.begin(), p.weights.end());
        layers.push_back({{"name", model.topology.layers[i].name},
                          {"weights", json::binary(std::move(w))},
                          {"thresholds", p.thresholds}});
    }
    json body = {{"description", model.description},
                 {"topology", topology_to_json(model.topology)},
                 {"layout", "finn-matrix: row = output channel, column = (ky*K+kx)*IFMC + c"},
                 {"layers", layers}};
    std::vector<uint8_t> body_bytes = json::to_cbor(body);
    json outer = {{"format", kFormatName},
                  {"version", model.topology.pixel_codes.empty() ? 1 : QnnModel::kFormatVersion},
                  {"crc32", crc32_of(body_bytes)},
                  {"body", json::binary(std::move(body_bytes))}};
    return json::to_cbor(outer);
}

QnnModel deserialize_model(const std::vector<uint8_t>& bytes, const std::string& source) {
    auto fail = [&](const std::string& what) -> QnnModel { throw ModelFileError(source + ": " + what); };
    if (bytes.empty()) return fail("empty file, not a fatsim model");
    json outer;
    try {
        outer = json::from_cbor(bytes);
    } catch (const json::exception& e) {
        return fail(std::string("not a fatsim model file or truncated (CBOR: ") + e.what() + ")");
    }
    // Header fields are type-checked before use: a wrong type is a corrupt
    // file, not a JSON library error.
    const auto has = [&](const char* key, bool (json::*is_type)() const) {
        return outer.contains(key) && (outer[key].*is_type)();
    };
    if (!outer.is_object() || !has("format", &json::is_string) || outer["format"] != kFormatName)
        return fail(std::string("not a fatsim model file (format field is not '") + kFormatName + "')");
    if (!has("version", &json::is_number_integer))
        return fail("format version field missing or not an integer");
    const auto version = outer["version"].get<long long>();
    if (version < 1 || version > QnnModel::kFormatVersion)
        return fail("format version " + std::to_string(version) + " is not supported (this build reads 1 to " +
                    std::to_string(QnnModel::kFormatVersion) + ")");
    if (!has("body", &json::is_binary) || !has("crc32", &json::is_number_unsigned))
        return fail("model file has no body or checksum (body must be bytes, crc32 an unsigned integer)");
    const std::vector<uint8_t>& body_bytes = outer["body"].get_binary();
    const uint32_t want = outer["crc32"].get<uint32_t>();
    const uint32_t got = crc32_of(body_bytes);
    if (want != got) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "checksum mismatch (stored crc32 %08x, content %08x): file is corrupt",
                      want, got);
        return fail(buf);
    }
    QnnModel m;
    try {
        json body = json::from_cbor(body_bytes);
        m.description = body.value("description", "");
        m.topology = topology_from_json(body.at("topology"), source);
        for (const auto& jl : body.at("layers")) {
            LayerParams p;
            const auto& w = jl.at("weights").get_binary();
            p.weights.assign(w.begin(), w.end());
            p.thresholds = jl.at("thresholds").get<std::vector<int32_t>>();
            m.layers.push_back(std::move(p));
        }
    } catch (const json::exception& e) {
        return fail(std::string("malformed model content: ") + e.what());
    } catch (const ConfigError& e) {
        return fail(std::string("malformed topology: ") + e.what());
    }
    m.validate(source);
    return m;
}

void save_model(const QnnModel& model, const std::string& path) {
    model.validate(path);
    const std::vector<uint8_t> bytes = serialize_model(model);
    // Write beside the target and rename, so an interrupted save never leaves
    // a partial file under the real name.
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw ModelFileError(path + ": cannot open for writing");
        f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
        f.close();  // flushes: a full disk shows here, not silently in the destructor
        if (!f) {
            std::remove(tmp.c_str());
            throw ModelFileError(path + ": write failed");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw ModelFileError(path + ": cannot rename temporary file into place");
    }
}

QnnModel load_model(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ModelFileError(path + ": cannot open model file");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return deserialize_model(bytes, path);
}

}  // namespace fatsim
