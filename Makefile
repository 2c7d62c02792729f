# Surge's top-level commands. CMake does the building; this file only
# wraps it so the README's commands stay short. Every target runs
# scripts/bootstrap first, which installs missing Debian packages (and is
# silent when nothing is missing).

# Recursive make would print "Entering directory" for every CMake step.
export GNUMAKEFLAGS := --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all build test test-asan test-tsan release demo bench soak fuzz clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j$(JOBS)

# Every ctest test (all labels but torture; the D5 allocation-failure
# sweeps run in their quick form, label oom), then the whole suite again
# under ASan+UBSan with no recovery (the integration tests then run the
# ASan build of surge itself, and LeakSanitizer checks the sweeps'
# failure paths), then the threaded tests under TSan (unit and engine
# end to end, a few minutes more on 2 cores).
test: build
	@cd build/dev && ctest --output-on-failure -j$(JOBS) -LE torture $(CTEST_ARGS)
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan

test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j$(JOBS)
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -LE torture $(CTEST_ARGS)

# S3 for the threaded parts: the unit tests of the libraries that run
# threads (store writer, checkpointer and readers, HTTP server and client,
# the job dispatcher, the sandbox) built with gcc's ThreadSanitizer, and
# the engine end-to-end tests whose `surge serve` runs every thread at
# once (HTTP loop, store writer and checkpointer, dispatcher, the TikTok
# Shop, orders and events workers) against a `surge sandbox`, both built
# with TSan too. Reports go to files under build/tsan/tsan-reports (a
# child's stderr is only its log), and any file there fails the run;
# the first report also stops its process (halt_on_error). The torture
# sweeps stay out.
TSAN_SRCS := $(wildcard tests/unit/test_store_*.c tests/unit/test_http_*.c \
	tests/unit/test_jobs_*.c tests/unit/test_sandbox_*.c)
TSAN_UNIT := $(basename $(notdir $(foreach f,$(TSAN_SRCS),\
	$(if $(findstring torture,$(f)),,$(f)))))
TSAN_ENGINE := test_engine_serve test_engine_events test_engine_fulfil \
	test_engine_orders test_engine_catalog test_engine_tiktok test_engine_security
TSAN_TESTS := $(TSAN_UNIT) $(TSAN_ENGINE)
TSAN_REPORTS := build/tsan/tsan-reports
test-tsan: bootstrap
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j$(JOBS) --target surge $(TSAN_TESTS)
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$(CURDIR)/$(TSAN_REPORTS)/report \
	  ctest --output-on-failure -j$(JOBS) -LE torture \
	  -R '^($(subst $(eval) ,|,$(strip $(TSAN_TESTS))))$$' $(CTEST_ARGS)
	@if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then \
	  for f in $(TSAN_REPORTS)/*; do echo "== $$f"; cat "$$f"; done; \
	  echo "ThreadSanitizer reported (files above)"; exit 1; fi

release: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j$(JOBS)

demo: release
	@build/release/surge demo

bench: bootstrap
	@scripts/bootstrap --bench
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j$(JOBS)
	@bench/run

clean:
	rm -rf build

# libFuzzer on every target in tests/fuzz (clang, ASan+UBSan), each for
# FUZZ_SECONDS, seeded from tests/fuzz/corpus/<target>; findings go to
# build/fuzz/corpus and build/fuzz/crashers. FUZZ_TARGETS narrows the set.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: bootstrap
	@scripts/bootstrap --fuzz
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j$(JOBS) --target fuzz_all
	@scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The long versions: the allocation-failure torture sweeps over every
# allocation of every operation (D5; the quick form is part of make
# test; these take tens of minutes, most in the "+sqlite" sweeps) and
# of every unit test (oom_*_full: hours; see docs/testing.md), the D1 crash
# test killing surge serve every 2-10 s for SOAK_CRASH_SECONDS
# (test_engine_crash_soak), the integration and fuzz-replay tests with
# their loops scaled up by SOAK_SCALE, then every fuzz target for
# SOAK_FUZZ_SECONDS (S1's per-PR figure is 600 s).
SOAK_SCALE ?= 10
SOAK_FUZZ_SECONDS ?= 600
SOAK_CRASH_SECONDS ?= 300
soak: build
	@cd build/dev && SG_SOAK_SCALE=$(SOAK_SCALE) \
	  SG_CRASH_LONG_SECONDS=$(SOAK_CRASH_SECONDS) \
	  ctest --output-on-failure -L 'torture|integration|fuzz-replay' \
	  $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(SOAK_FUZZ_SECONDS)
