// Package bus publishes orderflow's business events on an EventBridge bus. PutEvents is
// called in chunks of ten entries; entries EventBridge reports as failed are re-sent alone,
// with jittered exponential backoff, and what still fails is named in a *PublishError.
package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/retry"
)

// MaxEntries is the most entries one PutEvents call accepts.
const MaxEntries = 10

// Defaults of the retry policy of a Publisher.
const (
	DefaultMaxAttempts = 4
	DefaultBaseDelay   = 50 * time.Millisecond
	DefaultMaxDelay    = 1 * time.Second
)

// API is the part of *eventbridge.Client a Publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts business events on one bus with one source. Its exported fields tune the
// retry of failed entries; NewPublisher sets them to the defaults.
type Publisher struct {
	// MaxAttempts bounds the PutEvents calls made for one entry.
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the second attempt; it doubles per attempt.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling.
	MaxDelay time.Duration
	// Sleep waits d or until ctx is done, returning ctx's error then. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	c       API
	busName string
	source  string
}

// NewPublisher returns a Publisher that puts events on busName with the given source
// (event.DefaultSource when empty).
func NewPublisher(c API, busName, source string) *Publisher {
	if source == "" {
		source = event.DefaultSource
	}
	return &Publisher{
		MaxAttempts: DefaultMaxAttempts,
		BaseDelay:   DefaultBaseDelay,
		MaxDelay:    DefaultMaxDelay,
		Sleep:       retry.Sleep,
		c:           c,
		busName:     busName,
		source:      source,
	}
}

// FailedEntry names one event that could not be published and why.
type FailedEntry struct {
	EventID    string
	DetailType string
	// Code is EventBridge's per-entry ErrorCode, empty when the whole request failed.
	Code    string
	Message string
}

// PublishError reports the events Publish could not put on the bus. Every event not
// listed was published. Err is the request error when a PutEvents call failed as a whole
// (the SDK's own retries included); it is nil when only individual entries failed.
type PublishError struct {
	Failed []FailedEntry
	Err    error
}

// Error implements error.
func (e *PublishError) Error() string {
	ids := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		ids[i] = f.EventID
		if f.Code != "" {
			ids[i] += " (" + f.Code + ")"
		}
	}
	msg := fmt.Sprintf("publish events: %d not published: %s", len(e.Failed), strings.Join(ids, ", "))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the request error, if any.
func (e *PublishError) Unwrap() error { return e.Err }

// NotPublished returns the eventIds of the events that were not published.
func (e *PublishError) NotPublished() []string {
	ids := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		ids[i] = f.EventID
	}
	return ids
}

// permanent lists the per-entry error codes a re-send cannot fix.
var permanent = map[string]bool{
	"AccessDeniedException":               true,
	"InvalidAccountIdException":           true,
	"InvalidArgument":                     true,
	"MalformedDetail":                     true,
	"RedactionFailure":                    true,
	"NotAuthorizedForSourceException":     true,
	"NotAuthorizedForDetailTypeException": true,
}

type pending struct {
	ev    event.Event
	entry types.PutEventsRequestEntry
}

// Publish puts evs on the bus. Entries reported failed with a transient code (throttling,
// internal failure) are re-sent, and only they, up to MaxAttempts calls each. It returns a
// *PublishError naming every event not published (permanent per-entry codes, exhausted
// attempts, a failed request or a done ctx, which it wraps), or an error for an event
// whose detail cannot be encoded.
func (p *Publisher) Publish(ctx context.Context, evs ...event.Event) error {
	todo := make([]pending, 0, len(evs))
	for _, ev := range evs {
		detail, err := json.Marshal(ev.Detail)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.Detail.Metadata.EventID, err)
		}
		todo = append(todo, pending{ev: ev, entry: types.PutEventsRequestEntry{
			EventBusName: aws.String(p.busName),
			Source:       aws.String(p.source),
			DetailType:   aws.String(ev.DetailType),
			Detail:       aws.String(string(detail)),
		}})
	}
	var failed []FailedEntry
	for start := 0; start < len(todo); start += MaxEntries {
		chunk := todo[start:min(start+MaxEntries, len(todo))]
		f, err := p.putChunk(ctx, chunk)
		failed = append(failed, f...)
		if err != nil {
			for _, rest := range todo[start+len(chunk):] {
				failed = append(failed, FailedEntry{EventID: rest.ev.Detail.Metadata.EventID, DetailType: rest.ev.DetailType, Message: "not attempted"})
			}
			return &PublishError{Failed: failed, Err: err}
		}
	}
	if len(failed) > 0 {
		return &PublishError{Failed: failed}
	}
	return nil
}

// putChunk sends at most MaxEntries entries, re-sending the transiently failed ones. It
// returns the entries given up on, and a request error with every entry still pending
// listed among them.
func (p *Publisher) putChunk(ctx context.Context, chunk []pending) ([]FailedEntry, error) {
	var failed []FailedEntry
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if err := p.Sleep(ctx, retry.Backoff(attempt-1, p.BaseDelay, p.MaxDelay)); err != nil {
				return append(failed, asFailed(chunk, "", "not published: "+err.Error())...), err
			}
		}
		entries := make([]types.PutEventsRequestEntry, len(chunk))
		for i, pe := range chunk {
			entries[i] = pe.entry
		}
		out, err := p.c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			err = fmt.Errorf("put events on bus %s: %w", p.busName, err)
			return append(failed, asFailed(chunk, "", err.Error())...), err
		}
		if out.FailedEntryCount == 0 {
			return failed, nil
		}
		var retry []pending
		for i, pe := range chunk {
			if i >= len(out.Entries) {
				// A response shorter than the request: resend what it does not account for.
				retry = append(retry, pe)
				continue
			}
			r := out.Entries[i]
			code := aws.ToString(r.ErrorCode)
			if code == "" && r.EventId != nil {
				continue
			}
			if permanent[code] || attempt >= p.MaxAttempts {
				failed = append(failed, FailedEntry{
					EventID: pe.ev.Detail.Metadata.EventID, DetailType: pe.ev.DetailType,
					Code: code, Message: aws.ToString(r.ErrorMessage),
				})
				continue
			}
			retry = append(retry, pe)
		}
		if len(retry) == 0 {
			return failed, nil
		}
		if attempt >= p.MaxAttempts {
			return append(failed, asFailed(retry, "", "no result entry")...), nil
		}
		chunk = retry
	}
}

func asFailed(ps []pending, code, msg string) []FailedEntry {
	out := make([]FailedEntry, len(ps))
	for i, pe := range ps {
		out[i] = FailedEntry{EventID: pe.ev.Detail.Metadata.EventID, DetailType: pe.ev.DetailType, Code: code, Message: msg}
	}
	return out
}

var _ API = (*eventbridge.Client)(nil)
