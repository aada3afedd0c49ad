package server

import (
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/cep-project/cep/runtime"
)

// Readiness answers /readyz and the admin API's /v1/status.
//
// cep is ready while its loop runs and reads its sources: not while it is
// a standby waiting for the state's lease, nor while reading is paused
// (checkpoints failing, the lease unconfirmed), nor while a source has
// not begun to read (a Kafka source whose brokers do not answer). A
// failed reload does not make it unready — the rules loaded before keep running, and taking the
// process out of service would stop all detection — but it makes the
// status "degraded", with the errors (file:line:col) in the detail.
type Readiness struct {
	Runtime  Runner
	Reloader *runtime.Reloader
	// Sinks, when set, describes the sinks' health.
	Sinks func() any
	// FactsDown, when set, tells whether the facts store (Redis) failed
	// its last call. Lookups then wait or answer "absent" (facts.on_error):
	// detection is degraded, yet taking the process out of service would
	// not help, so readiness stays and the status says "degraded".
	FactsDown func() bool
}

// ReadyDetail is the body of /readyz.
type ReadyDetail struct {
	// Status is ready, degraded (a reload failed), starting, or not
	// reading (see Role and Why).
	Status string `json:"status"`
	// Role is the runtime's (runtime.Status): standby, active, paused,
	// suspended, fenced, …; Why says why it does not read its sources.
	Role string `json:"role"`
	Why  string `json:"why,omitempty"`
	// Rules counts the rules running; Revision is what they were read
	// from.
	Rules  int                   `json:"rules"`
	Reload *runtime.ReloadStatus `json:"reload,omitempty"`
	// Watermark is the event time every event before which has been
	// processed.
	Watermark *time.Time `json:"watermark,omitempty"`
	Sinks     any        `json:"sinks,omitempty"`
	// Facts is "down" while the facts store fails.
	Facts string `json:"facts,omitempty"`
}

// Detail computes the readiness detail.
func (rd *Readiness) Detail() (ReadyDetail, bool) {
	st := rd.Runtime.Stats()
	rs := rd.Runtime.Status()
	d := ReadyDetail{Status: "starting", Role: rs.Role, Why: rs.Why}
	if rd.Reloader != nil {
		s := rd.Reloader.Status()
		d.Reload = &s
	}
	if rd.Sinks != nil {
		d.Sinks = rd.Sinks()
	}
	d.Facts = rd.facts()
	if st == nil {
		return d, false
	}
	if !rs.Reading {
		d.Status = "not reading"
		return d, false
	}
	for _, name := range slices.Sorted(maps.Keys(st.Sources)) {
		if st.Sources[name].Starting.Load() {
			d.Why = "source " + name + " has not begun to read (its brokers do not answer yet, or it is finding its partitions)"
			return d, false
		}
	}
	d.Status, d.Rules = "ready", len(st.Rules)
	if d.Reload != nil && !d.Reload.OK || d.Facts == "down" {
		d.Status = "degraded"
	}
	if wm := st.Engine.Watermark; wm > 0 && wm < 1<<62 {
		t := time.Unix(0, wm).UTC()
		d.Watermark = &t
	}
	return d, true
}

func (rd *Readiness) facts() string {
	switch {
	case rd.FactsDown == nil:
		return ""
	case rd.FactsDown():
		return "down"
	}
	return "up"
}

func (rd *Readiness) detail(w http.ResponseWriter, _ *http.Request) {
	d, ok := rd.Detail()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, d)
}

// HealthDetail is the body of /healthz: the process lives; its role and
// state store (runtime.Status) and its sinks' health say how it fares.
type HealthDetail struct {
	// Live is "ok".
	Live string `json:"status"`
	runtime.Status
	Sinks any `json:"sinks,omitempty"`
	// Facts is "up" or "down" with a Redis facts store.
	Facts string `json:"facts,omitempty"`
}

// HealthHandler serves /metrics, /healthz (HealthDetail, always 200 while
// the process serves) and /readyz on the metrics listener.
func HealthHandler(metrics http.Handler, rd *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		d := HealthDetail{Live: "ok", Status: rd.Runtime.Status(), Facts: rd.facts()}
		if rd.Sinks != nil {
			d.Sinks = rd.Sinks()
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("/readyz", rd.detail)
	return mux
}
