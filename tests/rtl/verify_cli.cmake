# fatsim verify-rtl on a fault armed in the RTL only: must exit 1, name the
# first mismatch (stream, beat, cycle, expected, got) and write the VCD.
# -D FATSIM=... -D ACCEL=... -D MODEL=... -D VCD=...
file(REMOVE ${VCD})
execute_process(COMMAND ${FATSIM} verify-rtl --accel ${ACCEL} --model ${MODEL} --random-inputs 1 --images 1
                        --rtl-fault conv2.pe[1].acc.bit[7]:sa1 --vcd ${VCD} --window 5
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "verify-rtl exited ${rc}, expected 1")
endif()
if(NOT out MATCHES "MISMATCH on stream [^ ]+ \\(written by [^)]+\\), beat [0-9]+, cycle [0-9]+\n  expected \\(C\\+\\+\\): cycle [0-9]+ 0x[0-9a-f]+\n  got \\(RTL\\): +cycle [0-9]+ 0x[0-9a-f]+")
  message(FATAL_ERROR "no first-mismatch report")
endif()
file(READ ${VCD} vcd)
if(NOT vcd MATCHES "\\$enddefinitions" OR NOT vcd MATCHES "_differ \\$end")
  message(FATAL_ERROR "${VCD} is not the verify VCD")
endif()
