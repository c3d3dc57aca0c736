# examples — consumers of orderflow's bus, each with its own SAM template (README "For
# consumers"). Included by the main Makefile (`-include mk/*.mk`); part of `make validate`.
# `orderflow local up --template template.yaml --template examples/loyalty/template.yaml`
# runs one beside the stack.

EXAMPLE_TEMPLATES := $(wildcard examples/*/template.yaml)

validate: validate-examples

.PHONY: validate-examples
validate-examples: ## cfn-lint and the offline SAM transform of every examples/*/template.yaml
	@command -v $(CFN_LINT) >/dev/null || $(PYTHON) -m pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'
	@$(PYTHON) -c 'import samtranslator' 2>/dev/null || $(PYTHON) -m pip install --quiet 'aws-sam-translator==$(SAM_TRANSLATOR_VERSION)'
	$(CFN_LINT) $(EXAMPLE_TEMPLATES)
	@for t in $(EXAMPLE_TEMPLATES); do \
	  $(PYTHON) tools/validate/sam_translate.py $$t build/$$(dirname $$t).transformed.json || exit 1; done

# SAM's makefile builder for examples/loyalty (CodeUri: ../.., the module root).
build-LoyaltyFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./examples/loyalty/functions/loyalty

# The local stack runs an example's functions from build/local/<name>/bootstrap as well
# (run.mk, included after this file, sets LOCAL_BUILD_DIR to the same).
LOCAL_BUILD_DIR ?= build/local
build-local: $(LOCAL_BUILD_DIR)/loyalty/bootstrap
$(LOCAL_BUILD_DIR)/loyalty/bootstrap: FORCE
	@mkdir -p $(dir $@)
	$(GO) build -tags lambda.norpc -o $@ ./examples/loyalty/functions/loyalty
