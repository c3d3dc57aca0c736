package tasktoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/tasktoken"
)

type fakeSFN struct {
	success   func(in *sfn.SendTaskSuccessInput) error
	failure   func(in *sfn.SendTaskFailureInput) error
	heartbeat func(in *sfn.SendTaskHeartbeatInput) error
}

func (f fakeSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return &sfn.SendTaskSuccessOutput{}, f.success(in)
}

func (f fakeSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	return &sfn.SendTaskFailureOutput{}, f.failure(in)
}

func (f fakeSFN) SendTaskHeartbeat(_ context.Context, in *sfn.SendTaskHeartbeatInput, _ ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error) {
	return &sfn.SendTaskHeartbeatOutput{}, f.heartbeat(in)
}

func failing(err error) fakeSFN {
	return fakeSFN{
		success:   func(*sfn.SendTaskSuccessInput) error { return err },
		failure:   func(*sfn.SendTaskFailureInput) error { return err },
		heartbeat: func(*sfn.SendTaskHeartbeatInput) error { return err },
	}
}

func TestErrorTranslation(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	cases := []struct {
		name     string
		err      error
		wantGone bool
	}{
		{"task timed out", &types.TaskTimedOut{Message: aws.String("timed out")}, true},
		{"task does not exist", &types.TaskDoesNotExist{Message: aws.String("gone")}, true},
		{"invalid token", &types.InvalidToken{Message: aws.String("bad")}, true},
		{"generic api error with a gone code", &smithy.GenericAPIError{Code: "TaskDoesNotExist"}, true},
		{"throttling stays transient", throttled, false},
		{"network error", errors.New("connection reset"), false},
	}
	ops := []struct {
		name string
		call func(*tasktoken.Client) error
	}{
		{"succeed", func(c *tasktoken.Client) error {
			return c.Succeed(context.Background(), "tok", map[string]bool{"ok": true})
		}},
		{"fail", func(c *tasktoken.Client) error { return c.Fail(context.Background(), "tok", "OutOfStock", "SKU-1") }},
		{"heartbeat", func(c *tasktoken.Client) error { return c.Heartbeat(context.Background(), "tok") }},
	}
	for _, tc := range cases {
		for _, op := range ops {
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				err := op.call(tasktoken.NewClient(failing(tc.err)))
				if got := errors.Is(err, order.ErrTokenGone); got != tc.wantGone {
					t.Errorf("errors.Is(%v, ErrTokenGone) = %v, want %v", err, got, tc.wantGone)
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("err = %v, want it to wrap the original", err)
				}
			})
		}
	}
}

func TestSucceedOutput(t *testing.T) {
	cases := []struct {
		name   string
		output any
		want   string
	}{
		{"struct", struct {
			OrderID  string `json:"orderId"`
			Reserved bool   `json:"reserved"`
		}{"o-1", true}, `{"orderId":"o-1","reserved":true}`},
		{"raw json", json.RawMessage(`{"released":true}`), `{"released":true}`},
		{"nil", nil, `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *sfn.SendTaskSuccessInput
			c := tasktoken.NewClient(fakeSFN{success: func(in *sfn.SendTaskSuccessInput) error { got = in; return nil }})
			if err := c.Succeed(context.Background(), "tok-1", tc.output); err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.Output) != tc.want || aws.ToString(got.TaskToken) != "tok-1" {
				t.Errorf("output %q token %q, want %q tok-1", aws.ToString(got.Output), aws.ToString(got.TaskToken), tc.want)
			}
		})
	}
	t.Run("unencodable", func(t *testing.T) {
		c := tasktoken.NewClient(fakeSFN{success: func(*sfn.SendTaskSuccessInput) error { t.Error("sent"); return nil }})
		if err := c.Succeed(context.Background(), "tok", make(chan int)); err == nil {
			t.Error("want an encoding error")
		}
	})
}

func TestFailTruncates(t *testing.T) {
	cases := []struct {
		name, errName, cause string
		wantErr, wantCause   int // rune counts
	}{
		{"short", "OutOfStock", "SKU-1 short", 10, 11},
		{"long", strings.Repeat("é", 300), strings.Repeat("x", 40000), tasktoken.MaxErrorLen, tasktoken.MaxCauseLen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *sfn.SendTaskFailureInput
			c := tasktoken.NewClient(fakeSFN{failure: func(in *sfn.SendTaskFailureInput) error { got = in; return nil }})
			if err := c.Fail(context.Background(), "tok", tc.errName, tc.cause); err != nil {
				t.Fatal(err)
			}
			if n := len([]rune(aws.ToString(got.Error))); n != tc.wantErr {
				t.Errorf("error runes = %d, want %d", n, tc.wantErr)
			}
			if n := len([]rune(aws.ToString(got.Cause))); n != tc.wantCause {
				t.Errorf("cause runes = %d, want %d", n, tc.wantCause)
			}
			if !strings.HasPrefix(tc.errName, aws.ToString(got.Error)) {
				t.Errorf("error %q is not a prefix of %q", aws.ToString(got.Error), tc.errName)
			}
		})
	}
}
