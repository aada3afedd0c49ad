//go:build !linux

package main

import "time"

func lockForPacing() {}

// sleepUntil sleeps until t, a Go timer's sleep: here, where the kernel's
// fine-grained sleep is not reached, batches may come a millisecond apart.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
