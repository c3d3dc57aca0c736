package capacity

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Latency assumptions for durations on AWS (not on the emulator): one AWS call from a
// function (DynamoDB answers in single-digit milliseconds) and a function's own work per
// invocation.
const (
	CallMs = 10.0
	OwnMs  = 5.0
	// Headroom is what a request or a setting adds above the load it must carry.
	Headroom = 1.25
	// KinesisRecordKB is the size of one order event on the stream, rounded up.
	KinesisRecordKB = 1.0
	// OnDemandStartRecords is an on-demand stream's starting write capacity (4 MB/s) in
	// records of KinesisRecordKB.
	OnDemandStartRecords = 4000
	// SecondsPerMonth is AWS's billing month (730 hours).
	SecondsPerMonth = HoursPerMonth * 3600
)

// ScaleRates are the rates of the README's "Scaling" table and of `make bench`'s
// "Scale on paper" section.
var ScaleRates = []float64{10, 100, 1000, 10000}

// Row is one limit set against the load of the plan's rate.
type Row struct {
	Service string
	Limit   string
	Unit    string
	// PerOrder is the load of one order per second, in Unit.
	PerOrder float64
	Load     float64
	// Quota is the limit's value in Unit; 0 when no value is known.
	Quota float64
	// From tells where Quota comes from: "default", "template", "template, lower bound" ...
	From string
	// BindsAt is the rate (orders/s) whose load reaches the quota; +Inf when none does.
	BindsAt float64
	// Need is what to request or set before this rate (zero when nothing).
	Need   Need
	Source string
}

// Kinds of Need.
const (
	NeedQuota    = "request"  // a Service Quotas increase
	NeedTemplate = "set"      // a template parameter
	NeedRedesign = "redesign" // no quota or setting goes further
)

// Need is one thing to do before a rate: its kind and what.
type Need struct {
	Kind string
	What string
}

func (n Need) String() string {
	if n.Kind == "" {
		return ""
	}
	return n.Kind + " " + n.What
}

// Use is the load as a share of the quota; 0 when the quota is unknown.
func (r Row) Use() float64 {
	if r.Quota <= 0 {
		return 0
	}
	return r.Load / r.Quota
}

// Binds reports whether the load reaches the quota at the plan's rate.
func (r Row) Binds() bool { return r.Quota > 0 && r.Load >= r.Quota }

// Plan is the load of a rate against every limit, and its cost.
type Plan struct {
	Rate     float64
	Region   string
	HotShare float64
	Rows     []Row // by BindsAt, lowest first
	// MonthlyOrders at Rate; PerMillion and Monthly are the cost lines and total.
	MonthlyOrders float64
	Lines         []CostLine
	Monthly       float64
	QuotaDate     string
	PriceDate     string
	PriceRegion   string
}

// First returns the limit that binds at the lowest rate; false when no quota is known.
func (p Plan) First() (Row, bool) {
	if len(p.Rows) == 0 || math.IsInf(p.Rows[0].BindsAt, 1) {
		return Row{}, false
	}
	return p.Rows[0], true
}

// Binding returns the limits the rate reaches.
func (p Plan) Binding() []Row {
	var out []Row
	for _, r := range p.Rows {
		if r.Binds() {
			out = append(out, r)
		}
	}
	return out
}

// Input is what a plan is made from.
type Input struct {
	Rate     float64
	Region   string
	HotShare float64
	Mix      Mix
	Settings Settings
	Quotas   Quotas
	Prices   Prices
}

// duration is one invocation's duration on AWS in seconds.
func (f Function) duration() float64 { return (f.CallsPerInvoke*CallMs + OwnMs) / 1000 }

func (m Mix) function(name string) Function {
	for _, f := range m.Functions {
		if f.Name == name {
			return f
		}
	}
	return Function{Name: name}
}

// Make sets the load of in.Rate against every limit of in.Quotas and the template's
// settings, and prices it.
func Make(in Input) (Plan, error) {
	if in.Rate <= 0 {
		return Plan{}, fmt.Errorf("rate %v: must be above 0 orders/s", in.Rate)
	}
	if in.HotShare < 0 || in.HotShare > 1 {
		return Plan{}, fmt.Errorf("hot-SKU share %v: must be between 0 and 1", in.HotShare)
	}
	p := Plan{Rate: in.Rate, Region: in.Region, HotShare: in.HotShare, QuotaDate: in.Quotas.Date,
		PriceDate: in.Prices.Date, PriceRegion: in.Prices.Region}
	m, s := in.Mix, in.Settings
	var errs []string
	quota := func(id string) (Quota, float64, string) {
		q, ok := in.Quotas.Find(id)
		if !ok {
			errs = append(errs, id)
			return q, 0, ""
		}
		v, lower, known := q.Value(in.Region)
		from := "default"
		switch {
		case !known:
			from = "not found"
		case lower:
			from = "default, lower bound (region not in the table)"
		}
		return q, v, from
	}
	add := func(r Row) {
		r.Load = r.PerOrder * in.Rate
		r.BindsAt = math.Inf(1)
		if r.Quota > 0 && r.PerOrder > 0 {
			r.BindsAt = r.Quota / r.PerOrder
		}
		p.Rows = append(p.Rows, r)
	}
	// A quota from the table; need says what to do when the load reaches 80% of it.
	fromTable := func(id string, perOrder float64, need func(load, quota float64) Need) {
		q, v, from := quota(id)
		r := Row{Service: q.Service, Limit: q.Limit, Unit: q.Unit, PerOrder: perOrder, Quota: v, From: from, Source: q.Source}
		if load := perOrder * in.Rate; v > 0 && load >= 0.8*v {
			switch {
			case need != nil:
				r.Need = need(load, v)
			case q.Adjustable:
				r.Need = Need{NeedQuota, fmt.Sprintf("%s %s %s", q.Service, q.Limit, num(roundUp(load*Headroom)))}
			default:
				r.Need = Need{NeedRedesign, q.Service + " " + q.Limit + " is not adjustable"}
			}
		}
		add(r)
	}

	fromTable("apigw.account", m.APIRequests, nil)
	add(Row{Service: "API Gateway", Limit: "route throttle (admission control)", Unit: "requests/s",
		PerOrder: m.APIRequests, Quota: s.RouteRate, From: "template",
		Need: needSetting(m.APIRequests*in.Rate, s.RouteRate, "ApiThrottleRate", roundUp(m.APIRequests*in.Rate*Headroom))})

	var conc float64
	for _, f := range m.Functions {
		conc += f.InvokesPerOrder * f.duration()
	}
	fromTable("lambda.concurrency", conc, nil)

	inv := m.function("inventory")
	_, sqsMax, _ := quota("lambda.sqs.concurrency")
	invNeed := roundUp(inv.InvokesPerOrder * inv.duration() * in.Rate * Headroom)
	invRow := Row{Service: "Lambda", Limit: "inventory mapping concurrency", Unit: "concurrent batches",
		PerOrder: inv.InvokesPerOrder * inv.duration(), Quota: s.InventoryConcurrency, From: "template"}
	if invNeed > sqsMax {
		invRow.Need = Need{NeedRedesign, fmt.Sprintf("the inventory mapping past its ceiling of %s: more queues (one per SKU range) or fewer calls per reservation", num(sqsMax))}
	} else {
		invRow.Need = needSetting(invRow.PerOrder*in.Rate, s.InventoryConcurrency, "InventoryMaxConcurrency", invNeed)
	}
	add(invRow)

	shards := s.Shards
	streamFrom := "template"
	if s.OnDemand {
		shards = OnDemandStartRecords / 1000
		streamFrom = "template, on-demand start; doubles as it grows"
	}
	an := m.function("analytics")
	_, parMax, _ := quota("lambda.kinesis.parallelization")
	anRow := Row{Service: "Lambda", Limit: "analytics consumers (shards × parallelization)", Unit: "concurrent batches",
		PerOrder: an.InvokesPerOrder * an.duration(), Quota: shards * s.AnalyticsParallelization, From: streamFrom}
	if need := an.InvokesPerOrder * an.duration() * in.Rate * Headroom; need >= 0.8*anRow.Quota*Headroom {
		par := math.Min(parMax, math.Ceil(need/math.Max(shards, 1)))
		anRow.Need = Need{NeedTemplate, fmt.Sprintf("AnalyticsParallelization=%s", num(par))}
		if par*shards < need {
			anRow.Need.What += fmt.Sprintf(" and OrderStreamShards=%s", num(math.Ceil(need/parMax)))
		}
	}
	add(anRow)

	_, perShard, _ := quota("kinesis.shard.records")
	kq := shards * perShard
	kRow := Row{Service: "Kinesis", Limit: "order stream writes", Unit: "records/s", PerOrder: m.KinesisRecords,
		Quota: kq, From: streamFrom, Source: "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"}
	if load := m.KinesisRecords * in.Rate; load >= 0.8*kq && !s.OnDemand {
		kRow.Need = Need{NeedTemplate, fmt.Sprintf("OrderStreamShards=%s or OrderStreamMode=ON_DEMAND", num(math.Ceil(load*Headroom/perShard)))}
	}
	add(kRow)

	fromTable("sfn.start", m.Starts, nil)
	fromTable("sfn.transitions", m.Starts*m.Transitions, nil)
	fromTable("sfn.callback", m.Callbacks, nil)
	fromTable("sfn.design", m.Starts, func(load, _ float64) Need {
		return Need{NeedRedesign, "the saga past Standard's design point: Express for the synchronous steps (the inventory callback needs Standard), or one stack per account or region"}
	})
	fromTable("events.put", m.Events, nil)
	fromTable("events.invocations", m.Invocations, nil)

	// warm is a table's units taken at once: a new table's default, or the template's
	// warm throughput when higher.
	warm := func(table, what, id string, perOrder, set float64, param string) {
		q, v, from := quota(id)
		if set > v {
			v, from = set, "template, warm throughput"
		}
		r := Row{Service: "DynamoDB", Limit: table + " table warm " + what, Unit: q.Unit, PerOrder: perOrder, Quota: v, From: from, Source: q.Source}
		if load := perOrder * in.Rate; load >= 0.8*v {
			r.Need = Need{NeedTemplate, fmt.Sprintf("%s=%s", param, num(roundUp(load*Headroom)))}
		}
		add(r)
	}
	tables, wru, rru := m.Units()
	for _, t := range tables {
		q, v, from := quota("dynamodb.table.wru")
		if wru[t] > 0 {
			r := Row{Service: "DynamoDB", Limit: t + " table writes", Unit: q.Unit, PerOrder: wru[t], Quota: v, From: from, Source: q.Source}
			if load := wru[t] * in.Rate; load >= 0.8*v {
				r.Need = Need{NeedQuota, fmt.Sprintf("DynamoDB %s table writes %s", t, num(roundUp(load*Headroom)))}
			}
			add(r)
			warm(t, "writes", "dynamodb.warm.wru", wru[t], s.WarmWrite[t], "TableWarmWriteUnits")
		}
		if rru[t] > 0 {
			warm(t, "reads", "dynamodb.warm.rru", rru[t], s.WarmRead[t], "TableWarmReadUnits")
		}
	}
	for _, h := range m.HotItems {
		share := 1.0
		if h.PerSKU {
			if in.HotShare == 0 {
				continue
			}
			share = in.HotShare
			if s.InventoryStrategy == "conditional" {
				h.WCU = 1 // one conditional take, outside any transaction (takes in flight share it)
			}
		}
		q, v, from := quota("dynamodb.item.wcu")
		r := Row{Service: "DynamoDB", Limit: h.Name, Unit: q.Unit, PerOrder: h.WCU * share, Quota: v, From: from, Source: q.Source}
		if load := h.WCU * share * in.Rate; load >= 0.8*v {
			if h.PerSKU {
				r.Need = Need{NeedRedesign, "the hot SKU's stock: InventoryStrategy=conditional (1 WCU a take, no transaction; takes in flight share a write), and past that split it over several items; SoldOutShortCut=true and the route throttle meanwhile"}
				if h.WCU < 2 {
					r.Need.What = "the hot SKU's stock: split it over several items (the conditional takes in flight already share a write); SoldOutShortCut=true and the route throttle meanwhile"
				}
			} else {
				r.Need = Need{NeedRedesign, "the metrics minute item: one update per minute per batch instead of per event, or shard the counter"}
			}
		}
		add(r)
	}
	sns := m.CallsByService()["sns"]
	fromTable("sns.publish", sns, nil)

	if len(errs) > 0 {
		return Plan{}, fmt.Errorf("quota table %s has no %s", in.Quotas.Date, strings.Join(errs, ", "))
	}
	slices.SortStableFunc(p.Rows, func(a, b Row) int {
		switch {
		case a.BindsAt < b.BindsAt:
			return -1
		case a.BindsAt > b.BindsAt:
			return 1
		}
		return 0
	})

	// Cost, with the cost model of `make bench`: the durations above, the shards the rate
	// needs (provisioned) or the template's.
	p.MonthlyOrders = in.Rate * SecondsPerMonth
	var fns []FunctionUsage
	for _, f := range m.Functions {
		fns = append(fns, FunctionUsage{Name: f.Name, InvokesPerOrder: f.InvokesPerOrder, MemoryMB: s.Memory[f.Name], DurationMs: f.duration() * 1000})
	}
	needShards := math.Max(shards, math.Ceil(m.KinesisRecords*in.Rate/perShard))
	p.Lines = Cost(in.Prices, Usage{
		Functions: fns, SFNTransitions: m.Starts * m.Transitions,
		DynamoDBWRU: sum(wru), DynamoDBRRU: sum(rru), EventBridgeEvents: m.Events,
		SQSRequests: m.SQSRequests, SNSPublishes: sns,
		KinesisPutUnits: m.KinesisRecords * math.Ceil(KinesisRecordKB/25),
		S3Puts:          m.CallsByService()["s3"],
		KinesisShards:   int(needShards), MonthlyOrders: p.MonthlyOrders,
	})
	p.Monthly = Total(p.Lines) * p.MonthlyOrders / 1e6
	return p, nil
}

func needSetting(load, current float64, param string, want float64) Need {
	if load < 0.8*current {
		return Need{}
	}
	return Need{NeedTemplate, fmt.Sprintf("%s=%s", param, num(want))}
}

func sum(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// roundUp rounds v up to two significant digits (a request to AWS, not a measurement).
func roundUp(v float64) float64 {
	if v <= 0 {
		return 0
	}
	e := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Ceil(v/e) * e
}

// num formats v with thousands separators and at most one decimal.
func num(v float64) string {
	if math.IsInf(v, 1) {
		return "∞"
	}
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// WriteMarkdown writes the plan: its summary line, the table of limits (lowest binding
// rate first) and the monthly cost.
func (p Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s orders/s** in %s", num(p.Rate), p.Region)
	if p.HotShare > 0 {
		fmt.Fprintf(&b, ", %.0f%% of orders on one SKU", p.HotShare*100)
	}
	b.WriteString(": ")
	if bind := p.Binding(); len(bind) == 0 {
		b.WriteString("no limit binds")
		if f, ok := p.First(); ok {
			fmt.Fprintf(&b, "; the first to bind is %s %s at %s orders/s", f.Service, f.Limit, num(f.BindsAt))
		}
	} else {
		names := make([]string, len(bind))
		for i, r := range bind {
			names[i] = r.Service + " " + r.Limit
		}
		fmt.Fprintf(&b, "%d limits bind, first %s", len(bind), names[0])
		if len(names) > 1 {
			fmt.Fprintf(&b, "; then %s", strings.Join(names[1:], "; "))
		}
	}
	fmt.Fprintf(&b, ". Monthly cost ≈ $%s (%s orders).\n\n", num(math.Round(p.Monthly)), num(p.MonthlyOrders))
	b.WriteString("| service | limit | per order | load | quota | use | binds at (orders/s) | before this rate |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range p.Rows {
		quota, use := "not found", "—"
		if r.Quota > 0 {
			quota = num(r.Quota) + " " + r.Unit
			if r.From != "default" {
				quota += " (" + r.From + ")"
			}
			use = fmt.Sprintf("%.0f%%", r.Use()*100)
			if r.Binds() {
				use = "**" + use + "**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Service, r.Limit, trim(r.PerOrder), num(r.Load), quota, use, num(r.BindsAt), r.Need)
	}
	fmt.Fprintf(&b, "\nQuotas: bench/quotas.json (%s); prices: bench/prices-%s.json (%s); per-order load: the design mix of cmd/internal/capacity at full batches, durations %g ms per AWS call + %g ms.\n",
		p.QuotaDate, p.PriceRegion, p.PriceDate, CallMs, OwnMs)
	_, err := io.WriteString(w, b.String())
	return err
}

func trim(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// WriteSummary writes one table row per plan: the limits the rate reaches (lowest
// binding rate first), the next limit above it, what to request, set and redesign before
// it, and the monthly cost.
func WriteSummary(w io.Writer, plans []Plan) error {
	var b strings.Builder
	b.WriteString("| orders/s | limits reached (lowest first) | next to bind (orders/s) | before this rate | $ per month |\n|---:|---|---|---|---:|\n")
	for _, p := range plans {
		var reached []string
		next := "—"
		for _, r := range p.Rows {
			switch {
			case r.Binds():
				reached = append(reached, r.Service+" "+r.Limit)
			case next == "—" && r.Quota > 0 && !math.IsInf(r.BindsAt, 1):
				next = fmt.Sprintf("%s %s (%s)", r.Service, r.Limit, num(r.BindsAt))
			}
		}
		if len(reached) == 0 {
			reached = []string{"none"}
		}
		todo := map[string][]string{}
		for _, n := range p.Needs() {
			todo[n.Kind] = append(todo[n.Kind], n.What)
		}
		var do []string
		for _, k := range []string{NeedQuota, NeedTemplate, NeedRedesign} {
			if len(todo[k]) > 0 {
				do = append(do, "**"+k+"** "+strings.Join(todo[k], "; "))
			}
		}
		if len(do) == 0 {
			do = []string{"nothing"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", num(p.Rate), strings.Join(reached, ", "), next, strings.Join(do, "<br>"), num(math.Round(p.Monthly)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// setting is one "Param=N" a Need sets.
var setting = regexp.MustCompile(`^(\w+)=([0-9,]+)$`)

// Needs returns what to do before the plan's rate, once each, in the rows' order; where
// several rows set the same parameter to a number, the largest.
func (p Plan) Needs() []Need {
	var out []Need
	at := map[string]int{}
	for _, r := range p.Rows {
		n := r.Need
		if n.Kind == "" || slices.Contains(out, n) {
			continue
		}
		if m := setting.FindStringSubmatch(n.What); m != nil {
			if i, ok := at[m[1]]; ok {
				if parseNum(m[2]) > parseNum(setting.FindStringSubmatch(out[i].What)[2]) {
					out[i] = n
				}
				continue
			}
			at[m[1]] = len(out)
		}
		out = append(out, n)
	}
	return out
}

func parseNum(s string) float64 {
	f, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return f
}

// MakeAll makes the plan of in at each rate.
func MakeAll(in Input, rates []float64) ([]Plan, error) {
	var out []Plan
	for _, r := range rates {
		in.Rate = r
		p, err := Make(in)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
