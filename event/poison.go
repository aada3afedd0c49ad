package event

import "os"

// poisonReleased is whether a slab is poisoned when its last event is
// released (see slab.poison), so that any reader of an event after its
// release reads garbage, and its test fails: in a build with the race
// detector, which every CI run of the unit tests is, and in a process
// whose environment has CEP_POISON_SLABS=1, which the end-to-end specs
// give the cep they run. It costs a pass over each slab's bytes.
var poisonReleased = raceBuild || os.Getenv("CEP_POISON_SLABS") == "1"
