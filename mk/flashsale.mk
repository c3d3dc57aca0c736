# flashsale — one hot SKU through the local stack under the simulated AWS limits
# (chaos.Limits: per-item write capacity, transaction conflicts), once with each
# InventoryStrategy, side by side: reservations/s against the item's cap, orders ended
# through conflicts or timeouts, oversold (must be 0), stuck (must be 0), p99
# (cmd/orderflow/internal/stack/flashsale_test.go). Writes bench/flashsale.md and section
# 9 of bench/REPORT.md. Not part of `make test`. Included by the main Makefile.

FLASHSALE_ORDERS ?= 100
FLASHSALE_STOCK  ?= 50
FLASHSALE_RATE   ?= 4
FLASHSALE_SCALE  ?= 500
FLASHSALE_REPORT ?= bench/flashsale.md

.PHONY: flashsale
flashsale: tools-py ## flash sale on one SKU, today's and the redesigned inventory path side by side (~15 min); writes bench/flashsale.md and bench/REPORT.md section 9
	ORDERFLOW_FLASHSALE=1 ORDERFLOW_FLASHSALE_ORDERS=$(FLASHSALE_ORDERS) ORDERFLOW_FLASHSALE_STOCK=$(FLASHSALE_STOCK) \
	ORDERFLOW_FLASHSALE_RATE=$(FLASHSALE_RATE) ORDERFLOW_FLASHSALE_SCALE=$(FLASHSALE_SCALE) \
	ORDERFLOW_FLASHSALE_REPORT=$(abspath $(FLASHSALE_REPORT)) \
	$(GO) test -count=1 -timeout 60m -run 'TestFlashSale$$' -v ./cmd/orderflow/internal/stack/ 2>&1 \
	  | grep -v '^\s*\[orderflow-\|^\s*\[moto\]' ; \
	status=$${PIPESTATUS[0]}; \
	if [ -s $(FLASHSALE_REPORT) ]; then $(GO) run ./cmd/benchreport -flashsale-only -flashsale $(FLASHSALE_REPORT); fi; \
	exit $$status
