package order_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain packages stay pure: nothing they import, directly or not, is the AWS SDK or
// aws-lambda-go.
func TestDomainHasNoAWSDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	domain := []string{"order", "inventory", "payment", "event", "idempotency"}
	for _, p := range domain {
		t.Run(p, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "github.com/orderflow/orderflow/pkg/"+p).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if strings.HasPrefix(dep, "github.com/aws/") {
					t.Errorf("pkg/%s depends on %s", p, dep)
				}
			}
		})
	}
}

// The handlers and the fakes depend on the domain and their own small interfaces only:
// nothing they import, directly or not, is an adapter (pkg/dynamo, bus, topic, ...) or
// the AWS SDK. aws-lambda-go's event types are the handlers' input and allowed.
func TestHandlersAndFakesHaveNoAdapterDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/orderflow/orderflow/"
	allowed := map[string]bool{}
	for _, p := range []string{"order", "inventory", "payment", "event", "idempotency", "logging", "metrics"} {
		allowed[mod+"pkg/"+p] = true
	}
	out, err := exec.Command("go", "list", mod+"pkg/handler/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := append(strings.Fields(string(out)), mod+"pkg/memstore")
	if len(pkgs) < 7 {
		t.Fatalf("go list found %d packages, want the handlers and the fakes: %v", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		t.Run(strings.TrimPrefix(p, mod), func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", p).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				switch {
				case dep == p || allowed[dep]:
				case strings.HasPrefix(dep, mod):
					t.Errorf("%s depends on %s, which is neither the domain nor its own", p, dep)
				case strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2"), strings.HasPrefix(dep, "github.com/aws/smithy-go"):
					t.Errorf("%s depends on the AWS SDK: %s", p, dep)
				}
			}
		})
	}
}

// product lists the deployed product's packages below pkg/ (with functions/...): the
// domain, the handlers, the adapters and what the functions' main packages need. Every
// other package (cmd/..., the local stack's host and emulator, the test harness, the
// template checks, the contract tooling) is developer tooling.
var product = []string{
	"order", "inventory", "payment", "event", "idempotency",
	"handler/...",
	"dynamo/...", "bus", "queue", "topic", "lake", "s3put", "tasktoken",
	"awsconfig", "logging", "metrics", "retry",
}

// Tooling may import the product, never the reverse: what the functions and the product's
// packages import is the product (or outside this module).
func TestProductImportsNoTooling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/orderflow/orderflow/"
	args := []string{"list", mod + "functions/..."}
	for _, p := range product {
		args = append(args, mod+"pkg/"+p)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	isProduct := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		isProduct[p] = true
	}
	out, err = exec.Command("go", append([]string{"list", "-deps"}, args[1:]...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, mod) && !isProduct[dep] {
			t.Errorf("the product depends on %s, which is tooling", dep)
		}
	}
}
