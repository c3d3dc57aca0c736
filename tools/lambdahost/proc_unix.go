//go:build unix

package lambdahost

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the function in its own process group, so that a kill reaches every
// process it spawns, and (on Linux) has the kernel kill it if the host dies first.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

func signalGroup(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}

func killGroup(pgid int) { signalGroup(pgid, syscall.SIGKILL) }

func termGroup(pgid int) { signalGroup(pgid, syscall.SIGTERM) }

// groupAlive reports whether a process of group pgid exists. EPERM means one exists that
// we may not signal.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
