package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the server when the test process
// dies, so that a crashed test leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
