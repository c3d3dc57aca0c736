package stack

import (
	"context"
	"fmt"
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
