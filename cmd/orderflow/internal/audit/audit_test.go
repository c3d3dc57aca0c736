package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeDynamo answers Scan from items per table.
type fakeDynamo struct {
	scan func(table string) []map[string]ddbtypes.AttributeValue
}

func (f fakeDynamo) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return &dynamodb.ScanOutput{Items: f.scan(aws.ToString(in.TableName))}, nil
}

func sv(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
func nv(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: v} }
func linesOf(sku, qty string) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
		&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"sku": sv(sku), "quantity": nv(qty)}}}}
}

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func orderItem(id, status, total string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"order_id": sv(id), "status": sv(status), "currency": sv("USD"),
		"total": nv(total), "lines": linesOf("A", "2"), "created_at": sv(now.Add(-time.Hour).Format(time.RFC3339Nano))}
}

func TestRun(t *testing.T) {
	good := map[string][]map[string]ddbtypes.AttributeValue{
		"orders": {orderItem("o1", "CONFIRMED", "500"), orderItem("o2", "CANCELLED", "0")},
		"inventory": {{"pk": sv("SKU#A"), "stock": nv("8")},
			{"pk": sv("RES#o1"), "state": sv("RESERVED"), "lines": linesOf("A", "2")},
			{"pk": sv("RES#o2"), "state": sv("RELEASED"), "lines": linesOf("A", "2")}},
		"metrics": {{"pk": sv("MINUTE#x"), "count_CONFIRMED": nv("1"), "revenue_USD": nv("500")}},
	}
	tests := []struct {
		name   string
		change func(m map[string][]map[string]ddbtypes.AttributeValue)
		want   string // a violation containing this; "" = pass
	}{
		{"consistent stack passes", func(map[string][]map[string]ddbtypes.AttributeValue) {}, ""},
		{"stuck order is lost", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["orders"] = append(m["orders"], orderItem("o3", "VALIDATED", "0"))
		}, "order o3 is VALIDATED"},
		{"stock not conserved", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["inventory"][0] = map[string]ddbtypes.AttributeValue{"pk": sv("SKU#A"), "stock": nv("9")}
		}, "stock not conserved"},
		{"negative stock", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["inventory"][0] = map[string]ddbtypes.AttributeValue{"pk": sv("SKU#A"), "stock": nv("-1")}
		}, "negative"},
		{"confirmed without reservation", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["inventory"][1]["state"] = sv("RELEASED")
		}, "holds no RESERVED reservation"},
		{"cancelled still reserved", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["inventory"][2]["state"] = sv("RESERVED")
		}, "stock leaked"},
		{"metrics double count", func(m map[string][]map[string]ddbtypes.AttributeValue) {
			m["metrics"][0]["count_CONFIRMED"] = nv("2")
		}, "metrics count 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]map[string]ddbtypes.AttributeValue{}
			for k, items := range good {
				for _, it := range items {
					cp := map[string]ddbtypes.AttributeValue{}
					for a, v := range it {
						cp[a] = v
					}
					data[k] = append(data[k], cp)
				}
			}
			tt.change(data)
			auditTables(t, data, Config{}, tt.want)
		})
	}
}

// auditTables runs the audit over tables (orders, inventory, metrics; initial stock A=10)
// with the other fields of cfg, and fails t unless the violations are none (want "") or
// include one containing want.
func auditTables(t *testing.T, tables map[string][]map[string]ddbtypes.AttributeValue, cfg Config, want string) *Report {
	t.Helper()
	cfg.DynamoDB = fakeDynamo{scan: func(table string) []map[string]ddbtypes.AttributeValue { return tables[table] }}
	cfg.OrdersTable, cfg.InventoryTable, cfg.MetricsTable = "orders", "inventory", "metrics"
	cfg.Initial, cfg.Now = map[string]int64{"A": 10}, func() time.Time { return now }
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(r.Violations, "\n")
	switch {
	case want == "" && !r.OK():
		t.Errorf("violations:\n%s", joined)
	case want != "" && !strings.Contains(joined, want):
		t.Errorf("want a violation with %q, got:\n%s", want, joined)
	}
	return r
}

// Every order is announced by exactly one Order Created: copies of its eventId are
// counted, a missing one is a violation unless the order's stream record is kept in an
// on-failure bucket, and a Created for an order that does not exist is a violation.
func TestCheckCreated(t *testing.T) {
	orders := []*orderRow{{id: "once", status: "CONFIRMED"}, {id: "twice", status: "CONFIRMED"},
		{id: "never", status: "PENDING"}, {id: "kept", status: "PENDING"}}
	evs := []captured{
		{EventID: "once:PENDING", OrderID: "once", Status: "PENDING"},
		{EventID: "twice:PENDING", OrderID: "twice", Status: "PENDING"},
		{EventID: "twice:PENDING", OrderID: "twice", Status: "PENDING"},
		{EventID: "ghost:PENDING", OrderID: "ghost", Status: "PENDING"},
		{EventID: "once:CONFIRMED", OrderID: "once", Status: "CONFIRMED"},
	}
	r := &Report{dlq: []dlqMessage{
		{queue: "s3://stream-failures/aws/lambda/", body: `{"Records":[{"dynamodb":{"NewImage":{"order_id":{"S":"kept"}}}}]}`, reason: "RetryAttemptsExhausted", stream: "dynamodb"},
		// An analytics batch holding never's events does not excuse its missing Order Created.
		{queue: "s3://lake/aws/lambda/", body: "never:PENDING", reason: "RetryAttemptsExhausted", stream: "kinesis"},
	}}
	r.checkCreated(evs, orders)
	if r.CreatedCopies != 4 || r.CreatedDuplicates != 1 {
		t.Errorf("copies %d duplicates %d, want 4 and 1", r.CreatedCopies, r.CreatedDuplicates)
	}
	got := strings.Join(r.CreatedProblems, "\n")
	if len(r.CreatedProblems) != 2 || !strings.Contains(got, "order never (PENDING) was never announced") || !strings.Contains(got, "order ghost, which does not exist") {
		t.Fatalf("problems:\n%s", got)
	}
}

// One Idempotency-Key creates one order; a PENDING order that no execution claimed within
// the bound is stranded (unless it is in a DLQ), listed with its age.
func TestTwinsAndStranded(t *testing.T) {
	keyed := func(id, key, status string, executed bool, age time.Duration) map[string]ddbtypes.AttributeValue {
		it := orderItem(id, status, "0")
		it["idempotency_key"] = sv(key)
		it["created_at"] = sv(now.Add(-age).Format(time.RFC3339Nano))
		if executed {
			it["execution_id"] = sv("arn:aws:states:us-east-1:123456789012:execution:x:" + id)
		}
		return it
	}
	orders := []map[string]ddbtypes.AttributeValue{
		keyed("first", "k1", "CANCELLED", true, time.Hour),
		keyed("twin", "k1", "CANCELLED", true, time.Hour),
		keyed("alone", "k2", "CANCELLED", true, time.Hour),
		keyed("stranded", "k3", "PENDING", false, 10*time.Minute),
		keyed("young", "k4", "PENDING", false, 30*time.Second),
	}
	r, err := Run(context.Background(), Config{
		DynamoDB: fakeDynamo{scan: func(table string) []map[string]ddbtypes.AttributeValue {
			return map[string][]map[string]ddbtypes.AttributeValue{"orders": orders}[table]
		}},
		OrdersTable: "orders", Grace: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Twins) != 1 || strings.Join(r.Twins["k1"], ",") != "first,twin" {
		t.Errorf("twins %v, want k1: first, twin", r.Twins)
	}
	if len(r.Stranded) != 1 || r.Stranded[0].OrderID != "stranded" || r.Stranded[0].Age != 10*time.Minute || r.InFlight != 1 {
		t.Errorf("stranded %+v in flight %d, want the 10-minute-old order and one in flight", r.Stranded, r.InFlight)
	}
	joined := strings.Join(r.Violations, "\n")
	if !strings.Contains(joined, `Idempotency-Key "k1" created 2 orders`) || !strings.Contains(joined, "order stranded is PENDING with no execution after 10m0s") {
		t.Errorf("violations:\n%s", joined)
	}
}

// A terminal order whose notification failed for good owes no violation when its event
// sits in a DLQ (it is redrivable, not lost); without that DLQ entry it is a violation,
// and an entry for another state change of the order does not excuse it.
func TestNotificationsInDLQ(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	orders := []*orderRow{
		{id: "sent", status: "CONFIRMED", created: now.Add(-time.Minute)},
		{id: "dead", status: "CONFIRMED", created: now.Add(-time.Minute)},
		{id: "other", status: "CANCELLED", created: now.Add(-time.Minute)},
		{id: "missing", status: "REJECTED", created: now.Add(-time.Minute)},
	}
	ns := []captured{{EventID: "sent:CONFIRMED", OrderID: "sent", Status: "CONFIRMED"}}
	r := &Report{dlq: []dlqMessage{
		{queue: "notify-dlq-dev", body: `{"requestPayload":{"detail":{"metadata":{"eventId":"dead:CONFIRMED"}}}}`, reason: "RetriesExhausted"},
		{queue: "notify-dlq-dev", body: `{"requestPayload":{"detail":{"metadata":{"eventId":"other:CONFIRMED"}}}}`, reason: "RetriesExhausted"},
	}}
	kept := r.notificationsInDLQ(orders, ns, now)
	if len(r.NotificationsInDLQ) != 1 || r.NotificationsInDLQ[0].OrderID != "dead" ||
		r.NotificationsInDLQ[0].Reason != "notify-dlq-dev: RetriesExhausted" || r.NotificationsInDLQ[0].Age != time.Minute {
		t.Fatalf("in DLQ = %+v, want the dead order with its queue and reason", r.NotificationsInDLQ)
	}
	_, problems := perOrder(ns, kept, "notification")
	if len(problems) != 2 {
		t.Fatalf("problems %v: want the other and the missing order flagged", problems)
	}
}
