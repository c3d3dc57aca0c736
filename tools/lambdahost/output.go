package lambdahost

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes whole lines, each with a prefix, to w under a lock shared by every
// process of the Host, so that lines of concurrent processes never interleave.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes a last line that has no newline; called once the process has exited.
func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line []byte) {
	out := make([]byte, 0, len(p.prefix)+len(line))
	out = append(append(out, p.prefix...), line...)
	p.mu.Lock()
	_, _ = p.w.Write(out)
	p.mu.Unlock()
}
