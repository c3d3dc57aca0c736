package logging

import (
	"context"
	"io"
	"log/slog"
)

// NewBound is New with a writer of the test's choosing.
func NewBound(w io.Writer, ctx context.Context) *slog.Logger {
	h := newHandler(w, slog.LevelDebug)
	h.bound = ctx
	return slog.New(h)
}

// ContainsFold exposes the redaction pre-filter.
var ContainsFold = containsFold
