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

// An order the API stored but refused (publish failed, cancelled PROCESSING_FAILED, 503)
// owes no event; an announced order that was cancelled the same way does.
func TestAnnouncedSkipsOrdersRefusedAtTheAPI(t *testing.T) {
	orders := []*orderRow{
		{id: "refused", status: "CANCELLED", reason: "PROCESSING_FAILED"},
		{id: "announced", status: "CANCELLED", reason: "PROCESSING_FAILED"},
		{id: "declined", status: "CANCELLED", reason: "PAYMENT_DECLINED"},
	}
	evs := []captured{{EventID: "announced:PENDING", OrderID: "announced", Status: "PENDING"}}
	r := &Report{}
	got := announced(orders, evs, r)
	if r.RefusedAtAPI != 1 || len(got) != 2 || got[0].id != "announced" || got[1].id != "declined" {
		t.Fatalf("refused %d, kept %v", r.RefusedAtAPI, got)
	}
	if _, problems := perOrder(evs, got, "terminal event"); len(problems) != 2 {
		t.Fatalf("problems %v: want the announced and the declined order flagged for their missing terminal events", problems)
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
