// Package console is orderflow's web console: the flow of template.yaml drawn with live
// counters, the latest orders, one order's timeline, the dead-letter queues and load runs.
// It reads only AWS APIs (DynamoDB, SQS, Step Functions, S3) through the product's stores
// and codecs, so it works against the local stack (`orderflow local up` serves it) and,
// read-only unless actions are allowed, against a deployed stack (`orderflow console`).
//
// Pages are rendered on the server from embedded templates; a little JavaScript (web/app.js,
// no build step) polls the JSON endpoints every 1.5 s and fills them in.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/queue"
	tpl "github.com/orderflow/orderflow/tools/template"
)

//go:embed web
var webFS embed.FS

// DefaultPort is the console's port on 127.0.0.1 unless told otherwise.
const DefaultPort = 8080

// Options configure the console.
type Options struct {
	// Template is the stack's template.yaml: the flow picture and the roles of its
	// resources come from it.
	Template *tpl.Template
	// Names are the physical names of the resources by logical ID (queues by name or
	// URL); the local stack knows them, stack.Names derives them for a deployed stack.
	Names map[string]string
	// LakeBucket is the data lake's bucket when Names cannot say (it is a nested stack's
	// output).
	LakeBucket string
	// StateMachineARN is the order-processing state machine; found by name when empty.
	StateMachineARN string
	// AWS is the configuration of every AWS call.
	AWS aws.Config
	// Stage selects the DLQs shown (the stage is a word of every queue name).
	Stage string
	// API is the HTTP API's base URL (load runs); Authorization its header, if any.
	API, Authorization string
	// AllowActions enables redrive and load runs; without it the console is read-only.
	AllowActions bool
	// Faults are the local stack's injected faults (nil: none, or not local).
	Faults *chaos.Injector
	// Title names the stack in the page header ("local", "prod").
	Title string
	// Log receives errors of background work (default: discarded).
	Log *slog.Logger
}

// Console serves the pages and their JSON.
type Console struct {
	opts  Options
	flow  *Flow
	roles roles
	pages map[string]*template.Template
	svg   template.HTML
	mux   *http.ServeMux

	ddb     *dynamodb.Client
	sqs     *sqs.Client
	sfn     *sfn.Client
	s3      *s3.Client
	orders  *dynamo.OrderStore
	metrics *dynamo.MetricsStore
	admin   *queue.Admin

	mu        sync.Mutex
	queueURLs map[string]string
	smARN     string
	snap      *Snapshot
	snapAt    time.Time
	applied   map[string]bool // event ids analytics applied (they stay applied)
	lake      *lakeCache
	load      *loadRun
}

// New returns a console for opts. It returns an error when the flow cannot be drawn from
// the template or the embedded pages do not parse.
func New(opts Options) (*Console, error) {
	if opts.Template == nil {
		return nil, errors.New("console: no template")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Title == "" {
		opts.Title = opts.Stage
	}
	f, err := BuildFlow(opts.Template)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for k, v := range opts.Names {
		names[k] = v
	}
	opts.Names = names
	r := findRoles(opts.Template)
	if opts.LakeBucket != "" && r.Lake != "" {
		names[r.Lake] = opts.LakeBucket
	}
	c := &Console{opts: opts, flow: f, roles: r, queueURLs: map[string]string{},
		applied: map[string]bool{}, lake: newLakeCache(), smARN: opts.StateMachineARN}
	c.ddb = dynamodb.NewFromConfig(opts.AWS)
	c.sqs = sqs.NewFromConfig(opts.AWS)
	c.sfn = sfn.NewFromConfig(opts.AWS)
	c.s3 = s3.NewFromConfig(opts.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	c.orders = dynamo.NewOrderStore(c.ddb, c.name(c.roles.Orders))
	c.metrics = dynamo.NewMetricsStore(c.ddb, c.name(c.roles.Metrics))
	c.admin = queue.NewAdmin(c.sqs)
	c.admin.Wait, c.admin.Hold = 0, 5*time.Second
	for id, n := range opts.Names {
		if strings.HasPrefix(n, "http://") || strings.HasPrefix(n, "https://") {
			c.queueURLs[id] = n
		}
	}
	c.svg = renderFlowSVG(f)
	if err := c.parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// name returns the physical name of a logical ID (a queue's name for a queue URL).
func (c *Console) name(id string) string {
	n := c.opts.Names[id]
	if i := strings.LastIndex(n, "/"); i >= 0 && strings.HasPrefix(n, "http") {
		return n[i+1:]
	}
	return n
}

func (c *Console) parsePages() error {
	c.pages = map[string]*template.Template{}
	funcs := template.FuncMap{"lower": strings.ToLower}
	for _, page := range []string{"flow", "orders", "order", "dlqs", "load"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+page+".html")
		if err != nil {
			return fmt.Errorf("console: page %s: %w", page, err)
		}
		c.pages[page] = t
	}
	return nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web/static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", c.page("flow"))
	m.HandleFunc("GET /orders", c.page("orders"))
	m.HandleFunc("GET /orders/{id}", c.page("order"))
	m.HandleFunc("GET /dlqs", c.page("dlqs"))
	m.HandleFunc("GET /load", c.page("load"))
	m.HandleFunc("GET /api/counters", c.apiCounters)
	m.HandleFunc("GET /api/orders", c.apiOrders)
	m.HandleFunc("GET /api/orders/{id}", c.apiTimeline)
	m.HandleFunc("GET /api/dlqs", c.apiDLQs)
	m.HandleFunc("POST /api/dlqs/redrive", c.action(c.apiRedrive))
	m.HandleFunc("GET /api/load", c.apiLoadStatus)
	m.HandleFunc("POST /api/load", c.action(c.apiLoadStart))
	m.HandleFunc("GET /api/faults", c.apiFaults)
	c.mux = m
}

// ServeHTTP serves the console. Requests must name a loopback host (a page elsewhere
// that resolves its own name to 127.0.0.1 gets nothing: DNS rebinding).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		http.Error(w, "the console answers on loopback addresses only", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// pageData is what every page template gets.
type pageData struct {
	Page, Title, Stage string
	ReadOnly           bool
	Flow               template.HTML
	OrderID            string
	Faults             bool
}

func (c *Console) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := pageData{Page: name, Title: c.opts.Title, Stage: c.opts.Stage, ReadOnly: !c.opts.AllowActions,
			Flow: c.svg, OrderID: r.PathValue("id"), Faults: c.opts.Faults != nil}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := c.pages[name].Execute(w, d); err != nil {
			c.opts.Log.Error("console: render page", "page", name, "error", err)
		}
	}
}

// action guards a state-changing endpoint: allowed only with AllowActions, and only from
// the console's own script (the custom header cannot be sent cross-site without a CORS
// preflight, which the console never grants).
func (c *Console) action(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.opts.AllowActions {
			writeError(w, http.StatusForbidden, "READ_ONLY", "the console is read-only: start it with --allow-actions to redrive or load")
			return
		}
		if r.Header.Get("X-Orderflow-Console") != "1" {
			writeError(w, http.StatusForbidden, "FORBIDDEN", "actions are taken from the console's page only")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// Server is a console listening on a loopback port.
type Server struct {
	// URL is where the console is (http://127.0.0.1:8080).
	URL     string
	console *Console
	srv     *http.Server
	done    chan struct{}
}

// Start serves a console for opts on 127.0.0.1:port (0: a free port). It returns an
// error naming the port when it is taken, or New's error.
func Start(opts Options, port int) (*Server, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("console: port %d is in use (another console, or choose one with --console-port): %w", port, err)
	}
	s := &Server{URL: "http://" + l.Addr().String(), console: c, done: make(chan struct{}),
		srv: &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Log.Error("console stopped", "error", err)
		}
	}()
	return s, nil
}

// Close stops serving and cancels a running load run, then waits for both.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	s.console.stopLoad()
	return err
}
