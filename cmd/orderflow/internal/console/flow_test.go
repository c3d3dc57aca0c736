package console

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/tools/template"
)

func loadTemplate(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := template.Load(filepath.Join(repoRoot(), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func edge(f *Flow, from, to string) *Edge {
	for i, e := range f.Edges {
		if e.From == from && e.To == to {
			return &f.Edges[i]
		}
	}
	return nil
}

// TestFlowFromTemplate checks the picture of today's template.yaml: the resources on the
// way of an order, their edges and kinds, and nothing else.
func TestFlowFromTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	f, err := BuildFlow(tpl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to string
		failure  bool
	}{
		{"OrdersApi", "IngestFunction", false},
		{"IngestFunction", "OrdersTable", false},
		{"OrdersBus", "OrderCreatedRule", false},
		{"OrderCreatedRule", "OrderProcessingStateMachine", false},
		{"OrderEventsToStreamRule", "OrderStream", false},
		{"OrderStream", "AnalyticsFunction", false},
		{"OrderOutcomeRule", "NotifyFunction", false},
		{"OrderProcessingStateMachine", "ProcessFunction", false},
		{"OrderProcessingStateMachine", "InventoryCommandQueue", false},
		{"InventoryCommandQueue", "InventoryFunction", false},
		{"AnalyticsFunction", "DataLake", false},
		{"InventoryCommandQueue", "InventoryCommandDlq", true},
		{"OrderCreatedRule", "EventTargetsDlq", true},
		{"NotifyFunction", "NotifyDlq", true},
	} {
		e := edge(f, tc.from, tc.to)
		if e == nil {
			t.Errorf("no edge %s -> %s", tc.from, tc.to)
			continue
		}
		if e.Failure != tc.failure {
			t.Errorf("edge %s -> %s: failure %v, want %v", tc.from, tc.to, e.Failure, tc.failure)
		}
	}
	// The analytics mapping's failed batches go to the data lake (its aws/lambda/), the
	// function's own table: one edge, labelled.
	if e := edge(f, "AnalyticsFunction", "DataLake"); e == nil || !strings.Contains(e.Label, "on failure") {
		t.Errorf("analytics -> data lake edge %+v, want it labelled on failure", e)
	}
	if e := edge(f, "OrderProcessingStateMachine", "InventoryCommandQueue"); e != nil && !strings.Contains(e.Label, "ReserveInventory") {
		t.Errorf("state machine -> inventory queue is labelled %q, want its states", e.Label)
	}
	for id, kind := range map[string]string{"InventoryCommandDlq": KindDLQ, "InventoryCommandQueue": KindQueue,
		"OrderProcessingStateMachine": KindStateMachine, "DataLake": KindLake} {
		if n := f.Node(id); n == nil || n.Kind != kind {
			t.Errorf("node %s: %+v, want kind %s", id, n, kind)
		}
	}
	for _, id := range []string{"EventTargetsRole", "IngestLogGroup", "Observability", "OrdersArchive"} {
		if f.Node(id) != nil {
			t.Errorf("%s is drawn; it is not on the way of an order", id)
		}
	}
	if sm := f.Node("OrderProcessingStateMachine"); !strings.HasPrefix(sm.Detail, "ValidateAndPrice → ReserveInventory") {
		t.Errorf("state machine detail %q, want its happy path", sm.Detail)
	}
	if api, ingest := f.Node("OrdersApi"), f.Node("IngestFunction"); api.Col != 0 || ingest.Col != 1 {
		t.Errorf("API in column %d, ingest in %d; want 0 and 1", api.Col, ingest.Col)
	}
}

// TestFlowPicksUpAPublisher adds what the transactional-outbox design adds (a function on
// the orders table's stream that publishes to the bus) and expects it drawn, unaided.
func TestFlowPicksUpAPublisher(t *testing.T) {
	tpl := loadTemplate(t)
	tpl.Resources["PublisherFunction"] = template.Resource{Type: "AWS::Serverless::Function", Properties: map[string]any{
		"FunctionName": map[string]any{"Fn::Sub": "orderflow-${Stage}-publisher"},
		"Environment": map[string]any{"Variables": map[string]any{
			"EVENT_BUS_NAME": map[string]any{"Ref": "OrdersBus"}}},
	}}
	tpl.Resources["OrdersStreamMapping"] = template.Resource{Type: "AWS::Lambda::EventSourceMapping", Properties: map[string]any{
		"EventSourceArn": map[string]any{"Fn::GetAtt": []any{"OrdersTable", "StreamArn"}},
		"FunctionName":   map[string]any{"Ref": "PublisherFunction"},
	}}
	f, err := BuildFlow(tpl)
	if err != nil {
		t.Fatal(err)
	}
	if edge(f, "OrdersTable", "PublisherFunction") == nil || edge(f, "PublisherFunction", "OrdersBus") == nil {
		t.Fatalf("the publisher is not drawn between the orders table and the bus: %+v", f.Edges)
	}
	if p, o := f.Node("PublisherFunction"), f.Node("OrdersTable"); p.Col <= o.Col {
		t.Errorf("publisher in column %d, orders table in %d: want it after the table", p.Col, o.Col)
	}
}

// TestSummarizeRedactsTokens: a task's parameters are shown without the task token.
func TestSummarizeRedactsTokens(t *testing.T) {
	got := summarize(`{"QueueUrl":"http://q","MessageBody":{"command":"reserve","orderId":"o-1","correlationId":"o-1","taskToken":"AAAAsecretTOKEN=="}}`)
	if strings.Contains(got, "secretTOKEN") || !strings.Contains(got, `"taskToken":"[REDACTED]"`) || !strings.Contains(got, `"command":"reserve"`) {
		t.Errorf("summarize = %s", got)
	}
	if strings.Contains(got, "QueueUrl") || strings.Contains(got, "correlationId") {
		t.Errorf("summarize kept the envelope: %s", got)
	}
}

// The DLQ page lists the S3 on-failure destinations of the template's stream mappings:
// the publisher's stream-failures bucket and the data lake (the analytics mapping's), by
// physical name, once each.
func TestFailureBucketsFromTemplate(t *testing.T) {
	c, err := New(Options{Template: loadTemplate(t), Stage: "dev", LakeBucket: "lake-bucket",
		Names: map[string]string{"StreamFailureBucket": "failures-bucket"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.failureBuckets(); !slices.Equal(got, []string{"failures-bucket", "lake-bucket"}) &&
		!slices.Equal(got, []string{"lake-bucket", "failures-bucket"}) {
		t.Errorf("failure buckets %v, want the stream-failures bucket and the data lake", got)
	}
}
