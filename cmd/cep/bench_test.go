package main

import (
	"testing"
	"time"
)

// paceUntil never lets a paced batch go before its time, for waits
// shorter and longer than the stretch it spends yielding.
func TestPaceUntilNeverEarly(t *testing.T) {
	for _, d := range []time.Duration{0, 50 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		due := time.Now().Add(d)
		paceUntil(due)
		if now := time.Now(); now.Before(due) {
			t.Errorf("waiting %v returned %v early", d, due.Sub(now))
		}
	}
}

func TestShiftYears(t *testing.T) {
	for _, tc := range []struct {
		line string
		k    int
		want string
	}{
		{`{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`, 0, `{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`},
		{`{"@timestamp":"2020-09-20T16:16:09.362Z","EventID":1}`, 3, `{"@timestamp":"2023-09-20T16:16:09.362Z","EventID":1}`},
		{`{"EventID":1,"@timestamp":"1999-12-31T23:59:59Z"}`, 1, `{"EventID":1,"@timestamp":"2000-12-31T23:59:59Z"}`},
		{`{"EventID":1}`, 2, `{"EventID":1}`},
		{`{"@timestamp":"20"}`, 2, `{"@timestamp":"20"}`},
		{`{"@timestamp":"soon-09-20"}`, 2, `{"@timestamp":"soon-09-20"}`},
	} {
		if got := shiftYears(tc.line, tc.k); got != tc.want {
			t.Errorf("shiftYears(%s, %d) = %s, want %s", tc.line, tc.k, got, tc.want)
		}
	}
}
