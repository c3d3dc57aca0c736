# bench — `make bench` measures binary sizes, cold starts, handler hot paths, AWS calls per
# order, throughput and latency on the local stack, and the cost per million orders, and
# writes bench/REPORT.md (+ bench/raw.txt for benchstat, bench/latency.svg). Not part of
# `make test` or CI. Included by the main Makefile (`-include mk/*.mk`).

# Extra flags for cmd/benchreport, e.g. make bench BENCH_FLAGS='-no-stack -starts 41'.
BENCH_FLAGS ?=

.PHONY: bench
bench: ## measure performance and write bench/REPORT.md (installs moto when missing; ~5 minutes)
	@$(PYTHON) -c 'import moto, flask, flask_cors' 2>/dev/null || $(PYTHON) -m pip install --quiet 'moto[server]==$(MOTO_VERSION)'
	$(GO) run ./cmd/benchreport $(BENCH_FLAGS)
