package template

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// repoRoot is where template.yaml, infra/ and the Makefile live.
const repoRoot = "../.."

// TestRepositoryTemplates runs every check over template.yaml and each nested stack. The
// build-target check reads the Makefile (and mk/*.mk) at test time.
func TestRepositoryTemplates(t *testing.T) {
	nested, err := filepath.Glob(filepath.Join(repoRoot, "infra", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range append([]string{filepath.Join(repoRoot, "template.yaml")}, nested...) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tpl, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range Run(tpl, Checks(repoRoot)) {
				t.Error(p)
			}
		})
	}
}

func loadRepo(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestRepositoryContracts pins what docs/CONTRACTS.md names: the six functions, their
// environment variables, the table keys and the HTTP routes.
func TestRepositoryContracts(t *testing.T) {
	tpl := loadRepo(t)
	env := map[string][]string{
		"IngestFunction":    {"ORDERS_TABLE", "IDEMPOTENCY_TABLE"},
		"ProcessFunction":   {"ORDERS_TABLE", "INVENTORY_TABLE", "PAYMENT_LIMIT"},
		"PublisherFunction": {"EVENT_BUS_NAME", "EVENT_SOURCE"},
		"InventoryFunction": {"INVENTORY_TABLE"},
		"NotifyFunction":    {"TOPIC_ARN", "IDEMPOTENCY_TABLE"},
		"AnalyticsFunction": {"METRICS_TABLE", "DATA_LAKE_BUCKET"},
	}
	globalEnv := map[string]any{}
	if f, ok := tpl.Globals["Function"].(map[string]any); ok {
		e, _ := f["Environment"].(map[string]any)
		globalEnv, _ = e["Variables"].(map[string]any)
	}
	if got := tpl.IDs("AWS::Serverless::Function"); len(got) != len(env) {
		t.Errorf("functions %v, want the %d of CONTRACTS.md", got, len(env))
	}
	for fid, vars := range env {
		t.Run(fid, func(t *testing.T) {
			r, ok := tpl.Resources[fid]
			if !ok {
				t.Fatalf("no resource %s", fid)
			}
			p := r.Properties
			if p["CodeUri"] != "." || p["Handler"] != "bootstrap" || r.Metadata["BuildMethod"] != "makefile" {
				t.Errorf("want CodeUri ., Handler bootstrap, BuildMethod makefile; got %v %v %v", p["CodeUri"], p["Handler"], r.Metadata["BuildMethod"])
			}
			e, _ := p["Environment"].(map[string]any)
			fenv, _ := e["Variables"].(map[string]any)
			for _, v := range vars {
				if fenv[v] == nil && globalEnv[v] == nil {
					t.Errorf("environment variable %s not set", v)
				}
			}
		})
	}

	keys := map[string]string{"OrdersTable": "order_id", "InventoryTable": "pk", "IdempotencyTable": "pk", "MetricsTable": "pk"}
	for id, want := range keys {
		t.Run(id, func(t *testing.T) {
			p := tpl.Resources[id].Properties
			ks, _ := p["KeySchema"].([]any)
			if len(ks) != 1 {
				t.Fatalf("KeySchema %v, want one HASH key", ks)
			}
			if k, _ := ks[0].(map[string]any); k["AttributeName"] != want || k["KeyType"] != "HASH" {
				t.Errorf("key %v, want %s HASH", k, want)
			}
			if p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("BillingMode %v", p["BillingMode"])
			}
		})
	}

	t.Run("customer-index", func(t *testing.T) {
		gsis, _ := tpl.Resources["OrdersTable"].Properties["GlobalSecondaryIndexes"].([]any)
		if len(gsis) != 1 {
			t.Fatalf("GSIs %v", gsis)
		}
		g, _ := gsis[0].(map[string]any)
		want := []any{
			map[string]any{"AttributeName": "customer_id", "KeyType": "HASH"},
			map[string]any{"AttributeName": "created_at", "KeyType": "RANGE"},
		}
		if g["IndexName"] != "customer-index" || !reflect.DeepEqual(g["KeySchema"], want) {
			t.Errorf("GSI %v", g)
		}
	})

	t.Run("idempotency TTL", func(t *testing.T) {
		ttl, _ := tpl.Resources["IdempotencyTable"].Properties["TimeToLiveSpecification"].(map[string]any)
		if ttl["AttributeName"] != "expires_at" || ttl["Enabled"] != true {
			t.Errorf("TTL %v", ttl)
		}
	})

	t.Run("routes", func(t *testing.T) {
		want := []Route{
			{API: "OrdersApi", Method: "ANY", Path: "$default", Function: "IngestFunction"},
			{API: "OrdersApi", Method: "GET", Path: "/orders", Function: "IngestFunction"},
			{API: "OrdersApi", Method: "POST", Path: "/orders", Function: "IngestFunction"},
			{API: "OrdersApi", Method: "GET", Path: "/orders/{orderId}", Function: "IngestFunction"},
		}
		if got := tpl.HTTPRoutes(); !reflect.DeepEqual(got, want) {
			t.Errorf("routes %+v, want %+v", got, want)
		}
	})
}

// TestOnlyThePublisherPublishes pins the outbox: the orders table streams both images of
// every change to the publisher, and no other function may put events on the bus, so no
// handler can write state and then publish in a second call (IAM, which the local stack
// does not enforce, is where a second publisher would show).
func TestOnlyThePublisherPublishes(t *testing.T) {
	tpl := loadRepo(t)
	var publishers []string
	for _, id := range tpl.IDs("AWS::Serverless::Function", "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::IAM::Policy") {
		if tpl.allows(id, "events:PutEvents", "OrdersBus") {
			publishers = append(publishers, id)
		}
	}
	if !reflect.DeepEqual(publishers, []string{"PublisherFunction"}) {
		t.Errorf("roles allowed events:PutEvents on the orders bus: %v, want only PublisherFunction", publishers)
	}
	spec, _ := tpl.Resources["OrdersTable"].Properties["StreamSpecification"].(map[string]any)
	if spec["StreamViewType"] != "NEW_AND_OLD_IMAGES" {
		t.Errorf("OrdersTable StreamSpecification %v, want NEW_AND_OLD_IMAGES (an event is a change of status)", spec)
	}
	var fed []string
	for _, m := range tpl.mappings() {
		if m.kind == "dynamodb" && m.source == "OrdersTable" {
			if fid, ok := Target(m.props["FunctionName"]); ok {
				fed = append(fed, fid)
			}
		}
	}
	if !reflect.DeepEqual(fed, []string{"PublisherFunction"}) {
		t.Errorf("functions mapped to the orders table's stream: %v, want PublisherFunction", fed)
	}
}

// TestRepositoryNestedStacks checks that each nested application's Location exists and that
// the parameters passed are exactly those the nested template declares.
func TestRepositoryNestedStacks(t *testing.T) {
	tpl := loadRepo(t)
	apps := tpl.IDs("AWS::Serverless::Application")
	if len(apps) == 0 {
		t.Fatal("no nested stacks")
	}
	for _, id := range apps {
		t.Run(id, func(t *testing.T) {
			p := tpl.Resources[id].Properties
			loc, _ := p["Location"].(string)
			if _, err := os.Stat(filepath.Join(tpl.Dir, loc)); err != nil {
				t.Fatal(err)
			}
			nested, err := Load(filepath.Join(tpl.Dir, loc))
			if err != nil {
				t.Fatal(err)
			}
			passed, _ := p["Parameters"].(map[string]any)
			for name := range passed {
				if _, ok := nested.Parameters[name]; !ok {
					t.Errorf("parameter %s passed but not declared by %s", name, loc)
				}
			}
			var missing []string
			for name, np := range nested.Parameters {
				if _, ok := passed[name]; !ok && np.Default == nil {
					missing = append(missing, name)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("%s requires %v, not passed", loc, missing)
			}
			// Outputs read with !GetAtt <id>.Outputs.X must exist in the nested template.
			for _, attr := range getAtts(tpl, id) {
				if len(attr) > 8 && attr[:8] == "Outputs." {
					if _, ok := nested.Outputs[attr[8:]]; !ok {
						t.Errorf("%s.%s is read but %s has no such output", id, attr, loc)
					}
				}
			}
		})
	}
}

// getAtts returns the attributes of resource id read anywhere in the template, through
// Fn::GetAtt or ${id.Attr} in Fn::Sub.
func getAtts(tpl *Template, id string) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 && ga[0] == id {
				if s, ok := ga[1].(string); ok {
					out = append(out, s)
				}
			}
			if s, ok := x["Fn::Sub"].(string); ok {
				for _, n := range SubNames(s) {
					if len(n) > len(id)+1 && n[:len(id)+1] == id+"." {
						out = append(out, n[len(id)+1:])
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, r := range tpl.Resources {
		walk(r.Properties)
	}
	for _, o := range tpl.Outputs {
		walk(o.Value)
	}
	return out
}

// TestRepositoryCapacityKnobs: template.yaml declares every capacity knob `orderflow plan`
// tells a user to set (README "Scaling"), and the capacity-knobs check (in
// TestRepositoryTemplates) then holds each to its property.
func TestRepositoryCapacityKnobs(t *testing.T) {
	tpl := loadRepo(t)
	for _, k := range append(Knobs, Knob{Param: StreamModeKnob}) {
		if _, ok := tpl.Parameters[k.Param]; !ok {
			t.Errorf("template.yaml has no parameter %s", k.Param)
		}
	}
	for _, k := range SwitchKnobs {
		if _, ok := tpl.Parameters[k.Param]; !ok {
			t.Errorf("template.yaml has no parameter %s", k.Param)
		}
	}
}
