// Writes the test bench's unit table (tb_units_cfg.sv) to stdout or a file;
// with --check FILE, exits 1 when FILE differs from what it would write.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "unit_configs.hpp"

int main(int argc, char** argv) {
    const std::string pkg = fatsim::rtl_testing::bench_package();
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--check" && argc == 3) {
        std::ifstream in(argv[2]);
        std::stringstream cur;
        cur << in.rdbuf();
        if (cur.str() == pkg) return 0;
        std::cerr << argv[2] << " is out of date: regenerate it with tb_units_gen " << argv[2] << "\n";
        return 1;
    }
    if (argc == 2 && mode.rfind("--", 0) != 0) {
        std::ofstream(argv[1]) << pkg;
        return 0;
    }
    if (argc == 1) {
        std::cout << pkg;
        return 0;
    }
    std::cerr << "usage: tb_units_gen [FILE | --check FILE]\n";
    return 2;
}
