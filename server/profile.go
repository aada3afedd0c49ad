package server

import (
	"net/http"
	"net/http/pprof"
	"strconv"
)

// MaxProfileSeconds bounds a CPU profile or an execution trace asked of
// the admin API: each holds its request, and the runtime takes one CPU
// profile at a time.
const MaxProfileSeconds = 300

// mountProfiling serves the runtime's profiles under /debug/pprof/, as
// net/http/pprof does, for `go tool pprof` and `go tool trace` against a
// running service. The command line is not served: a --state or
// --brokers argument may carry a password.
func mountProfiling(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/{$}", pprof.Index)
	// The named profiles (heap, allocs, goroutine, block, mutex,
	// threadcreate); Index answers 404 for any other name, cmdline
	// included.
	mux.HandleFunc("GET /debug/pprof/{name}", pprof.Index)
	// Profile reads whole seconds, Trace fractions of one.
	mux.Handle("GET /debug/pprof/profile", boundSeconds(pprof.Profile, func(s string) (float64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		return float64(n), err
	}))
	mux.Handle("GET /debug/pprof/trace", boundSeconds(pprof.Trace, func(s string) (float64, error) {
		return strconv.ParseFloat(s, 64)
	}))
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
}

// boundSeconds refuses a profile longer than MaxProfileSeconds, or a
// seconds that parse does not read, before the profile starts (pprof
// would take 30 seconds instead).
func boundSeconds(h http.HandlerFunc, parse func(string) (float64, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("seconds"); s != "" {
			n, err := parse(s)
			if err != nil || n <= 0 || n > MaxProfileSeconds {
				writeError(w, http.StatusBadRequest, "seconds must be a number over 0 and at most "+strconv.Itoa(MaxProfileSeconds))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
