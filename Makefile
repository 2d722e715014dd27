# The two commands of the README: `make demo` and `make test`. Both install what is missing.
# `make check` is the quick tier: one release build (-Werror) and every test but the slow
# ones (label slow: over ~30 s here); `make test` is everything (sanitizers, fuzzers, TSan,
# the slow tests).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_TSAN ?= build-tsan
JOBS       ?= $(shell nproc)
PYTHON     := $(CURDIR)/.venv/bin/python
CMAKE_OPTS ?=
CTEST_ARGS ?=

.PHONY: all deps build build-asan build-fuzz build-tsan check test test-tsan demo clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DAZS_WERROR=ON -DAZS_PYTHON=$(PYTHON) $(CMAKE_OPTS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Address + undefined-behaviour sanitizers over the unit, fuzz-corpus and real-file tests.
build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DAZS_WERROR=ON -DAZS_SANITIZE=ON -DAZS_WITH_CUDA=OFF -DAZS_PYTHON=$(PYTHON) >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# libFuzzer harnesses (clang); a short run of each is a test in the main build's ctest.
build-fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAZS_FUZZ=ON -DAZS_WITH_CUDA=OFF -DAZS_WITH_MPI=OFF >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_targets

# ThreadSanitizer over the layout tests (no CUDA; RelWithDebInfo keeps it quick).
build-tsan: deps
	@cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAZS_WERROR=ON -DAZS_TSAN=ON -DAZS_WITH_CUDA=OFF -DAZS_WITH_MPI=OFF -DAZS_PYTHON=$(PYTHON) >/dev/null
	@cmake --build $(BUILD_TSAN) -j $(JOBS) --target tsan_targets

test-tsan: build-tsan
	@echo "== ThreadSanitizer build: layout tests"
	@cd $(BUILD_TSAN) && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" ctest -L layout -LE 'slow|gpu' --output-on-failure $(CTEST_ARGS)

check: build
	@echo "== release build: unit, CLI, golden, real-file, fuzz-corpus and layout tests (not slow)"
	@cd $(BUILD) && ctest -LE slow --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test: build build-asan build-fuzz build-tsan
	@echo "== sanitizer build (ASan+UBSan): unit, fuzz-corpus, real-file and layout tests"
	@cd $(BUILD_ASAN) && ctest -L 'unit|fuzz|real|layout|cli' -LE slow --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@echo "== ThreadSanitizer build: layout tests"
	@cd $(BUILD_TSAN) && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" ctest -L layout -LE 'slow|gpu' --output-on-failure $(CTEST_ARGS)
	@echo "== libFuzzer: a short run of each harness from its seed corpus"
	@cd $(BUILD_FUZZ) && ctest -L fuzzrun --output-on-failure $(CTEST_ARGS)
	@echo "== release build: every test, the slow ones too"
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: build
	@bash scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_TSAN)
