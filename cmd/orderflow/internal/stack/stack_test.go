package stack

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// repoRoot is the module root, where template.yaml is.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

func TestProvisionOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Up(ctx, Options{Template: filepath.Join(root, "template.yaml"), HTTPPort: -1, EdgePort: -1,
		LockDir: t.TempDir(), SkipFunctions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("%+v", s.Info())
	for _, n := range s.Notes {
		t.Log(n)
	}
}
