# The fuzz targets, declared once and built two ways (libgit2's method):
#   - SG_FUZZ=ON with clang (preset "fuzz"): tests/fuzz/CMakeLists.txt
#     builds fuzz_<name> with -fsanitize=fuzzer and instruments the
#     libraries for coverage;
#   - any build with tests: tests/CMakeLists.txt builds fuzz_<name>_replay
#     from the same file plus tests/fuzz/standalone.c and registers a ctest
#     "fuzz_replay_<name>" (label fuzz-replay) that feeds every file under
#     tests/fuzz/corpus/<name>/ once.
# Per directory: tests/ and tests/fuzz/ are siblings, and each needs the
# variables below (a GLOBAL guard left tests/fuzz with an empty target list).
include_guard(DIRECTORY)

set(SG_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
# One row per target: the libraries it links (and, for code not yet in a
# library of its own, the extra sources it compiles).
set(SG_FUZZ_TARGETS json retry_after config tts_sign tts_webhook
    webhook_sig http csv import tts_order tts_response sbx_events
    events_scan json_pruned sbx_h1)
set(SG_FUZZ_LIBS_json sg_core)
set(SG_FUZZ_LIBS_json_pruned sg_core)
set(SG_FUZZ_LIBS_retry_after sg_jobs sg_core)
set(SG_FUZZ_LIBS_config sg_core)
# The TikTok Shop signing code is compiled into sg_sandbox today; the fuzz
# targets take the one file so they do not need the whole sandbox.
set(SG_FUZZ_SRCS_tts_sign ${CMAKE_SOURCE_DIR}/src/connectors/tiktok_shop/sign.c)
set(SG_FUZZ_LIBS_tts_sign sg_core)
set(SG_FUZZ_SRCS_tts_webhook
    ${CMAKE_SOURCE_DIR}/src/connectors/tiktok_shop/sign.c)
set(SG_FUZZ_LIBS_tts_webhook sg_core)
set(SG_FUZZ_LIBS_webhook_sig sg_core)
set(SG_FUZZ_LIBS_http sg_http sg_core)
# The catalog CSV reader is one self-contained file of sg_features; taking
# just that file keeps the target independent of the rest of the feature.
set(SG_FUZZ_SRCS_csv ${CMAKE_SOURCE_DIR}/src/features/catalog/csv.c)
set(SG_FUZZ_LIBS_csv sg_core)
# The whole importer, the order normaliser and the connector's response
# readers: the libraries they live in.
set(SG_FUZZ_LIBS_import sg_features sg_store sg_core)
set(SG_FUZZ_LIBS_tts_order sg_features sg_store sg_core)
set(SG_FUZZ_LIBS_tts_response sg_connectors sg_http sg_core)
set(SG_FUZZ_LIBS_sbx_events sg_sandbox sg_core)
set(SG_FUZZ_LIBS_sbx_h1 sg_sandbox sg_core)
set(SG_FUZZ_LIBS_events_scan sg_features sg_core)

# sg_fuzz_add(NAME EXE MODE): EXE from tests/fuzz/fuzz_NAME.c; MODE is
# "libfuzzer" or "replay".
function(sg_fuzz_add name exe mode)
  set(srcs ${SG_FUZZ_DIR}/fuzz_${name}.c ${SG_FUZZ_SRCS_${name}})
  if(mode STREQUAL "replay")
    list(APPEND srcs ${SG_FUZZ_DIR}/standalone.c)
  endif()
  add_executable(${exe} ${srcs})
  target_include_directories(${exe} PRIVATE ${SG_FUZZ_DIR})
  target_link_libraries(${exe} PRIVATE ${SG_FUZZ_LIBS_${name}})
  sg_apply_warnings(${exe})
  if(mode STREQUAL "libfuzzer")
    target_compile_options(${exe} PRIVATE -fsanitize=fuzzer)
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()

# Coverage instrumentation for every library a target may reach.
function(sg_fuzz_instrument)
  foreach(lib sg_core sg_store sg_http sg_jobs sg_connectors sg_features
          sg_sandbox sg_engine)
    if(TARGET ${lib})
      target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
    endif()
  endforeach()
endfunction()
