# chaos — orders through the local stack under injected faults, then `orderflow audit`'s
# checks (cmd/orderflow/internal/stack/stack_chaos_test.go, cmd/orderflow/internal/chaos).
# Included by the main Makefile (`-include mk/*.mk`).

# 5,000 orders by default: about 26 minutes on two cores (2026-12-01: 26m20s, peak RSS
# 1.01 GB, audit PASS). moto 5.2.1's memory grew faster than linearly with the orders it had
# seen (5.5 GB after 1,000, 24 GB after 2,500); tools/moto/moto_server_shim.py bounds it and
# keeps its CPU per request flat (fixes 4-8, 13-18), and sending pauses while more than
# CHAOS_INFLIGHT executions run, which an unpaced run piled up in moto by the thousand (a
# thread each). Quicker runs: make chaos CHAOS_ORDERS=1000.
CHAOS_ORDERS ?= 5000
CHAOS_SEED   ?= 1
# Orders posted at once (TestChaos's default is 8). The front door takes orders faster than
# the stack works them off, so the extra ones only wait as executions inside moto, whose
# threads slow everything down; 3 keep fewer of them waiting.
CHAOS_CONCURRENCY ?= 3
# Sending pauses while more of the state machine's executions are running (0: the
# default, 128; -1: no bound): each one waiting in moto is a thread that slows the rest.
CHAOS_INFLIGHT ?= 0
CHAOS_REPORT ?= build/chaos-report.txt
CHAOS_FAULTS ?= build/chaos-faults.txt
# Template parameters for the run, K=V,K=V (e.g. InventoryStrategy=conditional).
CHAOS_PARAMS ?=

.PHONY: chaos
chaos: tools-py ## chaos run: CHAOS_ORDERS (default 5000) orders with 10% AWS errors, 2% crashes, 5% duplicate deliveries, poison inputs; prints the audit
	@mkdir -p $(dir $(CHAOS_REPORT))
	ORDERFLOW_CHAOS=1 ORDERFLOW_CHAOS_ORDERS=$(CHAOS_ORDERS) ORDERFLOW_CHAOS_SEED=$(CHAOS_SEED) ORDERFLOW_CHAOS_CONCURRENCY=$(CHAOS_CONCURRENCY) \
	ORDERFLOW_CHAOS_INFLIGHT=$(CHAOS_INFLIGHT) \
	ORDERFLOW_CHAOS_PARAMS=$(CHAOS_PARAMS) \
	ORDERFLOW_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) ORDERFLOW_CHAOS_FAULTS=$(abspath $(CHAOS_FAULTS)) \
	$(GO) test -count=1 -timeout 3h -run 'TestChaos$$' -v ./cmd/orderflow/internal/stack/ 2>&1 \
	  | grep -v '^\s*\[orderflow-\|^\s*\[moto\]' ; \
	status=$${PIPESTATUS[0]}; cat $(CHAOS_REPORT) 2>/dev/null; exit $$status
