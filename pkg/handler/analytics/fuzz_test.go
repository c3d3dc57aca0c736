package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
)

// fuzzLake and fuzzMetrics are working fakes that record rows and applied event keys.
type fuzzLake struct{ rows int }

func (l *fuzzLake) Write(_ context.Context, day time.Time, batchID string, rows [][]byte) (string, error) {
	for _, r := range rows {
		if !json.Valid(r) {
			return "", errors.New("row is not JSON")
		}
	}
	l.rows += len(rows)
	return "raw/dt=" + day.Format(time.DateOnly) + "/" + batchID + ".json", nil
}

type fuzzMetrics struct{ keys []string }

func (m *fuzzMetrics) Apply(_ context.Context, key string, _ event.MetricDelta) (bool, error) {
	m.keys = append(m.keys, key)
	return true, nil
}

// Two valid records that surround the fuzzed one.
const (
	fuzzFirst = `{"version":"0","id":"e1","detail-type":"Order Created","source":"myapp.orders","time":"2026-01-01T10:00:00Z",` +
		`"detail":{"metadata":{"eventId":"o-1:PENDING","schemaVersion":"1.0","correlationId":"c","occurredAt":"2026-01-01T10:00:00Z"},` +
		`"data":{"orderId":"o-1","customerId":"c-1","status":"PENDING","currency":"USD","total":0,"lines":[{"sku":"A","quantity":1}]}}}`
	fuzzLast = `{"version":"0","id":"e3","detail-type":"Order Confirmed","source":"myapp.orders","time":"2026-01-01T10:01:00Z",` +
		`"detail":{"metadata":{"eventId":"o-3:CONFIRMED","schemaVersion":"1.0","correlationId":"c","occurredAt":"2026-01-01T10:01:00Z"},` +
		`"data":{"orderId":"o-3","customerId":"c-1","status":"CONFIRMED","currency":"EUR","total":2500,"lines":[{"sku":"A","quantity":1,"unitPrice":2500}]}}}`
)

// FuzzHandle puts any bytes as the Kinesis data of the middle record of a three-record
// batch and runs the analytics handler over working fakes. Whatever the data: no panic, no
// error; data Decode refuses is a *PoisonError, and the batch reports exactly that
// record's sequence number after writing and counting only the record before it; data it
// accepts is processed with its neighbours and nothing is reported.
// Seeds: f.Add below and testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		fuzzFirst,
		fuzzLast,
		``,
		`null`,
		`{}`,
		`{"detail-type":"Order Created"}`,
		`{"detail-type":"Order Created","detail":null}`,
		`{"detail-type":"Order Created","detail":"x"}`,
		`{"detail-type":"Order Created","detail":{"metadata":{"eventId":"e"},"data":{"orderId":"o","status":"CONFIRMED","currency":"USD"}}}`,
		`{"detail-type":"Order Cancelled","time":"2026-01-01T10:00:00Z","detail":{"metadata":{"eventId":"e"},"data":{"orderId":"o","status":"CANCELLED","currency":"USD","total":-1}}}`,
		`{"detail-type":"Order Rejected","detail":{"metadata":{"eventId":"e","occurredAt":"0001-01-01T00:00:00Z"},"data":{"orderId":"o","status":"REJECTED","currency":"USD"}}}`,
		`{"detail-type":"Order Confirmed","detail":{"metadata":{"eventId":"e","occurredAt":"9999-12-31T23:59:59Z"},"data":{"orderId":"o","status":"CONFIRMED","currency":"X","total":9223372036854775807}}}`,
		`{"detail-type":"Order Created","detail":{"metadata":{"eventId":"e","occurredAt":"2026-01-01T10:00:00+14:00"},"data":{"orderId":"o","status":"PENDING","currency":"USD","total":1e3}}}`,
		"\x1f\x8b\x08\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lake, m := &fuzzLake{}, &fuzzMetrics{}
		h := &analytics.Handler{Lake: lake, Metrics: m, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
		batch := events.KinesisEvent{Records: []events.KinesisEventRecord{
			record("1", []byte(fuzzFirst)), record("2", data), record("3", []byte(fuzzLast)),
		}}

		resp, err := h.Handle(context.Background(), batch)
		if err != nil {
			t.Fatalf("Handle failed the whole batch: %v", err)
		}
		_, decErr := analytics.Decode(data)
		if decErr != nil {
			var poison *analytics.PoisonError
			if !errors.As(decErr, &poison) || poison.Reason == "" {
				t.Fatalf("Decode error %T %v is not a *PoisonError with a reason", decErr, decErr)
			}
			if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "2" {
				t.Fatalf("poison record: batchItemFailures %+v, want exactly sequence number 2", resp.BatchItemFailures)
			}
			if lake.rows != 1 || len(m.keys) != 1 || m.keys[0] != "o-1:PENDING" {
				t.Fatalf("poison record: %d lake rows, metrics %v; want only the record before it", lake.rows, m.keys)
			}
			return
		}
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("decodable record with working fakes: batchItemFailures %+v", resp.BatchItemFailures)
		}
		if lake.rows != 3 || len(m.keys) != 3 {
			t.Fatalf("decodable record: %d lake rows and %d metric updates, want 3 and 3", lake.rows, len(m.keys))
		}
	})
}

func record(seq string, data []byte) events.KinesisEventRecord {
	return events.KinesisEventRecord{
		EventID:        "shardId-000000000000:" + seq,
		EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/order-stream-dev",
		Kinesis:        events.KinesisRecord{Data: data, SequenceNumber: seq, PartitionKey: "o"},
	}
}
