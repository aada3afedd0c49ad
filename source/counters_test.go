package source

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// AddCounts adds every count: a counter added to Counters and forgotten
// here would fall back on a scale-out rebalance and vanish from merged
// statistics.
func TestAddCountsAddsEveryCount(t *testing.T) {
	var c Counters
	counts := reflect.ValueOf(&c).Elem()
	n := 0
	for i := range counts.NumField() {
		if u, ok := counts.Field(i).Addr().Interface().(*atomic.Uint64); ok {
			n++
			u.Store(uint64(n))
		}
	}
	if n < 7 {
		t.Fatalf("%d counts found", n)
	}
	c.Starting.Store(true)
	c.Lag.Set("p0", 5)
	var o Counters
	o.AddCounts(&c)
	o.AddCounts(&c)
	sum := reflect.ValueOf(&o).Elem()
	for i := range sum.NumField() {
		if u, ok := sum.Field(i).Addr().Interface().(*atomic.Uint64); ok {
			want := 2 * counts.Field(i).Addr().Interface().(*atomic.Uint64).Load()
			if got := u.Load(); got != want {
				t.Errorf("%s = %d, want %d", sum.Type().Field(i).Name, got, want)
			}
		}
	}
	if o.Starting.Load() || len(o.Lag.Snapshot()) != 0 {
		t.Error("AddCounts copied what the source is now: Starting or Lag")
	}
}
