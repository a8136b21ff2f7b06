// Model file: round trip, and corrupt or truncated files give clear errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "model.hpp"

using namespace fatsim;
namespace fs = std::filesystem;

namespace {

Topology tiny() {
    return parse_topology(
        "name: tiny\ninput: {channels: 1, dim: 6, bits: 8}\nweight_bits: 2\nact_bits: 2\nlayers:\n"
        "  - {name: c0, type: conv, channels: 4, pool: 2}\n"
        "  - {name: f0, type: fc, channels: 3, act_bits: 0}\n",
        "tiny.yaml");
}

std::string temp_path(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("fatsim_test_model_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

std::vector<char> read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_all(const std::string& p, const std::vector<char>& b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(b.data(), std::streamsize(b.size()));
}

TEST(ModelFile, RoundTripKeepsEverything) {
    const QnnModel m = random_model(tiny(), 4);
    const std::string p = temp_path("rt.fatq");
    save_model(m, p);
    const QnnModel r = load_model(p);
    ASSERT_EQ(r.layers.size(), m.layers.size());
    for (size_t l = 0; l < m.layers.size(); ++l) {
        EXPECT_EQ(r.layers[l].weights, m.layers[l].weights);
        EXPECT_EQ(r.layers[l].thresholds, m.layers[l].thresholds);
        EXPECT_EQ(r.topology.layers[l].mw(), m.topology.layers[l].mw());
        EXPECT_EQ(r.topology.layers[l].act_bits, m.topology.layers[l].act_bits);
    }
    EXPECT_EQ(r.topology.name, "tiny");
    EXPECT_EQ(r.description, m.description);
    EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST(ModelFile, PixelCodesSurviveAndNeedFormatVersion2) {
    QnnModel m = random_model(tiny(), 4);
    const auto version = [](const QnnModel& q) {
        return nlohmann::json::from_cbor(serialize_model(q)).at("version").get<int>();
    };
    EXPECT_EQ(version(m), 1);  // older builds still read models without a table
    m.topology.pixel_codes.resize(size_t(m.topology.in_channels) * 256);
    for (size_t k = 0; k < m.topology.pixel_codes.size(); ++k) m.topology.pixel_codes[k] = int(k % 256) / 2 - 64;
    EXPECT_EQ(version(m), 2);
    const QnnModel r = deserialize_model(serialize_model(m), "codes.fatq");
    EXPECT_EQ(r.topology.pixel_codes, m.topology.pixel_codes);
    EXPECT_EQ(r.topology.input_code(0, 255), 63);
    // A code outside the input's bits is an error naming the field.
    m.topology.pixel_codes[44] = 200;
    try {
        deserialize_model(serialize_model(m), "bad_codes.fatq");
        ADD_FAILURE() << "a code of 200 was accepted";
    } catch (const std::exception& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("bad_codes.fatq"), std::string::npos) << msg;
        EXPECT_NE(msg.find("pixel_codes: channel 0 pixel 44 -> 200"), std::string::npos) << msg;
    }
}

TEST(ModelFile, FlippedByteIsAChecksumError) {
    const std::string p = temp_path("flip.fatq");
    save_model(random_model(tiny(), 4), p);
    auto b = read_all(p);
    b[b.size() / 2] ^= 0x10;  // inside the body (outer keys sort after it)
    write_all(p, b);
    try {
        load_model(p);
        FAIL() << "corrupt file loaded";
    } catch (const ModelFileError& e) {
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
    }
}

TEST(ModelFile, TruncatedFileIsAClearError) {
    const std::string p = temp_path("trunc.fatq");
    save_model(random_model(tiny(), 4), p);
    auto b = read_all(p);
    b.resize(b.size() / 2);
    write_all(p, b);
    try {
        load_model(p);
        FAIL() << "truncated file loaded";
    } catch (const ModelFileError& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
}

TEST(ModelFile, OtherFilesAreRejected) {
    const std::string p = temp_path("other.fatq");
    write_all(p, {'h', 'e', 'l', 'l', 'o'});
    EXPECT_THROW(load_model(p), ModelFileError);
    write_all(p, {});
    EXPECT_THROW(load_model(p), ModelFileError);
    EXPECT_THROW(load_model(temp_path("missing.fatq")), ModelFileError);
}

TEST(ModelFile, ValidateRejectsUnrepresentableWeights) {
    QnnModel m = random_model(tiny(), 4);
    m.layers[0].weights[3] = 2;  // W2 is narrow: {-1, 0, 1}
    try {
        m.validate("x.fatq");
        FAIL();
    } catch (const ModelFileError& e) {
        EXPECT_NE(std::string(e.what()).find("layer c0: weight[3]=2 is not representable in 2 bits"), std::string::npos)
            << e.what();
    }
    const std::string p = temp_path("bad.fatq");
    EXPECT_THROW(save_model(m, p), ModelFileError);
    EXPECT_FALSE(fs::exists(p));
}

TEST(RandomModel, SameSeedSameModelOtherSeedOther) {
    const QnnModel a = random_model(tiny(), 9), b = random_model(tiny(), 9), c = random_model(tiny(), 10);
    EXPECT_EQ(a.layers[0].weights, b.layers[0].weights);
    EXPECT_EQ(a.layers[0].thresholds, b.layers[0].thresholds);
    EXPECT_NE(a.layers[0].weights, c.layers[0].weights);
}

}  // namespace
