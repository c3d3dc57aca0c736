package capacity

import (
	"slices"

	"github.com/orderflow/orderflow/pkg/bus"
)

// Step is one AWS call of the flow of a confirmed one-line order, as the design makes
// it: who calls, what, how often per order, and the request units it costs in a table.
type Step struct {
	Function  string
	Service   string
	Operation string
	Calls     float64
	Table     string
	WRU, RRU  float64
}

// Function is one Lambda function's invocations per order and the AWS calls of one
// invocation (what sets its duration on AWS).
type Function struct {
	Name            string
	InvokesPerOrder float64
	CallsPerInvoke  float64
}

// HotItem is one DynamoDB item that many orders write: its write units per order.
type HotItem struct {
	Name  string
	Table string
	WCU   float64
	// PerSKU items take only the orders on their SKU (the --hot-sku share); the others
	// take every order.
	PerSKU bool
	Why    string
}

// Mix is the load one confirmed one-line order puts on AWS, at full batches.
type Mix struct {
	Steps []Step
	// APIRequests are the HTTP API requests (the POST; status polls are the client's).
	APIRequests float64
	// Starts are Step Functions executions, Transitions their state transitions,
	// Callbacks the SendTaskSuccess calls.
	Starts, Transitions, Callbacks float64
	// Events are the business events put on the bus; Invocations the rule deliveries
	// to targets they cause; KinesisRecords the records the bus puts on the order stream.
	Events, Invocations, KinesisRecords float64
	// SQSRequests are SendMessage plus the mapping's ReceiveMessage and DeleteMessage
	// (per batch).
	SQSRequests float64
	Functions   []Function
	HotItems    []HotItem
}

// Batch sizes the design mix assumes at a rate where batches fill: the publisher's
// PutEvents (bus.MaxEntries), the inventory mapping and the analytics mapping
// (template.yaml), the publisher's stream batch.
const (
	PutEventsBatch = bus.MaxEntries
	InventoryBatch = 10
	AnalyticsBatch = 100
	PublisherBatch = 100
)

// Design is the design's minimum load per confirmed one-line order (the figures section 4
// of `make bench` checks the measured calls against), with transitions state transitions
// per execution (the state machine's happy path).
func Design(transitions int) Mix {
	return Mix{
		Steps:       DesignSteps(),
		APIRequests: 1,
		Starts:      1, Transitions: float64(transitions), Callbacks: 1,
		// Created and Confirmed; the rules deliver Created to the state machine, both to
		// the order stream, Confirmed to notify.
		Events: 2, Invocations: 4, KinesisRecords: 2,
		SQSRequests: 1 + 2.0/InventoryBatch,
		Functions: []Function{
			{Name: "ingest", InvokesPerOrder: 1, CallsPerInvoke: 1},
			{Name: "process", InvokesPerOrder: 2, CallsPerInvoke: 2.5},
			{Name: "inventory", InvokesPerOrder: 1.0 / InventoryBatch, CallsPerInvoke: 2 * InventoryBatch},
			{Name: "notify", InvokesPerOrder: 1, CallsPerInvoke: 3},
			{Name: "analytics", InvokesPerOrder: 2.0 / AnalyticsBatch, CallsPerInvoke: AnalyticsBatch + 1},
			// Three stream records per order (insert, VALIDATED, CONFIRMED), 100 a batch.
			{Name: "publisher", InvokesPerOrder: 3.0 / PublisherBatch, CallsPerInvoke: 2.0 / PutEventsBatch * PublisherBatch / 3},
		},
		HotItems: []HotItem{
			{Name: "metrics minute item", Table: "metrics", WCU: 4,
				Why: "every event adds to its minute's counters in a transaction (2 WCU), two events per order"},
			{Name: "stock item of the hot SKU", Table: "inventory", WCU: 2, PerSKU: true,
				Why: "the reservation's transaction writes the SKU's stock item (2 WCU)"},
		},
	}
}

// DesignSteps are the AWS calls the design makes for a confirmed one-line order, at
// full batches.
func DesignSteps() []Step {
	return []Step{
		{Function: "ingest", Service: "dynamodb", Operation: "TransactWriteItems", Calls: 1, Table: "orders", WRU: 2},
		{Function: "ingest", Service: "dynamodb", Operation: "TransactWriteItems (Idempotency-Key record)", Table: "idempotency", WRU: 2},
		{Function: "process", Service: "dynamodb", Operation: "GetItem (validate)", Calls: 1, Table: "orders", RRU: 1},
		{Function: "process", Service: "dynamodb", Operation: "BatchGetItem (prices)", Calls: 1, Table: "inventory", RRU: 0.5},
		{Function: "process", Service: "dynamodb", Operation: "UpdateItem (VALIDATED)", Calls: 1, Table: "orders", WRU: 1},
		{Function: "process", Service: "dynamodb", Operation: "GetItem (authorize)", Calls: 1, Table: "orders", RRU: 1},
		{Function: "process", Service: "dynamodb", Operation: "PutItem (CONFIRMED)", Calls: 1, Table: "orders", WRU: 1},
		{Function: "inventory", Service: "dynamodb", Operation: "TransactWriteItems (stock item and reservation)", Calls: 1, Table: "inventory", WRU: 4},
		{Function: "inventory", Service: "states", Operation: "SendTaskSuccess", Calls: 1},
		{Function: "notify", Service: "dynamodb", Operation: "PutItem (marker lease, DONE)", Calls: 2, Table: "idempotency", WRU: 2},
		{Function: "notify", Service: "sns", Operation: "Publish", Calls: 1},
		{Function: "analytics", Service: "dynamodb", Operation: "TransactWriteItems (event record and minute counters, per event)", Calls: 2, Table: "metrics", WRU: 8},
		{Function: "analytics", Service: "s3", Operation: "PutObject", Calls: 2.0 / AnalyticsBatch},
		{Function: "publisher", Service: "events", Operation: "PutEvents", Calls: 2.0 / PutEventsBatch},
		{Function: "state machine", Service: "lambda", Operation: "Invoke", Calls: 2},
		{Function: "state machine", Service: "sqs", Operation: "SendMessage (waitForTaskToken)", Calls: 1},
	}
}

// CallsByService sums the steps' calls per service.
func (m Mix) CallsByService() map[string]float64 {
	out := map[string]float64{}
	for _, s := range m.Steps {
		out[s.Service] += s.Calls
	}
	return out
}

// Units returns the write and read units per order of each table, in the order the
// tables first appear.
func (m Mix) Units() (tables []string, wru, rru map[string]float64) {
	wru, rru = map[string]float64{}, map[string]float64{}
	for _, s := range m.Steps {
		if s.Table == "" {
			continue
		}
		if !slices.Contains(tables, s.Table) {
			tables = append(tables, s.Table)
		}
		wru[s.Table] += s.WRU
		rru[s.Table] += s.RRU
	}
	return tables, wru, rru
}
