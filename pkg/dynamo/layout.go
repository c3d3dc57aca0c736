package dynamo

// Layout lists the key prefixes and attribute names of the items of orderflow's tables.
// This package is their one owner: everything else reads and writes the tables through
// its stores and codecs (DecodeOrder, DecodeInventory, DecodeMinute, EncodeOrder, ...).
// TestLayoutIsOwned fails when a non-test file elsewhere spells one of them, and
// TestLayoutListsEveryAttribute when a store writes a name or prefix that is not listed.
var Layout = []string{
	// key prefixes (pk)
	"SKU#", "RES#", "MINUTE#", "EVENT#", IdempotencyKeyPrefix, NotifyMarkerPrefix,
	// attribute name prefixes of the metrics table
	"count_", "revenue_",
	// the key
	"pk",
	// orders
	"order_id", "customer_id", "lines", "sku", "quantity", "unit_price", "currency", "total",
	"status", "failure_reason", "correlation_id", "payment_token", "execution_id",
	"idempotency_key", "created_at", "updated_at", "version",
	// inventory: catalog items and reservations
	"name", "price", "stock", "state",
	// inventory, conditional strategy: markers on a SKU, a reservation's key and lease
	"holds", "nonce", "owner", "lease_until", "was_reserved",
	// idempotency records and processed-event markers
	"body_hash", "response_status", "response_headers", "response_body",
	"claimed_at", "expires_at",
}
