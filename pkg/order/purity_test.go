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

// The repository has two halves (pkg/README.md, tools/README.md). The product:
// functions/ and pkg/ (what `sam build` ships, with the product's own test doubles) and
// events/ (the contract it publishes). The tooling: cmd/ and tools/ (the local stack, the
// CLI, chaos, audit, bench, the Lambda host, the emulator harness, the template and
// contract checks) and bench/. Tooling may import the product, never the reverse:
// nothing the product's packages import, directly or not, lies in the tooling half.
func TestProductImportsNoTooling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/orderflow/orderflow/"
	out, err := exec.Command("go", "list", "-deps", mod+"functions/...", mod+"pkg/...", mod+"events/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	product := 0
	for _, dep := range deps {
		for _, tooling := range []string{"cmd/", "tools/", "bench/"} {
			if strings.HasPrefix(dep, mod+tooling) {
				t.Errorf("the product depends on %s, which is tooling", dep)
			}
		}
		if strings.HasPrefix(dep, mod+"pkg/") {
			product++
		}
	}
	if product < 20 {
		t.Fatalf("go list found %d packages under pkg/, want the whole product: %v", product, deps)
	}
}
