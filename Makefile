# Surge's top-level commands. CMake does the building; this file only
# wraps it so the README's commands stay short. Every target runs
# scripts/bootstrap first, which installs missing Debian packages (and is
# silent when nothing is missing).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all build test test-asan demo bench soak fuzz clean format-check bootstrap

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j$(JOBS)

# Every ctest test (all labels but torture), then the unit tests again
# under ASan+UBSan with no recovery.
test: build
	@cd build/dev && ctest --output-on-failure -j$(JOBS) -LE torture $(CTEST_ARGS)
	@$(MAKE) --no-print-directory test-asan

test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j$(JOBS)
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -L unit $(CTEST_ARGS)

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
