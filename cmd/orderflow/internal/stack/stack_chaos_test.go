package stack

import (
	"context"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
)

// TestChaos sends orders through the local stack while it injects 10% transient AWS
// errors, 2% function crashes, 5% duplicate deliveries and latency, with poison inputs,
// and audits the outcome: no lost order, no oversold unit, no duplicate effect.
// ORDERFLOW_CHAOS_ORDERS sets the size (default 200, about a minute and a half on two
// cores, so `make test` runs it; `make chaos` runs 5,000), ORDERFLOW_CHAOS_SEED the seed.
func TestChaos(t *testing.T) {
	n := envInt("ORDERFLOW_CHAOS_ORDERS", 200)
	seed := uint64(envInt("ORDERFLOW_CHAOS_SEED", 1))
	spec := chaos.Standard(seed)
	// ORDERFLOW_CHAOS_PARAMS: template parameters, K=V,K=V (InventoryStrategy=conditional).
	params := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("ORDERFLOW_CHAOS_PARAMS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			params[k] = v
		}
	}
	s := up(t, Options{Build: true, Dir: repoRoot(t), Faults: &spec, VisibilityTimeout: 2 * time.Second, PoolSize: 3, Parameters: params})
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	// The 2 s visibility timeout speeds up redelivery after a crash, but a queue that feeds
	// a function keeps at least the function's timeout (10 s): no batch comes back while
	// its first delivery may still run.
	for id, want := range map[string]string{"InventoryCommandQueue": "10", "InventoryCommandDlq": "2"} {
		got, err := sqs.NewFromConfig(s.Config).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.Queues[id]),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout}})
		if err != nil || got.Attributes["VisibilityTimeout"] != want {
			t.Fatalf("%s visibility timeout = %v, %v; want %s", id, got, err, want)
		}
	}
	res, err := RunChaos(ctx, s, ChaosOptions{Orders: n, Concurrency: envInt("ORDERFLOW_CHAOS_CONCURRENCY", 8), InFlight: envInt("ORDERFLOW_CHAOS_INFLIGHT", 0), Seed: seed, Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("ORDERFLOW_CHAOS_FAULTS"); path != "" {
		if err := os.WriteFile(path, []byte(strings.Join(s.Faults.Decisions(), "\n")+"\n"), 0o644); err != nil {
			t.Errorf("write the fault list: %v", err)
		} else {
			res.FaultList = path
		}
	}
	var b strings.Builder
	res.Write(&b)
	t.Log("\n" + b.String())
	if path := os.Getenv("ORDERFLOW_CHAOS_REPORT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
	if res.Faults.Throttles+res.Faults.ServerErrors == 0 || chaos.Sum(res.Faults.Duplicates) == 0 {
		t.Errorf("no faults were injected: %+v", res.Faults)
	}
	if !res.OK() {
		t.Fatalf("chaos run failed: %d client errors, %d audit violations", len(res.Errors), len(res.Audit.Violations))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// testWriter sends progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
