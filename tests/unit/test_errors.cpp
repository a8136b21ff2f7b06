// Error text of every input kind fatsim reads: each message names the file
// (or the text, for fault-site names), the field and the rule it breaks. And
// the CLI's exit codes: 1 bad input, 2 usage; a failed write leaves nothing
// under the output's final name.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "campaign.hpp"
#include "config.hpp"
#include "dataset.hpp"
#include "error_model.hpp"
#include "fault_site.hpp"
#include "files.hpp"
#include "model.hpp"
#include "pipeline.hpp"

namespace fs = std::filesystem;
using namespace fatsim;

namespace {

// A fresh folder per test, removed afterwards.
class Errors : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("fatsim-errors-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    std::string write(const std::string& name, const std::string& bytes) const {
        std::ofstream(path(name), std::ios::binary) << bytes;
        return path(name);
    }
    fs::path dir_;
};

// Runs `parse`, which must throw E; returns the message.
template <class E>
std::string message_of(const std::function<void()>& parse) {
    try {
        parse();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong exception type: " << e.what();
        return e.what();
    }
    ADD_FAILURE() << "accepted bad input";
    return "";
}

void expect_names(const std::string& message, std::initializer_list<const char*> parts) {
    for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
}

const char* kTinyTopology =
    "name: tiny\ninput: {channels: 1, dim: 6, bits: 8}\nweight_bits: 1\nact_bits: 2\nlayers:\n"
    "  - {name: c0, type: conv, channels: 3}\n  - {name: f0, type: fc, channels: 4, act_bits: 0}\n";

uint32_t be(uint32_t v) { return __builtin_bswap32(v); }

}  // namespace

TEST_F(Errors, TopologyYaml) {
    const std::string m = message_of<ConfigError>([&] {
        parse_topology("name: t\ninput: {channels: 1, dim: 6, bits: 8}\nlayers:\n"
                       "  - {name: c0, type: conv, channels: 0, act_bits: 0}\n",
                       "topo.yaml");
    });
    expect_names(m, {"topo.yaml: ", "layers[0].channels=0", "must be >= 1"});
}

// Found by fuzz_topology (UBSan): the flattened fan-in of an fc layer and a
// conv layer's MW overflowed int; now a rule names the sizes.
TEST_F(Errors, TopologySizesThatDoNotFitAnInt) {
    expect_names(message_of<ConfigError>([&] {
                     parse_topology("name: t\ninput: {channels: 100000, dim: 100000, bits: 8}\nlayers:\n"
                                    "  - {name: f0, type: fc, channels: 10, act_bits: 0}\n",
                                    "wide.yaml");
                 }),
                 {"wide.yaml: ", "layers[0]: flattened input channels*dim*dim = 100000*100000*100000",
                  "must be <= 2147483647"});
    expect_names(message_of<ConfigError>([&] {
                     parse_topology("name: t\ninput: {channels: 1000, dim: 60000, bits: 8}\nlayers:\n"
                                    "  - {name: c0, type: conv, channels: 1, kernel: 50000, act_bits: 0}\n",
                                    "kernel.yaml");
                 }),
                 {"kernel.yaml: ", "layers[0]: MW kernel*kernel*in_channels = 50000*50000*1000"});
}

TEST_F(Errors, AccelYaml) {
    const Topology topo = parse_topology(kTinyTopology, "tiny.yaml");
    const std::string m = message_of<ConfigError>([&] {
        parse_accel("architecture: dataflow\ntopology: tiny.yaml\nlayers:\n  - {name: c0, pe: 2, simd: 1}\n"
                    "  - {name: f0, pe: 1, simd: 1}\n",
                    "acc.yaml", topo);
    });
    expect_names(m, {"acc.yaml: ", "layers[0].pe=2", "must divide mh=3"});
}

TEST_F(Errors, FinnFoldingJson) {
    const Topology topo = parse_topology(kTinyTopology, "tiny.yaml");
    const std::string f = write("folding.json", R"({"MVAU_hls_0": {"PE": "x", "SIMD": 1}, "MVAU_hls_1": {"PE": 1}})");
    const std::string m = message_of<ConfigError>([&] { import_finn_folding(f, topo); });
    expect_names(m, {"folding.json: ", "MVAU_hls_0.PE", "must be an integer", "MVAU_hls_1.SIMD", "required key missing"});
    write("broken.json", "{\"MVAU_hls_0\": ");
    expect_names(message_of<ConfigError>([&] { import_finn_folding(path("broken.json"), topo); }),
                 {"broken.json: ", "malformed JSON"});
}

TEST_F(Errors, CampaignSpec) {
    const std::string m = message_of<ConfigError>([&] {
        campaigns::parse_campaign_spec("name: x\nmodel: m.fatq\noutput: o\nthreads: -3\nerror_model: bogus\n",
                                       "camp.yaml");
    });
    expect_names(m, {"camp.yaml: ", "threads=-3", "must be in 0..1024", "error_model=bogus",
                     "must be one of channel, pixel"});
}

TEST_F(Errors, PipelineSpec) {
    const std::string m = message_of<ConfigError>([&] {
        campaigns::parse_pipeline_spec("name: x\noutput: o\ntopology: t.yaml\ntrain: {epochs: 0}\ncolour: red\n"
                                       "models:\n  - {label: A, mode: sat}\n",
                                       "pipe.yaml");
    });
    expect_names(m, {"pipe.yaml: ", "train.epochs=0", "must be in 1..100000", "colour: unknown key"});
}

TEST_F(Errors, ErrorModelFile) {
    expect_names(message_of<ConfigError>([&] {
                     parse_error_model("granularity: group\nclasses:\n  - {stuck: 1, weight: -2}\n", "em.yaml");
                 }),
                 {"em.yaml: ", "group_modulus", "classes[0].weight=-2"});
    expect_names(message_of<ConfigError>([&] { parse_error_model("{\"granularity\": \"sideways\"}", "em.json"); }),
                 {"em.json: ", "granularity", "must be one of"});
}

// Found by fuzz_error_model: a class name that is not UTF-8 parsed, then
// error_model_to_json threw a bare JSON type_error. Names are UTF-8 text.
TEST_F(Errors, ErrorModelNamesAreUtf8) {
    expect_names(message_of<ConfigError>([&] {
                     parse_error_model("granularity: channel\nclasses:\n  - {name: \"a\xcc\", stuck: 0}\n",
                                       "em.yaml");
                 }),
                 {"em.yaml: ", "classes[0].name", "must be UTF-8 text"});
    expect_names(message_of<ConfigError>([&] {
                     parse_error_model("granularity: channel\nclasses:\n  - {layers: [\"\xc0\xaf\"], stuck: 0}\n",
                                       "em.yaml");
                 }),
                 {"em.yaml: ", "classes[0].layers[0]", "must be a layer name (UTF-8 text)"});
    EXPECT_NO_THROW(parse_error_model("granularity: channel\nclasses:\n  - {name: \"\xc3\xa9t\xc3\xa9\", stuck: 0}\n",
                                      "em.yaml"));
}

// Found by review of fuzz_error_model's inputs: JSON nested 50,000 deep
// overflowed the stack of the (recursive) JSON -> YAML conversion.
TEST_F(Errors, DeeplyNestedErrorModelJson) {
    const std::string deep = "{\"classes\": " + std::string(50000, '[') + std::string(50000, ']') + "}";
    expect_names(message_of<ConfigError>([&] { parse_error_model(deep, "deep.json"); }),
                 {"deep.json: ", "nested deeper than 64 levels"});
}

TEST_F(Errors, ModelFile) {
    const QnnModel model = random_model(parse_topology(kTinyTopology, "tiny.yaml"), 1);
    std::vector<uint8_t> bytes = serialize_model(model);
    bytes[bytes.size() / 2] ^= 0x40;  // inside the body: the checksum no longer matches
    expect_names(message_of<ModelFileError>([&] { deserialize_model(bytes, "m.fatq"); }),
                 {"m.fatq: ", "checksum mismatch", "crc32"});
    bytes.resize(bytes.size() / 2);
    expect_names(message_of<ModelFileError>([&] { deserialize_model(bytes, "cut.fatq"); }),
                 {"cut.fatq: ", "truncated"});
    expect_names(message_of<ModelFileError>([&] { load_model(path("absent.fatq")); }),
                 {"absent.fatq: ", "cannot open"});
}

// Found by fuzz_model: a header field of the wrong type escaped as a bare
// JSON type_error instead of a ModelFileError naming the file and field.
TEST_F(Errors, ModelFileHeaderFieldOfTheWrongType) {
    const auto text = [](const std::string& s) {  // CBOR text string (< 24 bytes)
        return std::string(1, char(0x60 + s.size())) + s;
    };
    const auto cbor = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
    const std::string format = text("format") + text("fatsim-qnn");
    expect_names(message_of<ModelFileError>([&] {
                     deserialize_model(cbor("\xa1" + text("format") + "\x05"), "a.fatq");
                 }),
                 {"a.fatq: ", "format field is not 'fatsim-qnn'"});
    expect_names(message_of<ModelFileError>([&] {
                     deserialize_model(cbor("\xa2" + format + text("version") + text("x")), "b.fatq");
                 }),
                 {"b.fatq: ", "version field", "not an integer"});
    expect_names(message_of<ModelFileError>([&] {
                     deserialize_model(cbor("\xa4" + text("body") + std::string("\x41\x00", 2) + text("crc32") +
                                            text("x") + format + text("version") + "\x01"),
                                       "c.fatq");
                 }),
                 {"c.fatq: ", "crc32 an unsigned integer"});
}

TEST_F(Errors, IdxFiles) {
    const uint32_t labels_header[2] = {be(0x801), be(2)};
    write("labels", std::string(reinterpret_cast<const char*>(labels_header), 8) + std::string("\x01\x02", 2));
    const uint32_t swapped[4] = {be(0x801), be(2), be(2), be(2)};  // a labels magic in the images file
    write("images", std::string(reinterpret_cast<const char*>(swapped), 16) + std::string(8, '\0'));
    expect_names(message_of<DatasetError>([&] { load_idx(path("images"), path("labels")); }),
                 {"images: ", "bad IDX magic", "expected 0x00000803", "found 0x00000801"});
    // A header declaring 2^31-1 images of 1x1 pixels: truncated, not allocated.
    const uint32_t huge[4] = {be(0x803), be(0x7fffffff), be(1), be(1)};
    write("huge", std::string(reinterpret_cast<const char*>(huge), 16) + "ab");
    expect_names(message_of<DatasetError>([&] { load_idx(path("huge"), path("labels")); }),
                 {"image/label count mismatch", "huge declares 2147483647 images"});
    const uint32_t huge_labels[2] = {be(0x801), be(0x7fffffff)};
    write("huge_labels", std::string(reinterpret_cast<const char*>(huge_labels), 8) + "\x01");
    expect_names(message_of<DatasetError>([&] { load_idx(path("huge"), path("huge_labels")); }),
                 {"huge: truncated", "expected 2147483647 images", "only 2 bytes present"});
}

TEST_F(Errors, CifarBatch) {
    write("short.bin", std::string(3073 + 10, '\x01'));
    expect_names(message_of<DatasetError>([&] { load_cifar10({path("short.bin")}); }),
                 {"short.bin: ", "size 3083 bytes", "not a multiple of the 3073-byte CIFAR-10 record"});
    write("label.bin", std::string(1, '\x0c') + std::string(3072, '\0'));
    expect_names(message_of<DatasetError>([&] { load_cifar10({path("label.bin")}); }),
                 {"label.bin: ", "label out of range at record 0", "expected 0..9"});
}

TEST_F(Errors, FaultSiteNames) {
    expect_names(message_of<FaultSiteError>([] { parse_fault_site("conv1.pe[3].acc.bit[7]:sa2"); }),
                 {"fault site 'conv1.pe[3].acc.bit[7]:sa2'", "kind 'sa2'", "must be sa0, sa1 or flip@CYCLE"});
    expect_names(message_of<FaultSiteError>([] { parse_fault_site("conv1.pe[99999999999].acc.bit[7]:sa1"); }),
                 {"fault site 'conv1.pe[99999999999].acc.bit[7]:sa1'", "pe", "out of range"});
}

TEST_F(Errors, CampaignCsvReadOnResume) {
    using campaigns::fault_csv::parse_row;
    expect_names(message_of<std::runtime_error>([] { parse_row("c0,1,0,87.5,17", "out/faults.csv", 4); }),
                 {"out/faults.csv: malformed row 4", "has 5 columns, must have 6"});
    expect_names(message_of<std::runtime_error>([] { parse_row("c0,1,0,8x7.5,17,2", "out/faults.csv", 5); }),
                 {"out/faults.csv: malformed row 5", "accuracy='8x7.5'", "must be a number"});
    expect_names(message_of<std::runtime_error>([] { parse_row("c0,1,0,87.5,17,99999999999", "f.csv", 6); }),
                 {"f.csv: malformed row 6", "changed='99999999999'", "must be an integer"});
}

// ---------------------------------------------------------------- the CLI

namespace {

// Exit status of a shell command line (-1 when it did not exit normally).
int run_status(const std::string& command) {
    const int s = std::system(command.c_str());
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

const std::string kFatsim = FATSIM_BINARY;
const std::string kSource = FATSIM_SOURCE_DIR;

}  // namespace

TEST_F(Errors, ExitCodeOneForBadInputTwoForUsage) {
    write("topo.yaml", "name: t\ninput: {channels: 1, dim: 6, bits: 8}\nlayers:\n"
                       "  - {name: c0, type: conv, channels: 0, act_bits: 0}\n");
    const std::string out = path("out.txt");
    EXPECT_EQ(run_status(kFatsim + " config check " + path("topo.yaml") + " >" + out + " 2>&1"), 1);
    std::ifstream f(out);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    expect_names(text, {"topo.yaml: ", "layers[0].channels=0", "must be >= 1"});
    EXPECT_EQ(run_status(kFatsim + " config check --no-such-option >/dev/null 2>&1"), 2);
    EXPECT_EQ(run_status(kFatsim + " no-such-command >/dev/null 2>&1"), 2);
    EXPECT_EQ(run_status(kFatsim + " eval --model " + path("absent.fatq") + " >/dev/null 2>&1"), 1);
}

// A write that fails midway (file size limit reached) leaves no file under
// the final name, and no temporary beside it.
TEST_F(Errors, FailedWriteLeavesNothingUnderTheFinalName) {
    const std::string model = path("m.fatq");
    // 8 blocks of 512 bytes: far below the model's size. SIGXFSZ ignored, so
    // the write fails with EFBIG instead of killing the process.
    const std::string limited = "ulimit -f 8; trap '' XFSZ; ";
    EXPECT_EQ(run_status(limited + kFatsim + " model random -t " + kSource + "/models/cnv_w1a1.yaml --width 0.25 -o " +
                         model + " >/dev/null 2>&1"),
              1);
    EXPECT_FALSE(fs::exists(model));
    EXPECT_FALSE(fs::exists(model + ".tmp"));
    // The same command without the limit writes it (the failure was the limit).
    EXPECT_EQ(run_status(kFatsim + " model random -t " + kSource + "/models/cnv_w1a1.yaml --width 0.25 -o " + model +
                         " >/dev/null 2>&1"),
              0);
    EXPECT_TRUE(fs::exists(model));
}

// write_file_atomic (manifests, CSV headers, summaries): same rule for a
// small text that only reaches the disk when the stream is flushed.
TEST_F(Errors, FailedSmallAtomicWriteLeavesNothing) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {100, 100};
        setrlimit(RLIMIT_FSIZE, &lim);
        bool threw = false;
        try {
            write_file_atomic(path("summary.json"), std::string(1000, 'x'));
        } catch (const std::runtime_error&) {
            threw = true;
        }
        _exit(threw && !fs::exists(path("summary.json")) && !fs::exists(path("summary.json.tmp")) ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
