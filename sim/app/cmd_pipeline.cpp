// pipeline: the paper's experiment end to end (campaigns/pipeline.hpp). This
// file parses the command line and fills in the pipeline's training step with
// the trainer facade, so campaigns/ does not depend on trainer/.
#include <iostream>

#include "app.hpp"
#include "derive.hpp"
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

// `fatsim map-faults` for the pipeline: every class, a seeded sample per class.
void map_faults_for_pipeline(const campaigns::PhysicalRequest& q, const InputBatch& images) {
    const QnnModel model = load_model(q.model_path);
    AccelConfig accel = load_accel(q.accel_path);
    bind_folding(accel, model.topology);  // a folding written for the topology's full width
    campaigns::PhysicalCampaignOptions opt;
    opt.sample = q.sample;
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
        ("output,o", po::value<std::string>(), "override the spec's output folder");
    po::positional_options_description pos;
    pos.add("spec", 1);
    po::variables_map vm;
    if (!parse_or_help(args, desc, vm, "fatsim pipeline SPEC.yaml [--topology T] [--epochs N] [--output DIR]", &pos))
        return 0;
    campaigns::PipelineSpec s = campaigns::load_pipeline_spec(vm["spec"].as<std::string>());
    if (vm.count("topology")) s.topology = vm["topology"].as<std::string>();
    if (vm.count("epochs")) s.epochs = vm["epochs"].as<int>();
    if (vm.count("output")) s.output = vm["output"].as<std::string>();
    const campaigns::PhysicalFunctions physical{map_faults_for_pipeline, derive_for_pipeline};
    const campaigns::PipelineResult r = campaigns::run_pipeline(s, train_with_trainer, std::cout, &physical);
    std::cout << "\n" << r.report << "\nwrote " << r.report_path << "\n";
    return 0;
}

}  // namespace fatsim::app
