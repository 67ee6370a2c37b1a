# ta_add_fuzz(NAME SOURCE LIBS...): a fuzz target whose source defines LLVMFuzzerTestOneInput.
#  - always: ta_fuzz_replay_NAME, a plain binary that feeds every file of
#    tests/fuzz/corpus/NAME/ (seeds and kept crashers) to the target, registered with ctest;
#  - with -DTA_FUZZ=ON and clang: fuzz_NAME, a libFuzzer binary in the calling test folder's
#    build directory (make fuzz builds them into build-fuzz/tests/MODULE/; docs/FUZZING.md).
function(ta_add_fuzz name source)
  set(libs ${ARGN})
  set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  add_executable(ta_fuzz_replay_${name} ${source} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(ta_fuzz_replay_${name} PRIVATE ${libs})
  add_test(NAME fuzz_replay_${name} COMMAND ta_fuzz_replay_${name} ${corpus})
  if(TA_FUZZ)
    add_executable(fuzz_${name} ${source})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE ${libs})
  endif()
endfunction()
