// import: a network trained or streamlined elsewhere, as a fatsim model file.
#include <cstdio>

#include "app.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "qonnx.hpp"

namespace fatsim::app {

int cmd_import(const Args& args) {
    po::options_description desc("fatsim import options");
    desc.add_options()
        ("qonnx", po::value<std::string>()->required(),
         "QONNX graph: FINN streamlined (MultiThreshold) or Brevitas (Quant, BatchNormalization)")
        ("out,o", po::value<std::string>()->required(), "output model file (.fatq)")
        ("topology-name", po::value<std::string>()->default_value(""),
         "name of the topology (default: the graph's)")
        ("check", po::value<int>()->default_value(0),
         "run N images through the graph (float evaluation) and the imported model; fail on any disagreement")
        ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "--check: fashion-mnist | mnist | cifar10")
        ("data-dir", po::value<std::string>()->default_value(""), "--check: folder of the dataset files");
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim import --qonnx net.onnx --out m.fatq [--topology-name N] [--check N]"))
        return 0;
    const std::string src = vm["qonnx"].as<std::string>(), out = vm["out"].as<std::string>();
    const int check = vm["check"].as<int>();
    if (check < 0) throw UsageError("--check must be >= 0");
    QonnxImportOptions opt;
    opt.topology_name = vm["topology-name"].as<std::string>();
    const QnnModel model = import_qonnx(src, opt);
    if (check > 0) {
        const Dataset ds = load_dataset(parse_dataset_kind(vm["dataset"].as<std::string>()),
                                        vm["data-dir"].as<std::string>(), "test", check);
        const InputBatch batch = prepare_inputs(ds, model.topology, check);
        const PixelBatch pixels = prepare_pixels(ds, model.topology, check);
        const EvalResult r = Engine(model).evaluate(batch, {}, 0);
        const QonnxGraph graph(src);
        const auto feed = QonnxGraph::feed_for(model.topology);
        int agree = 0, graph_correct = 0;
        for (int i = 0; i < batch.count; ++i) {
            const int g = graph.classify(pixels.image(i), batch.dim, batch.channels, feed);
            agree += g == r.predictions[size_t(i)];
            graph_correct += g == batch.labels[size_t(i)];
        }
        std::printf("check     %d images: %d/%d predictions agree (graph %d correct, model %d correct)\n",
                    batch.count, agree, batch.count, graph_correct, r.correct);
        if (agree != batch.count) {
            std::fprintf(stderr, "fatsim import: the imported model disagrees with the graph on %d images; not written\n",
                         batch.count - agree);
            return 1;
        }
    }
    save_model(model, out);
    std::printf("wrote %s: %s, %zu layers, from %s\n", out.c_str(), model.topology.name.c_str(),
                model.topology.layers.size(), src.c_str());
    return 0;
}

}  // namespace fatsim::app
