package stack

import (
	"net/http"
	"sync"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
)

// txGate keeps the DynamoDB stream mappings' reads from seeing a transaction of the
// emulator half applied. moto 5.2.1 applies a TransactWriteItems item by item and rolls a
// cancelled one back afterwards (upstream by restoring a copy of the table, the shim's fix
// 10 item by item), while its stream reads take no lock (the shim serializes writes only):
// a read in between sees the stream record of a put that is then undone (a phantom Order
// Created for an idempotent replay's order id). Transactions through the edge hold
// the read side of the gate, so they still run concurrently with each other; a stream
// read holds the write side (sources.DynamoDBMapping.ReadGate). On AWS a transaction's
// records appear in the stream only once it has committed, so nothing like it is needed
// there; it can go when the emulator's transactions are atomic for stream readers.
type txGate struct {
	mu sync.RWMutex
}

// Middleware holds the gate's read side while a DynamoDB transaction is served.
func (g *txGate) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := edge.CallFrom(r); c.Service == "dynamodb" && c.Operation == "TransactWriteItems" {
			g.mu.RLock()
			defer g.mu.RUnlock()
		}
		next.ServeHTTP(w, r)
	})
}

// Reader is the side a stream read holds.
func (g *txGate) Reader() sync.Locker { return &g.mu }
