# fuzz — Go fuzz targets of the bad-input decoders (pkg/order, pkg/handler/{ingest,inventory,analytics}).
# `go test -fuzz` runs one target of one package per invocation, hence one line per target.
# Seed corpora: <pkg>/testdata/fuzz/<Target>/ (run by every plain `go test` too); new
# interesting inputs stay in the Go build cache; a crasher is written to testdata and fails.

FUZZ_TARGETS := \
	./pkg/order:FuzzDecodeRequest \
	./pkg/handler/ingest:FuzzHandle \
	./pkg/handler/inventory:FuzzHandle \
	./pkg/handler/analytics:FuzzHandle
FUZZTIME    ?= 2m
# A count, not a duration: with -fuzztime <duration>, Go 1.26's fuzz coordinator can report
# its own stop deadline as a failure ("context deadline exceeded", no crasher) when a worker
# is still busy as time runs out, which a loaded machine makes likely (golang/go#75804,
# fixed in Go 1.27). 30,000 executions take 5-7 s per target on the development machine.
FUZZTIME_CI ?= 30000x

# fuzz-run FUZZTIME: fuzz each target in turn, stop at the first failure.
define fuzz-run
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name in $$pkg for $(1)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(1) $$pkg; \
	done
endef

.PHONY: fuzz fuzz-ci
fuzz: ## fuzz every decoder for FUZZTIME each (default 2m)
	$(call fuzz-run,$(FUZZTIME))

fuzz-ci: ## fuzz every decoder briefly (FUZZTIME_CI, default 30000 executions each), as make test does
	$(call fuzz-run,$(FUZZTIME_CI))
