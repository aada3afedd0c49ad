package server

import (
	"net/http"
	"time"

	"github.com/cep-project/cep/runtime"
)

// Readiness answers /readyz and the admin API's /v1/status.
//
// cep is ready once its loop runs. A failed reload does not make it
// unready — the rules loaded before keep running, and taking the process
// out of service would stop all detection — but it makes the status
// "degraded", with the errors (file:line:col) in the detail.
type Readiness struct {
	Runtime  *runtime.Runtime
	Reloader *runtime.Reloader
	// Sinks, when set, describes the sinks' health.
	Sinks func() any
}

// ReadyDetail is the body of /readyz.
type ReadyDetail struct {
	// Status is ready, degraded (a reload failed) or starting.
	Status string `json:"status"`
	// Rules counts the rules running; Revision is what they were read
	// from.
	Rules  int                   `json:"rules"`
	Reload *runtime.ReloadStatus `json:"reload,omitempty"`
	// Watermark is the event time every event before which has been
	// processed.
	Watermark *time.Time `json:"watermark,omitempty"`
	Sinks     any        `json:"sinks,omitempty"`
}

// Detail computes the readiness detail.
func (rd *Readiness) Detail() (ReadyDetail, bool) {
	st := rd.Runtime.Stats()
	d := ReadyDetail{Status: "starting"}
	if rd.Reloader != nil {
		s := rd.Reloader.Status()
		d.Reload = &s
	}
	if rd.Sinks != nil {
		d.Sinks = rd.Sinks()
	}
	if st == nil {
		return d, false
	}
	d.Status, d.Rules = "ready", len(st.Rules)
	if d.Reload != nil && !d.Reload.OK {
		d.Status = "degraded"
	}
	if wm := st.Engine.Watermark; wm > 0 && wm < 1<<62 {
		t := time.Unix(0, wm).UTC()
		d.Watermark = &t
	}
	return d, true
}

func (rd *Readiness) detail(w http.ResponseWriter, _ *http.Request) {
	d, ok := rd.Detail()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, d)
}

// HealthHandler serves /metrics, /healthz (the sinks' health) and
// /readyz on the metrics listener.
func HealthHandler(metrics http.Handler, rd *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		var v any = map[string]string{"status": "ok"}
		if rd.Sinks != nil {
			v = rd.Sinks()
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("/readyz", rd.detail)
	return mux
}
