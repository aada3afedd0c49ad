package event

import "unsafe"

// An event and its Fields live as long as each other, so a small event
// takes them in one allocation: a block holds the Event and an array of
// Fields (and, for a projected event, what Full needs). Sizes step by one
// Field to 8, by two to 16 and by four to 32, so a block wastes at most
// three Fields; a wider event takes its Fields in an allocation of their
// own.

type block[A any] struct {
	ev Event
	fs A
}

type lazyBlock[A any] struct {
	ev Event
	lz lazyFields
	fs A
}

func newBlock[A any](n int) (*Event, []Field) {
	b := new(block[A])
	return &b.ev, unsafe.Slice((*Field)(unsafe.Pointer(&b.fs)), unsafe.Sizeof(b.fs)/unsafe.Sizeof(Field{}))[:n:n]
}

func newLazyBlock[A any](n int) (*Event, *lazyFields, []Field) {
	b := new(lazyBlock[A])
	return &b.ev, &b.lz, unsafe.Slice((*Field)(unsafe.Pointer(&b.fs)), unsafe.Sizeof(b.fs)/unsafe.Sizeof(Field{}))[:n:n]
}

// newEvent allocates an event with room for n Fields, and what Full needs
// when lazy.
func newEvent(n int, lazy bool) (*Event, *lazyFields, []Field) {
	if lazy {
		return newLazyEvent(n)
	}
	var (
		ev *Event
		fs []Field
	)
	switch {
	case n == 0:
		return new(Event), nil, nil
	case n <= 1:
		ev, fs = newBlock[[1]Field](n)
	case n <= 2:
		ev, fs = newBlock[[2]Field](n)
	case n <= 3:
		ev, fs = newBlock[[3]Field](n)
	case n <= 4:
		ev, fs = newBlock[[4]Field](n)
	case n <= 5:
		ev, fs = newBlock[[5]Field](n)
	case n <= 6:
		ev, fs = newBlock[[6]Field](n)
	case n <= 7:
		ev, fs = newBlock[[7]Field](n)
	case n <= 8:
		ev, fs = newBlock[[8]Field](n)
	case n <= 10:
		ev, fs = newBlock[[10]Field](n)
	case n <= 12:
		ev, fs = newBlock[[12]Field](n)
	case n <= 14:
		ev, fs = newBlock[[14]Field](n)
	case n <= 16:
		ev, fs = newBlock[[16]Field](n)
	case n <= 20:
		ev, fs = newBlock[[20]Field](n)
	case n <= 24:
		ev, fs = newBlock[[24]Field](n)
	case n <= 28:
		ev, fs = newBlock[[28]Field](n)
	case n <= 32:
		ev, fs = newBlock[[32]Field](n)
	default:
		return new(Event), nil, make([]Field, n)
	}
	return ev, nil, fs
}

func newLazyEvent(n int) (*Event, *lazyFields, []Field) {
	switch {
	case n == 0:
		b := new(lazyBlock[struct{}])
		return &b.ev, &b.lz, nil
	case n <= 1:
		return newLazyBlock[[1]Field](n)
	case n <= 2:
		return newLazyBlock[[2]Field](n)
	case n <= 3:
		return newLazyBlock[[3]Field](n)
	case n <= 4:
		return newLazyBlock[[4]Field](n)
	case n <= 5:
		return newLazyBlock[[5]Field](n)
	case n <= 6:
		return newLazyBlock[[6]Field](n)
	case n <= 7:
		return newLazyBlock[[7]Field](n)
	case n <= 8:
		return newLazyBlock[[8]Field](n)
	case n <= 10:
		return newLazyBlock[[10]Field](n)
	case n <= 12:
		return newLazyBlock[[12]Field](n)
	case n <= 14:
		return newLazyBlock[[14]Field](n)
	case n <= 16:
		return newLazyBlock[[16]Field](n)
	case n <= 20:
		return newLazyBlock[[20]Field](n)
	case n <= 24:
		return newLazyBlock[[24]Field](n)
	case n <= 28:
		return newLazyBlock[[28]Field](n)
	case n <= 32:
		return newLazyBlock[[32]Field](n)
	}
	b := new(lazyBlock[struct{}])
	return &b.ev, &b.lz, make([]Field, n)
}
