package correlate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/ml"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// baselines keeps one rule's per-entity baselines.
type baselines struct {
	r      *rules.Rule
	states []map[string]*ml.BaselineState // per baseline, by entity
	scores celenv.Scores
	// pending are the updates of the event at hand, applied after the
	// rule's detector has seen it, so its z-scores exclude the event.
	pending []pendingUpdate
	sweepAt int64
	keyBuf  []byte
}

type pendingUpdate struct {
	st *ml.BaselineState
	b  int
	x  float64
}

func newBaselines(r *rules.Rule) *baselines {
	bl := &baselines{r: r}
	for _, b := range r.Baselines {
		bl.states = append(bl.states, map[string]*ml.BaselineState{})
		bl.scores.Names = append(bl.scores.Names, b.Name)
	}
	bl.scores.Z = make([]float64, len(r.Baselines))
	return bl
}

// score computes the event's z-scores against each entity's baseline and
// remembers the updates to apply after the detector has run. A baseline
// whose where is false, whose value or entity cannot be computed, or that
// has too little history scores 0.
func (bl *baselines) score(e *Engine, ev *event.Event) *celenv.Scores {
	bl.pending = bl.pending[:0]
	act := rules.EventActivation{Ev: ev}
	for i := range bl.r.Baselines {
		b := &bl.r.Baselines[i]
		bl.scores.Z[i] = 0
		if b.Where != nil && !b.Where.Test(act) {
			continue
		}
		v, err := b.Value.Value(act)
		if err != nil {
			continue
		}
		x, ok := v.(float64)
		if !ok {
			continue
		}
		vals, st := rules.EvalKeyOf(b.By, ev, &e.act, e.keyBuf)
		e.keyBuf = vals
		if st != rules.KeyOK {
			continue
		}
		bl.keyBuf = encodeKey(bl.keyBuf[:0], vals)
		state := bl.states[i][string(bl.keyBuf)]
		if state == nil {
			state = &ml.BaselineState{}
			bl.states[i][string(bl.keyBuf)] = state
		}
		if z, ok := b.Params.ZScore(state, x); ok {
			bl.scores.Z[i] = z
		}
		bl.pending = append(bl.pending, pendingUpdate{st: state, b: i, x: x})
	}
	return &bl.scores
}

// update applies the event's observations.
func (bl *baselines) update(ev *event.Event) {
	at := ev.Timestamp()
	for _, u := range bl.pending {
		bl.r.Baselines[u.b].Params.Update(u.st, u.x, at)
	}
	bl.pending = bl.pending[:0]
}

// expire forgets entities whose history has decayed below a thousandth of
// one observation, so short-lived entities leave nothing behind.
func (bl *baselines) expire(wm int64) {
	// The end of a bounded input is not time passing: baselines outlive
	// it, to be saved and carried into the next run.
	if wm < bl.sweepAt || wm == MaxTime {
		return
	}
	var span time.Duration
	for i, b := range bl.r.Baselines {
		if b.Params.HalfLife <= 0 {
			continue
		}
		horizon := 10 * b.Params.HalfLife
		span = max(span, b.Params.HalfLife)
		cut := time.Unix(0, wm).Add(-horizon)
		for k, st := range bl.states[i] {
			if st.Last.Before(cut) {
				delete(bl.states[i], k)
			}
		}
	}
	if span == 0 {
		span = time.Hour
	}
	bl.sweepAt = wm + int64(span)
	if bl.sweepAt < wm {
		bl.sweepAt = MaxTime
	}
}

// online is the run-time state of an online model: the model itself and the
// features of the alerts it scored, kept until their labels arrive.
type online struct {
	spec     *rules.OnlineModel
	model    *ml.OnlineLogistic
	features map[string][]ml.Feature
	order    []string // alert ids in the order they were remembered
	head     int
	stats    OnlineStats
}

// OnlineStats count what an online model did.
type OnlineStats struct {
	Labels          uint64 // labels learnt from
	Unmatched       uint64 // labels for alerts it did not score (or forgot)
	ScoredOnline    uint64
	ScoredFallback  uint64
	Unscored        uint64 // not ready and no fallback
	FeedbackErrors  uint64
	ForgottenAlerts uint64 // features dropped to stay within Remember
}

func (e *Engine) onlineFor(spec *rules.OnlineModel) (*online, error) {
	if o, ok := e.online[spec.Name]; ok {
		return o, nil
	}
	m, err := ml.NewOnlineLogistic(spec.Config)
	if err != nil {
		return nil, fmt.Errorf("online model %s: %w", spec.Name, err)
	}
	o := &online{spec: spec, model: m, features: map[string][]ml.Feature{}}
	e.online[spec.Name] = o
	e.feedback[spec.FeedbackStream] = append(e.feedback[spec.FeedbackStream], o)
	return o, nil
}

// remember keeps an alert's features for its label.
func (o *online) remember(id string, fs []ml.Feature) {
	if _, ok := o.features[id]; ok {
		return
	}
	o.features[id] = append([]ml.Feature(nil), fs...)
	o.order = append(o.order, id)
	for len(o.features) > o.spec.Remember {
		old := o.order[o.head]
		o.head++
		if _, ok := o.features[old]; ok {
			delete(o.features, old)
			o.stats.ForgottenAlerts++
		}
	}
	if o.head > len(o.order)/2 && o.head > 1024 {
		o.order = append([]string(nil), o.order[o.head:]...)
		o.head = 0
	}
}

// learn takes one feedback event.
func (e *Engine) learn(o *online, ev *event.Event) {
	act := rules.EventActivation{Ev: ev}
	idv, err := o.spec.AlertID.Value(act)
	if err != nil {
		o.stats.FeedbackErrors++
		return
	}
	id, _ := idv.(string)
	labelv, err := o.spec.Label.Value(act)
	if err != nil {
		o.stats.FeedbackErrors++
		return
	}
	label, _ := labelv.(bool)
	fs, ok := o.features[id]
	if !ok {
		o.stats.Unmatched++
		if logged(o.stats.Unmatched) {
			e.logCounted(o.stats.Unmatched, "feedback for an alert this model did not score (or no longer remembers)", "model", o.spec.Name, "alert", id)
		}
		return
	}
	o.model.Update(fs, label)
	delete(o.features, id)
	o.stats.Labels++
	if e.explain != nil && e.cfg.ExplainRule == "" {
		fmt.Fprintf(e.explain, "  model %s: learnt label %v for alert %s (%d labels)\n", o.spec.Name, label, id, o.model.Labels())
	}
}

// scoreOnline scores with an online model, or its fallback until it is
// ready.
func (e *Engine) scoreOnline(r *rules.Rule, a *alert.Alert, vals []rules.FeatureValue) {
	o, err := e.onlineFor(r.Score.Online)
	if err != nil {
		r.Health.Fail(r.Spec.Pos, err)
		return
	}
	e.feats = rules.OnlineFeatures(vals, e.feats)
	o.remember(a.ID, e.feats)
	if o.model.Ready() {
		p := o.model.Predict(e.feats)
		a.Score = &p
		a.Model = &alert.Model{Name: o.spec.Name, Version: "online:" + strconv.FormatUint(o.model.Labels(), 10) + "-labels"}
		o.stats.ScoredOnline++
		if e.explaining(r) {
			e.explainf(r, "score %.4g by online model %s (%d labels)", p, o.spec.Name, o.model.Labels())
		}
		return
	}
	fb := r.Score.Online.Fallback
	if fb == nil {
		o.stats.Unscored++
		if e.explaining(r) {
			e.explainf(r, "online model %s is not ready (%d of %d labels) and has no fallback", o.spec.Name, o.model.Labels(), o.spec.Config.MinLabels)
		}
		return
	}
	e.scorePMML(r, a, fb, vals)
	o.stats.ScoredFallback++
}

// OnlineStats returns the counters of each online model, by name.
func (e *Engine) OnlineStats() map[string]OnlineStats {
	out := map[string]OnlineStats{}
	for n, o := range e.online {
		out[n] = o.stats
	}
	return out
}

// Store keeps engine state across restarts: online models and baselines.
// Keys are paths such as online/NAME; values are versioned encodings.
type Store interface {
	Get(key string) ([]byte, error) // nil, nil when absent
	Put(key string, val []byte) error
}

const stateVersion = 1

type onlineState struct {
	Version  int               `json:"version"`
	Model    []byte            `json:"model"`
	Features map[string][]feat `json:"features"`
	Order    []string          `json:"order"`
}

type feat struct {
	N string  `json:"n"`
	V float64 `json:"v"`
}

type baselineState struct {
	Version  int                          `json:"version"`
	Entities map[string]*ml.BaselineState `json:"entities"`
}

// prepareOnline creates the state of every online model the rules use, so that
// LoadState can restore it before the first event.
func (e *Engine) prepareOnline() error {
	for _, d := range e.dets {
		r := d.rule()
		if r.Score != nil && r.Score.Online != nil {
			if _, err := e.onlineFor(r.Score.Online); err != nil {
				return err
			}
		}
	}
	return nil
}

// SaveState writes online models and baselines to s.
func (e *Engine) SaveState(s Store) error {
	for name, o := range e.online {
		mb, err := o.model.MarshalBinary()
		if err != nil {
			return err
		}
		st := onlineState{Version: stateVersion, Model: mb, Features: map[string][]feat{}}
		for _, id := range o.order[o.head:] {
			fs, ok := o.features[id]
			if !ok {
				continue
			}
			st.Order = append(st.Order, id)
			out := make([]feat, len(fs))
			for i, f := range fs {
				out[i] = feat{f.Name, f.Value}
			}
			st.Features[id] = out
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if err := s.Put("online/"+name, b); err != nil {
			return err
		}
	}
	for r, bl := range e.baselines {
		for i, b := range r.Baselines {
			data, err := json.Marshal(baselineState{Version: stateVersion, Entities: bl.states[i]})
			if err != nil {
				return err
			}
			if err := s.Put("baseline/"+r.ID+"/"+b.Name, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadState restores what SaveState wrote. Missing keys are fine: a new
// model or baseline starts empty.
func (e *Engine) LoadState(s Store) error {
	for name, o := range e.online {
		b, err := s.Get("online/" + name)
		if err != nil {
			return err
		}
		if b == nil {
			continue
		}
		var st onlineState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("state of online model %s: %w", name, err)
		}
		if st.Version != stateVersion {
			return fmt.Errorf("state of online model %s has version %d, want %d", name, st.Version, stateVersion)
		}
		var learnt ml.OnlineLogistic
		if err := learnt.UnmarshalBinary(st.Model); err != nil {
			return fmt.Errorf("state of online model %s: %w", name, err)
		}
		// The checkpoint holds the settings the model learnt under; the
		// file's, which may have changed since, are the ones to go on
		// with. What it learnt fits only a table of the same size; the
		// features kept for labels still to come are names and values,
		// which any table learns from.
		was, now := learnt.Config(), o.model.Config()
		if err := learnt.Reconfigure(now); err != nil {
			e.log.Warn("online model's hash_bits changed since the checkpoint: it learns afresh", "model", name,
				"checkpoint_hash_bits", was.HashBits, "hash_bits", now.HashBits, "labels_dropped", learnt.Labels())
		} else {
			if was != now {
				e.log.Info("online model's settings changed since the checkpoint: what it learnt goes on under the new ones", "model", name)
			}
			*o.model = learnt
		}
		o.features, o.order, o.head = map[string][]ml.Feature{}, nil, 0
		for _, id := range st.Order {
			fs := st.Features[id]
			conv := make([]ml.Feature, len(fs))
			for i, f := range fs {
				conv[i] = ml.Feature{Name: f.N, Value: f.V}
			}
			o.features[id] = conv
			o.order = append(o.order, id)
		}
	}
	for r, bl := range e.baselines {
		for i, b := range r.Baselines {
			data, err := s.Get("baseline/" + r.ID + "/" + b.Name)
			if err != nil {
				return err
			}
			if data == nil {
				continue
			}
			var st baselineState
			if err := json.Unmarshal(data, &st); err != nil {
				return fmt.Errorf("state of baseline %s of rule %s: %w", b.Name, r.ID, err)
			}
			if st.Version != stateVersion {
				return fmt.Errorf("state of baseline %s of rule %s has version %d, want %d", b.Name, r.ID, st.Version, stateVersion)
			}
			if st.Entities != nil {
				bl.states[i] = st.Entities
			}
		}
	}
	return nil
}
