// derive-error-model (campaigns/derive.cpp): effects from transition counts,
// channel sets, weights from populations and rates, merging, masked faults,
// strict rates files.
#include <gtest/gtest.h>

#include "config.hpp"
#include "derive.hpp"

using namespace fatsim;
using namespace fatsim::campaigns;

namespace {

Topology quarter_w1a2() { return load_topology(FATSIM_SOURCE_DIR "/models/cnv_w1a2.yaml", 0.25); }

physical_csv::Row row(const std::string& cls, const std::string& layer, const std::string& channels,
                      const std::string& transitions) {
    physical_csv::Row r;
    r.site = cls + "-site";
    r.cls = cls;
    r.layer = layer;
    r.channels = channels;
    r.transitions = transitions;
    r.masked = transitions.empty();
    return r;
}

}  // namespace

TEST(Derive, MostFrequentFaultyCodePerGoldenCode) {
    PatternClass c;
    set_effect_from_transitions(c, "-1>0:3;-1>1:5;0>1:2;1>0:9", "t");
    EXPECT_EQ(c.effect, Effect::Transition);
    EXPECT_EQ(c.transition, (std::map<int, int>{{-1, 1}, {0, 1}, {1, 0}}));
}

TEST(Derive, OneFaultyCodeForEveryGoldenCodeIsStuck) {
    PatternClass c;
    set_effect_from_transitions(c, "-1>1:4;0>1:2;0>-1:1", "t");
    EXPECT_EQ(c.effect, Effect::Stuck);
    EXPECT_EQ(c.stuck_code, 1);
    EXPECT_THROW(set_effect_from_transitions(c, "1>x:2", "row 3"), std::runtime_error);
}

TEST(Derive, ChannelSets) {
    const ChannelSet pe = channel_set_of("2;6;10;14", 16, "t");
    EXPECT_EQ(pe.modulus, 4);
    EXPECT_EQ(pe.residue, 2);
    EXPECT_TRUE(channel_set_of("0;1;2;3", 4, "t").all());
    // Not every channel of the residue class: an explicit list.
    const ChannelSet partial = channel_set_of("2;6;10", 16, "t");
    EXPECT_EQ(partial.modulus, 0);
    EXPECT_EQ(partial.list, (std::vector<int>{2, 6, 10}));
}

TEST(Derive, WeightsMergingMaskedAndRates) {
    const Topology topo = quarter_w1a2();
    const std::vector<physical_csv::Row> rows = {
        row("acc", "conv0", "0;4;8;12", "0>1:10"),   // same pattern as the next: merged
        row("acc", "conv0", "0;4;8;12", "-1>1:3;0>1:7"),
        row("acc", "conv0", "", ""),                 // masked
        row("wmem", "conv1", "5", "1>0:2"),
        row("wmem", "conv1", "", ""),                // masked
        row("fifo", "input", "0", "3>4:1"),          // the network input: left out
    };
    // acc: 3 mapped of 30 (each stands for 10); wmem: 2 of 1000 (500 each); fifo: 1 of 1.
    const std::map<std::string, double> population = {{"acc", 30}, {"wmem", 1000}, {"fifo", 1}};
    DeriveOptions opt;
    opt.rates = {{"wmem", 0.1}};
    const auto d = derive_error_model(rows, population, topo, opt);
    EXPECT_EQ(d.faults, 6u);
    EXPECT_EQ(d.masked, 2u);
    EXPECT_EQ(d.unrepresentable, 1u);
    ASSERT_EQ(d.model.classes.size(), 2u);
    // acc: 2 x 10 x 1 = 20; wmem: 1 x 500 x 0.1 = 50; normalised, heaviest first.
    const PatternClass& w = d.model.classes[0];
    const PatternClass& a = d.model.classes[1];
    EXPECT_NEAR(w.weight, 50.0 / 70, 1e-12);
    EXPECT_NEAR(a.weight, 20.0 / 70, 1e-12);
    EXPECT_EQ(w.layers, (std::vector<std::string>{"conv1"}));
    EXPECT_EQ(w.channels.list, (std::vector<int>{5}));
    EXPECT_EQ(w.effect, Effect::Stuck);
    EXPECT_EQ(w.stuck_code, 0);
    EXPECT_EQ(a.channels.modulus, 4);
    EXPECT_EQ(a.effect, Effect::Stuck);
    EXPECT_EQ(a.stuck_code, 1);
    EXPECT_TRUE(check_error_model(d.model, topo).empty());

    opt.min_weight = 0.5;  // drops acc (2/7), renormalises wmem to 1
    const auto heavy = derive_error_model(rows, population, topo, opt);
    ASSERT_EQ(heavy.model.classes.size(), 1u);
    EXPECT_EQ(heavy.dropped, 1u);
    EXPECT_NEAR(heavy.model.classes[0].weight, 1.0, 1e-12);
}

TEST(Derive, RatesFileIsStrict) {
    EXPECT_EQ(parse_fault_rates("rates: {acc: 1.5, wmem-flip: 0}", "r.yaml"),
              (FaultRates{{"acc", 1.5}, {"wmem-flip", 0.0}}));
    auto message = [](const std::string& text) {
        try {
            parse_fault_rates(text, "r.yaml");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("rates: {thr: -2}").find("rates.thr: must be a finite number >= 0"), std::string::npos);
    EXPECT_NE(message("rates: {thr: many}").find("rates.thr"), std::string::npos);
    EXPECT_NE(message("rates: {alu: 1}").find("rates.alu: unknown fault class"), std::string::npos);
    EXPECT_NE(message("rate: {acc: 1}").find("rate: unknown key"), std::string::npos);
    EXPECT_NE(message("rates: {acc: 1}").find("no error"), std::string::npos);
    EXPECT_NE(message("rates: {thr: -2}").find("r.yaml"), std::string::npos);
}
