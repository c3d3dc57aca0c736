package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the lock file under LockDir; it holds the pid of the running stack.
const lockName = "orderflow-local.pid"

// takeLock takes an exclusive flock on LockDir/orderflow-local.pid and writes the pid in
// it. The kernel drops the lock when the process dies, so a stale file never blocks.
func (s *Stack) takeLock(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lock dir: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		return fmt.Errorf("%w (pid %s, lock %s): stop it with Ctrl-C or `kill %s` first", ErrAlreadyRunning, pid, path, pid)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock, s.lockPath = f, path
	return nil
}

func (s *Stack) releaseLock() {
	if s.lock == nil {
		return
	}
	_ = os.Remove(s.lockPath)
	_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	s.lock.Close()
	s.lock = nil
}
