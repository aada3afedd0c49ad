package celenv

import (
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/cep-project/cep/event"
)

// Functions beyond standard CEL and cel-go's extension libraries. Every one
// is documented with an example in README.md ("CEL functions").
//
//	in_list(name, value)                 membership in a reference list
//	ts(e)                                event time of an event (or RFC 3339 / epoch) as a timestamp
//	hours_between(a, b)                  |ts(b) - ts(a)| in hours, as a double
//	geo_distance_km(lat1, lon1, lat2, lon2)
//	geo_distance_km(a, b)                haversine distance of two {lat, lon} objects
//	equals_ignore_case(a, b), contains_ignore_case(s, sub)
//	in_cidr(ip, cidr), in_cidr(ip, [cidr, ...]), is_private_ip(ip)
func (env *Env) functions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("in_list",
			cel.Overload("in_list_string_dyn", []*cel.Type{cel.StringType, cel.DynType}, cel.BoolType,
				cel.BinaryBinding(env.inList))),
		cel.Function("ts",
			cel.Overload("ts_dyn", []*cel.Type{cel.DynType}, cel.TimestampType,
				cel.UnaryBinding(toTimestamp))),
		cel.Function("hours_between",
			cel.Overload("hours_between_dyn_dyn", []*cel.Type{cel.DynType, cel.DynType}, cel.DoubleType,
				cel.BinaryBinding(hoursBetween))),
		cel.Function("geo_distance_km",
			cel.Overload("geo_distance_km_double4", []*cel.Type{cel.DoubleType, cel.DoubleType, cel.DoubleType, cel.DoubleType}, cel.DoubleType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					var f [4]float64
					for i, a := range args {
						d, ok := a.(types.Double)
						if !ok {
							return types.MaybeNoSuchOverloadErr(a)
						}
						f[i] = float64(d)
					}
					return types.Double(haversineKm(f[0], f[1], f[2], f[3]))
				})),
			cel.Overload("geo_distance_km_dyn_dyn", []*cel.Type{cel.DynType, cel.DynType}, cel.DoubleType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					lat1, lon1, err := latLon(a)
					if err != nil {
						return err
					}
					lat2, lon2, err := latLon(b)
					if err != nil {
						return err
					}
					return types.Double(haversineKm(lat1, lon1, lat2, lon2))
				}))),
		cel.Function("equals_ignore_case",
			cel.Overload("equals_ignore_case_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Bool(strings.EqualFold(string(a.(types.String)), string(b.(types.String))))
				}))),
		cel.Function("contains_ignore_case",
			cel.Overload("contains_ignore_case_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					return types.Bool(containsFold(string(a.(types.String)), string(b.(types.String))))
				}))),
		cel.Function("in_cidr",
			// The address is dynamic: an event field that is not text
			// (a number, null) is no address in any range, as text that
			// does not parse is not.
			cel.Overload("in_cidr_string_string", []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ip, cidr ref.Val) ref.Val {
					s, ok := ip.(types.String)
					if !ok {
						return types.False
					}
					a, err := netip.ParseAddr(string(s))
					if err != nil {
						return types.False
					}
					p, perr := prefix(string(cidr.(types.String)))
					if perr != nil {
						return perr
					}
					return types.Bool(p.Contains(a.Unmap()))
				})),
			cel.Overload("in_cidr_string_list", []*cel.Type{cel.DynType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(func(ip, cidrs ref.Val) ref.Val {
					s, ok := ip.(types.String)
					if !ok {
						return types.False
					}
					a, err := netip.ParseAddr(string(s))
					if err != nil {
						return types.False
					}
					a = a.Unmap()
					for it := cidrs.(traits.Lister).Iterator(); it.HasNext() == types.True; {
						s, ok := it.Next().(types.String)
						if !ok {
							return types.NewErr("in_cidr: the list must hold strings")
						}
						p, perr := prefix(string(s))
						if perr != nil {
							return perr
						}
						if p.Contains(a) {
							return types.True
						}
					}
					return types.False
				}))),
		cel.Function("is_private_ip",
			cel.Overload("is_private_ip_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(ip ref.Val) ref.Val {
					a, err := netip.ParseAddr(string(ip.(types.String)))
					if err != nil {
						return types.False
					}
					a = a.Unmap()
					return types.Bool(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast())
				}))),
	}
}

// EventArgReads tells what a function that takes events reads of an
// argument that is an event (root) or an object in one: ts and
// hours_between read only an event's time (no field), geo_distance_km an
// event's geo object or its lat and lon members (latLon). ok is false for
// every other function: an event passed to it may be read whole.
func EventArgReads(fn string, root bool) (paths [][]string, ok bool) {
	switch fn {
	case "ts", "hours_between", "seen", "fact":
		// seen and fact take the event only for its time (a macro
		// passes it).
		if root {
			return nil, true
		}
	case "geo_distance_km":
		paths = [][]string{{"lat"}, {"latitude"}, {"lon"}, {"lng"}, {"longitude"}}
		if root {
			paths = append(paths, []string{"geo"})
		}
		return paths, true
	}
	return nil, false
}

func (env *Env) inList(name, v ref.Val) ref.Val {
	n, ok := name.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(name)
	}
	l, ok := env.lists.Load().Get(string(n))
	if !ok {
		return types.NewErr("in_list: no list named %q", string(n))
	}
	switch x := v.(type) {
	case types.String:
		return types.Bool(l.Contains(string(x)))
	case types.Double:
		return types.Bool(l.Contains(event.NumberValue(float64(x)).Text()))
	case types.Int:
		return types.Bool(l.Contains(event.NumberValue(float64(x)).Text()))
	case types.Null:
		return types.False
	}
	return types.NewErr("in_list: cannot look up a %s", v.Type().TypeName())
}

// prefixes caches parsed CIDR literals: rules name a handful of ranges and
// evaluate them millions of times. A range read from events, not from the
// rule, could be new at every event: the cache stops growing at
// maxPrefixes, and the ranges past it are parsed each time.
var (
	prefixes     sync.Map
	prefixesSize atomic.Int64
)

const maxPrefixes = 1 << 12

// ValidCIDR reports whether s is a CIDR prefix in_cidr accepts.
func ValidCIDR(s string) bool {
	_, err := prefix(s)
	return err == nil
}

func prefix(s string) (netip.Prefix, ref.Val) {
	if p, ok := prefixes.Load(s); ok {
		return p.(netip.Prefix), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, types.NewErr("in_cidr: invalid CIDR %q", s)
	}
	p = p.Masked()
	if prefixesSize.Load() < maxPrefixes {
		if _, loaded := prefixes.LoadOrStore(strings.Clone(s), p); !loaded {
			prefixesSize.Add(1)
		}
	}
	return p, nil
}

func toTimestamp(v ref.Val) ref.Val {
	switch x := v.(type) {
	case eventVal:
		return types.Timestamp{Time: x.ev.Timestamp()}
	case types.Timestamp:
		return x
	case types.String:
		t, err := event.ParseTimeString(string(x))
		if err != nil {
			return types.WrapErr(err)
		}
		return types.Timestamp{Time: time.Unix(0, t).UTC()}
	case types.Double:
		t, err := event.ParseTime(event.NumberValue(float64(x)))
		if err != nil {
			return types.WrapErr(err)
		}
		return types.Timestamp{Time: time.Unix(0, t).UTC()}
	case types.Int:
		t, err := event.ParseTime(event.NumberValue(float64(x)))
		if err != nil {
			return types.WrapErr(err)
		}
		return types.Timestamp{Time: time.Unix(0, t).UTC()}
	}
	return types.NewErr("ts: want an event, a timestamp, RFC 3339 text or epoch number, got %s", v.Type().TypeName())
}

func hoursBetween(a, b ref.Val) ref.Val {
	ta, ok := toTimestamp(a).(types.Timestamp)
	if !ok {
		return toTimestamp(a)
	}
	tb, ok := toTimestamp(b).(types.Timestamp)
	if !ok {
		return toTimestamp(b)
	}
	return types.Double(math.Abs(tb.Sub(ta.Time).Hours()))
}

const earthRadiusKm = 6371.0088

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	s := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(s)))
}

// latLon reads a point from an object with lat/lon (or latitude/longitude,
// lng) members, or from an event with such members or a geo object.
func latLon(v ref.Val) (float64, float64, ref.Val) {
	m, ok := v.(traits.Mapper)
	if !ok {
		return 0, 0, types.NewErr("geo_distance_km: want an object with lat and lon, got %s", v.Type().TypeName())
	}
	if _, isEvent := v.(eventVal); isEvent {
		if g, ok := m.Find(types.String("geo")); ok {
			if gm, ok := g.(traits.Mapper); ok {
				m = gm
			}
		}
	}
	lat, ok1 := num(m, "lat", "latitude")
	lon, ok2 := num(m, "lon", "lng", "longitude")
	if !ok1 || !ok2 {
		return 0, 0, types.NewErr("geo_distance_km: the object needs numeric lat and lon")
	}
	return lat, lon, nil
}

func num(m traits.Mapper, names ...string) (float64, bool) {
	for _, n := range names {
		if v, ok := m.Find(types.String(n)); ok {
			switch x := v.(type) {
			case types.Double:
				return float64(x), true
			case types.Int:
				return float64(x), true
			}
		}
	}
	return 0, false
}

// containsFold reports whether sub is in s, ignoring case, without
// allocating for ASCII text.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	n := len(sub)
	for i := 0; i+n <= len(s); {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	// Case folding can change byte lengths outside ASCII.
	if isASCII(s) && isASCII(sub) {
		return false
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// isASCII reports whether s is all ASCII, eight bytes at a time: a
// case-insensitive search asks it of a whole command line per needle.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
