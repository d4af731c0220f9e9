package proc

import "syscall"

// childAttrs makes the kernel kill a child when the suite dies, even by
// kill -9, so no manager or emulator is ever left behind.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
