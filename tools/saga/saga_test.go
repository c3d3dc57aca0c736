package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	invhandler "github.com/orderflow/orderflow/pkg/handler/inventory"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
	"github.com/orderflow/orderflow/pkg/tasktoken"
	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/template"
)

// Paths of the deployed definitions, relative to this package.
const (
	templatePath    = "../../template.yaml"
	stateMachineID  = "OrderProcessingStateMachine"
	account         = "123456789012" // moto's default account
	executionBudget = 40 * time.Second
)

// stack is one copy of the order-processing saga's resources in the emulator, wired to
// the real handlers.
type stack struct {
	sfn        *sfn.Client
	orders     *dynamo.OrderStore
	inventory  *dynamo.InventoryStore
	source     string
	machineARN string
}

// newStack creates the tables, queues and state machine for one test, registers the
// process function on the Lambda endpoint and starts the inventory function's poller.
// Everything is removed when the test ends. There is no bus: the saga only writes status,
// and the events of those writes come from the orders table's stream (the publisher,
// tested in pkg/handler/publisher and end to end in cmd/orderflow/internal/stack).
func newStack(t *testing.T) *stack {
	t.Helper()
	e := env(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(e.Config)
	sq := sqs.NewFromConfig(e.Config)
	s := &stack{sfn: sfn.NewFromConfig(e.Config), source: event.DefaultSource}

	ordersTable := e.Name(t, "orders")
	e.CreateTable(t, awstest.TableSpec{Name: ordersTable, HashKey: "order_id",
		GSIs: []awstest.GSISpec{{Name: "customer-index", HashKey: "customer_id", RangeKey: "created_at"}}})
	inventoryTable := e.Name(t, "inventory")
	e.CreateTable(t, awstest.TableSpec{Name: inventoryTable, HashKey: "pk"})
	s.orders = dynamo.NewOrderStore(db, ordersTable)
	s.inventory = dynamo.NewInventoryStore(db, inventoryTable)

	commands := e.CreateQueue(t, awstest.QueueSpec{Name: e.Name(t, "inventory-commands"), DLQ: true, VisibilityTimeout: 5})

	logs := &awstest.SyncBuffer{}
	log := slog.New(logging.NewHandler(logs, slog.LevelDebug))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler logs:\n%s", logs.String())
		}
	})

	fnName := e.Name(t, "process")
	ph := &process.Handler{
		Orders:   s.orders,
		Catalog:  s.inventory,
		Payments: payment.Gateway{Limit: payment.DefaultLimit},
		Log:      log,
	}
	t.Cleanup(lambdaAPI.register(fnName, func(ctx context.Context, requestID string, payload []byte) ([]byte, string, string) {
		return invoke(ctx, ph.Handle, requestID, payload)
	}))
	ih := &invhandler.Handler{Store: s.inventory, Tokens: tasktoken.NewClient(s.sfn), Log: log}
	pollQueue(t, sq, commands.URL, commands.ARN, ih.Handle)

	def := definition(t, map[string]string{
		"ProcessFunctionArn":       fmt.Sprintf("arn:aws:lambda:us-east-1:%s:function:%s", account, fnName),
		"InventoryCommandQueueUrl": commands.URL,
		// The emulator's partition is aws.
		"SqsSendMessageWaitForTaskToken": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
	})
	sm, err := s.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(e.Name(t, "order-processing")),
		Definition: aws.String(def),
		RoleArn:    aws.String(fmt.Sprintf("arn:aws:iam::%s:role/order-processing", account)),
		Type:       sfntypes.StateMachineTypeStandard,
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	s.machineARN = aws.ToString(sm.StateMachineArn)
	t.Cleanup(func() {
		if _, err := s.sfn.DeleteStateMachine(context.Background(), &sfn.DeleteStateMachineInput{StateMachineArn: sm.StateMachineArn}); err != nil {
			t.Logf("delete state machine: %v", err)
		}
	})
	return s
}

// definition returns the state machine definition of template.yaml's
// OrderProcessingStateMachine with its DefinitionSubstitutions replaced by values. It
// fails the test when the template substitutes a key values does not map, or values maps
// a key the template does not have, so the test cannot drift from the template.
func definition(t *testing.T, values map[string]string) string {
	t.Helper()
	tpl, err := template.Load(templatePath)
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	res, ok := tpl.Resources[stateMachineID]
	if !ok {
		t.Fatalf("%s has no resource %s", templatePath, stateMachineID)
	}
	uri, ok := res.Properties["DefinitionUri"].(string)
	if !ok {
		t.Fatalf("%s: DefinitionUri is %T, want a local path", stateMachineID, res.Properties["DefinitionUri"])
	}
	data, err := os.ReadFile(filepath.Join(tpl.Dir, uri))
	if err != nil {
		t.Fatalf("read definition: %v", err)
	}
	subs, _ := res.Properties["DefinitionSubstitutions"].(map[string]any)
	var unmapped, stale []string
	for k := range subs {
		if _, ok := values[k]; !ok {
			unmapped = append(unmapped, k)
		}
	}
	for k := range values {
		if _, ok := subs[k]; !ok {
			stale = append(stale, k)
		}
	}
	sort.Strings(unmapped)
	sort.Strings(stale)
	if len(unmapped) > 0 {
		t.Errorf("%s DefinitionSubstitutions %v are not mapped to test resources", stateMachineID, unmapped)
	}
	if len(stale) > 0 {
		t.Errorf("the test maps %v, which %s's DefinitionSubstitutions no longer have", stale, stateMachineID)
	}
	def := string(data)
	for k, v := range values {
		def = strings.ReplaceAll(def, "${"+k+"}", v)
	}
	if left := template.SubNames(def); len(left) > 0 {
		t.Errorf("placeholders left in the definition after substitution: %v", left)
	}
	if t.Failed() {
		t.FailNow()
	}
	return def
}

// scenario is one order through the saga and what must hold afterwards.
type scenario struct {
	name  string
	stock []inventory.Item // seeded before the order
	lines []order.Line
	token string
	// notStored starts the execution for an order that is not in the table, the way to
	// make the process function fail with an error no Catch names.
	notStored bool

	// wantExec is the execution's final status (default SUCCEEDED) and wantError its
	// error when it fails; wantStates the states it entered, in order.
	wantExec   sfntypes.ExecutionStatus
	wantError  string
	wantStates []string

	// faults are injected into the task calls of the order's execution (see fault); each
	// must fire as often as its Times. wantFailures are error names the execution's
	// history must show (failed attempts that were retried or caught).
	faults       func(orderID string) []*fault
	wantFailures []string
	// budget bounds the wait for the execution (default executionBudget).
	budget time.Duration

	wantStatus      order.Status // "" when the order must not exist
	wantReason      order.Reason
	wantTotal       int64
	wantStock       map[string]int64
	wantReservation inventory.ReservationState // "" for none
}

func TestOrderProcessing(t *testing.T) {
	s := newStack(t)
	item := func(sku string, price, stock int64) inventory.Item {
		return inventory.Item{SKU: sku, Price: price, Currency: "USD", Stock: stock}
	}
	tests := []scenario{
		{
			name:            "happy path",
			stock:           []inventory.Item{item("happy-widget", 1250, 10), item("happy-gadget", 499, 3)},
			lines:           []order.Line{{SKU: "happy-widget", Quantity: 2}, {SKU: "happy-gadget", Quantity: 3}},
			token:           "tok_visa",
			wantStatus:      order.StatusConfirmed,
			wantTotal:       2*1250 + 3*499,
			wantStock:       map[string]int64{"happy-widget": 8, "happy-gadget": 0},
			wantReservation: inventory.Reserved,
			wantStates:      happyStates,
		},
		{
			name:       "out of stock",
			stock:      []inventory.Item{item("oos-widget", 1250, 10), item("oos-gadget", 499, 1)},
			lines:      []order.Line{{SKU: "oos-widget", Quantity: 2}, {SKU: "oos-gadget", Quantity: 3}},
			token:      "tok_visa",
			wantStatus: order.StatusCancelled,
			wantReason: order.ReasonOutOfStock,
			wantTotal:  2*1250 + 3*499,
			wantStock:  map[string]int64{"oos-widget": 10, "oos-gadget": 1},
			wantStates: []string{"ValidateAndPrice", "ReserveInventory", "CancelOutOfStock", "MarkCancelled", "CancelledOutcome", "OrderCancelled"},
		},
		{
			name:            "payment declined",
			stock:           []inventory.Item{item("declined-widget", 1250, 5)},
			lines:           []order.Line{{SKU: "declined-widget", Quantity: 2}},
			token:           payment.DeclineToken,
			wantStatus:      order.StatusCancelled,
			wantReason:      order.ReasonPaymentDeclined,
			wantTotal:       2 * 1250,
			wantStock:       map[string]int64{"declined-widget": 5},
			wantReservation: inventory.Released,
			wantStates: []string{"ValidateAndPrice", "ReserveInventory", "AuthorizePayment", "PaymentDeclined",
				"ReleaseInventory", "MarkCancelled", "CancelledOutcome", "OrderCancelled"},
		},
		{
			name:       "unknown sku",
			stock:      []inventory.Item{item("unknown-widget", 1250, 5)},
			lines:      []order.Line{{SKU: "unknown-widget", Quantity: 1}, {SKU: "no-such-sku", Quantity: 1}},
			token:      "tok_visa",
			wantStatus: order.StatusRejected,
			wantReason: order.ReasonUnknownSKU,
			wantStock:  map[string]int64{"unknown-widget": 5},
			wantStates: []string{"ValidateAndPrice", "RejectUnknownSKU", "MarkRejected", "OrderRejected"},
		},
		{
			name:       "currency mismatch",
			stock:      []inventory.Item{{SKU: "euro-widget", Price: 900, Currency: "EUR", Stock: 5}},
			lines:      []order.Line{{SKU: "euro-widget", Quantity: 1}},
			token:      "tok_visa",
			wantStatus: order.StatusRejected,
			wantReason: order.ReasonInvalidOrder,
			wantStock:  map[string]int64{"euro-widget": 5},
			wantStates: []string{"ValidateAndPrice", "RejectInvalidOrder", "MarkRejected", "OrderRejected"},
		},
		{
			name:      "processing failed",
			lines:     []order.Line{{SKU: "lost-widget", Quantity: 1}},
			token:     "tok_visa",
			notStored: true,
			wantExec:  sfntypes.ExecutionStatusFailed,
			wantError: "OrderProcessingFailed",
			wantStates: []string{"ValidateAndPrice", "FailBeforeReservation", "MarkCancelled", "MarkFailed",
				"ProcessingFailed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, tt)
		})
	}
}

// run seeds the catalog, stores the order PENDING as ingest does, starts an execution
// with the Order Created event as EventBridge delivers it, and checks the outcome.
func (s *stack) run(t *testing.T, tt scenario) {
	o, input := s.prepare(t, tt)
	var faults []*fault
	if tt.faults != nil {
		faults = tt.faults(o.ID)
		for _, f := range faults {
			t.Cleanup(lambdaAPI.inject(f))
		}
	}
	arn := s.start(t, o.ID, input)
	s.checkExecution(t, tt, arn)
	for i, f := range faults {
		if f.Hits() != int64(f.Times) {
			t.Errorf("fault %d fired %d times, want %d", i, f.Hits(), f.Times)
		}
	}
	if failures := s.failures(t, arn); !containsAll(failures, tt.wantFailures) {
		t.Errorf("failures in the history = %q, want %q among them", failures, tt.wantFailures)
	}
	s.checkOrder(t, tt, o.ID, o.CorrelationID)
}

// prepare seeds the catalog, stores the order PENDING as ingest does (unless notStored)
// and returns it with the Order Created event as EventBridge delivers it.
func (s *stack) prepare(t *testing.T, tt scenario) (*order.Order, []byte) {
	t.Helper()
	ctx := context.Background()
	for _, it := range tt.stock {
		if err := s.inventory.Put(ctx, it); err != nil {
			t.Fatalf("seed %s: %v", it.SKU, err)
		}
	}
	now := time.Now().UTC()
	id := order.NewID(now)
	o, err := order.New(id, order.Request{CustomerID: "cust-saga", Currency: "USD", Lines: tt.lines, PaymentToken: tt.token}, "corr-"+id, now)
	if err != nil {
		t.Fatalf("order.New: %v", err)
	}
	if !tt.notStored {
		if err := s.orders.Create(ctx, o); err != nil {
			t.Fatalf("create order: %v", err)
		}
	}
	return o, s.createdEvent(t, o, now)
}

// start starts an execution named name with input and returns its ARN.
func (s *stack) start(t *testing.T, name string, input []byte) string {
	t.Helper()
	start, err := s.sfn.StartExecution(context.Background(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.machineARN), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	return aws.ToString(start.ExecutionArn)
}

// checkExecution waits for the execution and checks its status, error and states.
func (s *stack) checkExecution(t *testing.T, tt scenario, arn string) {
	t.Helper()
	budget := tt.budget
	if budget == 0 {
		budget = executionBudget
	}
	exec := s.wait(t, arn, budget)
	wantExec := tt.wantExec
	if wantExec == "" {
		wantExec = sfntypes.ExecutionStatusSucceeded
	}
	if exec.Status != wantExec || aws.ToString(exec.Error) != tt.wantError {
		t.Errorf("execution %s: %s (%s: %s), want %s %s\n%s", arn, exec.Status,
			aws.ToString(exec.Error), aws.ToString(exec.Cause), wantExec, tt.wantError, s.history(arn))
	}
	if states := s.states(t, arn); !slices.Equal(states, tt.wantStates) {
		t.Errorf("states entered = %q\nwant %q\n%s", states, tt.wantStates, s.history(arn))
	}
}

// checkOrder checks the stored order, the stock and the reservation.
func (s *stack) checkOrder(t *testing.T, tt scenario, id, correlationID string) {
	t.Helper()
	ctx := context.Background()
	got, err := s.orders.Get(ctx, id)
	if tt.wantStatus == "" {
		if !errors.Is(err, order.ErrNotFound) {
			t.Errorf("get order = %v, %v; want order.ErrNotFound", got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("get order: %v", err)
	}
	if got.Status != tt.wantStatus || got.FailureReason != tt.wantReason || got.Total != tt.wantTotal {
		t.Errorf("order = status %s, reason %q, total %d; want %s, %q, %d",
			got.Status, got.FailureReason, got.Total, tt.wantStatus, tt.wantReason, tt.wantTotal)
	}
	for sku, want := range tt.wantStock {
		it, err := s.inventory.Get(ctx, sku)
		if err != nil {
			t.Errorf("get stock of %s: %v", sku, err)
			continue
		}
		if it.Stock != want {
			t.Errorf("stock of %s = %d, want %d", sku, it.Stock, want)
		}
	}
	state, _, err := s.inventory.Reservation(ctx, id)
	switch {
	case tt.wantReservation == "" && !errors.Is(err, inventory.ErrNoReservation):
		t.Errorf("reservation = %q, %v; want none", state, err)
	case tt.wantReservation != "" && (err != nil || state != tt.wantReservation):
		t.Errorf("reservation = %q, %v; want %s", state, err, tt.wantReservation)
	}
}

// createdEvent returns the Order Created event for o as EventBridge delivers it to a
// Step Functions target: the whole event, detail included.
func (s *stack) createdEvent(t *testing.T, o *order.Order, now time.Time) []byte {
	t.Helper()
	ev, ok := event.FromOrder(o, now)
	if !ok || ev.DetailType != event.OrderCreated {
		t.Fatalf("FromOrder(PENDING) = %q, %v; want %q", ev.DetailType, ok, event.OrderCreated)
	}
	raw, err := json.Marshal(map[string]any{
		"version":     "0",
		"id":          order.NewID(now),
		"detail-type": ev.DetailType,
		"source":      s.source,
		"account":     account,
		"time":        now.Format(time.RFC3339),
		"region":      "us-east-1",
		"resources":   []string{},
		"detail":      ev.Detail,
	})
	if err != nil {
		t.Fatalf("encode Order Created: %v", err)
	}
	if err := schemas.ValidateEvent(raw); err != nil {
		t.Fatalf("the test's Order Created event is invalid: %v", err)
	}
	return raw
}

// wait polls DescribeExecution until the execution leaves RUNNING, for up to budget.
func (s *stack) wait(t *testing.T, arn string, budget time.Duration) *sfn.DescribeExecutionOutput {
	t.Helper()
	var d *sfn.DescribeExecutionOutput
	awstest.Eventually(t, budget, func() (bool, string) {
		var err error
		d, err = s.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return false, fmt.Sprintf("DescribeExecution: %v", err)
		}
		if d.Status == sfntypes.ExecutionStatusRunning {
			return false, "execution still RUNNING\n" + s.history(arn)
		}
		return true, ""
	})
	return d
}

// states returns the names of the states the execution entered, in order.
func (s *stack) states(t *testing.T, arn string) []string {
	t.Helper()
	out, err := s.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		t.Fatalf("GetExecutionHistory: %v", err)
	}
	var names []string
	for _, e := range out.Events {
		if e.StateEnteredEventDetails != nil {
			names = append(names, aws.ToString(e.StateEnteredEventDetails.Name))
		}
	}
	return names
}

// failures returns the error names of the failed task attempts in the execution's
// history, in order.
func (s *stack) failures(t *testing.T, arn string) []string {
	t.Helper()
	out, err := s.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		t.Fatalf("GetExecutionHistory: %v", err)
	}
	var names []string
	for _, e := range out.Events {
		switch {
		case e.TaskFailedEventDetails != nil:
			names = append(names, aws.ToString(e.TaskFailedEventDetails.Error))
		case e.LambdaFunctionFailedEventDetails != nil:
			names = append(names, aws.ToString(e.LambdaFunctionFailedEventDetails.Error))
		}
	}
	return names
}

// containsAll reports whether every name in want occurs in got.
func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// history renders the execution's events, for failure messages.
func (s *stack) history(arn string) string {
	out, err := s.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		return fmt.Sprintf("(history: %v)", err)
	}
	var b strings.Builder
	for _, e := range out.Events {
		fmt.Fprintf(&b, "  %d %s", e.Id, e.Type)
		switch {
		case e.StateEnteredEventDetails != nil:
			fmt.Fprintf(&b, " %s", aws.ToString(e.StateEnteredEventDetails.Name))
		case e.TaskFailedEventDetails != nil:
			fmt.Fprintf(&b, " %s: %s", aws.ToString(e.TaskFailedEventDetails.Error), aws.ToString(e.TaskFailedEventDetails.Cause))
		case e.LambdaFunctionFailedEventDetails != nil:
			fmt.Fprintf(&b, " %s: %s", aws.ToString(e.LambdaFunctionFailedEventDetails.Error), aws.ToString(e.LambdaFunctionFailedEventDetails.Cause))
		case e.ExecutionFailedEventDetails != nil:
			fmt.Fprintf(&b, " %s: %s", aws.ToString(e.ExecutionFailedEventDetails.Error), aws.ToString(e.ExecutionFailedEventDetails.Cause))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
