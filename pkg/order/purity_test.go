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
