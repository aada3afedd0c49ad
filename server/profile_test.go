package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProfiling(t *testing.T) {
	guarded := func(profiling bool) http.Handler {
		return (&Guard{Token: "s3cret"}).Wrap((&Admin{Profiling: profiling}).Handler(nil))
	}
	on, off := guarded(true), guarded(false)
	tests := []struct {
		name   string
		h      http.Handler
		method string
		path   string
		token  string
		code   int
		// body is a prefix of the answer, or a part of it with contains.
		body     string
		contains bool
	}{
		{name: "index", h: on, path: "/debug/pprof/", code: 200, body: "heap", contains: true},
		{name: "heap", h: on, path: "/debug/pprof/heap?debug=1", code: 200, body: "heap profile:"},
		{name: "goroutines", h: on, path: "/debug/pprof/goroutine?debug=1", code: 200, body: "goroutine profile:"},
		{name: "allocations as a profile", h: on, path: "/debug/pprof/allocs", code: 200, body: "\x1f\x8b"},
		{name: "CPU for a second", h: on, path: "/debug/pprof/profile?seconds=1", code: 200, body: "\x1f\x8b"},
		{name: "an execution trace", h: on, path: "/debug/pprof/trace?seconds=0.1", code: 200, body: "go 1."},
		{name: "symbol", h: on, path: "/debug/pprof/symbol", code: 200, body: "num_symbols:"},
		{name: "symbol posted", h: on, method: "POST", path: "/debug/pprof/symbol", code: 200, body: "num_symbols:"},
		{name: "a command line may hold a password", h: on, path: "/debug/pprof/cmdline", code: 404},
		{name: "no such profile", h: on, path: "/debug/pprof/nope", code: 404},
		{name: "CPU for too long", h: on, path: "/debug/pprof/profile?seconds=301", code: 400, body: "at most 300", contains: true},
		{name: "CPU for fractions of a second", h: on, path: "/debug/pprof/profile?seconds=0.5", code: 400, body: "a whole number", contains: true},
		{name: "a trace for no time", h: on, path: "/debug/pprof/trace?seconds=0", code: 400},
		{name: "allocations over a second", h: on, path: "/debug/pprof/allocs?seconds=1", code: 200, body: "\x1f\x8b"},
		{name: "allocations over too long", h: on, path: "/debug/pprof/allocs?seconds=301", code: 400},
		{name: "a trace for a word", h: on, path: "/debug/pprof/trace?seconds=ten", code: 400},
		{name: "a trace for no number", h: on, path: "/debug/pprof/trace?seconds=NaN", code: 400},
		{name: "behind the token", h: on, path: "/debug/pprof/heap", token: "-", code: 401},
		{name: "off unless asked for", h: off, path: "/debug/pprof/heap", code: 404},
		{name: "its index too", h: off, path: "/debug/pprof/", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, tt.path, nil)
			if tt.token != "-" {
				req.Header.Set("Authorization", "Bearer s3cret")
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("%s %s: %d, want %d: %.200q", method, tt.path, rec.Code, tt.code, rec.Body)
			}
			got := rec.Body.Bytes()
			if tt.contains && !bytes.Contains(got, []byte(tt.body)) || !tt.contains && !bytes.HasPrefix(got, []byte(tt.body)) {
				t.Errorf("%s %s: %.200q, want %q in it", method, tt.path, got, tt.body)
			}
		})
	}
}
