// Package fraudgen writes realistic multi-stream event files for the fraud
// example and for benchmarks: card authorisations and transfers
// (payments), logins (auth) and credential changes (account), with fraud
// injected at a known rate. The same seed always writes the same files.
package fraudgen

import (
	"bufio"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Streams are the files a generation writes, by stream name.
var Streams = []string{"payments", "auth", "account", "orders"}

// Config controls a generation.
type Config struct {
	Seed int64
	// Events is the approximate number of events over all streams.
	Events int
	// Rate is the events per second of event time.
	Rate float64
	// Start is the event time of the first event.
	Start time.Time
	// FraudRate is the share of users behaving fraudulently (0–1).
	FraudRate float64
	Users     int
}

// Defaults fills unset fields.
func (c Config) Defaults() Config {
	if c.Events <= 0 {
		c.Events = 20000
	}
	if c.Rate <= 0 {
		c.Rate = 20
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	}
	if c.FraudRate <= 0 {
		c.FraudRate = 0.01
	}
	if c.Users <= 0 {
		c.Users = max(50, c.Events/40)
	}
	return c
}

type city struct {
	name, country string
	lat, lon      float64
}

var cities = []city{
	{"London", "GB", 51.5072, -0.1276}, {"Manchester", "GB", 53.4808, -2.2426},
	{"Paris", "FR", 48.8566, 2.3522}, {"Lyon", "FR", 45.7640, 4.8357},
	{"Berlin", "DE", 52.5200, 13.4050}, {"Munich", "DE", 48.1351, 11.5820},
	{"Amsterdam", "NL", 52.3676, 4.9041}, {"Madrid", "ES", 40.4168, -3.7038},
	{"New York", "US", 40.7128, -74.0060}, {"Chicago", "US", 41.8781, -87.6298},
	{"San Francisco", "US", 37.7749, -122.4194}, {"Toronto", "CA", 43.6532, -79.3832},
}

var farCities = []city{
	{"Lagos", "NG", 6.5244, 3.3792}, {"Singapore", "SG", 1.3521, 103.8198},
	{"Sao Paulo", "BR", -23.5505, -46.6333}, {"Jakarta", "ID", -6.2088, 106.8456},
	{"Moscow", "RU", 55.7558, 37.6173},
}

var mccs = []string{"5411", "5812", "5541", "5732", "5999", "4111", "5311", "5651", "7011", "4511"}

// High-risk categories: money orders, gambling, crypto, wire transfers.
var riskyMCCs = []string{"6051", "7995", "4829"}

// TorExitNodes are the addresses the example's tor_exit_nodes list holds
// (documentation ranges, never routable).
var TorExitNodes = []string{"198.51.100.7", "198.51.100.23", "203.0.113.66", "203.0.113.99"}

type user struct {
	id, card, device, ip string
	home                 city
	fraud                bool
}

type gen struct {
	cfg  Config
	rnd  *rand.Rand
	t    time.Time
	out  map[string]*pending
	seq  int
	n    int // events emitted
	user []user
	err  error
}

// Events are generated in time order of their scenario's start, but a
// scenario may stamp its later events minutes ahead: each stream's events
// wait in a heap until generation has moved past their time, then are
// written in (time, emission) order. Only those events are held, so a
// generation of any size streams.
type record struct {
	t    int64 // Unix nanoseconds
	seq  int
	line []byte
}

type pending struct {
	w    *bufio.Writer
	heap recordHeap
}

type recordHeap []record

func (h recordHeap) Len() int { return len(h) }
func (h recordHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h recordHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)   { *h = append(*h, x.(record)) }
func (h *recordHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// flush writes every event stamped at or before until: events generated
// later are stamped at or after it, and after these when stamped at it.
func (g *gen) flush(until int64) {
	for _, s := range Streams {
		p := g.out[s]
		for len(p.heap) > 0 && p.heap[0].t <= until {
			r := heap.Pop(&p.heap).(record)
			p.w.Write(r.line)
			if err := p.w.WriteByte('\n'); err != nil && g.err == nil {
				g.err = err
			}
		}
	}
}

// Generate writes payments.jsonl, auth.jsonl, account.jsonl and
// orders.jsonl into dir.
func Generate(dir string, cfg Config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	writers := map[string]io.Writer{}
	var files []*os.File
	for _, s := range Streams {
		f, err := os.Create(filepath.Join(dir, s+".jsonl"))
		if err != nil {
			return err
		}
		files = append(files, f)
		writers[s] = f
	}
	err := Write(writers, cfg)
	for _, f := range files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Missing reports whether any stream file is missing from dir.
func Missing(dir string) bool {
	for _, s := range Streams {
		if _, err := os.Stat(filepath.Join(dir, s+".jsonl")); err != nil {
			return true
		}
	}
	return false
}

// Write generates the streams into the writers, by stream name.
func Write(w map[string]io.Writer, cfg Config) error {
	cfg = cfg.Defaults()
	g := &gen{cfg: cfg, rnd: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)), t: cfg.Start, out: map[string]*pending{}}
	for _, s := range Streams {
		g.out[s] = &pending{w: bufio.NewWriter(w[s])}
	}
	for i := 0; i < cfg.Users; i++ {
		g.user = append(g.user, user{
			id:     fmt.Sprintf("u-%05d", i),
			card:   fmt.Sprintf("c-%06d", 100000+i*7),
			device: fmt.Sprintf("d-%05d", i),
			ip:     fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256+1),
			home:   cities[g.rnd.IntN(len(cities))],
			fraud:  g.rnd.Float64() < cfg.FraudRate*5,
		})
	}
	step := time.Duration(float64(time.Second) / cfg.Rate)
	for g.n < cfg.Events && g.err == nil {
		g.t = g.t.Add(time.Duration(g.rnd.ExpFloat64() * float64(step)))
		g.flush(g.t.UnixNano())
		u := &g.user[g.rnd.IntN(len(g.user))]
		if u.fraud && g.rnd.Float64() < cfg.FraudRate*10 {
			g.fraud(u)
		} else {
			g.normal(u)
		}
	}
	g.flush(math.MaxInt64)
	for _, s := range Streams {
		if err := g.out[s].w.Flush(); err != nil && g.err == nil {
			g.err = err
		}
	}
	return g.err
}

func (g *gen) emit(stream string, t time.Time, fields map[string]any) {
	g.seq++
	g.n++
	fields["id"] = fmt.Sprintf("%s-%07d", stream[:3], g.seq)
	fields["ts"] = t.UTC().Format("2006-01-02T15:04:05.000Z")
	line, err := marshalOrdered(fields)
	if err != nil && g.err == nil {
		g.err = err
	}
	heap.Push(&g.out[stream].heap, record{t: t.UnixNano(), seq: g.seq, line: line})
}

func (g *gen) amount(mean float64) float64 {
	return math.Round(math.Max(0.5, g.rnd.NormFloat64()*mean/3+mean)*100) / 100
}

func (g *gen) merchant() (string, string) {
	i := g.rnd.IntN(400)
	return fmt.Sprintf("m-%04d", i), mccs[i%len(mccs)]
}

func (g *gen) cardAuth(u *user, t time.Time, amount float64, result, country, mcc, merchant string) {
	g.emit("payments", t, map[string]any{
		"type": "card_auth", "card_id": u.card, "account_user": u.id, "merchant": merchant, "mcc": mcc,
		"amount": amount, "currency": "EUR", "country": country, "result": result, "device_id": u.device,
	})
}

func (g *gen) login(u *user, t time.Time, c city, ip, device string, outcome string) {
	g.emit("auth", t, map[string]any{
		"user": u.id, "ip": ip, "device_id": device, "outcome": outcome, "new_device": device != u.device,
		"new_country": c.country != u.home.country,
		"geo":         map[string]any{"lat": c.lat, "lon": c.lon, "country": c.country, "city": c.name},
	})
}

func (g *gen) normal(u *user) {
	t := g.t
	switch p := g.rnd.Float64(); {
	case p < 0.55:
		m, mcc := g.merchant()
		result := "approved"
		if g.rnd.Float64() < 0.04 {
			result = "declined"
		}
		g.cardAuth(u, t, g.amount(45), result, u.home.country, mcc, m)
	case p < 0.80:
		outcome := "success"
		if g.rnd.Float64() < 0.05 {
			outcome = "failure"
		}
		g.login(u, t, u.home, u.ip, u.device, outcome)
	case p < 0.90:
		// A checkout usually completes with a payment within minutes.
		order := fmt.Sprintf("o-%07d", g.seq)
		g.emit("orders", t, map[string]any{"type": "checkout", "order_id": order, "account_user": u.id, "amount": g.amount(60)})
		if g.rnd.Float64() < 0.97 {
			m, mcc := g.merchant()
			pt := t.Add(time.Duration(30+g.rnd.IntN(600)) * time.Second)
			g.emit("orders", pt, map[string]any{"type": "payment", "order_id": order, "account_user": u.id, "card_id": u.card,
				"merchant": m, "mcc": mcc, "amount": g.amount(60), "currency": "EUR", "country": u.home.country, "result": "approved"})
		}
	case p < 0.97:
		g.emit("payments", t, map[string]any{"type": "transfer", "account_user": u.id, "amount": g.amount(150),
			"currency": "EUR", "dest_country": u.home.country, "channel": "web"})
	default:
		changes := []string{"email", "phone", "password"}
		g.emit("account", t, map[string]any{"user": u.id, "change": changes[g.rnd.IntN(3)], "channel": "web"})
	}
}

// fraud injects one of the scenarios the example's rules detect.
func (g *gen) fraud(u *user) {
	t := g.t
	switch g.rnd.IntN(6) {
	case 0: // card testing: small declines, then a large approval
		m, mcc := g.merchant()
		n := 3 + g.rnd.IntN(3)
		for i := 0; i < n; i++ {
			t = t.Add(time.Duration(5+g.rnd.IntN(40)) * time.Second)
			g.cardAuth(u, t, float64(1+g.rnd.IntN(4))-0.01, "declined", u.home.country, mcc, m)
		}
		t = t.Add(time.Duration(60+g.rnd.IntN(240)) * time.Second)
		g.cardAuth(u, t, g.amount(900)+500, "approved", u.home.country, mcc, m)
	case 1: // account takeover: new device, credential change, large transfer
		far := farCities[g.rnd.IntN(len(farCities))]
		dev := fmt.Sprintf("d-x%05d", g.rnd.IntN(100000))
		ip := TorExitNodes[g.rnd.IntN(len(TorExitNodes))]
		if g.rnd.IntN(2) == 0 {
			ip = fmt.Sprintf("192.0.2.%d", 1+g.rnd.IntN(250))
		}
		g.login(u, t, far, ip, dev, "success")
		t = t.Add(time.Duration(60+g.rnd.IntN(900)) * time.Second)
		g.emit("account", t, map[string]any{"user": u.id, "change": "password", "channel": "web", "device_id": dev})
		t = t.Add(time.Duration(60+g.rnd.IntN(1200)) * time.Second)
		g.emit("payments", t, map[string]any{"type": "transfer", "account_user": u.id, "amount": g.amount(4000) + 2000,
			"currency": "EUR", "dest_country": far.country, "channel": "web", "device_id": dev})
	case 2: // impossible travel: logins from far apart within minutes
		g.login(u, t, u.home, u.ip, u.device, "success")
		far := farCities[g.rnd.IntN(len(farCities))]
		t = t.Add(time.Duration(300+g.rnd.IntN(2400)) * time.Second)
		g.login(u, t, far, fmt.Sprintf("192.0.2.%d", 1+g.rnd.IntN(250)), u.device, "success")
	case 3: // velocity burst of transfers
		n := 6 + g.rnd.IntN(6)
		for i := 0; i < n; i++ {
			t = t.Add(time.Duration(10+g.rnd.IntN(50)) * time.Second)
			g.emit("payments", t, map[string]any{"type": "transfer", "account_user": u.id, "amount": g.amount(1200),
				"currency": "EUR", "dest_country": u.home.country, "channel": "api"})
		}
	case 4: // high-risk merchant category, large amount
		mcc := riskyMCCs[g.rnd.IntN(len(riskyMCCs))]
		g.cardAuth(u, t, g.amount(2500)+1000, "approved", u.home.country, mcc, fmt.Sprintf("m-9%03d", g.rnd.IntN(100)))
	default: // checkout never paid, and one device trying many stolen cards
		g.emit("orders", t, map[string]any{"type": "checkout", "order_id": fmt.Sprintf("o-%07d", g.seq), "account_user": u.id, "amount": g.amount(300)})
		dev := fmt.Sprintf("d-y%05d", g.rnd.IntN(100000))
		for i := 0; i < 3+g.rnd.IntN(3); i++ {
			t = t.Add(time.Duration(60+g.rnd.IntN(600)) * time.Second)
			m, mcc := g.merchant()
			victim := &g.user[g.rnd.IntN(len(g.user))]
			g.emit("payments", t, map[string]any{"type": "card_auth", "card_id": victim.card, "account_user": victim.id, "merchant": m, "mcc": mcc,
				"amount": g.amount(80), "currency": "EUR", "country": u.home.country, "result": "approved",
				"device_id": dev})
		}
	}
}

// marshalOrdered writes id and ts first, then the other fields sorted, so
// files diff cleanly between runs.
func marshalOrdered(data map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		if k != "id" && k != "ts" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	b := []byte(`{"id":`)
	v, _ := json.Marshal(data["id"])
	b = append(b, v...)
	b = append(b, `,"ts":`...)
	v, _ = json.Marshal(data["ts"])
	b = append(b, v...)
	for _, k := range keys {
		b = append(b, ',')
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		vb, err := json.Marshal(data[k])
		if err != nil {
			return nil, err
		}
		b = append(b, vb...)
	}
	return append(b, '}'), nil
}
