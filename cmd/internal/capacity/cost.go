// Package capacity is the capacity and cost model of orderflow shared by `make bench`
// (cmd/benchreport) and `orderflow plan`: dated list prices and the cost of a usage, the
// state machine's paths, the design's per-order call mix, a dated quota table, and the
// plan that sets the load of a rate against the quotas.
package capacity

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Prices is the dated us-east-1 list-price table (bench/prices-us-east-1.json).
type Prices struct {
	Region string `json:"region"`
	Date   string `json:"date"`
	Source string `json:"source"`

	LambdaRequestsPerMillion            float64 `json:"lambdaRequestsPerMillion"`
	LambdaArm64GBSecond                 float64 `json:"lambdaArm64GBSecond"`
	SFNStandardPerThousandTransitions   float64 `json:"sfnStandardPerThousandTransitions"`
	SFNExpressRequestsPerMillion        float64 `json:"sfnExpressRequestsPerMillion"`
	SFNExpressGBSecond                  float64 `json:"sfnExpressGBSecond"`
	DynamoDBWriteRequestUnitsPerMillion float64 `json:"dynamodbWriteRequestUnitsPerMillion"`
	DynamoDBReadRequestUnitsPerMillion  float64 `json:"dynamodbReadRequestUnitsPerMillion"`
	EventBridgeCustomEventsPerMillion   float64 `json:"eventbridgeCustomEventsPerMillion"`
	SQSStandardRequestsPerMillion       float64 `json:"sqsStandardRequestsPerMillion"`
	SNSPublishesPerMillion              float64 `json:"snsPublishesPerMillion"`
	KinesisShardHour                    float64 `json:"kinesisShardHour"`
	KinesisPutPayloadUnitsPerMillion    float64 `json:"kinesisPutPayloadUnitsPerMillion"`
	S3StandardPutPerThousand            float64 `json:"s3StandardPutPerThousand"`
}

// LoadPrices reads a price table. It returns the read or decode error, or an error when
// the table has no date (an undated price is not a measurement anyone can check).
func LoadPrices(path string) (Prices, error) {
	var p Prices
	err := loadDated(path, "price table", &p, func() string { return p.Date })
	return p, err
}

// loadDated decodes the JSON table at path into v and returns an error naming it (what)
// when it cannot be read or decoded, or when date() is empty after decoding.
func loadDated(path, what string, v any, date func() string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if date() == "" {
		return fmt.Errorf("%s %s: no date", what, path)
	}
	return nil
}

// FunctionUsage is one Lambda function's share of an order.
type FunctionUsage struct {
	Name string
	// InvokesPerOrder is how many invocations one order causes (fractional for batches).
	InvokesPerOrder float64
	MemoryMB        int
	// Duration is the mean duration of one invocation in milliseconds; billing rounds it
	// up to the next whole millisecond.
	DurationMs float64
}

// Usage is what one confirmed order consumes, plus the fixed capacity the stack pays for.
type Usage struct {
	Functions         []FunctionUsage
	SFNTransitions    float64
	DynamoDBWRU       float64
	DynamoDBRRU       float64
	EventBridgeEvents float64
	SQSRequests       float64
	SNSPublishes      float64
	KinesisPutUnits   float64
	S3Puts            float64
	// KinesisShards are paid by the hour whatever the volume; MonthlyOrders spreads them
	// over the orders of a month (730 hours).
	KinesisShards int
	MonthlyOrders float64
}

// CostLine is one line of the cost model, in dollars per million confirmed orders.
type CostLine struct {
	Service string
	Item    string
	// Quantity is the billed quantity per order, in Unit.
	Quantity   float64
	Unit       string
	PerMillion float64
}

// HoursPerMonth is AWS's billing month.
const HoursPerMonth = 730

// Cost returns the cost lines of u at prices p, in dollars per million orders, in a fixed
// order (Lambda per function, then the other services).
func Cost(p Prices, u Usage) []CostLine {
	const m = 1e6
	var lines []CostLine
	for _, f := range u.Functions {
		lines = append(lines, CostLine{Service: "Lambda", Item: f.Name + " requests", Quantity: f.InvokesPerOrder,
			Unit: "requests", PerMillion: f.InvokesPerOrder * p.LambdaRequestsPerMillion})
		gbs := f.InvokesPerOrder * float64(f.MemoryMB) / 1024 * math.Ceil(f.DurationMs) / 1000
		lines = append(lines, CostLine{Service: "Lambda", Item: fmt.Sprintf("%s GB-s (%d MB, %.0f ms billed)", f.Name, f.MemoryMB, math.Ceil(f.DurationMs)),
			Quantity: gbs, Unit: "GB-s", PerMillion: gbs * p.LambdaArm64GBSecond * m})
	}
	add := func(service, item string, q float64, unit string, perUnit float64) {
		lines = append(lines, CostLine{Service: service, Item: item, Quantity: q, Unit: unit, PerMillion: q * perUnit * m})
	}
	add("Step Functions", "Standard state transitions", u.SFNTransitions, "transitions", p.SFNStandardPerThousandTransitions/1e3)
	add("DynamoDB", "write request units", u.DynamoDBWRU, "WRU", p.DynamoDBWriteRequestUnitsPerMillion/m)
	add("DynamoDB", "read request units", u.DynamoDBRRU, "RRU", p.DynamoDBReadRequestUnitsPerMillion/m)
	add("EventBridge", "custom events", u.EventBridgeEvents, "events", p.EventBridgeCustomEventsPerMillion/m)
	add("SQS", "requests", u.SQSRequests, "requests", p.SQSStandardRequestsPerMillion/m)
	add("SNS", "publishes", u.SNSPublishes, "publishes", p.SNSPublishesPerMillion/m)
	add("Kinesis", "PUT payload units", u.KinesisPutUnits, "units", p.KinesisPutPayloadUnitsPerMillion/m)
	if u.MonthlyOrders > 0 {
		hours := float64(u.KinesisShards) * HoursPerMonth / u.MonthlyOrders
		add("Kinesis", fmt.Sprintf("shard-hours (%d shards, %.0f orders/month)", u.KinesisShards, u.MonthlyOrders), hours, "shard-hours", p.KinesisShardHour)
	}
	add("S3", "PUT requests", u.S3Puts, "requests", p.S3StandardPutPerThousand/1e3)
	return lines
}

// Total sums lines.
func Total(lines []CostLine) float64 {
	var t float64
	for _, l := range lines {
		t += l.PerMillion
	}
	return t
}

// ByService sums lines per service, in the order services first appear.
func ByService(lines []CostLine) []CostLine {
	var out []CostLine
	idx := map[string]int{}
	for _, l := range lines {
		i, ok := idx[l.Service]
		if !ok {
			i = len(out)
			idx[l.Service] = i
			out = append(out, CostLine{Service: l.Service})
		}
		out[i].PerMillion += l.PerMillion
	}
	return out
}

// Largest returns the most expensive line; the zero CostLine for none.
func Largest(lines []CostLine) CostLine {
	var best CostLine
	for _, l := range lines {
		if l.PerMillion > best.PerMillion {
			best = l
		}
	}
	return best
}

// ExpressPerMillion is what one Express execution per order would cost per million orders:
// the request charge plus duration, billed in 100 ms steps at the 64 MB minimum memory.
func ExpressPerMillion(p Prices, durationMs float64) float64 {
	billed := math.Ceil(durationMs/100) * 100 / 1000
	return p.SFNExpressRequestsPerMillion + 64.0/1024*billed*p.SFNExpressGBSecond*1e6
}
