package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// replayAPI is what `events replay` needs of EventBridge.
type replayAPI interface {
	DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	DescribeArchive(ctx context.Context, in *eventbridge.DescribeArchiveInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeArchiveOutput, error)
	ListRules(ctx context.Context, in *eventbridge.ListRulesInput, optFns ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error)
	DescribeRule(ctx context.Context, in *eventbridge.DescribeRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	StartReplay(ctx context.Context, in *eventbridge.StartReplayInput, optFns ...func(*eventbridge.Options)) (*eventbridge.StartReplayOutput, error)
	DescribeReplay(ctx context.Context, in *eventbridge.DescribeReplayInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeReplayOutput, error)
}

// replayer replays a window of the orders bus's archive to the bus's rules.
type replayer struct {
	API     replayAPI
	Bus     string
	Archive string
	Source  string
	// From and To bound the events' time (inclusive).
	From, To time.Time
	// DetailTypes narrows the replay to the rules that match one of them; Rules names
	// the rules outright. Both empty: every rule of the bus.
	DetailTypes []string
	Rules       []string
	Name        string
	Wait        bool
	// Poll is the DescribeReplay interval while waiting.
	Poll time.Duration
}

func (e *env) eventsReplay(ctx context.Context, args []string) error {
	var sf stackFlags
	fs := e.newFlagSet("events replay", &sf)
	from := fs.String("from", "", "start of the window, RFC 3339 (required)")
	to := fs.String("to", "", "end of the window, RFC 3339 (default now)")
	var types, rules listFlag
	fs.Var(&types, "detail-type", "replay only to the rules that match this detail-type (repeatable)")
	fs.Var(&rules, "rule", "replay only to this rule of the bus, by name (repeatable)")
	archive := fs.String("archive", "", "the archive (default orders-<stage>-archive)")
	name := fs.String("name", "", "the replay's name (default orderflow-<from>-<to>)")
	wait := fs.Bool("wait", true, "wait until the replay has completed")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos); err != nil {
		return err
	}
	r := &replayer{Bus: sf.bus(), Archive: *archive, Source: sf.EventSource, DetailTypes: types, Rules: rules,
		Name: *name, Wait: *wait, Poll: time.Second}
	if r.Archive == "" {
		r.Archive = "orders-" + sf.Stage + "-archive"
	}
	if *from == "" {
		return usageError("events replay: --from is required")
	}
	if r.From, err = time.Parse(time.RFC3339, *from); err != nil {
		return usageError("events replay: --from: %v", err)
	}
	r.To = time.Now().UTC()
	if *to != "" {
		if r.To, err = time.Parse(time.RFC3339, *to); err != nil {
			return usageError("events replay: --to: %v", err)
		}
	}
	if !r.From.Before(r.To) {
		return usageError("events replay: --from %s is not before --to %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	}
	if r.Name == "" {
		r.Name = fmt.Sprintf("orderflow-%s-%s", r.From.UTC().Format("20060102T150405"), r.To.UTC().Format("20060102T150405"))
	}
	cfg, err := e.awsConfig(&sf)
	if err != nil {
		return err
	}
	r.API = eventbridge.NewFromConfig(cfg)
	return r.run(ctx, e)
}

// run starts the replay (and waits for it): the archive's events of [From, To] go to the
// chosen rules of the bus, each rule's pattern still applying.
func (r *replayer) run(ctx context.Context, e *env) error {
	bus, err := r.API.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(r.Bus)})
	if err != nil {
		return fmt.Errorf("bus %s: %w", r.Bus, err)
	}
	arc, err := r.API.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(r.Archive)})
	if err != nil {
		return fmt.Errorf("archive %s: %w", r.Archive, err)
	}
	filter, err := r.rules(ctx)
	if err != nil {
		return err
	}
	dest := &ebtypes.ReplayDestination{Arn: bus.Arn}
	switch {
	case len(r.Rules) == 0 && len(r.DetailTypes) == 0:
		fmt.Fprintf(e.stderr, "replaying to every rule of %s\n", r.Bus)
	case len(filter) == 0:
		return fmt.Errorf("no rule of %s matches %s: nothing to replay to", r.Bus, strings.Join(append(slices.Clone(r.Rules), r.DetailTypes...), ", "))
	default:
		for _, f := range filter {
			fmt.Fprintf(e.stderr, "replaying to %s (%s)\n", f.name, f.why)
			dest.FilterArns = append(dest.FilterArns, f.arn)
		}
	}
	out, err := r.API.StartReplay(ctx, &eventbridge.StartReplayInput{ReplayName: aws.String(r.Name), EventSourceArn: arc.ArchiveArn,
		EventStartTime: aws.Time(r.From), EventEndTime: aws.Time(r.To), Destination: dest,
		Description: aws.String("orderflow events replay")})
	if err != nil {
		return fmt.Errorf("start replay %s: %w", r.Name, err)
	}
	fmt.Fprintf(e.stdout, "replay %s %s: %s .. %s from %s\n", r.Name, out.State, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.Archive)
	if !r.Wait {
		return nil
	}
	for {
		d, err := r.API.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(r.Name)})
		if err != nil {
			return fmt.Errorf("replay %s: %w", r.Name, err)
		}
		switch d.State {
		case ebtypes.ReplayStateCompleted:
			fmt.Fprintf(e.stdout, "replay %s COMPLETED\n", r.Name)
			return nil
		case ebtypes.ReplayStateFailed, ebtypes.ReplayStateCancelled:
			return fmt.Errorf("replay %s %s: %s", r.Name, d.State, aws.ToString(d.StateReason))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.Poll):
		}
	}
}

// replayRule is a rule a replay goes to, and why.
type replayRule struct{ name, arn, why string }

// rules returns the rules named by Rules and those of the bus that match a detail-type of
// DetailTypes. EventBridge replays to rules, not by detail-type: a chosen rule whose
// pattern also matches other detail-types receives those of the window too, which a
// consumer that deduplicates on metadata.eventId shrugs off.
func (r *replayer) rules(ctx context.Context) ([]replayRule, error) {
	var out []replayRule
	for _, name := range r.Rules {
		d, err := r.API.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name), EventBusName: aws.String(r.Bus)})
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		out = append(out, replayRule{name: name, arn: aws.ToString(d.Arn), why: "--rule"})
	}
	if len(r.DetailTypes) == 0 {
		return out, nil
	}
	var token *string
	for {
		page, err := r.API.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(r.Bus), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("rules of %s: %w", r.Bus, err)
		}
		for _, rule := range page.Rules {
			if aws.ToString(rule.ManagedBy) != "" || slices.ContainsFunc(out, func(o replayRule) bool { return o.arn == aws.ToString(rule.Arn) }) {
				continue // an archive's own rule, or named already
			}
			if why := r.matches(aws.ToString(rule.EventPattern)); why != "" {
				out = append(out, replayRule{name: aws.ToString(rule.Name), arn: aws.ToString(rule.Arn), why: why})
			}
		}
		if token = page.NextToken; token == nil {
			return out, nil
		}
	}
}

// matches says why an event pattern may match an event of our source with one of
// DetailTypes ("" when it cannot). An exact value decides; a content filter (prefix,
// anything-but, ...) is taken as a possible match.
func (r *replayer) matches(pattern string) string {
	var p map[string]any
	if pattern == "" || json.Unmarshal([]byte(pattern), &p) != nil {
		return ""
	}
	may := func(field, value string) (bool, bool) { // (may match, exactly listed)
		v, ok := p[field]
		if !ok {
			return true, false
		}
		list, _ := v.([]any)
		for _, x := range list {
			if s, ok := x.(string); ok && s == value {
				return true, true
			}
			if _, ok := x.(map[string]any); ok {
				return true, false
			}
		}
		return false, false
	}
	if ok, _ := may("source", r.Source); !ok {
		return ""
	}
	for _, dt := range r.DetailTypes {
		ok, exact := may("detail-type", dt)
		switch {
		case exact:
			return "matches " + dt
		case ok:
			return "may match " + dt + " and other detail-types"
		}
	}
	return ""
}
