package orderevents_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/orderevents"
	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/tools/eventcontract"
)

func examples(t *testing.T) []eventcontract.Example {
	t.Helper()
	exs, err := eventcontract.Examples()
	if err != nil {
		t.Fatal(err)
	}
	return exs
}

// Every event the producer's code publishes decodes, and the typed event holds every
// member of it: encoding the decoded detail again gives the published detail back.
func TestDecodesEveryPublishedEvent(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex.Name, func(t *testing.T) {
			ev, err := orderevents.Parse(ex.Delivered)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, ex.Delivered)
			}
			if string(ev.DetailType) != ex.Event.DetailType || ev.Source != event.DefaultSource {
				t.Errorf("detail-type %q source %q, want %q %q", ev.DetailType, ev.Source, ex.Event.DetailType, event.DefaultSource)
			}
			if ev.DedupeKey() != event.ID(ex.Event.Detail.Data.OrderID, ex.Event.Detail.Data.Status) {
				t.Errorf("DedupeKey %q, want <orderId>:<STATUS>", ev.DedupeKey())
			}
			samples.RoundTrip(t, ex.Detail, &orderevents.Detail{})
		})
	}
}

func TestDecodeAcceptsTheSampleFiles(t *testing.T) {
	for _, name := range []string{"notify-confirmed", "notify-cancelled"} {
		t.Run(name, func(t *testing.T) {
			var e events.CloudWatchEvent // the same type as events.EventBridgeEvent
			raw, err := sample(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			if _, err := orderevents.Decode(e); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every mistake the schemas catch is a typed error that names where it is.
func TestDecodeRejectsBrokenDetails(t *testing.T) {
	broken, err := eventcontract.BrokenDetails()
	if err != nil {
		t.Fatal(err)
	}
	wantPath := map[string]string{
		"missing event id":              "/metadata/eventId",
		"float total":                   "/data/total",
		"total as string":               "/data/total",
		"payment token leaked":          "/data/paymentToken",
		"zero quantity":                 "/data/lines/0/quantity",
		"confirmed line without price":  "/data/lines/0/unitPrice",
		"cancelled without reason":      "/data/failureReason",
		"status of another detail-type": "/data/status",
		"missing data":                  "/data",
	}
	for _, b := range broken {
		t.Run(b.Name, func(t *testing.T) {
			_, err := orderevents.Decode(events.EventBridgeEvent{DetailType: b.DetailType, Detail: b.Detail})
			if b.Name == "other schema version" { // 0.9: another major
				var uv *orderevents.UnsupportedVersionError
				if !errors.As(err, &uv) || uv.Version != "0.9" || uv.Supported != "1.0" {
					t.Fatalf("err = %v, want *UnsupportedVersionError for 0.9", err)
				}
				return
			}
			var se *orderevents.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *SchemaError", err, err)
			}
			if want, ok := wantPath[b.Name]; ok && !slices.ContainsFunc(se.Violations, func(v orderevents.Violation) bool { return v.Path == want }) {
				t.Errorf("violations %+v, want one at %q", se.Violations, want)
			}
			if !strings.Contains(err.Error(), b.DetailType) {
				t.Errorf("error %q does not name the detail-type", err)
			}
		})
	}
}

// detailOf returns the created example's detail with change applied to its decoded form.
func detailOf(t *testing.T, name string, change func(m map[string]any)) json.RawMessage {
	t.Helper()
	for _, ex := range examples(t) {
		if ex.Name == name {
			var m map[string]any
			if err := json.Unmarshal(ex.Detail, &m); err != nil {
				t.Fatal(err)
			}
			change(m)
			raw, _ := json.Marshal(m)
			return raw
		}
	}
	t.Fatalf("no example %s", name)
	return nil
}

func TestDecodeVersions(t *testing.T) {
	meta := func(m map[string]any) map[string]any { return m["metadata"].(map[string]any) }
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	tests := []struct {
		name    string
		example string
		change  func(m map[string]any)
		want    string // "" ok, "version", "schema <path>"
	}{
		{"same version", "created", func(map[string]any) {}, ""},
		{"newer minor with a new member", "created", func(m map[string]any) {
			meta(m)["schemaVersion"] = "1.1"
			data(m)["channel"] = "web"
		}, ""},
		{"newer minor with a new failure reason", "cancelled-out-of-stock", func(m map[string]any) {
			meta(m)["schemaVersion"] = "1.4"
			data(m)["failureReason"] = "FRAUD_SUSPECTED"
		}, ""},
		{"newer minor still checks types", "created", func(m map[string]any) {
			meta(m)["schemaVersion"] = "1.1"
			data(m)["total"] = "0"
		}, "schema /data/total"},
		{"newer minor still checks required members", "created", func(m map[string]any) {
			meta(m)["schemaVersion"] = "1.1"
			delete(data(m), "customerId")
		}, "schema /data/customerId"},
		{"same version rejects a new member", "created", func(m map[string]any) { data(m)["channel"] = "web" }, "schema /data/channel"},
		{"next major", "created", func(m map[string]any) { meta(m)["schemaVersion"] = "2.0" }, "version"},
		{"not MAJOR.MINOR", "created", func(m map[string]any) { meta(m)["schemaVersion"] = "v1" }, "version"},
		{"missing version", "created", func(m map[string]any) { delete(meta(m), "schemaVersion") }, "schema /metadata/schemaVersion"},
		{"version not a string", "created", func(m map[string]any) { meta(m)["schemaVersion"] = 1.0 }, "schema /metadata/schemaVersion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := detailOf(t, tc.example, tc.change)
			var dt string
			for _, ex := range examples(t) {
				if ex.Name == tc.example {
					dt = ex.Event.DetailType
				}
			}
			ev, err := orderevents.Decode(events.EventBridgeEvent{DetailType: dt, Detail: raw})
			var uv *orderevents.UnsupportedVersionError
			var se *orderevents.SchemaError
			switch {
			case tc.want == "":
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if ev.Data.OrderID == "" {
					t.Fatal("decoded no order")
				}
			case tc.want == "version":
				if !errors.As(err, &uv) {
					t.Fatalf("err = %v, want *UnsupportedVersionError", err)
				}
			default:
				if !errors.As(err, &se) || "schema "+se.Path() != tc.want {
					t.Fatalf("err = %v, want %s", err, tc.want)
				}
			}
		})
	}
}

func TestDecodeUnknownDetailType(t *testing.T) {
	_, err := orderevents.Parse([]byte(`{"detail-type":"Order Shipped","source":"myapp.orders","detail":{}}`))
	var u *orderevents.UnknownDetailTypeError
	if !errors.As(err, &u) || u.DetailType != "Order Shipped" {
		t.Fatalf("err = %v, want *UnknownDetailTypeError", err)
	}
	var se *orderevents.SchemaError
	if _, err := orderevents.Parse([]byte(`[1,2]`)); !errors.As(err, &se) {
		t.Fatalf("Parse of a non-event = %v, want *SchemaError", err)
	}
	if _, err := orderevents.Decode(events.EventBridgeEvent{DetailType: "Order Created", Detail: json.RawMessage(`"x"`)}); !errors.As(err, &se) {
		t.Fatalf("a detail that is not an object = %v, want *SchemaError", err)
	}
}

// The package's names are the contract's: the detail-types are the schemas' titles and
// the producer's, the statuses and failure reasons are the schemas' enums.
func TestNamesMatchTheSchemas(t *testing.T) {
	var titles []string
	statuses := map[string]bool{}
	reasons := map[string]bool{}
	for _, n := range schemas.Names() {
		raw, err := schemas.Read(n)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Title      string `json:"title"`
			Properties struct {
				Data struct {
					Properties struct {
						Status        struct{ Enum []string } `json:"status"`
						FailureReason struct{ Enum []string } `json:"failureReason"`
					} `json:"properties"`
				} `json:"data"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		titles = append(titles, s.Title)
		for _, v := range s.Properties.Data.Properties.Status.Enum {
			statuses[v] = true
		}
		for _, v := range s.Properties.Data.Properties.FailureReason.Enum {
			reasons[v] = true
		}
	}
	var dts []string
	for _, dt := range orderevents.DetailTypes() {
		dts = append(dts, string(dt))
	}
	slices.Sort(titles)
	slices.Sort(dts)
	producer := slices.Sorted(slices.Values(event.DetailTypes))
	if !slices.Equal(dts, titles) || !slices.Equal(dts, producer) {
		t.Errorf("detail-types %v; schema titles %v; producer %v", dts, titles, producer)
	}
	for _, s := range []orderevents.Status{orderevents.StatusPending, orderevents.StatusConfirmed, orderevents.StatusCancelled, orderevents.StatusRejected} {
		if !statuses[string(s)] {
			t.Errorf("status %s is in no schema", s)
		}
		delete(statuses, string(s))
	}
	for _, r := range []orderevents.FailureReason{orderevents.ReasonOutOfStock, orderevents.ReasonPaymentDeclined,
		orderevents.ReasonProcessingFailed, orderevents.ReasonUnknownSKU, orderevents.ReasonInvalidOrder} {
		if !reasons[string(r)] {
			t.Errorf("failure reason %s is in no schema", r)
		}
		delete(reasons, string(r))
	}
	if len(statuses)+len(reasons) > 0 {
		t.Errorf("schema values without a constant: statuses %v, reasons %v", statuses, reasons)
	}
	if orderevents.DefaultSource != event.DefaultSource {
		t.Errorf("DefaultSource %q, producer %q", orderevents.DefaultSource, event.DefaultSource)
	}
}

// A consumer importing the package gets aws-lambda-go's events types and the schemas,
// and nothing else of orderflow or of the AWS SDK.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/orderflow/orderflow/events/orderevents").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{"github.com/orderflow/orderflow/events/orderevents", "github.com/orderflow/orderflow/events/schemas",
		"github.com/aws/aws-lambda-go/events"}
	for _, dep := range strings.Fields(string(out)) {
		if (strings.HasPrefix(dep, "github.com/orderflow/") || strings.HasPrefix(dep, "github.com/aws/")) && !slices.Contains(allowed, dep) {
			t.Errorf("orderevents depends on %s", dep)
		}
	}
}
