package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
)

// ParamFlags collects repeated --param Key=Value (template parameter overrides).
type ParamFlags map[string]string

func (p ParamFlags) String() string { return fmt.Sprint(map[string]string(p)) }

// Set adds one Key=Value.
func (p ParamFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Key=Value, got %q", s)
	}
	p[k] = v
	return nil
}

// plan prints the capacity plan of one rate (every limit against its load, what to do,
// the monthly cost), or the summary of several.
func (e *env) plan(args []string) error {
	fs := flag.NewFlagSet("orderflow plan", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	rates := fs.String("rate", "", "orders per second; several separated by commas print the summary table (required)")
	region := fs.String("region", e.envOr("AWS_REGION", DefaultRegion), "the region whose default quotas apply")
	hot := fs.Float64("hot-sku", 0, "share of the orders on one SKU, 0 to 1 (its stock item is one partition)")
	root := fs.String("root", ".", "module root (template.yaml, statemachine/, bench/quotas.json, bench/prices-us-east-1.json)")
	params := ParamFlags{}
	fs.Var(params, "param", "template parameter override Key=Value (repeatable), e.g. OrderStreamShards=26")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos); err != nil {
		return err
	}
	if *rates == "" {
		return usageError("plan: --rate is required")
	}
	var rs []float64
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			return usageError("plan: --rate wants orders per second above 0, got %q", s)
		}
		rs = append(rs, r)
	}
	if *hot < 0 || *hot > 1 {
		return usageError("plan: --hot-sku wants a share from 0 to 1, got %v", *hot)
	}
	in, err := capacity.LoadInput(*root, params)
	if err != nil {
		return err
	}
	in.Region, in.HotShare = *region, *hot
	if len(rs) == 1 {
		in.Rate = rs[0]
		p, err := capacity.Make(in)
		if err != nil {
			return err
		}
		return p.WriteMarkdown(e.stdout)
	}
	plans, err := capacity.MakeAll(in, rs)
	if err != nil {
		return err
	}
	return capacity.WriteSummary(e.stdout, plans)
}
