# soak — the local stack under a long load, for the "runs all day" figures of
# bench/REPORT.md: `orderflow local up` on free ports and `orderflow load` in batches,
# printing each batch's rate and latency and the emulator's memory. Not part of
# `make test`. Keep the figures (with the command) in bench/soak.md: make bench shows them
# as section 7 of bench/REPORT.md. Included by the main Makefile (`-include mk/*.mk`).

SOAK_ORDERS      ?= 10000
SOAK_BATCH       ?= 1000
SOAK_CONCURRENCY ?= 20
SOAK_REPORT      ?= build/soak-report.txt

.PHONY: soak
soak: tools-py build-local ## SOAK_ORDERS (10000) orders through the local stack in batches of SOAK_BATCH; prints rate, latency and moto's memory per batch
	@mkdir -p $(dir $(SOAK_REPORT))
	tools/soak/soak.sh ./$(ORDERFLOW_BIN) $(SOAK_ORDERS) $(SOAK_BATCH) $(SOAK_CONCURRENCY) $(SOAK_REPORT)
