package stack

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// overrideVisibility sets every queue's visibility timeout to d (when positive), but never
// below the timeout of a function that a mapping feeds from the queue: a message must not
// come back while its first delivery may still be running (AWS asks for at least six times
// the function's timeout; a shorter one redelivers batches that are being processed, and a
// redelivery that finds its own reservation in progress waits for it, which holds an
// instance of the function). Crashed deliveries still return quickly.
func (s *Stack) overrideVisibility(ctx context.Context, c *clients, d time.Duration, provs []*provisioner) error {
	if d <= 0 {
		return nil
	}
	floor := map[string]time.Duration{} // queue URL -> the longest timeout of a function it feeds
	for _, p := range provs {
		timeouts := map[string]time.Duration{}
		for _, f := range p.functions {
			timeouts[f.Name] = f.Timeout
		}
		for _, m := range p.sqsMaps {
			floor[m.QueueURL] = max(floor[m.QueueURL], timeouts[m.Function])
		}
	}
	var raised []string
	for _, id := range sortedKeys(s.Queues) {
		url := s.Queues[id]
		v := max(d, floor[url])
		if v > d {
			raised = append(raised, fmt.Sprintf("%s %ds", id, int(v/time.Second)))
		}
		_, err := c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
			Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(max(1, int(v/time.Second)))}})
		if err != nil {
			return fmt.Errorf("visibility timeout of %s: %w", id, err)
		}
	}
	note := fmt.Sprintf("every queue's visibility timeout is %ds (VisibilityTimeout option)", max(1, int(d/time.Second)))
	if len(raised) > 0 {
		note += ", but no less than the timeout of the function it feeds: " + strings.Join(raised, ", ")
	}
	s.Notes = append(s.Notes, note)
	return nil
}
