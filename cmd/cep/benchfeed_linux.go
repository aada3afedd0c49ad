package main

import (
	"runtime"
	"syscall"
	"time"
)

// lockForPacing keeps the feeder on one thread whose sleeps end within
// a nanosecond of their time as the kernel sees it (PR_SET_TIMERSLACK;
// the default slack is 50 µs, a batch's whole interval).
func lockForPacing() {
	runtime.LockOSThread()
	const prSetTimerslack = 29
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, 1, 0)
}

// sleepUntil sleeps in the kernel until t: a Go timer rounds a sleep
// under a millisecond up to one (the runtime's poller waits in whole
// milliseconds), which would turn the feed into bursts.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		_ = syscall.Nanosleep(&ts, nil)
	}
}
