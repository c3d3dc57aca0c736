package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// duplicate returns the Duplicate hook of an event source, nil when faults are off.
func (s *Stack) duplicate(source string) func([]byte) bool {
	if s.Faults == nil {
		return nil
	}
	in := s.Faults
	return func(payload []byte) bool { return in.Duplicate(source, payload) }
}

// aliasOrders tells the fault injector, when there is one, which Idempotency-Key each
// order the HTTP API accepts was created under: its decisions on the order's later calls
// are then the same in every run with the same seed and keys (see chaos.Injector).
func (s *Stack) aliasOrders(api http.Handler) http.Handler {
	if s.Faults == nil {
		return api
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || r.Method != http.MethodPost {
			api.ServeHTTP(w, r)
			return
		}
		rec := &bodyRecorder{ResponseWriter: w}
		api.ServeHTTP(rec, r)
		var created struct {
			OrderID string `json:"orderId"`
		}
		if json.Unmarshal(rec.body.Bytes(), &created) == nil {
			s.Faults.Alias(created.OrderID, "key:"+key)
		}
	})
}

// bodyRecorder keeps a copy of what is written (an HTTP API answer: at most a few KiB).
type bodyRecorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (b *bodyRecorder) Write(p []byte) (int, error) {
	b.body.Write(p)
	return b.ResponseWriter.Write(p)
}

// overrideVisibility sets every queue's visibility timeout to d (when positive).
func (s *Stack) overrideVisibility(ctx context.Context, c *clients, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	secs := strconv.Itoa(max(1, int(d/time.Second)))
	for _, id := range sortedKeys(s.Queues) {
		_, err := c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(s.Queues[id]),
			Attributes: map[string]string{"VisibilityTimeout": secs}})
		if err != nil {
			return fmt.Errorf("visibility timeout of %s: %w", id, err)
		}
	}
	s.Notes = append(s.Notes, "every queue's visibility timeout is "+secs+"s (VisibilityTimeout option)")
	return nil
}
