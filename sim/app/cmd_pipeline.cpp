// pipeline: the paper's experiment end to end (campaigns/pipeline.hpp). This
// file parses the command line and fills in the pipeline's training step with
// the trainer facade, so campaigns/ does not depend on trainer/.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "derive.hpp"
#include "files.hpp"
#include "physical_campaign.hpp"
#include "pipeline.hpp"
#include "trainer.hpp"

namespace fatsim::app {

namespace {

campaigns::TrainOutcome train_with_trainer(const Topology& topo, const campaigns::TrainRequest& q,
                                           const InputBatch& train_set, const InputBatch& test_set) {
    trainer::TrainOptions opt;
    opt.topology_path = q.topology_path;
    opt.width = q.width;
    opt.mode = trainer::parse_train_mode(q.model.mode);
    opt.inject.p = q.model.p;
    opt.inject.error_model = q.model.error_model_is_file()
                                 ? load_error_model(q.model.error_model, topo)
                                 : stuck_at_error_model(parse_error_model_kind(q.model.error_model));
    opt.fat2_switch_batches = q.fat2_switch_batches;
    opt.epochs = q.epochs;
    opt.batch = q.batch;
    opt.lr = q.lr;
    opt.lr_step = q.lr_step;
    opt.seed = q.seed;
    opt.threads = q.threads;
    opt.eval_each_epoch = false;
    opt.checkpoint_dir = q.checkpoint_dir;
    opt.resume = true;
    trainer::TrainResult r = trainer::train(topo, opt, train_set, test_set);
    campaigns::TrainOutcome out;
    out.model = std::move(r.model);
    out.test_accuracy = r.test_acc;
    for (const auto& ep : r.epochs) out.epoch_seconds.push_back(ep.seconds);
    out.export_images = r.agreement.images;
    out.export_prediction_agree = r.agreement.pred_agree;
    out.export_activation_agree = r.agreement.act_agree;
    if (opt.mode == trainer::TrainMode::Fat2) out.fat2_schedule = trainer::describe_fat2_schedule(r, topo);
    out.warnings = r.warnings;
    return out;
}

// train.parallel > 1: the pipeline trains several models at once, each in a
// child process (`fatsim pipeline --train-one REQUEST.json`): LibTorch's seed
// and thread count are per process. The child loads the same data as the
// pipeline and trains exactly as train_with_trainer does, so the model is the
// one an in-process run gives (the trainer's results do not depend on its
// thread count).
using nlohmann::json;

json request_json(const campaigns::TrainRequest& q, const campaigns::PipelineSpec& s, const std::string& dir) {
    return {{"topology", q.topology_path},
            {"width", q.width},
            {"label", q.model.label},
            {"mode", q.model.mode},
            {"p", q.model.p},
            {"error_model", q.model.error_model},
            {"epochs", q.epochs},
            {"batch", q.batch},
            {"lr", q.lr},
            {"lr_step", q.lr_step},
            {"seed", q.seed},
            {"threads", q.threads},
            {"fat2_switch_batches", q.fat2_switch_batches},
            {"checkpoint_dir", q.checkpoint_dir},
            {"dataset", s.dataset},
            {"data_dir", s.data_dir},
            {"train_images", s.train_images},
            {"test_images", s.test_images},
            {"model_out", dir + "/trained.fatq"},
            {"outcome_out", dir + "/outcome.json"}};
}

int train_one(const std::string& request_path) {
    const json r = json::parse(read_text_file(request_path));
    campaigns::TrainRequest q;
    q.topology_path = r.at("topology");
    q.width = r.at("width");
    q.model.label = r.at("label");
    q.model.mode = r.at("mode");
    q.model.p = r.at("p");
    q.model.error_model = r.at("error_model");
    q.epochs = r.at("epochs");
    q.batch = r.at("batch");
    q.lr = r.at("lr");
    q.lr_step = r.at("lr_step");
    q.seed = r.at("seed");
    q.threads = r.at("threads");
    q.fat2_switch_batches = r.at("fat2_switch_batches");
    q.checkpoint_dir = r.at("checkpoint_dir");
    const Topology topo = load_topology(q.topology_path, q.width);
    const DatasetKind dk = parse_dataset_kind(r.at("dataset"));
    const std::string data_dir = r.at("data_dir");
    const InputBatch train_set = prepare_inputs(load_dataset(dk, data_dir, "train", r.at("train_images")), topo);
    const InputBatch test_set = prepare_inputs(load_dataset(dk, data_dir, "test", r.at("test_images")), topo);
    const campaigns::TrainOutcome o = train_with_trainer(topo, q, train_set, test_set);
    save_model(o.model, r.at("model_out"));
    const json out = {{"test_accuracy", o.test_accuracy},
                      {"epoch_seconds", o.epoch_seconds},
                      {"export_images", o.export_images},
                      {"export_prediction_agree", o.export_prediction_agree},
                      {"export_activation_agree", o.export_activation_agree},
                      {"fat2_schedule", o.fat2_schedule},
                      {"warnings", o.warnings}};
    write_file_atomic(r.at("outcome_out"), out.dump(2) + "\n");
    return 0;
}

// What a failed child said: its error line, else the last lines of its log.
std::string child_error(const std::string& path, size_t lines) {
    std::ifstream f(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(f, line);) {
        line = line.substr(line.rfind('\r') + 1);  // a progress bar's last state
        const std::string said = "fatsim pipeline: error: ";
        if (line.rfind(said, 0) == 0) return ": " + line.substr(said.size()) + " (its output: " + path + ")";
        all.push_back(line);
    }
    std::string out = "; the end of " + path + ":";
    for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n  " + all[i];
    return out;
}

campaigns::TrainOutcome train_in_child(const campaigns::TrainRequest& q, const campaigns::PipelineSpec& s) {
    const std::string dir = q.checkpoint_dir, req = dir + "/request.json", log = dir + "/train.log";
    const json r = request_json(q, s, dir);
    std::remove(std::string(r.at("outcome_out")).c_str());
    write_file_atomic(req, r.dump(2) + "\n");
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("pipeline: cannot start the training of " + q.model.label + " (fork failed)");
    if (pid == 0) {  // only async-signal-safe calls until exec
        prctl(PR_SET_PDEATHSIG, SIGTERM);  // the pipeline stopped: so does its training (it resumes later)
        if (getppid() != parent) _exit(127);
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char* argv[] = {"fatsim", "pipeline", "--train-one", req.c_str(), nullptr};
        execv("/proc/self/exe", const_cast<char* const*>(argv));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("pipeline: the training of " + q.model.label + " failed (" +
                                 (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                    : "signal " + std::to_string(WTERMSIG(status))) +
                                 ")" + child_error(log, 5));
    const json o = json::parse(read_text_file(r.at("outcome_out")));
    campaigns::TrainOutcome out;
    out.model = load_model(r.at("model_out"));
    out.test_accuracy = o.at("test_accuracy");
    out.epoch_seconds = o.at("epoch_seconds").get<std::vector<double>>();
    out.export_images = o.at("export_images");
    out.export_prediction_agree = o.at("export_prediction_agree");
    out.export_activation_agree = o.at("export_activation_agree");
    out.fat2_schedule = o.at("fat2_schedule");
    out.warnings = o.at("warnings").get<std::vector<std::string>>();
    return out;
}

// `fatsim map-faults` for the pipeline: every class, a seeded sample per class
// (or every non-weight fault and a sample of weight faults).
void map_faults_for_pipeline(const campaigns::PhysicalRequest& q, const InputBatch& images) {
    const QnnModel model = load_model(q.model_path);
    AccelConfig accel = load_accel(q.accel_path);
    bind_folding(accel, model.topology);  // a folding written for the topology's full width
    campaigns::PhysicalCampaignOptions opt;
    opt.sample = q.sample;
    opt.weight_margin = q.weight_margin;
    opt.seed = q.seed;
    opt.fresh = q.fresh;
    opt.output = q.output;
    opt.identity = {{"model", q.model_path}, {"accel", q.accel_path}, {"data", q.data_identity}, {"images", images.count}};
    campaigns::run_physical_campaign(model, accel, images, opt);
}

void derive_for_pipeline(const std::string& map_dir, const std::string& model_path, const std::string& out_path) {
    campaigns::derive_error_model_file(map_dir, model_path, out_path, campaigns::DeriveOptions{});
}

}  // namespace

int cmd_pipeline(const Args& args) {
    po::options_description desc("fatsim pipeline options");
    desc.add_options()
        ("spec", po::value<std::string>()->required(), "pipeline spec YAML (e.g. campaigns/fashion_cnv.yaml)")
        ("topology,t", po::value<std::string>(), "override the spec's topology (e.g. models/cnv_w2a2.yaml)")
        ("epochs", po::value<int>(), "override the spec's training epochs")
        ("output,o", po::value<std::string>(), "override the spec's output folder")
        ("train-one", po::value<std::string>(), "(internal, train.parallel > 1) train the model a request JSON "
                                               "describes, as a child of the pipeline");
    po::positional_options_description pos;
    pos.add("spec", 1);
    if (args.size() == 2 && args[0] == "--train-one") return train_one(args[1]);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim pipeline SPEC.yaml [--topology T] [--epochs N] [--output DIR]", &pos))
        return 0;
    campaigns::PipelineSpec s = campaigns::load_pipeline_spec(vm["spec"].as<std::string>());
    if (vm.count("topology")) s.topology = vm["topology"].as<std::string>();
    if (vm.count("epochs")) s.epochs = vm["epochs"].as<int>();
    if (vm.count("output")) s.output = vm["output"].as<std::string>();
    const campaigns::PhysicalFunctions physical{map_faults_for_pipeline, derive_for_pipeline};
    const auto train = [&s](const Topology& topo, const campaigns::TrainRequest& q, const InputBatch& train_set,
                            const InputBatch& test_set) {
        return q.own_process ? train_in_child(q, s) : train_with_trainer(topo, q, train_set, test_set);
    };
    const campaigns::PipelineResult r = campaigns::run_pipeline(s, train, std::cout, &physical);
    std::cout << "\n" << r.report << "\nwrote " << r.report_path << "\n";
    return 0;
}

}  // namespace fatsim::app
