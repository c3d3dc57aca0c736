package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/chromedp/chromedp"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/stack"
	"github.com/orderflow/orderflow/tools/emulator"
	"github.com/orderflow/orderflow/tools/template"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// browser returns a headless Chromium tab, or skips the test when Chromium is missing
// (never under CI=true: `make test` installs it, and a CI run without it fails).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (make test installs it: apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium, or make test)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1760, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, on a context without a deadline
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// run runs actions in the tab within d, failing the test with what on error.
func run(t *testing.T, tab context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func eval[T any](t *testing.T, tab context.Context, what, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS polls a JavaScript condition in the page until it is true or d runs out.
func waitJS(t *testing.T, tab context.Context, d time.Duration, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// screenshot saves the page as build/console/<name>.png.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(repoRoot(), "build", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInBrowser starts the local stack and its console, and drives the console in
// headless Chromium as a person would: a load run from the page's form moves the
// counters, the orders appear CONFIRMED, one order's timeline lists its states in order,
// a dead-lettered inventory command shows in its DLQ with the reason and redrive empties
// the DLQ. Each view is saved to build/console/.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto, the functions and a browser")
	}
	tab := browser(t)
	root := repoRoot()
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A little injected latency only: the outcomes stay deterministic and the faults
	// view has something to show.
	faults := &chaos.Spec{Seed: 7, Latency: chaos.Latency{Rate: 0.05, Max: chaos.Duration(3 * time.Millisecond)}}
	s, err := stack.Up(ctx, stack.Options{Template: filepath.Join(root, "template.yaml"), Dir: root, Build: true,
		BuildDir: t.TempDir(), LockDir: t.TempDir(), Faults: faults,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
		if t.Failed() {
			t.Logf("stack log:\n%s", logs.String())
		}
	})
	tpl, err := template.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(ForLocalStack(s, tpl, "dev"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close console: %v", err)
		}
	})
	f, err := BuildFlow(tpl)
	if err != nil {
		t.Fatal(err)
	}
	api := f.NodesOf(KindAPI)[0].ID
	sm := f.NodesOf(KindStateMachine)[0].ID

	// The flow picture, before any order: the API's counter says 0.
	counter := func(id string) string {
		return fmt.Sprintf(`((document.getElementById("c-%s")||{}).textContent||"")`, id)
	}
	run(t, tab, 30*time.Second, "open the flow", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#flow"))
	waitJS(t, tab, 20*time.Second, "the API counter", counter(api)+` === "0 orders accepted"`)

	// A load run of three valid orders from the page's form.
	run(t, tab, 30*time.Second, "start a load run",
		chromedp.Navigate(srv.URL+"/load"), chromedp.WaitVisible("#load-form"),
		chromedp.SetValue("#load-orders", "3"), chromedp.SetValue("#load-concurrency", "3"),
		chromedp.SetValue("#load-mix", "valid"), chromedp.Click("#load-start"))
	waitJS(t, tab, 90*time.Second, "the load run to end with 3 CONFIRMED",
		`document.getElementById("load-status").dataset.state === "done" && document.getElementById("load-results").textContent.includes("CONFIRMED 3")`)
	waitJS(t, tab, 10*time.Second, "the histogram", `document.querySelectorAll("#histogram .col").length > 0`)
	waitJS(t, tab, 10*time.Second, "the injected faults", `document.getElementById("fault-stats") !== null`)
	screenshot(t, tab, "load")

	// The counters moved.
	run(t, tab, 30*time.Second, "open the flow", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#flow"))
	waitJS(t, tab, 30*time.Second, "the API counter to show 3 orders", counter(api)+` === "3 orders accepted"`)
	waitJS(t, tab, 60*time.Second, "3 succeeded executions", counter(sm)+`.includes(" 3 ok")`)
	waitJS(t, tab, 30*time.Second, "the stream to catch up", counter(f.NodesOf(KindStream)[0].ID)+`.includes("all applied")`)
	screenshot(t, tab, "flow")

	// The orders list shows them CONFIRMED.
	run(t, tab, 30*time.Second, "open the orders", chromedp.Navigate(srv.URL+"/orders"), chromedp.WaitVisible("#orders"))
	waitJS(t, tab, 30*time.Second, "3 CONFIRMED rows", `document.querySelectorAll('#orders tr[data-status="CONFIRMED"]').length === 3`)
	id := eval[string](t, tab, "read an order id", `document.querySelector('#orders tr[data-status="CONFIRMED"]').dataset.order`)
	screenshot(t, tab, "orders")

	// Its timeline: the states in order, the notification and the data-lake row.
	run(t, tab, 30*time.Second, "open the order", chromedp.Navigate(srv.URL+"/orders/"+id), chromedp.WaitVisible("#timeline"))
	waitJS(t, tab, 60*time.Second, "the whole timeline", `(() => {
		const t = document.getElementById("timeline").textContent;
		return ["API accepted", "ValidateAndPrice", "ReserveInventory", "AuthorizePayment", "execution succeeded",
			"notification sent", "data-lake row for Order Confirmed"].every((s) => t.includes(s));
	})()`)
	titles := eval[[]string](t, tab, "read the timeline", `[...document.querySelectorAll("#timeline .title")].map((e) => e.textContent)`)
	order := []string{"API accepted", "ValidateAndPrice", "ReserveInventory", "AuthorizePayment", "execution succeeded"}
	at := 0
	for _, title := range titles {
		if at < len(order) && strings.Contains(title, order[at]) {
			at++
		}
	}
	if at != len(order) {
		t.Errorf("timeline %q does not list %q in that order", titles, order)
	}
	// The inventory command is shown, its task token is not.
	text := eval[string](t, tab, "read the page", `document.body.textContent`)
	tokens := regexp.MustCompile(`taskToken"\s*:\s*"([^"]*)"`).FindAllStringSubmatch(text, -1)
	if len(tokens) == 0 {
		t.Errorf("the timeline shows no inventory command:\n%s", text)
	}
	for _, m := range tokens {
		if m[1] != "[REDACTED]" {
			t.Errorf("the timeline shows a task token: %q", m[0])
		}
	}
	screenshot(t, tab, "timeline")

	// A dead-lettered inventory command, with why it failed; redrive empties the DLQ. It
	// is put straight into the DLQ (the real path there takes three visibility timeouts
	// and is covered by the stack's TestPoisonAndCrashPaths); after the redrive the
	// command queue holds it for at least one visibility timeout, so the DLQ stays empty
	// while the test looks.
	dlqName := nameOf(s.Queues["InventoryCommandDlq"])
	c := sqs.NewFromConfig(s.Config)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Queues["InventoryCommandDlq"]),
		MessageBody: aws.String(`{"command":"explode","orderId":"console-e2e-poison"}`)}); err != nil {
		t.Fatal(err)
	}
	sel := fmt.Sprintf(`article[data-queue="%s"]`, dlqName)
	run(t, tab, 30*time.Second, "open the DLQs", chromedp.Navigate(srv.URL+"/dlqs"), chromedp.WaitVisible(sel))
	waitJS(t, tab, 30*time.Second, "the poison message in its DLQ",
		fmt.Sprintf(`(() => { const a = document.querySelector('%s'); return a && a.querySelector(".depth").textContent === "1" && a.textContent.includes("console-e2e-poison"); })()`, sel))
	screenshot(t, tab, "dlqs")
	eval[bool](t, tab, "accept the confirmation", `(window.confirm = () => true, true)`)
	run(t, tab, 20*time.Second, "redrive", chromedp.Click(sel+" button"))
	waitJS(t, tab, 30*time.Second, "the redrive's answer", `document.getElementById("redrive-result").textContent.startsWith("moved 1 message(s) from `+dlqName+`")`)
	waitJS(t, tab, 30*time.Second, "the DLQ to be empty", fmt.Sprintf(`document.querySelector('%s .depth').textContent === "0"`, sel))
}
