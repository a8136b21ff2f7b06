// Small file helpers: whole-file reads, writes that never leave a partial file
// under the real name, and a content hash for "did the input change" checks.
#pragma once
#include <cstdint>
#include <string>

namespace fatsim {

// Throws ConfigError(path, {"cannot open: ..."}) when unreadable.
std::string read_text_file(const std::string& path);
// Writes path.tmp then renames it into place; throws std::runtime_error.
void write_file_atomic(const std::string& path, const std::string& text);
// `rel` resolved against the folder of `source` (absolute paths unchanged).
std::string resolve_relative(const std::string& source, const std::string& rel);
uint64_t fnv1a64(const std::string& bytes, uint64_t h = 1469598103934665603ull);
std::string hex64(uint64_t v);

}  // namespace fatsim
