package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
)

// perOrder sums the counts of the matching calls per order.
func perOrder(counts map[CallKey]CallStat, n int, match func(CallKey) bool, value func(CallStat) float64) float64 {
	var t float64
	for k, v := range counts {
		if match(k) {
			t += value(v)
		}
	}
	return t / float64(n)
}

func isCall(src Source, service string, ops ...string) func(CallKey) bool {
	return func(k CallKey) bool {
		if k.Source != src || k.Service != service {
			return false
		}
		if len(ops) == 0 {
			return true
		}
		for _, op := range ops {
			if k.Operation == op {
				return true
			}
		}
		return false
	}
}

func notPlumbing(service string) func(CallKey) bool {
	return func(k CallKey) bool { return k.Source != SourcePlumbing && k.Service == service }
}

func calls(s CallStat) float64 { return float64(s.N) }

// costSection builds section 6 from the run's measurements.
func costSection(o options, r *Report, st stackResult) CostSection {
	c := CostSection{}
	p, err := capacity.LoadPrices(at(o.Root, o.Prices))
	if err != nil {
		return CostSection{Skip: err.Error()}
	}
	c.Prices = p
	if st.skip != "" || st.counts == nil {
		return CostSection{Skip: "needs the AWS calls per order of section 4: " + st.skip}
	}
	mem, err := memory(o.Root)
	if err != nil {
		return CostSection{Skip: err.Error()}
	}
	asl, err := os.ReadFile(filepath.Join(o.Root, "statemachine", "order-processing.asl.json"))
	if err != nil {
		return CostSection{Skip: err.Error()}
	}
	path, err := capacity.HappyPath(asl)
	if err != nil {
		return CostSection{Skip: "ASL: " + err.Error()}
	}
	n, counts := st.calls.Orders, st.counts

	// Mean latency of one function call to the emulator, as the functions saw it.
	var fnCalls, fnNs float64
	for k, v := range counts {
		if k.Source == SourceFunctions {
			fnCalls += float64(v.N)
			fnNs += float64(v.Elapsed)
		}
	}
	callMs := 0.0
	if fnCalls > 0 {
		callMs = fnNs / fnCalls / 1e6
	}
	hotMs := map[string]float64{}
	for i, h := range r.Hot.Rows {
		hotMs[Functions[i]] = h.Hot.NsPerOp / 1e6
	}

	invokes := perOrder(counts, n, isCall(SourceStateMachine, "lambda", "Invoke"), calls)
	var invokeNs float64
	for k, v := range counts {
		if isCall(SourceStateMachine, "lambda", "Invoke")(k) && v.N > 0 {
			invokeNs = float64(v.Elapsed) / float64(v.N)
		}
	}
	s3 := perOrder(counts, n, isCall(SourceFunctions, "s3", "PutObject"), calls)
	analyticsInvokes := s3 // one lake object per analytics invocation
	recordsPerInvoke := 0.0
	if analyticsInvokes > 0 {
		recordsPerInvoke = 2 / analyticsInvokes
	}
	// The publisher is invoked by the orders table's stream mapping, not through a counted
	// call: at worst once per stream record (a quiet table, batches of one), and a
	// confirmed order writes three (the insert, VALIDATED, CONFIRMED). Its PutEvents are
	// counted; a busier table batches records and events, and costs less.
	const recordsPerOrder = 3
	putEvents := perOrder(counts, n, isCall(SourceFunctions, "events", "PutEvents"), calls)
	fns := []capacity.FunctionUsage{
		{Name: "ingest", InvokesPerOrder: 1, MemoryMB: mem["ingest"], DurationMs: st.ingestMs},
		{Name: "process", InvokesPerOrder: invokes, MemoryMB: mem["process"], DurationMs: invokeNs / 1e6},
		{Name: "inventory", InvokesPerOrder: 1, MemoryMB: mem["inventory"], DurationMs: 2*callMs + hotMs["inventory"]/10},
		{Name: "notify", InvokesPerOrder: 1, MemoryMB: mem["notify"], DurationMs: 2*callMs + hotMs["notify"]},
		{Name: "analytics", InvokesPerOrder: analyticsInvokes, MemoryMB: mem["analytics"],
			DurationMs: (1+recordsPerInvoke)*callMs + hotMs["analytics"]*recordsPerInvoke/100},
		{Name: "publisher", InvokesPerOrder: recordsPerOrder, MemoryMB: mem["publisher"],
			DurationMs: putEvents/recordsPerOrder*callMs + hotMs["publisher"]/100},
	}
	u := capacity.Usage{
		Functions:         fns,
		SFNTransitions:    float64(len(path)),
		DynamoDBWRU:       perOrder(counts, n, notPlumbing("dynamodb"), func(s CallStat) float64 { return s.WRU }),
		DynamoDBRRU:       perOrder(counts, n, notPlumbing("dynamodb"), func(s CallStat) float64 { return s.RRU }),
		EventBridgeEvents: perOrder(counts, n, notPlumbing("events"), func(s CallStat) float64 { return s.Entries }),
		// The state machine's SendMessage plus the event source's ReceiveMessage and
		// DeleteMessage for that message (one-message batches: the worst case).
		SQSRequests:     perOrder(counts, n, notPlumbing("sqs"), calls) + 2,
		SNSPublishes:    perOrder(counts, n, notPlumbing("sns"), calls),
		KinesisPutUnits: perOrder(counts, n, isCall(SourcePlumbing, "kinesis", "PutRecord", "PutRecords"), func(s CallStat) float64 { return s.Entries }),
		S3Puts:          s3,
		KinesisShards:   shards,
		MonthlyOrders:   o.Monthly,
	}
	c.Lines = capacity.Cost(p, u)
	for _, o := range capacity.Outcomes {
		states, err := capacity.OutcomePath(asl, o)
		if err != nil {
			return CostSection{Skip: "ASL, " + o.Name + ": " + err.Error()}
		}
		c.Transitions = append(c.Transitions, TransitionRow{Outcome: o.Name, States: states,
			PerMillion: float64(len(states)) * p.SFNStandardPerThousandTransitions * 1e3})
	}
	c.Assumptions = []string{
		fmt.Sprintf("Lambda: arm64 prices; memory from template.yaml (%v MB); requests per order: ingest 1 (the POST), process %.2f (the state machine's Invoke calls counted), "+
			"inventory 1 and notify 1 (one message / one event per order), analytics %.2f (one data-lake object per invocation, counted), "+
			"publisher %d (one invocation per orders-table stream record of a confirmed order — the insert, VALIDATED, CONFIRMED — the worst case of a quiet table; "+
			"its %.2f PutEvents per order are counted).", memList(mem), invokes, analyticsInvokes, recordsPerOrder, putEvents),
		fmt.Sprintf("Durations: ingest %.1f ms = mean POST /orders latency of section 4; process %.1f ms = mean Invoke latency seen between moto's Step Functions and the edge; "+
			"inventory, notify, analytics, publisher = their AWS calls per invocation × the mean call latency the functions saw (%.2f ms) + their hot-path CPU time (section 3). "+
			"Billed in 1 ms steps. These are durations on the emulator under load, which answers far slower than DynamoDB's single-digit milliseconds, so they overstate Lambda's line; even so it stays small.",
			st.ingestMs, invokeNs/1e6, callMs),
		fmt.Sprintf("Step Functions: %d state transitions, the states the happy path enters in statemachine/order-processing.asl.json (%v); no retries.", len(path), path),
		"DynamoDB: request units from the counted calls' bodies (on-demand; items within 1 KB written / 4 KB read; consistent reads 1 RRU, eventual 0.5, transactions 2 per item).",
		"EventBridge: entries of the counted PutEvents calls (the publisher's); delivery to AWS targets (Step Functions, Kinesis, Lambda) is not charged.",
		"DynamoDB Streams: the orders table's stream read by the publisher's event source mapping is not charged (GetRecords by a Lambda trigger is free); " +
			"the stream itself has no charge beyond the writes.",
		"SQS: the state machine's SendMessage counted, plus 2 for the event source's ReceiveMessage and DeleteMessage of that message (one-message batches, the worst case; empty long polls between orders are not counted).",
		"Kinesis: PUT payload units are the records the bus rule puts on the stream (counted, the local stack delivers them); shard-hours are fixed and spread over the monthly volume above.",
		"S3: the data-lake PutObject calls counted; with full batches of 100 records it falls to 0.02 per order. Storage, CloudWatch Logs and X-Ray are not included.",
	}
	l := capacity.Largest(c.Lines)
	if l.Service == "Step Functions" {
		p50 := r.Load.P50
		if p50 <= 0 {
			p50 = time.Second
		}
		exp := capacity.ExpressPerMillion(p, float64(p50)/1e6)
		c.Advice = fmt.Sprintf("Standard workflows bill every state entered ($%.3f per 1,000). Applied: the process function's authorize task confirms the order "+
			"in its one write and is the last state, and no state publishes (every event comes from the orders table's stream), instead of a dynamodb:updateItem "+
			"state, an events:putEvents state and a Succeed state after it: "+
			"%d transitions instead of %d, $%.2f less per million orders. Next cut: an Express workflow, billed per request and duration (64 MB, 100 ms steps) ≈ $%.2f "+
			"per million at the measured p50 of %s (an upper bound: that p50 includes queueing on the emulator) — but Express does not support .waitForTaskToken, "+
			"so ReserveInventory must first become a synchronous Lambda task (inventory reserves in the request instead of via SQS), giving up the queue's buffering "+
			"and DLQ between the saga and the stock.", p.SFNStandardPerThousandTransitions, len(path), len(path)+3,
			3*p.SFNStandardPerThousandTransitions*1e3, exp, ms(p50))
	} else {
		c.Advice = "Cut the calls or units behind it (section 4)."
	}
	return c
}

func memList(m map[string]int) string {
	s := ""
	for i, f := range Functions {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", f, m[f])
	}
	return s
}
