package join

import (
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// fieldsOf gives a test event the fields that restoring it from a snapshot
// gives it.
func fieldsOf(raw []byte) ([]event.Field, error) { return wire.Fields(raw) }
