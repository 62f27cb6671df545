# DiceKit: the two set-up commands are `make demo` and `make test` (see README.md).
# Every target first installs the Debian packages DiceKit links against, if they are missing.

SWIFT       ?= swift
APT_PACKAGES = libopenblas-dev liblapacke-dev libpng-dev libjpeg62-turbo-dev libnifti2-dev libniftiio-dev libopenmpi-dev openmpi-bin pkg-config
BENCH_ARGS  ?=
DEMO_ARGS   ?=
FUZZ_COUNT  ?= 10000
FUZZ_SEED   ?= 1
SWIFT_FORMAT ?= swift-format
# Every Swift file of the project (not the build folders); the style is `.swift-format` at the root.
FORMAT_PATHS = Package.swift Sources Tests Benchmarks Tools Examples/Consumer/Package.swift Examples/Consumer/Sources

.PHONY: all deps build demo test bench consumer fuzz sanitize format lint clean check-aarch64

all: build

# Installs only what is missing; uses sudo when not root. apt-get update runs first because a
# fresh Debian image has empty package lists.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product dicekit

# The main job: train a U-Net on the embedded synthetic polyp data (a few minutes on 2 cores),
# print its summary (also in runs/demo/summary.json), then draw prediction overlays of unseen
# synthetic images into runs/demo/overlays.
DEMO_TRAIN = --data synthetic --count 400 --size 64 --depth 3 --base 16 --norm batch --loss dice-ce \
             --epochs 10 --batch-size 8 --lr 1e-3 --seed 0
demo: build
	.build/release/dicekit check
	.build/release/dicekit train $(DEMO_TRAIN) --out runs/demo $(DEMO_ARGS)
	.build/release/dicekit synth --out runs/demo/unseen --count 6 --size 64 --seed 4242
	.build/release/dicekit eval --checkpoint runs/demo/best.safetensors --data runs/demo/unseen
	.build/release/dicekit predict --checkpoint runs/demo/best.safetensors --input runs/demo/unseen --out runs/demo/overlays

# Unit tests (debug), a short fuzz run (≤ 60 s, fixed seed; fails on any finding), then the
# separate consumer package that links DiceKit by path.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	.build/debug/dicekit-fuzz --count 400 --time-limit 50 --seed 1 --findings .build/fuzz-findings
	$(MAKE) consumer

# The long fuzz run (Docs/Reliability.md): FUZZ_COUNT inputs from FUZZ_SEED; findings in fuzz-findings/.
fuzz: deps
	$(SWIFT) build --product dicekit
	$(SWIFT) build --product dicekit-fuzz
	.build/debug/dicekit-fuzz --count $(FUZZ_COUNT) --seed $(FUZZ_SEED) --findings fuzz-findings

# The XCTest suite (and the `dicekit` runs it makes) under AddressSanitizer, then under
# ThreadSanitizer with more worker threads than processors (DICEKIT_THREADS). Slow (two more
# builds, in .build/asan and .build/tsan), so not part of `make test`. Both must be clean: any
# report fails the target; Tests/Sanitizers/*.supp hold only false positives in the toolchain's
# own libraries, each with its reason. See Docs/Architecture.md, "Threads and reproducibility".
SANITIZE_THREADS ?= $(shell echo $$(( $$(nproc) + 2 )))
sanitize: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build/asan
	SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/Sanitizers/lsan.supp:print_suppressions=0 \
	  $(SWIFT) test --skip-build --sanitize=address --scratch-path .build/asan
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build/tsan
	SWIFT_BACKTRACE=enable=no DICEKIT_THREADS=$(SANITIZE_THREADS) TSAN_OPTIONS=halt_on_error=1 \
	  $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build/tsan

consumer:
	cd Examples/Consumer && $(SWIFT) run -c debug Consumer

# The C kernels on aarch64, from this x86-64 machine: compiled for it, their portable paths run
# under qemu-user and compared with this machine's (Scripts/check_aarch64.sh; Docs/Architecture.md,
# "Other CPU architectures"). Installs the cross headers, linker and qemu-user when missing.
AARCH64_PACKAGES = libc6-dev-arm64-cross gcc-aarch64-linux-gnu qemu-user
check-aarch64:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(AARCH64_PACKAGES)"
	Scripts/check_aarch64.sh

bench: deps
	$(SWIFT) build -c release --product dicekit-bench
	.build/release/dicekit-bench $(BENCH_ARGS)

# Formats every Swift file in place with the toolchain's swift-format and `.swift-format`.
format:
	$(SWIFT_FORMAT) format --in-place --recursive --parallel $(FORMAT_PATHS)

# Fails when a Swift file is not as `make format` leaves it (CI runs this before `make test`).
lint:
	$(SWIFT_FORMAT) lint --strict --recursive --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build Examples/Consumer/.build
