# Peregrine's task runner. `make help` lists the targets.
.PHONY: help dev fmt lint test e2e bench

help:
	@echo "dev    run a development chain (peregrine dev)"
	@echo "fmt    format the code"
	@echo "lint   clippy on every target, warnings as errors"
	@echo "test   the whole suite, as CI runs it (./scripts/test.sh)"
	@echo "e2e    only the end-to-end tests (cast, viem)"
	@echo "bench  criterion benchmarks"

dev:
	cargo run --release --bin peregrine -- dev

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test:
	./scripts/test.sh

e2e:
	./scripts/install-tools.sh && cargo build --bin peregrine && cargo nextest run -p peregrine-tests

bench:
	cargo bench -p peregrine-sequencer
