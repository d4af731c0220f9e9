//go:build !linux

package proc

import "syscall"

// childAttrs: only Linux can tie a child's life to its parent's; elsewhere
// children are stopped by the suite's own cleanup.
func childAttrs() *syscall.SysProcAttr { return nil }
