package tasktoken_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/tasktoken"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// A token no execution waits for is ErrTokenGone against the emulator too.
func TestBogusTokenIsGoneIntegration(t *testing.T) {
	env := awstest.Env(t)
	c := tasktoken.NewClient(sfn.NewFromConfig(env.Config))
	ctx := context.Background()
	const bogus = "AQCEAAAAKgAAAAMAAAAAAAAAAbogus"
	cases := []struct {
		name string
		call func() error
	}{
		{"succeed", func() error { return c.Succeed(ctx, bogus, map[string]bool{"reserved": true}) }},
		{"fail", func() error { return c.Fail(ctx, bogus, "OutOfStock", "SKU-1") }},
		{"heartbeat", func() error { return c.Heartbeat(ctx, bogus) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, order.ErrTokenGone) {
				t.Fatalf("err = %v, want ErrTokenGone", err)
			}
			t.Logf("emulator answered: %v", err)
		})
	}
}
