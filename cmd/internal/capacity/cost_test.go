package capacity

import (
	"math"
	"path/filepath"
	"testing"
)

// testPrices are round numbers so the expected dollars are easy to check by hand.
var testPrices = Prices{
	Date:                                "2026-01-01",
	LambdaRequestsPerMillion:            0.20,
	LambdaArm64GBSecond:                 0.00001,
	SFNStandardPerThousandTransitions:   0.025,
	SFNExpressRequestsPerMillion:        1,
	SFNExpressGBSecond:                  0.00002,
	DynamoDBWriteRequestUnitsPerMillion: 1,
	DynamoDBReadRequestUnitsPerMillion:  0.25,
	EventBridgeCustomEventsPerMillion:   1,
	SQSStandardRequestsPerMillion:       0.40,
	SNSPublishesPerMillion:              0.50,
	KinesisShardHour:                    0.015,
	KinesisPutPayloadUnitsPerMillion:    0.014,
	S3StandardPutPerThousand:            0.005,
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestCost(t *testing.T) {
	u := Usage{
		Functions:         []FunctionUsage{{Name: "f", InvokesPerOrder: 2, MemoryMB: 512, DurationMs: 9.2}},
		SFNTransitions:    6,
		DynamoDBWRU:       10,
		DynamoDBRRU:       4,
		EventBridgeEvents: 2,
		SQSRequests:       3,
		SNSPublishes:      1,
		KinesisPutUnits:   2,
		S3Puts:            0.5,
		KinesisShards:     2,
		MonthlyOrders:     730_000,
	}
	lines := Cost(testPrices, u)
	want := map[string]float64{
		"f requests":                    0.40,                            // 2 x $0.20
		"f GB-s (512 MB, 10 ms billed)": 2 * 0.5 * 0.010 * 0.00001 * 1e6, // 9.2 ms bills as 10 ms
		"Standard state transitions":    150,                             // 6 x $25 per million
		"write request units":           10,
		"read request units":            1,
		"custom events":                 2,
		"requests":                      1.2,
		"publishes":                     0.5,
		"PUT payload units":             0.028,
		"shard-hours (2 shards, 730000 orders/month)": 2 * 730 / 730_000.0 * 0.015 * 1e6, // $30 per million
		"PUT requests": 2.5,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(lines), len(want), lines)
	}
	for _, l := range lines {
		t.Run(l.Item, func(t *testing.T) {
			w, ok := want[l.Item]
			if !ok {
				t.Fatalf("unexpected line %q", l.Item)
			}
			if !near(l.PerMillion, w) {
				t.Errorf("%s = %.6f per million, want %.6f", l.Item, l.PerMillion, w)
			}
		})
	}
	t.Run("total and largest", func(t *testing.T) {
		var sum float64
		for _, w := range want {
			sum += w
		}
		if !near(Total(lines), sum) {
			t.Errorf("Total = %f, want %f", Total(lines), sum)
		}
		if got := Largest(lines); got.Service != "Step Functions" {
			t.Errorf("Largest = %+v, want the Step Functions line", got)
		}
	})
	t.Run("by service keeps first-seen order and sums", func(t *testing.T) {
		svc := ByService(lines)
		if svc[0].Service != "Lambda" || !near(svc[0].PerMillion, want["f requests"]+want["f GB-s (512 MB, 10 ms billed)"]) {
			t.Errorf("first service %+v", svc[0])
		}
		if len(svc) != 8 {
			t.Errorf("%d services, want 8: %+v", len(svc), svc)
		}
	})
	t.Run("no monthly volume leaves shard-hours out", func(t *testing.T) {
		u2 := u
		u2.MonthlyOrders = 0
		if got := len(Cost(testPrices, u2)); got != len(want)-1 {
			t.Errorf("%d lines, want %d", got, len(want)-1)
		}
	})
}

func TestExpressPerMillion(t *testing.T) {
	tests := []struct {
		name string
		ms   float64
		want float64
	}{
		{"rounds up to 100 ms", 1, 1 + 64.0/1024*0.1*0.00002*1e6},
		{"exact step", 200, 1 + 64.0/1024*0.2*0.00002*1e6},
		{"one over a step", 201, 1 + 64.0/1024*0.3*0.00002*1e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpressPerMillion(testPrices, tt.ms); !near(got, tt.want) {
				t.Errorf("ExpressPerMillion(%v) = %f, want %f", tt.ms, got, tt.want)
			}
		})
	}
}

func TestLoadPrices(t *testing.T) {
	p, err := LoadPrices(filepath.Join("..", "..", "..", "bench", "prices-us-east-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Region != "us-east-1" || p.Date == "" || p.LambdaArm64GBSecond <= 0 || p.SFNStandardPerThousandTransitions <= 0 {
		t.Errorf("committed price table incomplete: %+v", p)
	}
}
