package awsconfig

import (
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// sharedHTTPClient is built once per process so that every service client made from any
// config FromEnv returns reuses the same connection pool: warm invocations then skip the
// TCP and TLS handshakes. The SDK's buildable client already has sane pool settings
// (100 idle connections, 10 per host, 90 s idle timeout, 30 s keep-alive).
var sharedHTTPClient = sync.OnceValue(func() aws.HTTPClient {
	return NewHTTPClient(awshttp.NewBuildableClient())
})

// NewHTTPClient returns c with one defect of the SDK's request bodies mended: an answer
// is never thrown away because the SDK closed its request's body.
//
// The SDK (smithy-go 1.28.9) closes a request's body as soon as the response headers
// arrive, and a closed body's WriteTo answers io.EOF where io.WriterTo must answer nil.
// net/http reads a body once more after writing it, to check that nothing is left over;
// when the answer comes back before that read (its headers are flushed before the body, so
// a quick server can answer first), the read fails with io.EOF, the transport closes the
// connection under the response being read, and the SDK retries a call the server has
// already carried out: one SendMessage sends two messages, one CreateArchive answers that
// the archive already exists, one ReceiveMessage hides the messages it received. Seen
// against the emulator on a busy machine, where the transport's writer runs late; the
// same timing can happen against AWS.
//
// The body handed to the transport here has Read and Close only, so the transport's last
// read of a closed body is Read's (0, io.EOF): the end of the body, not an error.
func NewHTTPClient(c aws.HTTPClient) aws.HTTPClient {
	return &readOnlyBodies{c}
}

type readOnlyBodies struct{ next aws.HTTPClient }

// Do implements aws.HTTPClient.
func (c *readOnlyBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloser{r.Body}
	}
	return c.next.Do(r)
}

// readCloser hides every method of its body but Read and Close (WriteTo above all).
type readCloser struct{ io.ReadCloser }
