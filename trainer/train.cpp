// Training loop (SAT / FAT method 1 / FAT method 2 / Dropout2D), checkpoints,
// resume, export and the injection-overhead measurement.
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "config.hpp"
#include "nn.hpp"
#include "progress.hpp"
#include "thread_governor.hpp"

namespace fatsim::trainer {

namespace fs = std::filesystem;
using torch::Tensor;

const char* to_string(TrainMode m) {
    switch (m) {
        case TrainMode::Sat: return "sat";
        case TrainMode::Fat1: return "fat1";
        case TrainMode::Fat2: return "fat2";
        case TrainMode::Dropout2d: return "dropout2d";
    }
    return "?";
}
TrainMode parse_train_mode(const std::string& s) {
    if (s == "sat") return TrainMode::Sat;
    if (s == "fat1") return TrainMode::Fat1;
    if (s == "fat2") return TrainMode::Fat2;
    if (s == "dropout2d" || s == "dropout") return TrainMode::Dropout2d;
    throw std::invalid_argument("unknown training mode '" + s + "' (sat | fat1 | fat2 | dropout2d)");
}

namespace {

// LibTorch's threads and the allocator behind its tensors. glibc serves each
// block over 128 KiB-32 MiB (its adaptive threshold) with a fresh mmap and
// returns it with munmap, so every batch faulted its activations' pages in
// again: a third of the trainer's time was kernel time. Keeping such blocks in
// the heap (and the heap untrimmed) halved the wall time of a 100-batch epoch
// (README "Training speed"). Neither changes a result.
void use_threads(int threads) {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    torch::set_num_threads(std::max(1, threads));
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Tensor batch_images(const Tensor& all_i8, const Tensor& idx) {
    return all_i8.index_select(0, idx).to(torch::kFloat32).permute({0, 3, 1, 2}).contiguous();
}

Tensor sq_hinge(const Tensor& logits, const Tensor& labels) {
    Tensor target = -torch::ones_like(logits);
    target.scatter_(1, labels.view({-1, 1}), 1.0);
    return (1.0 - target * logits).clamp_min(0).pow(2).mean();
}

void apply_mode(QnnNet& net, TrainMode mode, int fat2_layer) {
    switch (mode) {
        case TrainMode::Sat: net->set_injection(-2); break;
        case TrainMode::Fat1: net->set_injection(-1); break;
        case TrainMode::Fat2: net->set_injection(fat2_layer); break;
        case TrainMode::Dropout2d: net->set_injection(-1); net->set_dropout(true); break;
    }
}

void write_text_atomic(const fs::path& p, const std::string& text) {
    const fs::path tmp = p.string() + ".tmp";
    {
        std::ofstream f(tmp);
        f << text;
        if (!f) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, p);
}
int latest_epoch(const fs::path& dir) {
    std::ifstream f(dir / "latest");
    int e = -1;
    if (f) f >> e;
    return e;
}
// torch::load naming the file, with LibTorch's first message line (not its stack trace).
template <class T>
void load_torch_file(T& into, const std::string& path) {
    try {
        torch::load(into, path);
    } catch (const c10::Error& e) {
        const std::string what = e.what_without_backtrace();
        throw std::runtime_error(path + ": not a readable checkpoint of this network (" +
                                 what.substr(0, what.find('\n')) + "); delete it to train from scratch");
    }
}
fs::path net_file(const fs::path& dir, int e) { return dir / ("net_epoch" + std::to_string(e) + ".pt"); }
fs::path optim_file(const fs::path& dir, int e) { return dir / ("optim_epoch" + std::to_string(e) + ".pt"); }
fs::path meta_file(const fs::path& dir, int e) { return dir / ("meta_epoch" + std::to_string(e) + ".txt"); }
// The epoch's export: also records the topology, so a checkpoint needs no YAML.
fs::path model_file(const fs::path& dir, int e) { return dir / ("model_epoch" + std::to_string(e) + ".fatq"); }

// FAT method 2's layer schedule of epoch e, from (seed, epoch) alone so that a
// resume repeats it. Algorithm 2: one random layer per epoch; with switch_batches,
// shuffled rounds of all layers, one span per switch_batches batches.
std::vector<LayerSpan> fat2_layer_schedule(const TrainOptions& opt, const std::vector<int>& layers, int e, int nb) {
    std::mt19937_64 rng(mix_seed(opt.seed ^ 0x5A5A5A5Aull, uint64_t(e)));
    const size_t n = layers.size();
    if (opt.fat2_switch_batches <= 0) return {{0, layers[size_t(rng() % n)]}};
    std::vector<LayerSpan> spans;
    std::vector<int> round;
    for (int b = 0; b < nb; b += opt.fat2_switch_batches) {
        if (round.empty()) {  // Fisher-Yates with the seeded draw (portable, unlike std::shuffle)
            round = layers;
            for (size_t i = n - 1; i > 0; --i) std::swap(round[i], round[size_t(rng() % (i + 1))]);
        }
        spans.push_back({b, round.back()});
        round.pop_back();
    }
    return spans;
}

double eval_streamlined(QnnNet& net, const InputBatch& test, QnnModel* folded = nullptr) {
    if (test.count == 0) return -1;
    const QnnModel m = fold(net);
    int correct = 0;
    for (int s0 = 0; s0 < test.count; s0 += 500) {
        const int n = std::min(500, test.count - s0);
        const auto p = streamlined_predict(m, input_tensor(test, s0, n));
        for (int i = 0; i < n; ++i) correct += p[size_t(i)] == test.labels[size_t(s0 + i)];
    }
    if (folded) *folded = m;
    return 100.0 * correct / test.count;
}

// Interleaved timing of training steps without and with injection on every
// injection layer (the most injection work), on a scratch copy of the net.
void measure_overhead(const Topology& topo, const TrainOptions& opt, const InputBatch& train_set,
                      TrainResult& res) {
    torch::manual_seed(int64_t(mix_seed(opt.seed, 424242)));
    QnnNet net(topo, opt.inject);
    net->train();
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(opt.lr));
    const Tensor all = torch::from_blob(const_cast<int8_t*>(train_set.data.data()),
                                        {train_set.count, train_set.dim, train_set.dim, train_set.channels}, torch::kInt8);
    const Tensor labels = torch::tensor(std::vector<int64_t>(train_set.labels.begin(), train_set.labels.end()));
    const int B = std::min(opt.batch, train_set.count);
    const int nb = std::max(1, train_set.count / B);
    double t[2] = {0, 0};
    const int K = opt.measure_overhead_batches;
    for (int k = 0; k < 2 * K + 2; ++k) {  // first pair warms up
        const int which = k % 2;
        net->set_injection(which ? -1 : -2);
        const int b = (k / 2) % nb;
        const Tensor idx = torch::arange(int64_t(b) * B, int64_t(b + 1) * B, torch::kLong);
        const double t0 = now_s();
        Tensor loss = sq_hinge(net->forward(batch_images(all, idx)), labels.index_select(0, idx));
        adam.zero_grad();
        loss.backward();
        adam.step();
        net->clamp_weights();
        if (k >= 2) t[which] += now_s() - t0;
    }
    res.overhead_sat_s = t[0];
    res.overhead_inject_s = t[1];
}

// "Precise BN": the running statistics of a binary net lag its fast-moving
// weights; replace them with the plain average over fixed training batches
// (forward only, injection off). Deterministic: the batches are the first ones.
void recalibrate_bn(QnnNet& net, const Tensor& all, int batches, int B) {
    if (batches <= 0) return;
    torch::NoGradGuard ng;
    std::vector<bool> enabled;
    for (auto& inj : net->injections()) {
        enabled.push_back(inj->enabled);
        inj->enabled = false;
    }
    for (auto& L : net->layers)
        if (L->bn) {
            L->bn->running_mean.zero_();
            L->bn->running_var.fill_(1.0);
        }
    net->train();
    const int64_t N = all.size(0);
    const int nb = int(std::min<int64_t>(batches, std::max<int64_t>(1, N / B)));
    for (int k = 0; k < nb; ++k) {
        for (auto& L : net->layers)
            if (L->bn) L->bn->options.momentum(1.0 / (k + 1));  // cumulative average
        const Tensor idx = torch::arange(int64_t(k) * B, std::min<int64_t>(N, int64_t(k + 1) * B), torch::kLong);
        net->forward(batch_images(all, idx));
    }
    for (auto& L : net->layers)
        if (L->bn) L->bn->options.momentum(0.1);
    size_t i = 0;
    for (auto& inj : net->injections()) inj->enabled = enabled[i++];
}

}  // namespace

TrainResult train(const Topology& topo, const TrainOptions& opt, const InputBatch& train_set,
                  const InputBatch& test_set) {
    if (opt.epochs < 1) throw std::invalid_argument("epochs must be >= 1");
    if (opt.batch < 1) throw std::invalid_argument("batch must be >= 1");
    if (opt.lr_step < 1) throw std::invalid_argument("lr-step must be >= 1");
    if (!(opt.inject.p >= 0 && opt.inject.p < 1)) throw std::invalid_argument("p must be in [0, 1)");
    if (train_set.count < 1) throw std::invalid_argument("no training images");
    if (train_set.dim != topo.in_dim || train_set.channels != topo.in_channels)
        throw std::invalid_argument("training images do not match the topology input");
    use_threads(opt.threads);
    TrainResult res;
    if (opt.measure_overhead_batches > 0) measure_overhead(topo, opt, train_set, res);

    torch::manual_seed(int64_t(mix_seed(opt.seed, 0)));
    QnnNet net(topo, opt.inject);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(opt.lr).weight_decay(opt.weight_decay));
    const auto inj_layers = net->injection_layers();
    if (opt.mode != TrainMode::Sat && inj_layers.empty()) throw std::invalid_argument("no injection layer");

    int start = 0;
    const fs::path dir = opt.checkpoint_dir;
    if (!opt.checkpoint_dir.empty()) fs::create_directories(dir);
    if (opt.resume) {
        if (opt.checkpoint_dir.empty()) throw std::invalid_argument("--resume needs --checkpoint-dir");
        const int e = latest_epoch(dir);
        if (e >= 0) {
            load_torch_file(net, net_file(dir, e).string());
            load_torch_file(adam, optim_file(dir, e).string());
            start = e + 1;
            if (opt.progress) std::fprintf(stderr, "resuming after epoch %d from %s\n", e + 1, dir.c_str());
        }
    }

    const Tensor all = torch::from_blob(const_cast<int8_t*>(train_set.data.data()),
                                        {train_set.count, train_set.dim, train_set.dim, train_set.channels}, torch::kInt8);
    const Tensor labels = torch::tensor(std::vector<int64_t>(train_set.labels.begin(), train_set.labels.end()));
    const int N = train_set.count, B = std::min(opt.batch, N);
    int nb = N / B;  // drop the last partial batch (BN needs > 1 sample)
    if (opt.max_train_batches > 0) nb = std::min(nb, opt.max_train_batches);
    res.batches_per_epoch = nb;
    if (opt.mode == TrainMode::Fat2) {
        for (int e = 0; e < opt.epochs; ++e) res.fat2_schedule.push_back(fat2_layer_schedule(opt, inj_layers, e, nb));
        if (opt.fat2_switch_batches <= 0 && size_t(opt.epochs) < 2 * inj_layers.size()) {
            std::set<int> seen;
            for (const auto& ep : res.fat2_schedule) seen.insert(ep[0].layer);
            res.warnings.push_back("FAT method 2 with " + std::to_string(opt.epochs) + " epochs and " +
                                   std::to_string(inj_layers.size()) +
                                   " injection layers (fewer epochs than twice the layers): " +
                                   std::to_string(inj_layers.size() - seen.size()) +
                                   " layer(s) never injected; consider fat2_switch_batches / --fat2-switch-batches");
        }
    }
    for (const auto& w : res.warnings) std::fprintf(stderr, "fatsim train: warning: %s\n", w.c_str());
    ThreadGovernor::Options go;
    go.max_threads = std::max(1, opt.threads);
    go.adapt = opt.adapt_threads;
    go.alternate_every = opt.alternate_threads_every;
    OtherLoadMeter other_load;
    ThreadGovernor governor(go, other_load.cores(), std::ref(other_load));

    for (int e = start; e < opt.epochs; ++e) {
        EpochRecord rec;
        rec.epoch = e;
        rec.lr = opt.lr * std::pow(0.5, e / opt.lr_step);
        for (auto& g : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(rec.lr);
        // Everything random in an epoch derives from (seed, epoch): resume is exact.
        torch::manual_seed(int64_t(mix_seed(opt.seed, uint64_t(e) + 1)));
        const std::vector<LayerSpan> spans =
            opt.mode == TrainMode::Fat2 ? res.fat2_schedule[size_t(e)] : std::vector<LayerSpan>{};
        apply_mode(net, opt.mode, spans.empty() ? -2 : spans[0].layer);
        for (size_t k = 0; k < inj_layers.size(); ++k)
            if (net->injections()[k]->enabled) rec.enabled.push_back(inj_layers[k]);
        for (const auto& sp : spans) rec.enabled.push_back(sp.layer);
        std::sort(rec.enabled.begin(), rec.enabled.end());
        rec.enabled.erase(std::unique(rec.enabled.begin(), rec.enabled.end()), rec.enabled.end());
        size_t next_span = 1;

        net->train();
        const Tensor perm = torch::randperm(N, torch::kLong);
        Progress bar("epoch " + std::to_string(e + 1) + "/" + std::to_string(opt.epochs), nb, "batch", opt.progress);
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        const double t0 = now_s();
        const long full_before = governor.batches_at(go.max_threads);
        for (int b = 0; b < nb; ++b) {
            if (next_span < spans.size() && spans[next_span].first_batch == b)
                apply_mode(net, opt.mode, spans[next_span++].layer);
            const Tensor idx = perm.slice(0, int64_t(b) * B, int64_t(b + 1) * B);
            const Tensor y = labels.index_select(0, idx);
            const Tensor logits = net->forward(batch_images(all, idx));
            Tensor loss = sq_hinge(logits, y);
            adam.zero_grad();
            loss.backward();
            adam.step();
            net->clamp_weights();
            loss_sum += loss.item<double>();
            correct += (logits.argmax(1) == y).sum().item<int64_t>();
            seen += B;
            bar.add(1);
            const int before = governor.threads();
            if (governor.batch_done() != before) torch::set_num_threads(governor.threads());
        }
        rec.seconds = now_s() - t0;
        rec.fewer_thread_batches = nb - (governor.batches_at(go.max_threads) - full_before);
        bar.finish();
        rec.loss = loss_sum / nb;
        rec.train_acc = 100.0 * double(correct) / double(seen);
        recalibrate_bn(net, all, opt.bn_recalibrate_batches, B);
        if (opt.eval_each_epoch || e + 1 == opt.epochs) {
            net->eval();
            rec.test_acc = eval_streamlined(net, test_set);
        }
        if (opt.progress) {
            std::string en;
            if (opt.mode == TrainMode::Fat2 && !rec.enabled.empty())
                en = rec.enabled.size() == 1 ? ", inject " + topo.layers[size_t(rec.enabled[0])].name
                                             : ", inject " + std::to_string(rec.enabled.size()) + " layers in turn";
            if (rec.fewer_thread_batches > 0)
                en += ", " + std::to_string(rec.fewer_thread_batches) + " of " + std::to_string(nb) +
                      " batches on fewer threads (faster under load)";
            std::fprintf(stderr, "epoch %d/%d: lr %.4g, loss %.4f, train acc %.2f %%, test acc %s, %.1f s%s\n", e + 1,
                         opt.epochs, rec.lr, rec.loss, rec.train_acc,
                         rec.test_acc >= 0 ? (std::to_string(rec.test_acc).substr(0, 5) + " %").c_str() : "-",
                         rec.seconds, en.c_str());
        }
        if (!opt.checkpoint_dir.empty()) {
            torch::save(net, net_file(dir, e).string());
            torch::save(adam, optim_file(dir, e).string());
            std::ostringstream meta;
            meta << "topology " << (opt.topology_path.empty() ? "" : fs::absolute(opt.topology_path).string()) << "\n"
                 << "width " << topo.width << "\nepoch " << e << "\nmode " << to_string(opt.mode) << "\n";
            write_text_atomic(meta_file(dir, e), meta.str());
            save_model(fold(net, "checkpoint epoch " + std::to_string(e)), model_file(dir, e).string());
            write_text_atomic(dir / "latest", std::to_string(e) + "\n");
        }
        res.epochs.push_back(rec);
    }

    net->eval();
    std::ostringstream desc;
    desc << "fatsim train: " << topo.name << " width " << topo.width << ", mode " << to_string(opt.mode);
    if (opt.mode != TrainMode::Sat)
        desc << ", p " << opt.inject.p << ", error model " << to_string(opt.inject.error_model.granularity);
    desc << ", " << opt.epochs << " epochs, seed " << opt.seed;
    // The last epoch evaluated this very net (after its BN recalibration) already.
    res.test_acc = !res.epochs.empty() && res.epochs.back().test_acc >= 0 ? res.epochs.back().test_acc
                                                                          : eval_streamlined(net, test_set);
    res.model = fold(net, desc.str());
    if (opt.check_export && test_set.count > 0) res.agreement = check_agreement(net, res.model, test_set, opt.threads);
    return res;
}

bool operator==(const LayerSpan& a, const LayerSpan& b) { return a.first_batch == b.first_batch && a.layer == b.layer; }

std::string describe_fat2_schedule(const TrainResult& r, const Topology& topo) {
    std::ostringstream o;
    for (size_t e = 0; e < r.fat2_schedule.size(); ++e) {
        const auto& spans = r.fat2_schedule[e];
        o << (e ? "; " : "") << "epoch " << e + 1 << ": ";
        for (size_t i = 0; i < spans.size(); ++i) {
            o << (i ? ", " : "") << topo.layers[size_t(spans[i].layer)].name;
            if (spans.size() > 1) {
                const int last = i + 1 < spans.size() ? spans[i + 1].first_batch : r.batches_per_epoch;
                o << " (batches " << spans[i].first_batch + 1 << "-" << last << ")";
            }
        }
    }
    return o.str();
}

namespace {
struct Loaded {
    QnnNet net{nullptr};
};
Loaded load_checkpoint(const std::string& checkpoint, const std::string& topology_override, double width_override) {
    fs::path p = checkpoint;
    std::string epoch;
    if (fs::is_directory(p)) {
        const int e = latest_epoch(p);
        if (e < 0) throw std::runtime_error(checkpoint + ": no 'latest' checkpoint in this directory");
        epoch = std::to_string(e);
        p = net_file(p, e);
    } else {
        const std::string stem = p.filename().string();  // net_epochN.pt
        if (stem.rfind("net_epoch", 0) != 0 || stem.size() < 13 || stem.substr(stem.size() - 3) != ".pt")
            throw std::runtime_error(checkpoint + ": expected a checkpoint directory or a net_epochN.pt file");
        epoch = stem.substr(9, stem.size() - 12);
    }
    const fs::path dir = p.parent_path();
    Topology topo;
    if (!topology_override.empty()) {
        topo = load_topology(topology_override, width_override);
    } else {
        const fs::path mp = dir / ("model_epoch" + epoch + ".fatq");
        if (!fs::exists(mp)) throw std::runtime_error(checkpoint + ": " + mp.string() + " missing; pass --topology");
        topo = load_model(mp.string()).topology;
        if (width_override > 0 && width_override != topo.width)
            throw std::runtime_error(checkpoint + ": recorded width " + std::to_string(topo.width) +
                                     " differs from --width; pass --topology too");
    }
    Loaded L;
    L.net = QnnNet(topo);
    load_torch_file(L.net, p.string());
    L.net->eval();
    return L;
}
}  // namespace

QnnModel export_checkpoint(const std::string& checkpoint, const std::string& topology_override,
                           double width_override) {
    auto L = load_checkpoint(checkpoint, topology_override, width_override);
    return fold(L.net, "fatsim export of " + checkpoint);
}

AgreementReport check_agreement_checkpoint(const std::string& checkpoint, const InputBatch& batch, int threads) {
    use_threads(threads);
    auto L = load_checkpoint(checkpoint, "", 0.0);
    const QnnModel m = fold(L.net);
    return check_agreement(L.net, m, batch, threads);
}

}  // namespace fatsim::trainer
