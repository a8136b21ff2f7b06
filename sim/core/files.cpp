#include "files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config.hpp"

namespace fatsim {

namespace fs = std::filesystem;

std::string read_text_file(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw ConfigError(path, {"cannot open: is a directory"});
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path, {std::string("cannot open: ") + std::strerror(errno)});
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
        f.close();  // flushes: a full disk shows here, not silently in the destructor
        if (!f) {
            std::remove(tmp.c_str());
            throw std::runtime_error(path + ": cannot write (" + tmp + ")");
        }
    }
    fs::rename(tmp, path);
}

std::string resolve_relative(const std::string& source, const std::string& rel) {
    if (rel.empty()) return rel;
    const fs::path p(rel);
    if (p.is_absolute()) return p.lexically_normal().string();
    return (fs::path(source).parent_path() / p).lexically_normal().string();
}

uint64_t fnv1a64(const std::string& bytes, uint64_t h) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    return h;
}

std::string hex64(uint64_t v) {
    char b[20];
    std::snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
    return b;
}

}  // namespace fatsim
