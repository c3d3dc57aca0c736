# The local stack: `make run` builds the functions for this machine and runs
# `orderflow local up` in the foreground (Ctrl-C stops everything). See
# cmd/orderflow/internal/stack and local/README.md.

LOCAL_BUILD_DIR := build/local
ORDERFLOW_BIN   := build/orderflow
# Extra flags for `orderflow local up`, e.g. make run RUN_FLAGS='--http-port 0 --quiet'.
RUN_FLAGS ?=

.PHONY: build-local
build-local: $(FUNCTIONS:%=$(LOCAL_BUILD_DIR)/%/bootstrap) $(ORDERFLOW_BIN) ## build the functions for this machine (build/local/<name>/bootstrap) and the orderflow CLI

# The same binaries SAM deploys, built for the host instead of linux/arm64.
$(LOCAL_BUILD_DIR)/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	$(GO) build -tags lambda.norpc -o $@ ./functions/$*

$(ORDERFLOW_BIN): FORCE
	@mkdir -p $(dir $@)
	$(GO) build -o $@ ./cmd/orderflow

.PHONY: run
run: tools-py lake-tools build-local ## run the whole system locally: moto, template.yaml's resources, functions, HTTP API on :3000, console on :8080
	./$(ORDERFLOW_BIN) local up $(RUN_FLAGS)

.PHONY: sam-env-file
sam-env-file: ## regenerate events/env.local.json (sam local invoke --env-vars) from the local stack's names
	$(GO) run ./cmd/orderflow local env-file -o events/env.local.json
