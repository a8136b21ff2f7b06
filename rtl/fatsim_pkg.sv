// Shared definitions of the fatsim RTL: the fault-select bundle every
// saboteur reads and the forcing rule of the C++ FaultHook (sim/hw/fault.hpp),
// so a fault set at run time acts on the RTL exactly as on the cycle model.
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

  // FaultHook::force: stuck-at sets/clears the bit and cuts the value to
  // `width` bits (sign-extended when is_signed); a flip that fires inverts
  // the bit and cuts likewise; a flip that does not fire leaves v untouched.
  function automatic logic signed [DW-1:0] force_value(logic signed [DW-1:0] v, logic [15:0] bitpos,
                                                       logic [1:0] kind, logic flip_fires, int width,
                                                       logic is_signed);
    logic [DW-1:0] u;
    logic [DW-1:0] m;
    logic [DW-1:0] keep;
    m = {{(DW - 1) {1'b0}}, 1'b1} << bitpos;
    u = v;
    case (kind)
      KIND_SA0: u = u & ~m;
      KIND_SA1: u = u | m;
      default: begin
        if (!flip_fires) return v;
        u = u ^ m;
      end
    endcase
    if (width >= DW) return u;
    keep = ({{(DW - 1) {1'b0}}, 1'b1} << width) - 1;
    u = u & keep;
    if (is_signed && u[width-1]) u = u | ~keep;
    return u;
  endfunction

endpackage
