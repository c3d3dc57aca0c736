package awsconfig_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/pkg/awsconfig"
)

// TestAnswerKeptWhenTheBodyIsClosedFirst replays, without timing, the order of events
// that made one SendMessage send two messages: the answer's headers arrive, the SDK
// closes the request's body, and only then does net/http make its last read of that
// body. With the SDK's body as it is, that read fails, the transport closes the
// connection under the answer, and the SDK sends the call again. Through NewHTTPClient
// the call is sent once and its answer read.
func TestAnswerKeptWhenTheBodyIsClosedFirst(t *testing.T) {
	const message = "hello"
	sum := md5.Sum([]byte(message))
	var calls atomic.Int64
	var gates sync.Map // request number -> *lastRead
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if _, err := io.ReadAll(r.Body); err != nil {
			t.Errorf("read request: %v", err)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // the headers go out alone, as the emulator sends them
		g, _ := gates.Load(n)
		select {
		case <-g.(*lastRead).clean: // no close is coming: send the rest of the answer
		case <-r.Context().Done(): // the client closed the connection under the answer
			return
		}
		fmt.Fprintf(w, `{"MessageId":"m-%d","MD5OfMessageBody":%q}`, n, hex.EncodeToString(sum[:]))
	}))
	defer srv.Close()

	setEnv(t, with(lambdaEnv, "AWS_ENDPOINT_URL", srv.URL, "AWS_MAX_ATTEMPTS", "2"))
	cfg, err := awsconfig.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	cfg.HTTPClient = awsconfig.NewHTTPClient(doFunc(func(r *http.Request) (*http.Response, error) {
		g := &lastRead{body: r.Body, size: r.ContentLength, closed: make(chan struct{}), clean: make(chan struct{})}
		gates.Store(sent.Add(1), g)
		if _, ok := r.Body.(io.WriterTo); ok {
			r.Body = writerToGate{g}
		} else {
			r.Body = g
		}
		return http.DefaultClient.Do(r)
	}))
	out, err := sqs.NewFromConfig(cfg).SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(srv.URL + "/000000000000/q"), MessageBody: aws.String(message)})
	if err != nil {
		t.Fatalf("SendMessage: %v (the server was called %d times)", err, calls.Load())
	}
	if got := calls.Load(); got != 1 || aws.ToString(out.MessageId) != "m-1" {
		t.Errorf("the server was called %d times and answered %s, want once, m-1", got, aws.ToString(out.MessageId))
	}
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// lastRead passes a request body through to the transport, but holds the transport's
// read after the last byte (its check that nothing is left over) until the body has
// been closed by someone else: by the SDK, once the answer's headers are in.
type lastRead struct {
	body   io.ReadCloser
	size   int64
	read   int64
	once   sync.Once
	closed chan struct{} // closed by the first Close
	clean  chan struct{} // closed when the held read ended without an error
}

// hold holds a read after the last byte until the body is closed, and says whether it did.
func (g *lastRead) hold() bool {
	if g.read < g.size {
		return false
	}
	<-g.closed
	return true
}

// ended notes how the read after the last byte ended: clean is nil, and io.EOF from
// Read (the end of the body), but io.EOF from WriteTo is an error.
func (g *lastRead) ended(held, clean bool) {
	if held && clean {
		select {
		case <-g.clean:
		default:
			close(g.clean)
		}
	}
}

func (g *lastRead) Read(p []byte) (int, error) {
	held := g.hold()
	n, err := g.body.Read(p)
	g.read += int64(n)
	g.ended(held, err == nil || err == io.EOF)
	return n, err
}

func (g *lastRead) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.body.Close()
}

// writerToGate is lastRead for a body with WriteTo, which io.Copy prefers to Read.
type writerToGate struct{ *lastRead }

func (g writerToGate) WriteTo(w io.Writer) (int64, error) {
	held := g.hold()
	n, err := g.body.(io.WriterTo).WriteTo(w)
	g.read += n
	g.ended(held, err == nil)
	return n, err
}
