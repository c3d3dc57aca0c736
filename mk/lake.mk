# lake — `orderflow lake query` and its tests run SQL over the data lake in DuckDB, from
# npm (@duckdb/node-api, pinned; prebuilt, so no cgo in the Go build: see
# cmd/orderflow/internal/lakequery). Included by the main Makefile (`-include mk/*.mk`).

DUCKDB_NODE_VERSION := 1.5.6-r.1
DUCKDB_DIR          := .tools/duckdb
DUCKDB_STAMP        := $(DUCKDB_DIR)/.installed-$(DUCKDB_NODE_VERSION)

$(DUCKDB_STAMP):
	@mkdir -p $(DUCKDB_DIR)
	npm install --silent --no-audit --no-fund --prefix $(DUCKDB_DIR) @duckdb/node-api@$(DUCKDB_NODE_VERSION)
	@touch $@

.PHONY: lake-tools
lake-tools: $(DUCKDB_STAMP) ## install DuckDB for `orderflow lake query` (npm @duckdb/node-api, pinned) when missing
