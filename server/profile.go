package server

import (
	"net/http"
	"net/http/pprof"
	"strconv"
)

// MaxProfileSeconds bounds a CPU profile, an execution trace or the
// difference of a named profile asked of the admin API: each holds its
// request, and the runtime takes one CPU profile at a time.
const MaxProfileSeconds = 300

// mountProfiling serves the runtime's profiles under /debug/pprof/, as
// net/http/pprof does, for `go tool pprof` and `go tool trace` against a
// running service. The command line is not served: whatever started cep
// may have put a secret in it.
func mountProfiling(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/{$}", pprof.Index)
	// The named profiles (heap, allocs, goroutine, block, mutex,
	// threadcreate); Index answers 404 for any other name, cmdline
	// included. With seconds, a named profile is the difference over
	// that long.
	mux.Handle("GET /debug/pprof/{name}", boundSeconds(pprof.Index, true))
	// Profile reads whole seconds, Trace fractions of one.
	mux.Handle("GET /debug/pprof/profile", boundSeconds(pprof.Profile, true))
	mux.Handle("GET /debug/pprof/trace", boundSeconds(pprof.Trace, false))
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
}

// boundSeconds refuses a seconds over MaxProfileSeconds, or one that h
// would not read (not a number, or not a whole one), before the profile
// starts: pprof's CPU profile takes 30 seconds for a seconds it cannot
// read.
func boundSeconds(h http.HandlerFunc, whole bool) http.Handler {
	want := "a number of seconds over 0"
	if whole {
		want = "a whole number of seconds from 1"
	}
	want = "seconds must be " + want + " and at most " + strconv.Itoa(MaxProfileSeconds)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("seconds"); s != "" {
			n, err := strconv.ParseFloat(s, 64)
			if whole && err == nil {
				_, err = strconv.ParseInt(s, 10, 64)
			}
			if err != nil || !(n > 0 && n <= MaxProfileSeconds) { // NaN too
				writeError(w, http.StatusBadRequest, want)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
