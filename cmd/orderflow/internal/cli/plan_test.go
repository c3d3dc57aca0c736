package cli

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

const repoRoot = "../../../.."

// The README's "Scaling" table is `orderflow plan --rate 10,100,1000,10000` for the
// template's defaults in us-east-1, byte for byte. When this fails, paste the command's
// output between the README's markers.
func TestReadmeScalingTableIsPlanOutput(t *testing.T) {
	readme, err := os.ReadFile(repoRoot + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<!-- BEGIN orderflow plan --rate ([0-9,]+) -->\n(.*?)\n<!-- END orderflow plan -->`).FindSubmatch(readme)
	if m == nil {
		t.Fatal(`README.md has no "<!-- BEGIN orderflow plan --rate … -->" … "<!-- END orderflow plan -->" block`)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"plan", "--rate", string(m[1]), "--region", "us-east-1", "--root", repoRoot}, &out, &errOut, noEnv); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got, want := strings.TrimRight(out.String(), "\n"), string(m[2]); got != want {
		t.Errorf("README's Scaling table is not `orderflow plan --rate %s`; the command prints:\n%s", m[1], got)
	}
}

func TestPlanCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"no rate", []string{"plan"}, ExitUsage, ""},
		{"bad rate", []string{"plan", "--rate", "fast"}, ExitUsage, ""},
		{"zero rate", []string{"plan", "--rate", "0"}, ExitUsage, ""},
		{"bad share", []string{"plan", "--rate", "10", "--hot-sku", "2"}, ExitUsage, ""},
		{"no template", []string{"plan", "--rate", "10", "--root", t.TempDir()}, ExitError, ""},
		{"one rate, hot SKU", []string{"plan", "--rate", "600", "--hot-sku", "1", "--root", repoRoot}, ExitOK, "| DynamoDB | stock item of the hot SKU |"},
		{"a parameter", []string{"plan", "--rate", "1000", "--param", "OrderStreamShards=4", "--root", repoRoot}, ExitOK, "| 4,000 records/s (template) |"},
		{"bad parameter", []string{"plan", "--rate", "10", "--param", "OrderStreamShards=many", "--root", repoRoot}, ExitError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errOut, noEnv); got != tt.want {
				t.Fatalf("exit = %d, want %d; stderr: %s", got, tt.want, errOut.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("output lacks %q:\n%s", tt.out, out.String())
			}
		})
	}
}
