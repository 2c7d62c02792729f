# Surge's top-level commands. CMake does the building; this file only
# wraps it so the README's commands stay short. Every target runs
# scripts/bootstrap first, which installs missing Debian packages (and is
# silent when nothing is missing).

# Recursive make would print "Entering directory" for every CMake step.
export GNUMAKEFLAGS := --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all build test test-asan release demo bench soak fuzz clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j$(JOBS)

# Every ctest test (all labels but torture), then the whole suite again
# under ASan+UBSan with no recovery (the integration tests then run the
# ASan build of surge itself).
test: build
	@cd build/dev && ctest --output-on-failure -j$(JOBS) -LE torture $(CTEST_ARGS)
	@$(MAKE) --no-print-directory test-asan

test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j$(JOBS)
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -LE torture $(CTEST_ARGS)

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

# The long versions: the allocation-failure torture sweeps, the
# integration and fuzz-replay tests with their loops scaled up by
# SOAK_SCALE, then every fuzz target for SOAK_FUZZ_SECONDS (S1's per-PR
# figure is 600 s).
SOAK_SCALE ?= 10
SOAK_FUZZ_SECONDS ?= 600
soak: build
	@cd build/dev && SG_SOAK_SCALE=$(SOAK_SCALE) \
	  ctest --output-on-failure -L 'torture|integration|fuzz-replay' \
	  $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(SOAK_FUZZ_SECONDS)
