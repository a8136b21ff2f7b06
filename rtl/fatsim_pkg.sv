// Shared definitions of the fatsim RTL: the site classes and fault kinds of
// the C++ fault vocabulary (sim/core/fault_site.hpp) and the fault-select
// bundle every saboteur reads, so a fault set at run time acts on the RTL
// exactly as the C++ FaultHook (sim/hw/fault.hpp) acts on the cycle model.
package fatsim_pkg;

  // Site classes in the order of fatsim::SiteClass.
  localparam logic [2:0] SITE_ACC = 3'd0;
  localparam logic [2:0] SITE_ADDER = 3'd1;
  localparam logic [2:0] SITE_WMEM = 3'd2;
  localparam logic [2:0] SITE_THR = 3'd3;
  localparam logic [2:0] SITE_CMP = 3'd4;
  localparam logic [2:0] SITE_FIFO = 3'd5;

  // Fault kinds in the order of fatsim::FaultKind.
  localparam logic [1:0] KIND_SA0 = 2'd0;
  localparam logic [1:0] KIND_SA1 = 2'd1;
  localparam logic [1:0] KIND_FLIP = 2'd2;

  // Datapath width of adder-tree nodes, accumulators and threshold words
  // (the C++ model's int32 accumulator): a forced node is cut to its
  // register width by the saboteur, an unforced one never overflows.
  localparam int DW = 32;

  // One armed fault: class, PE, (a, b) = (level, node) / (word, 0) /
  // (index, 0) / (slot, 0), the bit, the kind and a flip's cycle.
  typedef struct packed {
    logic        en;
    logic [2:0]  cls;
    logic [15:0] pe;
    logic [15:0] a;
    logic [15:0] b;
    logic [15:0] bitpos;
    logic [1:0]  kind;
    logic [63:0] cycle;
  } fault_t;

endpackage
