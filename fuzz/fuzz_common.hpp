// Shared by the libFuzzer targets: what counts as a clean rejection of bad
// input, and scratch files for the parsers that read only from a path.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <yaml-cpp/exceptions.h>

#include "config.hpp"

namespace fatsim::fuzz {

inline std::string text(const uint8_t* data, size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

[[noreturn]] inline void fail(const std::string& why) {
    std::fprintf(stderr, "fuzz: %s\n", why.c_str());
    std::abort();
}

// Runs a parser on fuzzed input. Rejections by the parser's own error type
// (Error) are expected and must name `source`; any other escaping exception
// (std::stoi's, a YAML or JSON library's, a bad_alloc) is a bug: a user
// would see it instead of a message naming file, field and rule.
template <class Error, class F>
void expect_clean(const std::string& source, F&& parse) {
    try {
        parse();
    } catch (const YAML::Exception& e) {
        fail(std::string("escaped YAML::Exception: ") + e.what());
    } catch (const Error& e) {
        if (!source.empty() && std::string(e.what()).find(source) == std::string::npos)
            fail("error does not name " + source + ": " + e.what());
    } catch (const std::exception& e) {
        fail(std::string("escaped exception: ") + e.what());
    }
}

// A file (or folder) of this process under $TMPDIR, removed at exit.
class ScratchFile {
public:
    explicit ScratchFile(const std::string& suffix) {
        const char* dir = std::getenv("TMPDIR");
        path_ = std::string(dir && *dir ? dir : "/tmp") + "/fatsim-fuzz-" + std::to_string(::getpid()) + suffix;
    }
    ~ScratchFile() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);  // a file, or a folder of them
    }
    const std::string& write(const uint8_t* data, size_t size) {
        std::ofstream(path_, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                       std::streamsize(size));
        return path_;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// The shipped CNV topology the folding / error-model targets check against.
inline const Topology& cnv_topology() {
    static const Topology topo = load_topology(FATSIM_SOURCE_DIR "/models/cnv_w1a1.yaml");
    return topo;
}

}  // namespace fatsim::fuzz
