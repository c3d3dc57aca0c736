# orderflow — build, run and test. `make run` and `make test` do all their own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO       ?= go
PYTHON   ?= python3
FUNCTIONS := ingest process inventory notify analytics publisher
# Lambda build: static, arm64 (Graviton), no RPC shim, stripped.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags='-s -w'
# Pinned tool versions, installed on demand when missing.
MOTO_VERSION       := 5.2.1
CFN_LINT_VERSION   := 1.51.0
SAM_TRANSLATOR_VERSION := 1.110.0

export GOFLAGS ?= -mod=mod

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: build
build: $(FUNCTIONS:%=build/%/bootstrap) ## build every function as an arm64 Lambda bootstrap under build/<name>/

build/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*
	@ls -l $@ | awk '{printf "%s %.1f MB\n", $$9, $$5/1048576}'

.PHONY: FORCE
FORCE:

# SAM's makefile builder (Metadata: BuildMethod: makefile, CodeUri: .) calls build-<LogicalId>
# with ARTIFACTS_DIR set.
build-IngestFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ingest
build-ProcessFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/process
build-InventoryFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/inventory
build-NotifyFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/notify
build-AnalyticsFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/analytics
build-PublisherFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/publisher

.PHONY: tools-py
tools-py: ## install moto server, cfn-lint and aws-sam-translator (pinned) when missing
	@$(PYTHON) -c 'import moto, flask, flask_cors' 2>/dev/null || $(PYTHON) -m pip install --quiet 'moto[server]==$(MOTO_VERSION)'
	@command -v cfn-lint >/dev/null || $(PYTHON) -m pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'
	@$(PYTHON) -c 'import samtranslator' 2>/dev/null || $(PYTHON) -m pip install --quiet 'aws-sam-translator==$(SAM_TRANSLATOR_VERSION)'

.PHONY: lint
lint: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test-unit
test-unit: lake-tools ## unit tests only (no emulator)
	$(GO) test -short -count=1 ./...

.PHONY: test-integration
# go-test runs go test with $(2) and keeps its whole output in build/$(1).log. When it
# fails, the failing tests and their messages are printed again at the end: a package's
# output can be long, and a CI log is read from its tail.
define go-test
	@mkdir -p build
	@set -o pipefail; $(GO) test $(2) 2>&1 | tee build/$(1).log || { \
	  echo; echo "== $(1) failed; the failures (the whole output is in build/$(1).log):"; \
	  grep -E -- '^\s*--- FAIL|^\s+[[:alnum:]_]+_test\.go:[0-9]+: |^(FAIL|panic:|fatal error:)|^[^ ]+\.go:[0-9]+:[0-9]+: |WARNING: DATA RACE|test timed out' \
	    build/$(1).log | head -150; \
	  exit 1; }
endef

test-integration: tools-py tools-browser lake-tools ## tests over the wire against moto server (started by the tests) and in headless Chromium
	$(call go-test,test-integration,-count=1 -timeout 15m ./...)

# The packages that run goroutines against each other: the Lambda host, the event
# sources, the edge and fault injection, the local stack (its end-to-end and chaos
# tests), the load generator, the handlers and the stores.
RACE_PACKAGES := ./tools/lambdahost/... ./cmd/orderflow/internal/sources/... ./cmd/orderflow/internal/edge/... \
	./cmd/orderflow/internal/chaos/... ./cmd/orderflow/internal/stack/... ./cmd/internal/loadgen/... ./pkg/handler/... \
	./pkg/dynamo/... ./pkg/memstore/...

.PHONY: test-race
test-race: tools-py ## the concurrent packages under the race detector (zero races)
	$(call go-test,test-race,-race -count=1 -timeout 40m $(RACE_PACKAGES))

.PHONY: test
test: lint validate test-integration test-race fuzz-ci vulncheck ## everything: lint, validate, unit and integration tests, the race detector, short fuzzing, govulncheck

-include mk/*.mk
