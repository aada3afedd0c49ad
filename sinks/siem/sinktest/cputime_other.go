//go:build !unix

package sinktest

import (
	"testing"
	"time"
)

func ProcessCPU(testing.TB) time.Duration { return 0 }
