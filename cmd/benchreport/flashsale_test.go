package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Replacing one section keeps every other: -flashsale-only writes section 9 in place
// (or appends it), and -scale-only no longer drops what follows section 8.
func TestRewriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "REPORT.md")
	body := "# report\n\n## 7. Soak\n\nsoak\n\n" + scaleHeading + "\n\nold plan\n\n" + flashHeading + "\n\nold sale\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sale := &Report{FlashSale: "| transaction | 0.40 |\n| conditional | 2.50 |"}
	if err := rewriteSection(path, flashHeading, sale.writeFlashSale); err != nil {
		t.Fatal(err)
	}
	plan := func(b *strings.Builder) { b.WriteString(scaleHeading + "\n\nnew plan\n") }
	if err := rewriteSection(path, scaleHeading, plan); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# report\n\n## 7. Soak\n\nsoak\n\n" + scaleHeading + "\n\nnew plan\n\n" + flashHeading +
		"\n\nNot re-run by `make bench`; the figures of the last `make flashsale`, from bench/flashsale.md:\n\n| transaction | 0.40 |\n| conditional | 2.50 |\n"
	if string(got) != want {
		t.Errorf("report after the rewrites:\n%s\nwant:\n%s", got, want)
	}

	// A report without section 9 gets it appended; without bench/flashsale.md it says so.
	if err := os.WriteFile(path, []byte("# report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteSection(path, flashHeading, (&Report{}).writeFlashSale); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), flashHeading+"\n\nnot measured: no bench/flashsale.md") {
		t.Errorf("appended section 9:\n%s", got)
	}
}
