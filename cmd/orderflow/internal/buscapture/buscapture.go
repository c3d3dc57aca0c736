// Package buscapture routes the events of an EventBridge bus that match a pattern to an
// SQS queue of their own: how `orderflow orders watch`, the chaos run and the end-to-end
// tests see what the bus carried.
package buscapture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// QueueAPI is the part of *sqs.Client a Capture uses.
type QueueAPI interface {
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
	DeleteQueue(ctx context.Context, in *sqs.DeleteQueueInput, optFns ...func(*sqs.Options)) (*sqs.DeleteQueueOutput, error)
}

// RuleAPI is the part of *eventbridge.Client a Capture uses.
type RuleAPI interface {
	PutRule(ctx context.Context, in *eventbridge.PutRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	PutTargets(ctx context.Context, in *eventbridge.PutTargetsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
	RemoveTargets(ctx context.Context, in *eventbridge.RemoveTargetsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.RemoveTargetsOutput, error)
	DeleteRule(ctx context.Context, in *eventbridge.DeleteRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DeleteRuleOutput, error)
}

// TargetID is the id of the rule's one target, the queue.
const TargetID = "capture"

// Options tune a Capture; the zero value is SQS's and EventBridge's defaults.
type Options struct {
	// Description is the rule's.
	Description string
	// Retention is the queue's MessageRetentionPeriod in seconds; 0 keeps SQS's default.
	Retention int
}

// Capture is a rule on a bus that sends every event matching its pattern to a queue.
type Capture struct {
	// Name is the name of the queue and of the rule.
	Name               string
	QueueURL, QueueARN string

	bus    string
	queues QueueAPI
	rules  RuleAPI
	rule   bool // the rule exists
}

// New creates the queue name, a rule name on busName with pattern, the queue policy that
// lets the rule send to the queue (AWS requires it), and the rule's target. It returns an
// error naming the step that failed, after removing what it had created.
func New(ctx context.Context, queues QueueAPI, rules RuleAPI, busName, name, pattern string, o Options) (*Capture, error) {
	c := &Capture{Name: name, bus: busName, queues: queues, rules: rules}
	var attrs map[string]string
	if o.Retention > 0 {
		attrs = map[string]string{string(sqstypes.QueueAttributeNameMessageRetentionPeriod): fmt.Sprint(o.Retention)}
	}
	q, err := queues.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	c.QueueURL = aws.ToString(q.QueueUrl)
	if err := c.subscribe(ctx, pattern, o.Description); err != nil {
		return nil, errors.Join(err, c.Close(context.WithoutCancel(ctx)))
	}
	return c, nil
}

func (c *Capture) subscribe(ctx context.Context, pattern, description string) error {
	attrs, err := c.queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(c.QueueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("queue %s arn: %w", c.Name, err)
	}
	c.QueueARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	in := &eventbridge.PutRuleInput{Name: aws.String(c.Name), EventBusName: aws.String(c.bus), EventPattern: aws.String(pattern)}
	if description != "" {
		in.Description = aws.String(description)
	}
	rule, err := c.rules.PutRule(ctx, in)
	if err != nil {
		return fmt.Errorf("create rule on bus %s: %w", c.bus, err)
	}
	c.rule = true
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "events.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  c.QueueARN,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": aws.ToString(rule.RuleArn)}},
		}},
	})
	if _, err := c.queues.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(c.QueueURL), Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): string(policy)},
	}); err != nil {
		return fmt.Errorf("queue %s policy: %w", c.Name, err)
	}
	out, err := c.rules.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(c.Name), EventBusName: aws.String(c.bus),
		Targets: []ebtypes.Target{{Id: aws.String(TargetID), Arn: aws.String(c.QueueARN)}},
	})
	if err != nil {
		return fmt.Errorf("add queue target to rule %s: %w", c.Name, err)
	}
	if out.FailedEntryCount > 0 && len(out.FailedEntries) > 0 {
		return fmt.Errorf("add queue target to rule %s: %s", c.Name, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return nil
}

// Close removes the rule's target, the rule and the queue; it returns every error met.
func (c *Capture) Close(ctx context.Context) error {
	var errs []error
	if c.rule {
		if _, err := c.rules.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(c.Name), EventBusName: aws.String(c.bus), Ids: []string{TargetID}}); err != nil {
			errs = append(errs, fmt.Errorf("remove target of rule %s: %w", c.Name, err))
		}
		if _, err := c.rules.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(c.Name), EventBusName: aws.String(c.bus)}); err != nil {
			errs = append(errs, fmt.Errorf("delete rule %s: %w", c.Name, err))
		}
	}
	if _, err := c.queues.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(c.QueueURL)}); err != nil {
		errs = append(errs, fmt.Errorf("delete queue %s: %w", c.Name, err))
	}
	return errors.Join(errs...)
}
