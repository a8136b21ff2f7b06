// fatsim_rtl_gen: writes the SystemVerilog top of a dataflow accelerator
// (rtl/design.hpp) from an accelerator YAML and its topology.
//   fatsim_rtl_gen --accel A [--width W] --top NAME (--out FILE | --check FILE)
// --check exits 1 when FILE differs from what it would write.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "config.hpp"
#include "design.hpp"
#include "model.hpp"

namespace {
int usage(const std::string& why) {
    std::cerr << "fatsim_rtl_gen: " << why
              << "\nusage: fatsim_rtl_gen --accel A [--width W] --top NAME (--out FILE | --check FILE)\n";
    return 2;
}
}  // namespace

int main(int argc, char** argv) {
    std::string accel, top, out, check;
    double width = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage("option " + a + " needs a value");
        const std::string v = argv[++i];
        if (a == "--accel") accel = v;
        else if (a == "--top") top = v;
        else if (a == "--out") out = v;
        else if (a == "--check") check = v;
        else if (a == "--width") {
            try {
                width = std::stod(v);
            } catch (const std::exception&) {
                return usage("--width: '" + v + "' is not a number");
            }
        } else return usage("unknown option " + a);
    }
    if (accel.empty() || top.empty() || out.empty() == check.empty()) return usage("missing options");
    try {
        fatsim::Topology t;
        fatsim::AccelConfig acc = fatsim::load_accel(accel, &t);
        if (width > 0) {
            t = fatsim::load_topology(acc.topology_path, width);
            fatsim::bind_folding(acc, t);
        }
        // weights do not shape the hardware: any model of the topology will do
        const fatsim::QnnModel model = fatsim::random_model(t, 1);
        const fatsim::hw::DataflowModel df(model, acc);
        const std::string sv = fatsim::rtl::emit_top(fatsim::rtl::describe_dataflow(df, top));
        if (!out.empty()) {
            std::ofstream(out) << sv;
            return 0;
        }
        std::ifstream in(check);
        std::stringstream cur;
        cur << in.rdbuf();
        if (cur.str() == sv) return 0;
        std::cerr << check << " is out of date: regenerate it with fatsim_rtl_gen --out\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "fatsim_rtl_gen: " << e.what() << "\n";
        return 1;
    }
}
