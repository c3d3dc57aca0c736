# events — the event contract consumers are given (README "For consumers"): the AsyncAPI
# document, the EventBridge schema registry's schemas and the breaking-change gate.
# Included by the main Makefile (`-include mk/*.mk`); part of `make validate`.

ASYNCAPI_PARSER_VERSION := 3.6.6
ASYNCAPI_NODE_PATH      := .tools/asyncapi-parser-$(ASYNCAPI_PARSER_VERSION)/node_modules
ASYNCAPI_PARSER         := $(ASYNCAPI_NODE_PATH)/@asyncapi/parser/package.json

$(ASYNCAPI_PARSER):
	npm install --silent --no-audit --no-fund --prefix $(dir $(ASYNCAPI_NODE_PATH)) @asyncapi/parser@$(ASYNCAPI_PARSER_VERSION)

validate: validate-events

.PHONY: validate-events events-generate events-release
validate-events: $(ASYNCAPI_PARSER) ## AsyncAPI parser on events/asyncapi.yaml (+ a fixture it must reject); it, the registry schemas and events/schemas/ agree; the breaking-change gate
	NODE_PATH=$(ASYNCAPI_NODE_PATH) node tools/validate/asyncapi.cjs events/asyncapi.yaml
	NODE_PATH=$(ASYNCAPI_NODE_PATH) node tools/validate/asyncapi.cjs --expect-invalid tools/eventcontract/testdata/asyncapi-invalid.yaml
	$(GO) test -count=1 ./tools/eventcontract/ ./events/...

events-generate: ## write events/asyncapi.yaml and infra/event-schemas.yaml from events/schemas/ (commit the result)
	$(GO) run ./cmd/eventcontract

events-release: ## make the current schemas the released baseline (events/schemas/released/); refused while the gate fails
	$(GO) run ./cmd/eventcontract release
