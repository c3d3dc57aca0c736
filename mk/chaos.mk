# chaos — orders through the local stack under injected faults, then `orderflow audit`'s
# checks (cmd/orderflow/internal/stack/stack_chaos_test.go, cmd/orderflow/internal/chaos).
# Included by the main Makefile (`-include mk/*.mk`).

# 5,000 orders by default (about half an hour on two cores). moto 5.2.1's memory grew faster
# than linearly with the orders it had seen (5.5 GB after 1,000, 24 GB after 2,500), and its
# CPU per request with the state it held; tools/moto/moto_server_shim.py bounds the one and
# keeps the other flat (fixes 4-8, 13-18). Shorter runs: make chaos CHAOS_ORDERS=1000.
CHAOS_ORDERS ?= 5000
CHAOS_SEED   ?= 1
# Orders posted at once. Three keep the intake near what the local stack works off on two
# cores (about 3 orders/s under the faults); more only queue executions inside moto, whose
# threads then slow everything down.
CHAOS_CONCURRENCY ?= 3
CHAOS_REPORT ?= build/chaos-report.txt
CHAOS_FAULTS ?= build/chaos-faults.txt

.PHONY: chaos
chaos: tools-py ## chaos run: CHAOS_ORDERS (default 5000) orders with 10% AWS errors, 2% crashes, 5% duplicate deliveries, poison inputs; prints the audit
	@mkdir -p $(dir $(CHAOS_REPORT))
	ORDERFLOW_CHAOS=1 ORDERFLOW_CHAOS_ORDERS=$(CHAOS_ORDERS) ORDERFLOW_CHAOS_SEED=$(CHAOS_SEED) ORDERFLOW_CHAOS_CONCURRENCY=$(CHAOS_CONCURRENCY) \
	ORDERFLOW_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) ORDERFLOW_CHAOS_FAULTS=$(abspath $(CHAOS_FAULTS)) \
	$(GO) test -count=1 -timeout 3h -run 'TestChaos$$' -v ./cmd/orderflow/internal/stack/ 2>&1 \
	  | grep -v '^\s*\[orderflow-\|^\s*\[moto\]' ; \
	status=$${PIPESTATUS[0]}; cat $(CHAOS_REPORT) 2>/dev/null; exit $$status
