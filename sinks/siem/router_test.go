package siem

import (
	"context"
	"slices"
	"testing"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

// Shadow alerts reach only sinks that ask for them (and only local kinds
// may); the router applies each sink's priority, severity and tag filters.
func TestRouterFilters(t *testing.T) {
	all, high := &sinktest.Memory{}, &sinktest.Memory{}
	ca := fastConfig("all", "stdout")
	ca.IncludeShadow = true
	ch := memConfig("high", high)
	ch.MinPriority = 50
	ch.Severities = []alert.Severity{alert.High, alert.Critical}
	ch.Tags = []string{"attack.*", "fraud"}
	r, err := Build([]Config{ca, ch}, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The stdout sink is swapped for a memory destination: routing is
	// under test, not the stream.
	r.sinks[0].snd.tr = all
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	alerts := []*alert.Alert{
		{ID: "shadow", Severity: alert.Critical, Priority: 99, Tags: []string{"fraud"}, Shadow: true},
		{ID: "low-prio", Severity: alert.High, Priority: 10, Tags: []string{"fraud"}},
		{ID: "medium", Severity: alert.Medium, Priority: 90, Tags: []string{"fraud"}},
		{ID: "untagged", Severity: alert.High, Priority: 90, Tags: []string{"other"}},
		{ID: "attack", Severity: alert.High, Priority: 90, Tags: []string{"attack.t1110"}},
		{ID: "fraud", Severity: alert.Critical, Priority: 50, Tags: []string{"x", "fraud"}},
	}
	for _, a := range alerts {
		if err := r.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := all.IDs(); !slices.Equal(got, []string{"shadow", "low-prio", "medium", "untagged", "attack", "fraud"}) {
		t.Errorf("all: %v", got)
	}
	if got := high.IDs(); !slices.Equal(got, []string{"attack", "fraud"}) {
		t.Errorf("high: %v", got)
	}
	if h := r.Health(); len(h) != 2 || h[0].State != "stopped" {
		t.Errorf("health %+v", h)
	}
	if err := r.Send(context.Background(), alerts[0]); err == nil {
		t.Error("send after stop accepted")
	}
}
