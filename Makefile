# sigward's build, test and demo entry points (GNU make).
#
#   make demo     build, then verify the signed image kept in host/demo/layout
#   make test     install what the tests need, build, run every test
#   make fmt      rustfmt check           make lint   clippy (native + wasm) and rustdoc
#
# Only two cores here: everything builds with --release into the one shared target/ dir.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

CARGO ?= cargo
TARGET_DIR := $(CURDIR)/target
TOOLS_DIR := $(TARGET_DIR)/tools
COMPONENTS_DIR := $(TARGET_DIR)/components
WASM_TARGET := wasm32-wasip2
# One target directory for the three component builds, so they share every dependency.
WASM_TARGET_DIR := $(TARGET_DIR)/wasm
WASM_OUT := $(WASM_TARGET_DIR)/$(WASM_TARGET)/wasm
WASM_BUILD := --profile wasm --target $(WASM_TARGET) --target-dir $(WASM_TARGET_DIR)
NODE_DIR := $(CURDIR)/tests/node
NODE_OUT := $(TARGET_DIR)/node/sigward-policy

# What the end-to-end tests (crate sigward-e2e) run; each can be pointed elsewhere.
export SIGWARD_BIN ?= $(TARGET_DIR)/release/sigward
export SIGWARD_COSIGN ?= $(TOOLS_DIR)/cosign
export SIGWARD_COSIGN3 ?= $(TOOLS_DIR)/cosign3
export SIGWARD_CONTAINERD ?= $(TOOLS_DIR)/containerd
export SIGWARD_CTR ?= $(TOOLS_DIR)/ctr
export SIGWARD_SKOPEO ?= $(TOOLS_DIR)/skopeo
export SIGWARD_TUF_PYTHON ?= $(TOOLS_DIR)/tuf-venv/bin/python
export SIGWARD_SHARED_DIR ?= $(abspath $(CURDIR)/../shared)
export SIGWARD_NODE ?= node
export SIGWARD_NODE_CLI ?= $(NODE_DIR)/sigward.mjs

.PHONY: tools bench-tools components component-verify-only node build test conformance fmt lint demo demo-data bench \
  bench-webhook fuzz-build fuzz-smoke fuzz

## tools: what `make test` needs on a fresh Debian 12 machine (idempotent, no-op when present).
## kubectl, openssl and curl are for the admission tests; Debian ships kubectl as kubernetes-client;
## python-tuf (in a venv) writes the TUF repositories of the trust-root tests.
tools:
	tests/tools/apt-install.sh docker-registry:/usr/bin/docker-registry \
	  kubernetes-client:/usr/bin/kubectl openssl:/usr/bin/openssl curl:/usr/bin/curl \
	  python3:/usr/bin/python3
	rustup target add $(WASM_TARGET)
	tests/tools/fetch-signers.sh $(TOOLS_DIR)
	tests/tools/tuf-venv.sh $(TOOLS_DIR)/tuf-venv

## bench-tools: load generator, command timer and HTTP client for `make bench` and
## `make bench-webhook`.
bench-tools:
	tests/tools/apt-install.sh wrk:/usr/bin/wrk hyperfine:/usr/bin/hyperfine curl:/usr/bin/curl
	test -x $(TOOLS_DIR)/sigstore-venv/bin/sigstore || { python3 -m venv $(TOOLS_DIR)/sigstore-venv \
	  && $(TOOLS_DIR)/sigstore-venv/bin/pip install --quiet sigstore==4.5.1; }

## components: the policy component twice, portable and with the wasm wide-arithmetic
## proposal. Crate sigward-policy and its dependencies are compiled once; each build is a thin
## crate in policy-wasm/components/ that links them (one fat-LTO module each). The wide one is
## the portable one's code with `+wide-arithmetic` given to its own crate only (`cargo rustc`),
## which LLVM's wasm backend applies to the whole module. The host's build.rs embeds both from
## $(COMPONENTS_DIR); they are copied only when changed, so an unchanged component does not
## rebuild the host.
components:
	rustup target add $(WASM_TARGET) >/dev/null 2>&1 || rustup target add $(WASM_TARGET)
	$(CARGO) build -p sigward-policy-portable $(WASM_BUILD)
	$(CARGO) rustc -p sigward-policy-wide $(WASM_BUILD) -- -C target-feature=+wide-arithmetic
	mkdir -p $(COMPONENTS_DIR)
	cmp -s $(WASM_OUT)/sigward_policy_portable.wasm $(COMPONENTS_DIR)/sigward-policy.wasm \
	  || cp $(WASM_OUT)/sigward_policy_portable.wasm $(COMPONENTS_DIR)/sigward-policy.wasm
	cmp -s $(WASM_OUT)/sigward_policy_wide.wasm $(COMPONENTS_DIR)/sigward-policy-wide.wasm \
	  || cp $(WASM_OUT)/sigward_policy_wide.wasm $(COMPONENTS_DIR)/sigward-policy-wide.wasm

## component-verify-only: the portable component without the admission export (WIT world
## `verifier-only`), for engines that only verify; `make test` checks its interface and
## `make bench` reports its size. Not embedded in the host.
component-verify-only:
	rustup target add $(WASM_TARGET) >/dev/null 2>&1 || rustup target add $(WASM_TARGET)
	$(CARGO) build -p sigward-policy-verify-only $(WASM_BUILD)
	mkdir -p $(COMPONENTS_DIR)
	cp $(WASM_OUT)/sigward_policy_verify_only.wasm $(COMPONENTS_DIR)/sigward-policy-verify-only.wasm

## node: the second engine (tests/node): its npm packages, installed from the lock file only when
## it changed, and the portable component transpiled by jco for V8 into $(NODE_OUT). V8 has no
## wide-arithmetic proposal, so the portable build is the one Node runs; the wide one is
## transpiled too, for the test that V8 refuses it with a clear error.
node: components $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && npx jco transpile $(COMPONENTS_DIR)/sigward-policy.wasm --instantiation sync \
	  --name sigward-policy --no-typescript --quiet -o $(NODE_OUT)
	cd $(NODE_DIR) && npx jco transpile $(COMPONENTS_DIR)/sigward-policy-wide.wasm --instantiation sync \
	  --name sigward-policy --no-typescript --quiet -o $(NODE_OUT)-wide

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json
	tests/tools/apt-install.sh nodejs:node npm:npm
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

## build: the host, embedding both components and (second pass) their precompiled forms, so a
## run loads the verifier in about a millisecond instead of compiling or reading a cache. The
## host builds while the components do; `sigward precompile` reads the components from
## $(COMPONENTS_DIR), and only the small sigward-bin crate (host/bin) embeds them, so the second
## pass relinks the binary and leaves the library alone.
build:
	$(MAKE) --no-print-directory components & components=$$!; \
	$(CARGO) build --release -p sigward-bin; \
	wait $$components
	$(TARGET_DIR)/release/sigward precompile --out $(COMPONENTS_DIR)
	$(CARGO) build --release -p sigward-bin

## test: the verify-only component builds while the tests compile (it has its own target
## directory), then every test runs.
test: tools build node
	$(MAKE) --no-print-directory component-verify-only & verify_only=$$!; \
	$(CARGO) test --release --workspace --no-fail-fast --no-run; \
	wait $$verify_only
	$(CARGO) test --release --workspace --no-fail-fast

## conformance: every Sigstore conformance case through `sigward verify-bundle`
## (cases from SIGWARD_CONFORMANCE_DIR, default ../shared/conformance).
conformance: build
	$(CARGO) test --release -p sigward-e2e --test e2e conformance -- --nocapture

fmt:
	$(CARGO) fmt --all --check

lint: components
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings
	$(CARGO) clippy -p sigward-policy --target $(WASM_TARGET) --profile wasm -- -D warnings
	$(CARGO) clippy -p sigward-policy --target $(WASM_TARGET) --profile wasm --no-default-features \
	  -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --release

demo: build
	$(TARGET_DIR)/release/sigward verify --insecure-ignore-tlog=true \
	  --key host/demo/cosign.pub oci:host/demo/layout

## demo-data: regenerate host/demo (new key pair, image, signature); see host/demo/README.md.
demo-data: tools
	tests/tools/make-demo.sh host/demo

## bench: measure (see BENCHMARKS.md for the method); rewrites BENCHMARKS.md.
bench: tools bench-tools build component-verify-only node
	$(CARGO) bench -p sigward --bench component > $(TARGET_DIR)/bench-component.md
	$(SIGWARD_NODE) tests/node/bench.mjs $(SIGWARD_SHARED_DIR)/conformance >> $(TARGET_DIR)/bench-component.md
	echo "| component size (verify-only: portable, no admission export) |" \
	  "$$(( $$(stat -c %s $(COMPONENTS_DIR)/sigward-policy-verify-only.wasm) / 1024 )) KiB | |" \
	  >> $(TARGET_DIR)/bench-component.md
	SIGSTORE_PY=$(TOOLS_DIR)/sigstore-venv/bin/sigstore host/benches/cli.sh > $(TARGET_DIR)/bench-cli.md
	{ sed -n '1,/^<!-- results -->$$/p' BENCHMARKS.md; \
	  echo; echo "Measured $$(date -u +%Y-%m-%d) on $$(nproc) cores, $$(rustc --version)."; echo; \
	  echo "| what | time | ratio |"; echo "| --- | --- | --- |"; \
	  grep '^|' $(TARGET_DIR)/bench-component.md; cat $(TARGET_DIR)/bench-cli.md; } > $(TARGET_DIR)/BENCHMARKS.md
	mv $(TARGET_DIR)/BENCHMARKS.md BENCHMARKS.md

## bench-webhook: `sigward serve` under load (see BENCHMARKS.md for the method); rewrites only
## the part of BENCHMARKS.md between <!-- webhook-results --> and <!-- /webhook-results -->,
## which sits above <!-- results -->, so `make bench` keeps it.
bench-webhook: tools bench-tools build
	host/benches/webhook.sh > $(TARGET_DIR)/bench-webhook.md
	grep -qx '<!-- webhook-results -->' BENCHMARKS.md && grep -qx '<!-- /webhook-results -->' BENCHMARKS.md
	{ echo; echo "Measured $$(date -u +%Y-%m-%d) on $$(nproc) cores, $$(rustc --version)."; echo; \
	  echo "| what | value | target |"; echo "| --- | --- | --- |"; \
	  cat $(TARGET_DIR)/bench-webhook.md; echo; } > $(TARGET_DIR)/bench-webhook-section.md
	awk -v section=$(TARGET_DIR)/bench-webhook-section.md \
	  '$$0 == "<!-- /webhook-results -->" { skip = 0 } \
	   !skip { print } \
	   $$0 == "<!-- webhook-results -->" { skip = 1; while ((getline line < section) > 0) print line }' \
	  BENCHMARKS.md > $(TARGET_DIR)/BENCHMARKS.md
	mv $(TARGET_DIR)/BENCHMARKS.md BENCHMARKS.md

## Fuzzing (FUZZING.md): libFuzzer targets in fuzz/, built on the stable toolchain with
## SanitizerCoverage (coverage-guided; no -Zsanitizer, which would need nightly), each in its
## own target dir so the workspace's artifacts are untouched. Limits: no single allocation over
## FUZZ_MALLOC_MB, resident memory under FUZZ_RSS_MB, no input over FUZZ_TIMEOUT seconds.
FUZZ_DIR := $(TARGET_DIR)/fuzz
FUZZ_CORPUS := $(FUZZ_DIR)/corpus
FUZZ_SECONDS ?= 3
FUZZ_MALLOC_MB ?= 256
FUZZ_RSS_MB ?= 1024
FUZZ_TIMEOUT ?= 10
# With an explicit --target, RUSTFLAGS reach only the targets, not build scripts.
FUZZ_HOST := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
FUZZ_RUSTFLAGS := --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares

## fuzz-build: every target, instrumented.
fuzz-build:
	cd fuzz && RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --release --bins \
	  --target $(FUZZ_HOST) --target-dir $(FUZZ_DIR)/build

## fuzz-smoke: every target briefly (FUZZ_SECONDS each) over the seed corpus (CI).
## fuzz: the same, longer (e.g. `make fuzz FUZZ_SECONDS=1800 FUZZ_TARGETS=bundle`); new inputs
## that raise coverage stay in $(FUZZ_CORPUS), crashes land in $(FUZZ_DIR)/artifacts.
fuzz-smoke fuzz: fuzz-build
	python3 fuzz/seed.py $(FUZZ_CORPUS)
	mkdir -p $(FUZZ_DIR)/artifacts
	for target in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$target ($(FUZZ_SECONDS) s)"; \
	  $(FUZZ_DIR)/build/$(FUZZ_HOST)/release/$$target $(FUZZ_CORPUS)/$$target \
	    -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=$(FUZZ_MALLOC_MB) \
	    -rss_limit_mb=$(FUZZ_RSS_MB) -timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$target- 2>&1 | grep -E '^(stat::number_of_executed_units|==|.*(ERROR|panicked|deadly|leak|timeout|out-of-memory))' ; \
	  test "$${PIPESTATUS[0]}" -eq 0 || exit 1; \
	done
