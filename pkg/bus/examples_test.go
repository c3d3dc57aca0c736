package bus_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/eventcontract"
)

// The examples of the AsyncAPI document (tools/eventcontract) are what a rule target
// receives: the example published through the Publisher arrives over a real rule with
// the same envelope members, the same detail-type and source and, byte for byte once
// decoded, the same detail.
func TestContractExamplesAreWhatTargetsReceive(t *testing.T) {
	env := awstest.Env(t)
	busName, queueURL := busWithQueue(t, env, event.DefaultSource) // the rule matches Order Created
	exs, err := eventcontract.Examples()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(exs, func(e eventcontract.Example) bool { return e.Event.DetailType == event.OrderCreated })
	if i < 0 {
		t.Fatal("no Order Created example")
	}
	ex := exs[i]
	p := bus.NewPublisher(eventbridge.NewFromConfig(env.Config), busName, event.DefaultSource)
	if err := p.Publish(context.Background(), ex.Event); err != nil {
		t.Fatal(err)
	}
	got := collect(t, env, queueURL, 1)[0]
	var real, want map[string]any
	if err := json.Unmarshal(got.raw, &real); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ex.Delivered, &want); err != nil {
		t.Fatal(err)
	}
	// moto 5.2.1 leaves "account" out of what it delivers (its default input template,
	// moto/events/utils.py, lacks it); AWS's envelope always has it. Nothing else may differ.
	var missing, extra []string
	for k := range want {
		if _, ok := real[k]; !ok && k != "account" {
			missing = append(missing, k)
		}
	}
	for k := range real {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra) > 0 {
		t.Errorf("the example has members %v that the delivered event lacks, and lacks %v", missing, extra)
	}
	for _, k := range []string{"version", "detail-type", "source", "detail"} {
		if !reflect.DeepEqual(real[k], want[k]) {
			t.Errorf("%s: delivered %v, example %v", k, real[k], want[k])
		}
	}
}
