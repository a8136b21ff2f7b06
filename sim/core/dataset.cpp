// Dataset readers (IDX for MNIST / Fashion-MNIST, CIFAR-10 binary batches) and
// the mapping of images to the network's signed 8-bit input.
#include "dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <sys/stat.h>

namespace fatsim {

namespace {

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string join(const std::string& dir, const std::string& name) {
    if (dir.empty() || dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

// A file read either raw or through zlib, chosen by the gzip magic (1f 8b)
// rather than the file name, so renamed or pre-extracted files still work.
class ByteSource {
public:
    explicit ByteSource(const std::string& path) : path_(path) {
        raw_ = std::fopen(path.c_str(), "rb");
        if (!raw_) throw DatasetError("cannot open " + path + ": " + std::strerror(errno));
        struct stat st;
        if (::fstat(fileno(raw_), &st) == 0 && S_ISDIR(st.st_mode)) {
            std::fclose(raw_);
            raw_ = nullptr;
            throw DatasetError("cannot open " + path + ": is a directory");
        }
        unsigned char magic[2] = {0, 0};
        size_t n = std::fread(magic, 1, 2, raw_);
        if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            std::fclose(raw_);
            raw_ = nullptr;
            gz_ = gzopen(path.c_str(), "rb");
            if (!gz_) throw DatasetError("cannot open " + path + " (gzip)");
            gzbuffer(gz_, 1 << 20);  // large buffer: these files are read sequentially once
        } else {
            std::rewind(raw_);
        }
    }
    ~ByteSource() {
        if (raw_) std::fclose(raw_);
        if (gz_) gzclose(gz_);
    }
    ByteSource(const ByteSource&) = delete;
    ByteSource& operator=(const ByteSource&) = delete;

    bool gzip() const { return gz_ != nullptr; }

    // Reads up to n bytes; fewer only at end of data. Throws on a corrupt
    // gzip stream; a gzip stream that simply stops early is a short read.
    size_t read(uint8_t* dst, size_t n) {
        size_t done = 0;
        if (raw_) {
            while (done < n) {
                size_t r = std::fread(dst + done, 1, n - done, raw_);
                if (r == 0) break;
                done += r;
            }
            return done;
        }
        while (done < n) {
            unsigned chunk = unsigned(std::min<size_t>(n - done, 1u << 30));
            int r = gzread(gz_, dst + done, chunk);
            if (r < 0) throw corrupt();
            if (r == 0) {
                int err = Z_OK;
                gzerror(gz_, &err);
                if (err != Z_OK && err != Z_BUF_ERROR) throw corrupt();
                break;  // EOF (Z_BUF_ERROR = stream cut short, reported as truncation)
            }
            done += size_t(r);
        }
        return done;
    }

    // After the last expected byte: lets zlib reach the stream trailer so a
    // CRC mismatch is reported instead of silently returning bad pixels.
    void check_end() {
        if (!gz_) return;
        uint8_t b;
        read(&b, 1);
    }

    std::vector<uint8_t> read_all() {
        std::vector<uint8_t> out;
        if (raw_) {
            struct stat st;
            if (::fstat(fileno(raw_), &st) == 0 && st.st_size > 0) out.reserve(size_t(st.st_size));
        }
        size_t chunk = 1 << 22;
        for (;;) {
            size_t old = out.size();
            out.resize(old + chunk);
            size_t r = read(out.data() + old, chunk);
            out.resize(old + r);
            if (r < chunk) break;
        }
        return out;
    }

private:
    DatasetError corrupt() const {
        int err = Z_OK;
        const char* msg = gzerror(gz_, &err);
        return DatasetError("corrupt gzip stream in " + path_ + ": " +
                            (msg && *msg ? msg : "unknown zlib error"));
    }

    std::string path_;
    std::FILE* raw_ = nullptr;
    gzFile gz_ = nullptr;
};

uint32_t be32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads an IDX header of `words` big-endian u32 (magic first). The magic is
// checked before the rest so a wrong (e.g. swapped) file says so, not "truncated".
std::vector<uint32_t> read_idx_header(ByteSource& src, const std::string& path, int words,
                                      uint32_t magic) {
    uint8_t buf[16];
    const size_t need = size_t(words) * 4;
    size_t got = src.read(buf, 4);
    if (got == 4 && be32(buf) != magic)
        throw DatasetError(path + ": bad IDX magic: expected " + hex32(magic) + ", found " +
                           hex32(be32(buf)));
    if (got == 4) got += src.read(buf + 4, need - 4);
    if (got < need)
        throw DatasetError(path + ": truncated IDX header: expected " + std::to_string(need) +
                           " bytes, only " + std::to_string(got) + " present");
    std::vector<uint32_t> h;
    for (int i = 0; i < words; ++i) h.push_back(be32(buf + 4 * i));
    return h;
}

void check_labels(const std::vector<uint8_t>& labels, const std::string& path) {
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] > 9)
            throw DatasetError(path + ": label out of range at record " + std::to_string(i) + ": " +
                               std::to_string(int(labels[i])) + " (expected 0..9)");
}

const char* kind_name(DatasetKind k) {
    switch (k) {
        case DatasetKind::FashionMnist: return "fashion-mnist";
        case DatasetKind::Mnist: return "mnist";
        case DatasetKind::Cifar10: return "cifar10";
    }
    return "?";
}

// Prefer the gzip name, fall back to the raw one.
std::string find_idx_file(const std::string& dir, const std::string& base) {
    std::string gz = join(dir, base + ".gz"), raw = join(dir, base);
    if (file_exists(gz)) return gz;
    if (file_exists(raw)) return raw;
    throw DatasetError("cannot open " + gz + " (also tried " + raw + ")");
}

}  // namespace

DatasetKind parse_dataset_kind(const std::string& name) {
    std::string s = name;
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "fashion-mnist" || s == "fashion_mnist") return DatasetKind::FashionMnist;
    if (s == "mnist") return DatasetKind::Mnist;
    if (s == "cifar10" || s == "cifar-10") return DatasetKind::Cifar10;
    throw DatasetError("unknown dataset '" + name +
                       "' (valid: fashion-mnist, fashion_mnist, mnist, cifar10, cifar-10)");
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int max_images) {
    ByteSource img(images_path);
    ByteSource lab(labels_path);
    auto ih = read_idx_header(img, images_path, 4, 0x00000803u);
    auto lh = read_idx_header(lab, labels_path, 2, 0x00000801u);
    uint32_t count = ih[1], rows = ih[2], cols = ih[3];
    if (rows == 0 || cols == 0 || rows > 65535 || cols > 65535)
        throw DatasetError(images_path + ": implausible image size " + std::to_string(rows) + "x" +
                           std::to_string(cols));
    if (count > uint32_t(INT_MAX))
        throw DatasetError(images_path + ": implausible image count " + std::to_string(count));
    if (lh[1] != count)
        throw DatasetError("image/label count mismatch: " + images_path + " declares " +
                           std::to_string(count) + " images but " + labels_path + " declares " +
                           std::to_string(lh[1]) + " labels");

    size_t n = count;
    if (max_images > 0) n = std::min(n, size_t(max_images));
    size_t img_bytes = size_t(rows) * cols;

    Dataset ds;
    ds.name = images_path;
    ds.count = int(n);
    ds.channels = 1;
    ds.height = int(rows);
    ds.width = int(cols);
    // Grown while reading, so a header that declares more images than the
    // file holds is reported as truncated instead of allocating its size.
    const size_t want = n * img_bytes;
    size_t got = 0;
    while (got < want) {
        const size_t step = std::min(want - got, size_t(1) << 24);
        ds.pixels.resize(got + step);
        const size_t r = img.read(ds.pixels.data() + got, step);
        got += r;
        if (r < step) break;
    }
    if (got < want)
        throw DatasetError(images_path + ": truncated: expected " + std::to_string(n) + " images (" +
                           std::to_string(want) + " bytes of pixel data), only " +
                           std::to_string(got) + " bytes present (" +
                           std::to_string(got / img_bytes) + " complete images)" +
                           (img.gzip() ? " in the gzip stream" : ""));
    if (n == count) img.check_end();

    ds.labels.resize(n);
    got = lab.read(ds.labels.data(), n);
    if (got < n)
        throw DatasetError(labels_path + ": truncated: expected " + std::to_string(n) +
                           " labels, only " + std::to_string(got) + " present" +
                           (lab.gzip() ? " in the gzip stream" : ""));
    if (n == count) lab.check_end();
    check_labels(ds.labels, labels_path);
    return ds;
}

Dataset load_cifar10(const std::vector<std::string>& batch_paths, int max_images) {
    constexpr size_t kPix = 32 * 32, kRec = 1 + 3 * kPix;
    if (batch_paths.empty()) throw DatasetError("load_cifar10: no batch files given");
    Dataset ds;
    ds.name = batch_paths.front();
    ds.channels = 3;
    ds.height = 32;
    ds.width = 32;
    size_t limit = max_images > 0 ? size_t(max_images) : SIZE_MAX;
    size_t n = 0;
    for (const auto& path : batch_paths) {
        if (n >= limit) break;
        ByteSource src(path);
        std::vector<uint8_t> buf = src.read_all();
        if (buf.empty()) throw DatasetError(path + ": empty CIFAR-10 batch file");
        if (buf.size() % kRec != 0)
            throw DatasetError(path + ": size " + std::to_string(buf.size()) +
                               " bytes is not a multiple of the 3073-byte CIFAR-10 record "
                               "(truncated or not a CIFAR-10 binary batch; " +
                               std::to_string(buf.size() / kRec) + " complete records)");
        size_t recs = std::min(buf.size() / kRec, limit - n);
        ds.pixels.resize((n + recs) * 3 * kPix);
        ds.labels.resize(n + recs);
        for (size_t r = 0; r < recs; ++r) {
            const uint8_t* rec = buf.data() + r * kRec;
            if (rec[0] > 9)
                throw DatasetError(path + ": label out of range at record " + std::to_string(r) +
                                   ": " + std::to_string(int(rec[0])) + " (expected 0..9)");
            ds.labels[n + r] = rec[0];
            // Stored planar (CHW); the simulator works in HWC.
            uint8_t* out = ds.pixels.data() + (n + r) * 3 * kPix;
            const uint8_t* R = rec + 1;
            const uint8_t* G = R + kPix;
            const uint8_t* B = G + kPix;
            for (size_t p = 0; p < kPix; ++p) {
                out[3 * p] = R[p];
                out[3 * p + 1] = G[p];
                out[3 * p + 2] = B[p];
            }
        }
        n += recs;
    }
    ds.count = int(n);
    return ds;
}

Dataset load_dataset(DatasetKind kind, const std::string& dir_in, const std::string& split,
                     int max_images) {
    if (split != "train" && split != "test")
        throw DatasetError("unknown split '" + split + "' for " + kind_name(kind) +
                           " (expected 'train' or 'test')");
    bool train = split == "train";
    std::string dir = dir_in;
    if (dir.empty()) {
        if (kind != DatasetKind::FashionMnist)
            throw DatasetError(std::string(kind_name(kind)) +
                               " has no default data directory; pass --data-dir");
        dir = kDefaultFashionDir;
    }

    Dataset ds;
    if (kind == DatasetKind::Cifar10) {
        std::vector<std::string> names;
        if (train)
            for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
        else
            names.push_back("test_batch.bin");
        // Accept both the folder the tarball extracts to and its parent.
        std::string base = dir;
        if (!file_exists(join(dir, names[0]))) {
            std::string sub = join(dir, "cifar-10-batches-bin");
            if (!file_exists(join(sub, names[0])))
                throw DatasetError("cannot open " + join(dir, names[0]) + " (also tried " +
                                   join(sub, names[0]) + ")");
            base = sub;
        }
        std::vector<std::string> paths;
        for (const auto& nm : names) paths.push_back(join(base, nm));
        ds = load_cifar10(paths, max_images);
    } else {
        std::string pre = train ? "train" : "t10k";
        std::string images = find_idx_file(dir, pre + "-images-idx3-ubyte");
        std::string labels = find_idx_file(dir, pre + "-labels-idx1-ubyte");
        ds = load_idx(images, labels, max_images);
    }
    ds.name = std::string(kind_name(kind)) + "/" + split;
    return ds;
}

namespace {

// The images centred in the topology's input size, background pixel 0 around
// them, grayscale replicated to 3 channels; out(c, pixel) gives each stored value.
template <class T, class Out>
void lay_out(const Dataset& ds, const Topology& topo, int count, std::vector<T>& data, Out out) {
    const int D = topo.in_dim, C = topo.in_channels;
    if (D <= 0 || C <= 0)
        throw DatasetError("topology '" + topo.name + "' has invalid input shape " +
                           std::to_string(D) + "x" + std::to_string(D) + "x" + std::to_string(C));
    if (ds.height > D || ds.width > D)
        throw DatasetError("dataset '" + ds.name + "' images are " + std::to_string(ds.height) +
                           "x" + std::to_string(ds.width) + ", larger than topology '" +
                           topo.name + "' input " + std::to_string(D) + "x" + std::to_string(D) +
                           " (cropping/resizing is not supported)");
    const bool replicate = ds.channels == 1 && C == 3;
    if (ds.channels != C && !replicate)
        throw DatasetError("dataset '" + ds.name + "' has " + std::to_string(ds.channels) +
                           " channel(s) but topology '" + topo.name + "' expects " +
                           std::to_string(C) + " (only 1 -> 3 replication is supported)");
    // Fill with the background once, then write the centred image.
    data.resize(size_t(count) * D * D * C);
    std::vector<T> background(static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) background[size_t(c)] = out(c, 0);
    for (size_t k = 0; k < data.size(); k += size_t(C))
        std::copy(background.begin(), background.end(), data.begin() + long(k));
    const int oy = (D - ds.height) / 2, ox = (D - ds.width) / 2;
    const int H = ds.height, W = ds.width, SC = ds.channels;
    for (int i = 0; i < count; ++i) {
        const uint8_t* src = ds.image(i);
        T* dst = data.data() + size_t(i) * D * D * C;
        for (int y = 0; y < H; ++y) {
            const uint8_t* s = src + size_t(y) * W * SC;
            T* d = dst + (size_t(y + oy) * D + ox) * C;
            for (int x = 0; x < W; ++x)
                for (int c = 0; c < C; ++c) d[x * C + c] = out(c, s[x * SC + (replicate ? 0 : c)]);
        }
    }
}

}  // namespace

InputBatch prepare_inputs(const Dataset& ds, const Topology& topo, int max_images) {
    InputBatch b;
    b.count = max_images > 0 ? std::min(ds.count, max_images) : ds.count;
    b.dim = topo.in_dim;
    b.channels = topo.in_channels;
    b.labels.assign(ds.labels.begin(), ds.labels.begin() + b.count);
    lay_out(ds, topo, b.count, b.data, [&](int c, int pixel) { return int8_t(topo.input_code(c, pixel)); });
    return b;
}

PixelBatch prepare_pixels(const Dataset& ds, const Topology& topo, int max_images) {
    PixelBatch b;
    b.count = max_images > 0 ? std::min(ds.count, max_images) : ds.count;
    b.dim = topo.in_dim;
    b.channels = topo.in_channels;
    lay_out(ds, topo, b.count, b.data, [](int, int pixel) { return uint8_t(pixel); });
    return b;
}

}  // namespace fatsim
