package capacity

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// repoInput is the plan's input from the repository's own template, state machine,
// quota and price tables.
func repoInput(t *testing.T, params map[string]string) Input {
	t.Helper()
	in, err := LoadInput("../../..", params)
	if err != nil {
		t.Fatal(err)
	}
	in.Region = "us-east-1"
	return in
}

func names(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Service+" "+r.Limit)
	}
	return out
}

func row(t *testing.T, p Plan, service, limit string) Row {
	t.Helper()
	for _, r := range p.Rows {
		if r.Service == service && r.Limit == limit {
			return r
		}
	}
	t.Fatalf("no row %s %s in %v", service, limit, names(p.Rows))
	return Row{}
}

func quotaValue(t *testing.T, q Quotas, id, region string) float64 {
	t.Helper()
	e, ok := q.Find(id)
	if !ok {
		t.Fatalf("quota table has no %s", id)
	}
	v, _, ok := e.Value(region)
	if !ok {
		t.Fatalf("quota %s has no value for %s", id, region)
	}
	return v
}

// The limits a rate reaches follow from the quota table and the template: nothing at
// 10 orders/s; the admission throttle at 100; Step Functions Standard's refill rates by
// 1,000 (its 300 StartExecution/s first of the three) but not its design point; past
// 10,000 the design point, EventBridge and the account's API throttle too.
func TestBindingLimitFollowsRate(t *testing.T) {
	in := repoInput(t, nil)
	sfnStart := quotaValue(t, in.Quotas, "sfn.start", "us-east-1")
	tests := []struct {
		rate      float64
		bind, not []string
	}{
		{10, nil, []string{"API Gateway route throttle (admission control)"}},
		{100, []string{"API Gateway route throttle (admission control)"}, []string{"Step Functions StartExecution (Standard, refill rate)"}},
		{1000, []string{"Step Functions StartExecution (Standard, refill rate)", "Step Functions state transitions (Standard, refill rate)", "Step Functions SendTaskSuccess (refill rate)"},
			[]string{"Step Functions Standard design point", "EventBridge PutEvents (account)", "Lambda concurrent executions"}},
		{10000, []string{"Step Functions Standard design point", "EventBridge PutEvents (account)", "EventBridge rule invocations (account)",
			"API Gateway account throttle (all APIs)", "Lambda concurrent executions"}, nil},
	}
	for _, tt := range tests {
		in.Rate = tt.rate
		p, err := Make(in)
		if err != nil {
			t.Fatal(err)
		}
		got := names(p.Binding())
		if tt.rate == 10 && len(got) > 0 {
			t.Errorf("10 orders/s: %v bind, want none", got)
		}
		for _, n := range tt.bind {
			if !slices.Contains(got, n) {
				t.Errorf("%v orders/s: %s does not bind; binding: %v", tt.rate, n, got)
			}
		}
		for _, n := range tt.not {
			if slices.Contains(got, n) {
				t.Errorf("%v orders/s: %s binds", tt.rate, n)
			}
		}
		// The rows run from the lowest binding rate up, and each binding rate is the
		// quota over the load of one order.
		for i, r := range p.Rows {
			if i > 0 && r.BindsAt < p.Rows[i-1].BindsAt {
				t.Errorf("rows out of order at %s", r.Limit)
			}
			if r.Quota > 0 && r.PerOrder > 0 && math.Abs(r.BindsAt-r.Quota/r.PerOrder) > 1e-9 {
				t.Errorf("%s binds at %v, want %v", r.Limit, r.BindsAt, r.Quota/r.PerOrder)
			}
		}
		if r := row(t, p, "Step Functions", "StartExecution (Standard, refill rate)"); r.Quota != sfnStart || r.BindsAt != sfnStart/in.Mix.Starts {
			t.Errorf("StartExecution row %+v, want quota %v from the table", r, sfnStart)
		}
	}

	// Computed, not written down: lower StartExecution in the table and it binds first.
	for i, q := range in.Quotas.Quotas {
		if q.ID == "sfn.start" {
			in.Quotas.Quotas[i].Values = map[string]float64{"*": 5}
		}
	}
	in.Rate = 10
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := p.First(); f.Limit != "StartExecution (Standard, refill rate)" || f.BindsAt != 5 {
		t.Errorf("first limit %s at %v, want StartExecution at 5", f.Limit, f.BindsAt)
	}
	if got := names(p.Binding()); !slices.Equal(got, []string{"Step Functions StartExecution (Standard, refill rate)"}) {
		t.Errorf("binding at 10/s with StartExecution 5/s: %v", got)
	}
}

// A region the table lists gets its own value, another region "*", and a quota listed
// only for some regions its smallest value, marked as a lower bound.
func TestPlanRegion(t *testing.T) {
	in := repoInput(t, nil)
	in.Rate, in.Region = 200, "eu-central-1"
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	if r := row(t, p, "Step Functions", "StartExecution (Standard, refill rate)"); r.Quota != quotaValue(t, in.Quotas, "sfn.start", "eu-central-1") || !r.Binds() == (200 >= r.Quota) {
		t.Errorf("StartExecution in eu-central-1: %+v", r)
	}
	if r := row(t, p, "EventBridge", "rule invocations (account)"); r.Quota != 4500 || r.From != "default" {
		t.Errorf("invocations in eu-central-1: %+v, want 4,500 from the table", r)
	}
	if r := row(t, p, "EventBridge", "PutEvents (account)"); !strings.Contains(r.From, "lower bound") || r.Quota != 2400 {
		t.Errorf("PutEvents in eu-central-1: %+v, want the smallest listed value as a lower bound", r)
	}
}

// The hot SKU's stock item is one partition: 2 WCU per reservation with
// InventoryStrategy=transaction (1 with conditional, the default) against the per-item
// 1,000 WCU/s, so it binds at 500 (1,000) orders/s on the SKU whatever the total.
func TestHotSKUBindsPerItemCap(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		wcu      float64
	}{{"transaction", 2}, {"conditional", 1}} {
		t.Run(tc.strategy, func(t *testing.T) { hotSKUBindsPerItemCap(t, tc.strategy, tc.wcu) })
	}
}

func hotSKUBindsPerItemCap(t *testing.T, strategy string, wcu float64) {
	in := repoInput(t, map[string]string{"InventoryStrategy": strategy})
	item := quotaValue(t, in.Quotas, "dynamodb.item.wcu", "us-east-1")
	const stock = "stock item of the hot SKU"
	in.Rate = 1000
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Rows {
		if r.Limit == stock {
			t.Errorf("no hot SKU, yet a stock item row: %+v", r)
		}
	}
	for _, tt := range []struct{ rate, share float64 }{{1000, 0.5}, {1000, 0.1}, {100, 1}, {2000, 0.25}} {
		in.Rate, in.HotShare = tt.rate, tt.share
		p, err := Make(in)
		if err != nil {
			t.Fatal(err)
		}
		r := row(t, p, "DynamoDB", stock)
		want := item / (wcu * tt.share)
		if math.Abs(r.BindsAt-want) > 1e-9 {
			t.Errorf("rate %v share %v: stock item binds at %v, want %v", tt.rate, tt.share, r.BindsAt, want)
		}
		if r.Binds() != (tt.rate >= want) {
			t.Errorf("rate %v share %v: binds %v, load %v of %v", tt.rate, tt.share, r.Binds(), r.Load, r.Quota)
		}
		if r.Binds() && (r.Need.Kind != NeedRedesign || !strings.Contains(r.Need.What, "hot SKU")) {
			t.Errorf("a binding stock item needs a redesign, got %+v", r.Need)
		}
	}
	in.Rate, in.HotShare = 2000/wcu, 0.5 // the item's whole 1,000 WCU/s
	p, err = Make(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(p.Binding()), "DynamoDB "+stock) {
		t.Errorf("half of %v orders/s on one SKU: the stock item does not bind: %v", in.Rate, names(p.Binding()))
	}
}

// The template's settings are read for the parameters given: shards, on-demand, warm
// throughput, mapping concurrency, route throttle change the quota of their rows.
func TestPlanTemplateSettings(t *testing.T) {
	def := repoInput(t, nil)
	if def.Settings.Shards != 2 || def.Settings.OnDemand || def.Settings.InventoryConcurrency != 10 || def.Settings.RouteRate != 100 ||
		def.Settings.AnalyticsParallelization != 1 || len(def.Settings.WarmWrite) != 0 || def.Settings.Memory["analytics"] != 512 {
		t.Errorf("template defaults read as %+v", def.Settings)
	}
	in := repoInput(t, map[string]string{"OrderStreamShards": "26", "InventoryMaxConcurrency": "300", "ApiThrottleRate": "13000",
		"TableWarmWriteUnits": "100000", "TableWarmReadUnits": "30000", "AnalyticsParallelization": "10"})
	in.Rate = 10000
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		service, limit string
		quota          float64
	}{
		{"Kinesis", "order stream writes", 26000},
		{"Lambda", "inventory mapping concurrency", 300},
		{"API Gateway", "route throttle (admission control)", 13000},
		{"DynamoDB", "metrics table warm writes", 100000},
		{"DynamoDB", "orders table warm reads", 30000},
		{"Lambda", "analytics consumers (shards × parallelization)", 260},
	} {
		if r := row(t, p, c.service, c.limit); r.Quota != c.quota || r.Binds() {
			t.Errorf("%s %s: quota %v binds %v, want %v and not binding", c.service, c.limit, r.Quota, r.Binds(), c.quota)
		}
	}
	od := repoInput(t, map[string]string{"OrderStreamMode": "ON_DEMAND"})
	if !od.Settings.OnDemand {
		t.Error("OrderStreamMode=ON_DEMAND not read")
	}
}

// What to do names each parameter once, at the largest value a row asks for.
func TestNeedsOncePerParameter(t *testing.T) {
	in := repoInput(t, nil)
	in.Rate = 1000
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	var warm []string
	for _, n := range p.Needs() {
		if strings.HasPrefix(n.What, "TableWarmWriteUnits=") {
			warm = append(warm, n.What)
		}
	}
	metrics := row(t, p, "DynamoDB", "metrics table warm writes")
	if want := "TableWarmWriteUnits=" + num(roundUp(metrics.Load*Headroom)); !slices.Equal(warm, []string{want}) {
		t.Errorf("warm-write needs %v, want only %s (the metrics table's, the largest)", warm, want)
	}
}

func TestMakeRejects(t *testing.T) {
	in := repoInput(t, nil)
	for _, c := range []struct {
		rate, share float64
	}{{0, 0}, {-1, 0}, {10, -0.1}, {10, 1.5}} {
		in.Rate, in.HotShare = c.rate, c.share
		if _, err := Make(in); err == nil {
			t.Errorf("rate %v share %v accepted", c.rate, c.share)
		}
	}
	in.Rate, in.HotShare = 10, 0
	in.Quotas.Quotas = in.Quotas.Quotas[1:]
	if _, err := Make(in); err == nil || !strings.Contains(err.Error(), "apigw.account") {
		t.Errorf("a quota missing from the table: %v", err)
	}
}

// The cost at a rate is the per-million cost of the same model times the month's orders.
func TestPlanCost(t *testing.T) {
	in := repoInput(t, nil)
	in.Rate = 100
	p, err := Make(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.MonthlyOrders != 100*730*3600 {
		t.Errorf("monthly orders %v", p.MonthlyOrders)
	}
	if got := Total(p.Lines) * p.MonthlyOrders / 1e6; math.Abs(got-p.Monthly) > 1e-6 || p.Monthly <= 0 {
		t.Errorf("monthly $%v, lines say $%v", p.Monthly, got)
	}
	in.Rate = 1000
	q, _ := Make(in)
	if q.Monthly <= 9*p.Monthly {
		t.Errorf("ten times the rate costs $%v, against $%v", q.Monthly, p.Monthly)
	}
}

func TestLoadQuotas(t *testing.T) {
	q, err := LoadQuotas("../../../" + QuotasPath)
	if err != nil {
		t.Fatal(err)
	}
	if q.Date == "" || len(q.Quotas) < 10 {
		t.Errorf("committed quota table incomplete: %+v", q)
	}
	for _, e := range q.Quotas {
		if len(e.Values) > 0 && !strings.HasPrefix(e.Source, "https://docs.aws.amazon.com/") {
			t.Errorf("%s: source %q is not an AWS documentation page", e.ID, e.Source)
		}
	}
}
