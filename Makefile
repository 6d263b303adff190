# Every entry point of the project. `make test` is what CI runs (.ci/run).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SERVICES := infra/local/services.sh
INSTALL := infra/local/install.sh
VENV := .local/venv/bin
SAM := SAM_CLI_TELEMETRY=0 $(VENV)/sam
SAM_FILES := --template-file infra/template.yaml --config-file $(CURDIR)/infra/samconfig.toml
# checkov offline: no Prisma Cloud download (guidelines, severities, policy mappings), so no
# network at all; what it finds and what the template suppresses is in the template itself.
CHECKOV := BC_SKIP_MAPPING=TRUE .local/checkov/bin/checkov --skip-download --compact --quiet
# cargo-deny and cargo-machete, and the advisory database they read (infra/local/supply-chain.sh).
SUPPLY_CHAIN := infra/local/supply-chain.sh
CARGO_TOOLS := .local/cargo/bin

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
lint: ## fmt, import cycles, unused and vulnerable dependencies, licenses, template (sam, cfn-lint, checkov), clippy -D warnings
	cargo fmt --all -- --check
	python3 tools/lint/module-cycles.py
	@$(SUPPLY_CHAIN)
	$(CARGO_TOOLS)/cargo-machete
	@cargo fetch --locked
	$(CARGO_TOOLS)/cargo-deny --offline --locked check
	@$(INSTALL)
	$(SAM) validate --lint --region us-east-1 --template-file infra/template.yaml
	$(VENV)/cfn-lint infra/template.yaml
	$(CHECKOV) --framework cloudformation -f infra/template.yaml
	cargo clippy --workspace --all-targets --locked -- -D warnings

.PHONY: build
build: ## sam build: a release arm64 bootstrap per function under .aws-sam/build (~10 min cold)
	@$(INSTALL)
	@$(VENV)/pip install --disable-pip-version-check -q "ziglang==0.13.0.post1"
	PATH="$(CURDIR)/$(VENV):$$PATH" $(SAM) build $(SAM_FILES)
	@ls -l .aws-sam/build/*Function/bootstrap

.PHONY: deploy
deploy: build ## sam deploy with infra/samconfig.toml (needs AWS credentials)
	$(SAM) deploy $(SAM_FILES)

# Where cargo puts what it builds (CARGO_TARGET_DIR when set).
TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
FUNCTIONS := -p submit -p processor -p dispatcher -p poll -p radars

.PHONY: bench
bench: ## Measure latency, throughput, AWS usage and cost per item, size, init and memory; writes docs/PERFORMANCE.md (BENCH_ARGS passes options on)
	@$(INSTALL)
	@$(VENV)/pip install --disable-pip-version-check -q "ziglang==0.13.0.post1"
	PATH="$(CURDIR)/$(VENV):$$PATH" cargo lambda build --release --arm64 --locked $(FUNCTIONS)
	cargo build --release --locked -p bench $(FUNCTIONS)
	$(SERVICES) run -- $(TARGET)/release/bench --binaries $(TARGET)/release --lambda $(TARGET)/lambda $(BENCH_ARGS)
	cargo bench -p shared --bench submission --locked

.PHONY: bench-contention
bench-contention: ## Only the strict model's contention table in docs/PERFORMANCE.md (BENCH_ARGS overrides)
	$(SERVICES) run -- cargo run --locked -p bench -- --contention-only $(BENCH_ARGS)

.PHONY: bench-noisy
bench-noisy: ## Only the noisy-neighbour runs in docs/PERFORMANCE.md, on a debug build: B's bulk alone and beside A's silent or failing endpoint (BENCH_ARGS overrides)
	$(SERVICES) run -- cargo run --locked -p bench -- --noisy-only $(BENCH_ARGS)

.PHONY: chaos
chaos: ## 10 bulks of 1000 items under 15 % AWS faults, 10 % killed invocations, SQS's own delivery and DynamoDB's contention; checks every invariant
	@mkdir -p .local
	$(SERVICES) run -- cargo run -p chaos --locked -- --out .local/chaos.md --shuffle --contention $(CHAOS_ARGS)

.PHONY: services
services: ## Start the emulators in the background (then plain `cargo test` works)
	$(SERVICES) start

.PHONY: services-stop
services-stop: ## Stop the emulators started by `make services`
	$(SERVICES) stop

.PHONY: dev
dev: ## Run the whole API on 127.0.0.1:9000 with a webhook receiver on :9999 (Ctrl-C stops it)
	RADAR_SERVICES_STATE=$(CURDIR)/.local/dev $(SERVICES) run -- infra/local/dev.sh
