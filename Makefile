# Access Guardrails. `make test` runs everything; `make bench-engine` measures the engine.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: test test-engine bench-engine lint clean

test: test-engine
	@scripts/summary.sh

# Native tests of the pure engine: unit tests, the policy corpus, adversarial SQL.
test-engine:
	@mkdir -p target/reports
	$(CARGO) test -p access-guardrails 2>&1 | tee target/reports/engine.txt; exit $${PIPESTATUS[0]}

bench-engine:
	$(CARGO) bench -p access-guardrails --bench engine

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
