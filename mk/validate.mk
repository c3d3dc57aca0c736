# validate / deploy — the SAM stack (template.yaml, infra/*.yaml, statemachine/*.asl.json).
# Included by the main Makefile (`-include mk/*.mk`).

ASL_VALIDATOR_VERSION := 4.0.0
ASL_VALIDATOR := .tools/node/node_modules/.bin/asl-validator
CFN_LINT ?= cfn-lint
SAM ?= sam
STAGE ?= dev
ASL_FILES := $(wildcard statemachine/*.asl.json)

$(ASL_VALIDATOR):
	npm install --silent --no-audit --no-fund --prefix .tools/node asl-validator@$(ASL_VALIDATOR_VERSION)

.PHONY: validate validate-cfn validate-sam validate-asl validate-go
validate: validate-cfn validate-sam validate-asl validate-go ## cfn-lint, offline SAM transform, asl-validator, template checks

validate-cfn: ## cfn-lint template.yaml and the nested stacks (zero errors, zero warnings)
	@command -v $(CFN_LINT) >/dev/null || $(PYTHON) -m pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'
	$(CFN_LINT) template.yaml infra/*.yaml

validate-sam: ## transform template.yaml offline into build/template.transformed.json
	@$(PYTHON) -c 'import samtranslator' 2>/dev/null || $(PYTHON) -m pip install --quiet 'aws-sam-translator==$(SAM_TRANSLATOR_VERSION)'
	$(PYTHON) tools/validate/sam_translate.py template.yaml build/template.transformed.json

validate-asl: $(ASL_VALIDATOR) ## asl-validator on every state machine definition
	@for f in $(ASL_FILES); do $(ASL_VALIDATOR) --json-path $$f || exit 1; done

validate-go: ## structural checks of the template (tools/template)
	$(GO) test -count=1 ./tools/template/...

.PHONY: deploy deploy-prod
deploy: validate ## sam build + sam deploy (STAGE=dev|prod; the samconfig.toml environment of that name)
	$(SAM) build --config-env $(if $(filter prod,$(STAGE)),prod,default)
	$(SAM) deploy --config-env $(if $(filter prod,$(STAGE)),prod,default)

deploy-prod: ## sam deploy to prod (asks to confirm the change set)
	$(MAKE) deploy STAGE=prod
