# Every entry point of the project. `make test` is what CI runs (.ci/run).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SERVICES := infra/local/services.sh

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: test
test: lint ## Format and lint checks, then every test against DynamoDB Local and the SQS emulator
	@mkdir -p .local
	$(SERVICES) run -- cargo test --workspace --all-targets --locked 2>&1 | tee .local/test.log
	@awk '/^test result:/ { passed += $$4; failed += $$6 } \
	     END { printf "tests: %d passed, %d failed\n", passed, failed }' .local/test.log

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

.PHONY: bench
bench: ## Release-mode measurements of the hot paths (no emulators needed)
	cargo bench -p shared --bench submission --locked

.PHONY: services
services: ## Start the emulators in the background (then plain `cargo test` works)
	$(SERVICES) start

.PHONY: services-stop
services-stop: ## Stop the emulators started by `make services`
	$(SERVICES) stop

.PHONY: dev
dev: ## Run the whole API on 127.0.0.1:9000 with a webhook receiver on :9999 (Ctrl-C stops it)
	RADAR_SERVICES_STATE=$(CURDIR)/.local/dev $(SERVICES) run -- infra/local/dev.sh
