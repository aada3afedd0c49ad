package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/runtime"
)

// Admin is the admin API:
//
//	GET  /v1/rules                     every rule with its version, status and counters
//	POST /v1/reload                    reload the rules now
//	GET  /v1/rules/{id}/alerts         the rule's recent alerts
//	GET  /v1/rules/{id}/explain?key=K  a sequence rule's partial matches and trace for key K
//	GET  /v1/status                    readiness detail
//	GET  /debug/pprof/...              the runtime's profiles, with Profiling
//
// Mount it behind a Guard.
type Admin struct {
	Runtime  *runtime.Runtime
	Control  *runtime.Control
	Reloader *runtime.Reloader
	Recorder *Recorder
	Ready    *Readiness
	// Timeout bounds a request that waits for the loop (a trace, a
	// reload); default 30s.
	Timeout time.Duration
	// Profiling serves the Go runtime's profiles under /debug/pprof/
	// (CPU, heap, allocations, goroutines, execution traces).
	Profiling bool

	mu     sync.Mutex
	loaded map[string]loadedAt
}

type loadedAt struct {
	version string
	at      time.Time
}

// Handler returns the API's routes; ingest, when set, is mounted too.
func (a *Admin) Handler(ingest *Ingest) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/rules", a.listRules)
	mux.HandleFunc("POST /v1/reload", a.reload)
	mux.HandleFunc("GET /v1/rules/{id}/alerts", a.recentAlerts)
	mux.HandleFunc("GET /v1/rules/{id}/explain", a.explain)
	mux.HandleFunc("GET /v1/status", a.Ready.detail)
	if ingest != nil {
		mux.HandleFunc("POST /v1/events/{stream}", ingest.ServeHTTP)
	}
	if a.Profiling {
		mountProfiling(mux)
	}
	return mux
}

func (a *Admin) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return 30 * time.Second
}

// RuleInfo is one rule as the admin API lists it.
type RuleInfo struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Shadow  bool   `json:"shadow"`
	Version string `json:"version"`
	File    string `json:"file"`
	// LastReload is when this version of the rule started running.
	LastReload time.Time `json:"last_reload"`
	Counters   Counters  `json:"counters"`
}

// Counters are a rule's counters since the start (they go on across
// reloads) and its state now.
type Counters struct {
	Evaluated  uint64 `json:"events_evaluated"`
	Alerts     uint64 `json:"alerts"`
	Shadow     uint64 `json:"shadow_alerts"`
	EvalErrors uint64 `json:"eval_errors"`
	LastError  string `json:"last_error,omitempty"`
	Shed       uint64 `json:"sheds"`
	StateKeys  int    `json:"state_keys"`
	// StateBytes is an estimate where the detector gives one
	// (sequences); absent otherwise.
	StateBytes *int64 `json:"state_bytes,omitempty"`
	Partials   int    `json:"state_partials"`
}

func (a *Admin) listRules(w http.ResponseWriter, _ *http.Request) {
	st := a.Runtime.Stats()
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, "not running yet")
		return
	}
	a.mu.Lock()
	if a.loaded == nil {
		a.loaded = map[string]loadedAt{}
	}
	out := struct {
		Rules  []RuleInfo           `json:"rules"`
		Reload runtime.ReloadStatus `json:"reload"`
	}{Rules: []RuleInfo{}}
	if a.Reloader != nil {
		out.Reload = a.Reloader.Status()
	}
	ids := map[string]bool{}
	for _, r := range st.Rules {
		ids[r.ID] = true
		l, ok := a.loaded[r.ID]
		if !ok || l.version != r.VersionLabel() {
			at := st.Time
			if ok && a.Reloader != nil {
				at = out.Reload.LastSuccess
			} else if !ok && a.Reloader != nil && !out.Reload.LastSuccess.IsZero() {
				at = out.Reload.LastSuccess
			}
			l = loadedAt{version: r.VersionLabel(), at: at}
			a.loaded[r.ID] = l
		}
		rs := st.RuleStats[r.ID]
		state := st.RuleStates[r.ID]
		c := Counters{Evaluated: rs.Evaluated, Alerts: rs.Alerts, Shadow: rs.Shadow, Shed: rs.Shed,
			EvalErrors: r.Health.Errors(), LastError: r.Health.LastError(), StateKeys: state.Keys, Partials: state.Partials}
		if state.Bytes >= 0 && r.Kind.String() == "sequence" {
			b := state.Bytes
			c.StateBytes = &b
		}
		out.Rules = append(out.Rules, RuleInfo{ID: r.ID, Title: r.Title, Kind: r.Kind.String(), Status: r.Status, Shadow: r.Shadow(),
			Version: r.VersionLabel(), File: r.File, LastReload: l.at, Counters: c})
	}
	for id := range a.loaded {
		if !ids[id] {
			delete(a.loaded, id)
		}
	}
	a.mu.Unlock()
	if a.Recorder != nil {
		a.Recorder.Keep(ids)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) reload(w http.ResponseWriter, r *http.Request) {
	if a.Reloader == nil {
		writeError(w, http.StatusNotImplemented, "this service cannot reload")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout())
	defer cancel()
	st, err := a.Reloader.Reload(ctx, "api")
	if err != nil {
		status := a.Reloader.Status()
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			Error  string               `json:"error"`
			Reload runtime.ReloadStatus `json:"reload"`
		}{"the new rules did not load: the rules loaded before keep running", status})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Admin) known(w http.ResponseWriter, id string) bool {
	st := a.Runtime.Stats()
	if st != nil {
		for _, r := range st.Rules {
			if r.ID == id {
				return true
			}
		}
	}
	writeError(w, http.StatusNotFound, "no rule "+id+" is loaded")
	return false
}

func (a *Admin) recentAlerts(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.known(w, id) {
		return
	}
	alerts, total := a.Recorder.Recent(id)
	writeJSON(w, http.StatusOK, map[string]any{"rule": id, "total": total, "alerts": alerts})
}

func (a *Admin) explain(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.known(w, id) {
		return
	}
	raw := r.URL.Query().Get("key")
	if raw == "" {
		writeError(w, http.StatusBadRequest, `explain needs ?key=: the key's value, or a JSON array of its parts (["c-1",42])`)
		return
	}
	key, err := correlate.ParseKey(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout())
	defer cancel()
	var kt *correlate.KeyTrace
	err2 := a.Control.Inspect(ctx, func(e *correlate.Engine) { kt, err = e.TraceKey(id, key) })
	switch {
	case err2 != nil:
		writeError(w, http.StatusServiceUnavailable, err2.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, kt)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
