package saga_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

// happyStates are the states of an execution that confirms its order.
// AuthorizePayment is the last: it confirms the order in its write.
var happyStates = []string{"ValidateAndPrice", "ReserveInventory", "AuthorizePayment"}

// confirmed returns a scenario whose order is confirmed: two units of a fresh SKU (stock
// 10 → 8), reservation kept.
func confirmed(name, sku string) scenario {
	return scenario{
		name:            name,
		stock:           []inventory.Item{{SKU: sku, Price: 700, Currency: "USD", Stock: 10}},
		lines:           []order.Line{{SKU: sku, Quantity: 2}},
		token:           "tok_visa",
		wantStatus:      order.StatusConfirmed,
		wantTotal:       1400,
		wantStock:       map[string]int64{sku: 8},
		wantReservation: inventory.Reserved,
		wantStates:      happyStates,
	}
}

// TestTransientFaults injects the faults the chaos run found into the task calls of
// moto's Step Functions (the Lambda endpoint answers them) and checks that each is
// retried or recovered into a confirmed order, with its stock taken once.
func TestTransientFaults(t *testing.T) {
	s := newStack(t)
	with := func(sc scenario, faults func(id string) []*fault, failures ...string) scenario {
		sc.faults, sc.wantFailures = faults, failures
		return sc
	}
	tests := []scenario{
		with(confirmed("process crash and timeout are retried", "crash-widget"), func(id string) []*fault {
			return []*fault{functionError(id, "validate", "Runtime.ExitError", 1), functionError(id, "authorize", "Sandbox.Timedout", 1)}
		}, "Runtime.ExitError", "Sandbox.Timedout"),
		with(confirmed("transient handler errors are retried", "transient-widget"), func(id string) []*fault {
			return []*fault{functionError(id, "authorize", "TransientError", 2)}
		}, "TransientError"),
		// A failed Invoke call (not a function error) is Lambda.<code>, as on AWS (moto says
		// "Exception"; tools/moto/moto_server_shim.py renames it).
		with(confirmed("a failed Lambda invoke is retried", "invoke-widget"), func(id string) []*fault {
			return []*fault{invokeError(id, "validate", http.StatusInternalServerError, "ServiceException"),
				invokeError(id, "authorize", http.StatusTooManyRequests, "TooManyRequestsException")}
		}, "Lambda.ServiceException", "Lambda.TooManyRequestsException"),
		with(confirmed("a failed reserve command send is retried", "sqs-widget"), func(id string) []*fault {
			return []*fault{awsError("AmazonSQS.SendMessage", id, 1, http.StatusInternalServerError, "InternalFailure"),
				awsError("AmazonSQS.SendMessage", id, 1, http.StatusBadRequest, "RequestThrottled")}
		}, "SQS.SdkClientException"),
		// The process function dies after its write landed: the retry finds the order
		// CONFIRMED and returns it unchanged.
		with(confirmed("authorize's answer lost after its write is retried", "lost-answer-widget"), func(id string) []*fault {
			return []*fault{lostAnswer(id, "authorize", 1)}
		}, "Runtime.ExitError"),
	}
	// AuthorizePayment confirms the order but its answer is lost on every attempt (1 + 6):
	// Recover finds the order CONFIRMED and ends there instead of releasing its stock.
	recovered := with(confirmed("authorize's answer always lost: recovered as confirmed, not compensated", "recover-widget"), func(id string) []*fault {
		return []*fault{lostAnswer(id, "authorize", 7)}
	}, "Runtime.ExitError")
	recovered.wantStates = []string{"ValidateAndPrice", "ReserveInventory", "AuthorizePayment", "Recover", "RecoverOutcome", "OrderConfirmed"}
	recovered.budget = 2 * time.Minute // six jittered backoffs, up to 1+2+4+8+10+10 s
	tests = append(tests, recovered)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, tt)
		})
	}
}

// TestDuplicateExecutions starts two executions for one order, as EventBridge's
// at-least-once delivery to Step Functions may: one confirms the order, the other ends at
// DuplicateExecution without touching the order or the stock.
func TestDuplicateExecutions(t *testing.T) {
	s := newStack(t)
	tests := []struct {
		name       string
		sku        string
		concurrent bool
	}{
		{name: "concurrent", sku: "dup-concurrent-widget", concurrent: true},
		{name: "after the first finished", sku: "dup-late-widget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := confirmed(tt.name, tt.sku)
			o, input := s.prepare(t, sc)
			var arns [2]string
			if tt.concurrent {
				var wg sync.WaitGroup
				for i, suffix := range []string{"-a", "-b"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						arns[i] = s.start(t, o.ID+suffix, input)
					}()
				}
				wg.Wait()
			} else {
				arns[0] = s.start(t, o.ID+"-a", input)
				s.wait(t, arns[0], executionBudget)
				arns[1] = s.start(t, o.ID+"-b", input)
			}
			var owners, duplicates int
			for _, arn := range arns {
				exec := s.wait(t, arn, executionBudget)
				states := s.states(t, arn)
				switch {
				case exec.Status == "SUCCEEDED" && slices.Equal(states, happyStates):
					owners++
				case exec.Status == "SUCCEEDED" && slices.Equal(states, []string{"ValidateAndPrice", "DuplicateExecution"}):
					duplicates++
				default:
					t.Errorf("execution %s: %s, states %q\n%s", arn, exec.Status, states, s.history(arn))
				}
			}
			if owners != 1 || duplicates != 1 {
				t.Errorf("%d executions confirmed the order and %d ended as duplicates, want 1 and 1", owners, duplicates)
			}
			s.checkOrder(t, sc, o.ID, o.CorrelationID)
		})
	}
}
