// Dataset readers: IDX (raw and gzip), CIFAR-10 batches, error messages, and
// the mapping to the network's padded signed 8-bit input.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dataset.hpp"

namespace fs = std::filesystem;
using namespace fatsim;

namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

// Deterministic pixel pattern so every position is checkable.
uint8_t pix(int img, int y, int x) { return uint8_t(img * 37 + y * 11 + x * 3 + 1); }

Bytes idx_images(int count, int rows, int cols, uint32_t magic = 0x00000803) {
    Bytes b;
    put32(b, magic);
    put32(b, uint32_t(count));
    put32(b, uint32_t(rows));
    put32(b, uint32_t(cols));
    for (int i = 0; i < count; ++i)
        for (int y = 0; y < rows; ++y)
            for (int x = 0; x < cols; ++x) b.push_back(pix(i, y, x));
    return b;
}

Bytes idx_labels(int count, uint32_t magic = 0x00000801) {
    Bytes b;
    put32(b, magic);
    put32(b, uint32_t(count));
    for (int i = 0; i < count; ++i) b.push_back(uint8_t((i * 3) % 10));
    return b;
}

void write_raw(const std::string& path, const Bytes& b) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

void write_gz(const std::string& path, const Bytes& b) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!b.empty()) {
        ASSERT_EQ(gzwrite(f, b.data(), unsigned(b.size())), int(b.size()));
    }
    gzclose(f);
}

Bytes read_raw(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// CIFAR record: label, then R, G, B planes with channel-specific patterns.
uint8_t cpix(int rec, int c, int y, int x) { return uint8_t(rec * 7 + c * 80 + y * 2 + x); }

Bytes cifar_batch(int records, int label_base = 0) {
    Bytes b;
    for (int r = 0; r < records; ++r) {
        b.push_back(uint8_t((label_base + r) % 10));
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) b.push_back(cpix(r, c, y, x));
    }
    return b;
}

// Expects `fn` to throw DatasetError whose message contains every substring.
template <class F>
void expect_error(F fn, const std::vector<std::string>& parts) {
    try {
        fn();
        ADD_FAILURE() << "expected DatasetError";
    } catch (const DatasetError& e) {
        std::string msg = e.what();
        for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos)
            << "message '" << msg << "' lacks '" << p << "'";
    }
}

class DatasetTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::temp_directory_path() /
               ("fatsim_dataset_" + std::to_string(::getpid()) + "_" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    fs::path dir_;
};

Topology topo(int dim, int channels) {
    Topology t;
    t.name = "test";
    t.in_dim = dim;
    t.in_channels = channels;
    return t;
}

}  // namespace

// ---------------------------------------------------------------- IDX reading

TEST_F(DatasetTest, RawIdxRoundTrip) {
    write_raw(path("img"), idx_images(3, 4, 5));
    write_raw(path("lab"), idx_labels(3));
    Dataset ds = load_idx(path("img"), path("lab"));
    ASSERT_EQ(ds.count, 3);
    EXPECT_EQ(ds.channels, 1);
    EXPECT_EQ(ds.height, 4);
    EXPECT_EQ(ds.width, 5);
    ASSERT_EQ(ds.pixels.size(), 3u * 4 * 5);
    for (int i = 0; i < 3; ++i)
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 5; ++x) EXPECT_EQ(ds.image(i)[y * 5 + x], pix(i, y, x));
    EXPECT_EQ(ds.labels, (Bytes{0, 3, 6}));
}

TEST_F(DatasetTest, GzipIdxRoundTrip) {
    write_gz(path("img.gz"), idx_images(4, 6, 3));
    write_gz(path("lab.gz"), idx_labels(4));
    Dataset ds = load_idx(path("img.gz"), path("lab.gz"));
    ASSERT_EQ(ds.count, 4);
    EXPECT_EQ(ds.height, 6);
    EXPECT_EQ(ds.width, 3);
    for (int i = 0; i < 4; ++i)
        for (int y = 0; y < 6; ++y)
            for (int x = 0; x < 3; ++x) EXPECT_EQ(ds.image(i)[y * 3 + x], pix(i, y, x));
    EXPECT_EQ(ds.labels, (Bytes{0, 3, 6, 9}));
}

TEST_F(DatasetTest, GzipDetectedByMagicNotName) {
    write_gz(path("img"), idx_images(2, 2, 2));  // gzip content, no .gz suffix
    write_raw(path("lab.gz"), idx_labels(2));    // raw content, .gz suffix
    Dataset ds = load_idx(path("img"), path("lab.gz"));
    EXPECT_EQ(ds.count, 2);
    EXPECT_EQ(ds.image(1)[3], pix(1, 1, 1));
}

TEST_F(DatasetTest, MaxImages) {
    write_gz(path("img.gz"), idx_images(5, 3, 3));
    write_gz(path("lab.gz"), idx_labels(5));
    Dataset ds = load_idx(path("img.gz"), path("lab.gz"), 2);
    ASSERT_EQ(ds.count, 2);
    EXPECT_EQ(ds.pixels.size(), 2u * 9);
    EXPECT_EQ(ds.labels, (Bytes{0, 3}));
    EXPECT_EQ(ds.image(1)[8], pix(1, 2, 2));
    EXPECT_EQ(load_idx(path("img.gz"), path("lab.gz"), 100).count, 5);
}

TEST_F(DatasetTest, MaxImagesNeedsOnlyThosePresent) {
    Bytes img = idx_images(5, 3, 3);
    img.resize(16 + 2 * 9);  // header says 5, only 2 present
    write_raw(path("img"), img);
    write_raw(path("lab"), idx_labels(5));
    EXPECT_EQ(load_idx(path("img"), path("lab"), 2).count, 2);
}

// ---------------------------------------------------------------- IDX errors

TEST_F(DatasetTest, MissingFile) {
    write_raw(path("lab"), idx_labels(1));
    expect_error([&] { load_idx(path("nope"), path("lab")); }, {"cannot open", path("nope")});
    write_raw(path("img"), idx_images(1, 2, 2));
    expect_error([&] { load_idx(path("img"), path("nolab")); }, {"cannot open", path("nolab")});
}

TEST_F(DatasetTest, TruncatedRawImages) {
    Bytes img = idx_images(3, 4, 4);
    img.resize(img.size() - 4);  // 2 full images + 12 bytes of the third
    write_raw(path("img"), img);
    write_raw(path("lab"), idx_labels(3));
    expect_error([&] { load_idx(path("img"), path("lab")); },
                 {path("img"), "truncated", "expected 3 images", "48 bytes", "only 44 bytes",
                  "2 complete images"});
}

TEST_F(DatasetTest, TruncatedGzipImages) {
    Bytes img = idx_images(3, 4, 4);
    img.resize(img.size() - 16);  // valid gzip stream of too little data
    write_gz(path("img.gz"), img);
    write_gz(path("lab.gz"), idx_labels(3));
    expect_error([&] { load_idx(path("img.gz"), path("lab.gz")); },
                 {path("img.gz"), "truncated", "expected 3 images", "only 32 bytes"});
}

TEST_F(DatasetTest, GzipStreamCutShort) {
    write_gz(path("img.gz"), idx_images(50, 10, 10));
    Bytes gz = read_raw(path("img.gz"));
    gz.resize(gz.size() / 2);  // compressed stream stops mid-way
    write_raw(path("img.gz"), gz);
    write_gz(path("lab.gz"), idx_labels(50));
    expect_error([&] { load_idx(path("img.gz"), path("lab.gz")); },
                 {path("img.gz"), "truncated", "expected 50 images"});
}

TEST_F(DatasetTest, TruncatedLabels) {
    write_raw(path("img"), idx_images(4, 2, 2));
    Bytes lab = idx_labels(4);
    lab.pop_back();
    write_raw(path("lab"), lab);
    expect_error([&] { load_idx(path("img"), path("lab")); },
                 {path("lab"), "truncated", "expected 4 labels", "only 3"});
}

TEST_F(DatasetTest, TruncatedHeader) {
    write_raw(path("img"), Bytes{0, 0, 8, 3, 0, 0});
    write_raw(path("lab"), idx_labels(1));
    expect_error([&] { load_idx(path("img"), path("lab")); },
                 {path("img"), "truncated", "16 bytes", "only 6"});
}

TEST_F(DatasetTest, BadMagic) {
    // Swapped arguments: each file has the other's magic.
    write_raw(path("img"), idx_images(2, 2, 2));
    write_raw(path("lab"), idx_labels(2));
    expect_error([&] { load_idx(path("lab"), path("img")); },
                 {path("lab"), "magic", "expected 0x00000803", "found 0x00000801"});
    write_raw(path("lab2"), idx_labels(2, 0x12345678));
    expect_error([&] { load_idx(path("img"), path("lab2")); },
                 {path("lab2"), "magic", "expected 0x00000801", "found 0x12345678"});
}

TEST_F(DatasetTest, CountMismatch) {
    write_raw(path("img"), idx_images(3, 2, 2));
    write_raw(path("lab"), idx_labels(4));
    expect_error([&] { load_idx(path("img"), path("lab")); },
                 {"mismatch", path("img"), "3 images", path("lab"), "4 labels"});
}

TEST_F(DatasetTest, LabelOutOfRange) {
    write_raw(path("img"), idx_images(3, 2, 2));
    Bytes lab = idx_labels(3);
    lab.back() = 10;
    write_raw(path("lab"), lab);
    expect_error([&] { load_idx(path("img"), path("lab")); },
                 {path("lab"), "label out of range", "record 2", "10"});
}

TEST_F(DatasetTest, CorruptGzip) {
    write_gz(path("img.gz"), idx_images(3, 4, 4));
    Bytes gz = read_raw(path("img.gz"));
    // Keep the 10-byte gzip header; 0xff starts an invalid deflate block.
    for (size_t i = 10; i < gz.size(); ++i) gz[i] = 0xff;
    write_raw(path("img.gz"), gz);
    write_gz(path("lab.gz"), idx_labels(3));
    expect_error([&] { load_idx(path("img.gz"), path("lab.gz")); },
                 {path("img.gz"), "corrupt gzip"});
}

TEST_F(DatasetTest, GzipCrcMismatch) {
    write_gz(path("img.gz"), idx_images(3, 4, 4));
    Bytes gz = read_raw(path("img.gz"));
    gz[gz.size() - 8] ^= 0x55;  // CRC32 in the trailer
    write_raw(path("img.gz"), gz);
    write_gz(path("lab.gz"), idx_labels(3));
    expect_error([&] { load_idx(path("img.gz"), path("lab.gz")); },
                 {path("img.gz"), "corrupt gzip"});
}

// ---------------------------------------------------------------- load_dataset

TEST_F(DatasetTest, LoadDatasetByDirectory) {
    write_gz(path("train-images-idx3-ubyte.gz"), idx_images(6, 28, 28));
    write_gz(path("train-labels-idx1-ubyte.gz"), idx_labels(6));
    // Test split only raw: exercises the fallback.
    write_raw(path("t10k-images-idx3-ubyte"), idx_images(2, 28, 28));
    write_raw(path("t10k-labels-idx1-ubyte"), idx_labels(2));
    Dataset tr = load_dataset(DatasetKind::Mnist, dir_.string(), "train");
    EXPECT_EQ(tr.count, 6);
    EXPECT_EQ(tr.height, 28);
    Dataset te = load_dataset(DatasetKind::FashionMnist, dir_.string(), "test", 1);
    EXPECT_EQ(te.count, 1);
    EXPECT_EQ(te.image(0)[27 * 28 + 27], pix(0, 27, 27));
}

TEST_F(DatasetTest, LoadDatasetErrors) {
    expect_error([&] { load_dataset(DatasetKind::Mnist, dir_.string(), "train"); },
                 {"cannot open", path("train-images-idx3-ubyte.gz"),
                  path("train-images-idx3-ubyte")});
    expect_error([&] { load_dataset(DatasetKind::FashionMnist, dir_.string(), "valid"); },
                 {"unknown split", "valid"});
    expect_error([&] { load_dataset(DatasetKind::Mnist, "", "test"); }, {"--data-dir"});
    expect_error([&] { load_dataset(DatasetKind::Cifar10, dir_.string(), "test"); },
                 {"cannot open", path("test_batch.bin")});
}

TEST(DatasetKindTest, Parse) {
    EXPECT_EQ(parse_dataset_kind("fashion-mnist"), DatasetKind::FashionMnist);
    EXPECT_EQ(parse_dataset_kind("fashion_mnist"), DatasetKind::FashionMnist);
    EXPECT_EQ(parse_dataset_kind("mnist"), DatasetKind::Mnist);
    EXPECT_EQ(parse_dataset_kind("cifar10"), DatasetKind::Cifar10);
    EXPECT_EQ(parse_dataset_kind("cifar-10"), DatasetKind::Cifar10);
    expect_error([] { parse_dataset_kind("imagenet"); },
                 {"imagenet", "fashion-mnist", "mnist", "cifar10"});
}

// ---------------------------------------------------------------- CIFAR-10

TEST_F(DatasetTest, CifarChwToHwc) {
    write_raw(path("a.bin"), cifar_batch(3));
    write_raw(path("b.bin"), cifar_batch(2, 3));
    Dataset ds = load_cifar10({path("a.bin"), path("b.bin")});
    ASSERT_EQ(ds.count, 5);
    EXPECT_EQ(ds.channels, 3);
    EXPECT_EQ(ds.height, 32);
    EXPECT_EQ(ds.width, 32);
    EXPECT_EQ(ds.labels, (Bytes{0, 1, 2, 3, 4}));
    const int recs[5] = {0, 1, 2, 0, 1};  // record index within its file
    for (int i = 0; i < 5; ++i)
        for (int y : {0, 5, 31})
            for (int x : {0, 17, 31})
                for (int c = 0; c < 3; ++c)
                    EXPECT_EQ(ds.image(i)[(y * 32 + x) * 3 + c], cpix(recs[i], c, y, x));
}

TEST_F(DatasetTest, CifarMaxImagesAcrossFiles) {
    write_raw(path("a.bin"), cifar_batch(3));
    write_raw(path("b.bin"), cifar_batch(3, 3));
    Dataset ds = load_cifar10({path("a.bin"), path("b.bin"), path("missing.bin")}, 4);
    ASSERT_EQ(ds.count, 4);  // missing.bin never opened
    EXPECT_EQ(ds.labels, (Bytes{0, 1, 2, 3}));
    EXPECT_EQ(ds.image(3)[0], cpix(0, 0, 0, 0));
}

TEST_F(DatasetTest, CifarLoadDatasetSubdir) {
    fs::create_directories(dir_ / "cifar-10-batches-bin");
    write_raw(path("cifar-10-batches-bin/test_batch.bin"), cifar_batch(2));
    for (int i = 1; i <= 5; ++i)
        write_raw(path("cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"),
                  cifar_batch(1, i));
    Dataset te = load_dataset(DatasetKind::Cifar10, dir_.string(), "test");
    EXPECT_EQ(te.count, 2);
    Dataset tr = load_dataset(DatasetKind::Cifar10, dir_.string(), "train");
    EXPECT_EQ(tr.count, 5);
    EXPECT_EQ(tr.labels, (Bytes{1, 2, 3, 4, 5}));
    // The extracted folder itself also works.
    EXPECT_EQ(load_dataset(DatasetKind::Cifar10, path("cifar-10-batches-bin"), "test").count, 2);
}

TEST_F(DatasetTest, CifarErrors) {
    Bytes b = cifar_batch(2);
    b.resize(b.size() - 100);
    write_raw(path("short.bin"), b);
    expect_error([&] { load_cifar10({path("short.bin")}); },
                 {path("short.bin"), "6046", "not a multiple of", "3073", "1 complete record"});
    Bytes c = cifar_batch(2);
    c[3073] = 12;
    write_raw(path("label.bin"), c);
    expect_error([&] { load_cifar10({path("label.bin")}); },
                 {path("label.bin"), "label out of range", "record 1", "12"});
    expect_error([&] { load_cifar10({path("none.bin")}); }, {"cannot open", path("none.bin")});
    write_raw(path("empty.bin"), Bytes{});
    expect_error([&] { load_cifar10({path("empty.bin")}); }, {path("empty.bin"), "empty"});
}

// ---------------------------------------------------------------- prepare_inputs

TEST(PrepareInputs, PadReplicateQuantise) {
    Dataset ds;
    ds.name = "synthetic";
    ds.count = 2;
    ds.height = ds.width = 28;
    ds.channels = 1;
    ds.pixels.resize(2 * 28 * 28);
    for (int i = 0; i < 2; ++i)
        for (int p = 0; p < 28 * 28; ++p) ds.pixels[size_t(i) * 784 + p] = uint8_t(p * 7 + i);
    ds.pixels[0] = 0;                   // img 0 (0,0) -> -128
    ds.pixels[27] = 255;                // img 0 (0,27) -> 127
    ds.pixels[14 * 28 + 14] = 128;      // img 0 centre -> 0
    ds.pixels[27 * 28 + 27] = 129;      // img 0 (27,27) -> 1
    ds.labels = {7, 3};

    InputBatch b = prepare_inputs(ds, topo(32, 3));
    ASSERT_EQ(b.count, 2);
    EXPECT_EQ(b.dim, 32);
    EXPECT_EQ(b.channels, 3);
    ASSERT_EQ(b.data.size(), 2u * 32 * 32 * 3);
    EXPECT_EQ(b.labels, (Bytes{7, 3}));
    auto at = [&](int i, int y, int x, int c) { return int(b.image(i)[(y * 32 + x) * 3 + c]); };
    for (int c = 0; c < 3; ++c) {
        // Padding corners and the 2-pixel border.
        EXPECT_EQ(at(0, 0, 0, c), -128);
        EXPECT_EQ(at(0, 31, 31, c), -128);
        EXPECT_EQ(at(0, 0, 31, c), -128);
        EXPECT_EQ(at(0, 1, 16, c), -128);
        EXPECT_EQ(at(0, 16, 30, c), -128);
        EXPECT_EQ(at(1, 31, 0, c), -128);
        // Image corners land at (2,2)..(29,29).
        EXPECT_EQ(at(0, 2, 2, c), -128);
        EXPECT_EQ(at(0, 2, 29, c), 127);
        EXPECT_EQ(at(0, 16, 16, c), 0);
        EXPECT_EQ(at(0, 29, 29, c), 1);
        EXPECT_EQ(at(1, 2, 2, c), int(uint8_t(0 * 7 + 1)) - 128);
        EXPECT_EQ(at(1, 29, 29, c), int(uint8_t(783 * 7 + 1)) - 128);
    }
    // Every interior pixel, every channel.
    for (int i = 0; i < 2; ++i)
        for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 28; ++x)
                for (int c = 0; c < 3; ++c)
                    ASSERT_EQ(at(i, y + 2, x + 2, c), int(ds.image(i)[y * 28 + x]) - 128);

    InputBatch one = prepare_inputs(ds, topo(32, 3), 1);
    EXPECT_EQ(one.count, 1);
    EXPECT_EQ(one.data.size(), 32u * 32 * 3);
    EXPECT_EQ(one.labels, (Bytes{7}));
}

TEST(PrepareInputs, TheTopologysPixelCodesReplacePixelMinus128) {
    Dataset g;
    g.count = 1;
    g.height = g.width = 1;
    g.channels = 1;
    g.pixels = {200};
    g.labels = {4};
    Topology t = topo(3, 3);  // grayscale replicated, 1x1 image centred in 3x3
    t.pixel_codes.resize(3 * 256);
    for (int c = 0; c < 3; ++c)
        for (int u = 0; u < 256; ++u) t.pixel_codes[size_t(c) * 256 + size_t(u)] = (u + c) / 4 - 60;
    const InputBatch b = prepare_inputs(g, t);
    ASSERT_EQ(b.data.size(), 27u);
    for (int p = 0; p < 9; ++p)
        for (int c = 0; c < 3; ++c)
            EXPECT_EQ(int(b.data[size_t(p) * 3 + c]), p == 4 ? (200 + c) / 4 - 60 : c / 4 - 60) << p << " " << c;
    const PixelBatch px = prepare_pixels(g, t);
    EXPECT_EQ(px.data, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 200, 200,
                                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(PrepareInputs, SameShapeGrayscaleAndColour) {
    Dataset g;
    g.count = 1;
    g.height = g.width = 2;
    g.channels = 1;
    g.pixels = {0, 64, 192, 255};
    g.labels = {4};
    InputBatch b = prepare_inputs(g, topo(2, 1));
    EXPECT_EQ(b.data, (std::vector<int8_t>{-128, -64, 64, 127}));

    Dataset c;
    c.count = 1;
    c.height = c.width = 1;
    c.channels = 3;
    c.pixels = {10, 128, 250};
    c.labels = {9};
    InputBatch cb = prepare_inputs(c, topo(3, 3));  // 1x1 centred in 3x3
    ASSERT_EQ(cb.data.size(), 27u);
    EXPECT_EQ(cb.image(0)[(1 * 3 + 1) * 3 + 0], -118);
    EXPECT_EQ(cb.image(0)[(1 * 3 + 1) * 3 + 1], 0);
    EXPECT_EQ(cb.image(0)[(1 * 3 + 1) * 3 + 2], 122);
    EXPECT_EQ(cb.image(0)[0], -128);
    EXPECT_EQ(cb.image(0)[26], -128);
}

TEST(PrepareInputs, Errors) {
    Dataset ds;
    ds.name = "gray28";
    ds.count = 1;
    ds.height = ds.width = 28;
    ds.channels = 1;
    ds.pixels.assign(784, 0);
    ds.labels = {0};
    expect_error([&] { prepare_inputs(ds, topo(24, 1)); }, {"28x28", "larger", "24x24"});
    expect_error([&] { prepare_inputs(ds, topo(32, 2)); }, {"1 channel", "expects 2"});
    Dataset col = ds;
    col.name = "colour";
    col.channels = 3;
    col.pixels.assign(784 * 3, 0);
    expect_error([&] { prepare_inputs(col, topo(32, 1)); }, {"3 channel", "expects 1"});
}

// ---------------------------------------------------------------- real data

TEST(RealFashionMnist, TestSplit) {
    std::string dir = kDefaultFashionDir;
    if (!fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte.gz") &&
        !fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte"))
        GTEST_SKIP() << "Fashion-MNIST not installed in " << dir;
    Dataset ds = load_dataset(DatasetKind::FashionMnist, "", "test");
    ASSERT_EQ(ds.count, 10000);
    EXPECT_EQ(ds.height, 28);
    EXPECT_EQ(ds.width, 28);
    EXPECT_EQ(ds.channels, 1);
    ASSERT_EQ(ds.pixels.size(), 10000u * 784);
    std::array<int, 10> hist{};
    for (uint8_t l : ds.labels) {
        ASSERT_LE(l, 9);
        ++hist[l];
    }
    for (int c = 0; c < 10; ++c) EXPECT_EQ(hist[size_t(c)], 1000) << "class " << c;

    InputBatch b = prepare_inputs(ds, topo(32, 3));
    EXPECT_EQ(b.count, 10000);
    EXPECT_EQ(b.data.size(), 10000u * 32 * 32 * 3);
}
