package main

import (
	"log/slog"
	"strings"

	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
)

// projections keeps each stream's projection (the fields its rules can
// read, see rules.Projection) shared by the stream's sources, and in step
// with the rules when they are reloaded.
type projections struct {
	by  map[string]*source.Projection
	log *slog.Logger
}

func newProjections(log *slog.Logger) *projections {
	return &projections{by: map[string]*source.Projection{}, log: log}
}

// of returns stream's projection under rs.
func (p *projections) of(stream string, rs []*rules.Rule) *source.Projection {
	sp, ok := p.by[stream]
	if !ok {
		sp = source.NewProjection(nil)
		p.by[stream] = sp
		p.set(stream, sp, rs)
	}
	return sp
}

// update follows a new rule set: lines decoded from now on carry what the
// new rules read.
func (p *projections) update(rs []*rules.Rule) {
	for stream, sp := range p.by {
		p.set(stream, sp, rs)
	}
}

func (p *projections) set(stream string, sp *source.Projection, rs []*rules.Rule) {
	proj := rules.Projection(rs, stream)
	sp.Store(proj)
	if proj == nil {
		var whole []string
		for _, r := range rs {
			if r.ReadsStream(stream) && r.Reads().Whole {
				whole = append(whole, r.ID)
			}
		}
		p.log.Debug("stream decodes every field: rules read its events whole", "stream", stream, "rules", strings.Join(whole, ","))
		return
	}
	p.log.Debug("stream decodes only the fields its rules read", "stream", stream, "paths", strings.Join(proj.Paths(), ","))
}
