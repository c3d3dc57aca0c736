package main

import (
	"fmt"
	"os"
	"strings"
)

// flashHeading starts section 9; `benchreport -flashsale-only` (run by `make flashsale`)
// replaces that section of the existing report.
const flashHeading = "## 9. Flash sale on one hot SKU (local stack, `make flashsale`)"

// writeFlashSale writes section 9 from the last `make flashsale` (bench/flashsale.md):
// it takes about ten minutes, so `make bench` shows its figures without running it.
func (r *Report) writeFlashSale(b *strings.Builder) {
	fmt.Fprintf(b, "%s\n\n", flashHeading)
	if strings.TrimSpace(r.FlashSale) == "" {
		notMeasured(b, "no bench/flashsale.md: run `make flashsale`")
		return
	}
	fmt.Fprintf(b, "Not re-run by `make bench`; the figures of the last `make flashsale`, from bench/flashsale.md:\n\n%s\n\n", strings.TrimSpace(r.FlashSale))
}

// rewriteSection replaces the section of the report at path that starts with heading (up
// to the next "## " heading) with what write writes, or appends it when the report has
// no such section.
func rewriteSection(path, heading string, write func(*strings.Builder)) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(old)
	var b strings.Builder
	write(&b)
	section := strings.TrimRight(b.String(), "\n") + "\n"
	i := strings.Index(text, heading)
	if i < 0 {
		text = strings.TrimRight(text, "\n") + "\n\n" + section
	} else {
		rest := ""
		if j := strings.Index(text[i+len(heading):], "\n## "); j >= 0 {
			rest = "\n" + text[i+len(heading)+j+1:]
		}
		text = text[:i] + section + rest
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// rewriteFlashSale replaces section 9 of the existing report with bench/flashsale.md,
// measuring nothing: `go run ./cmd/benchreport -flashsale-only`.
func rewriteFlashSale(o options) error {
	md, err := os.ReadFile(at(o.Root, o.FlashSale))
	if err != nil {
		return err
	}
	r := &Report{FlashSale: string(md)}
	if err := rewriteSection(at(o.Root, o.Out), flashHeading, r.writeFlashSale); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "report: %s (section 9 only)\n", o.Out)
	return nil
}
