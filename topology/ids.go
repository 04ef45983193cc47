package topology

import "strings"

// ComponentID names a spout or bolt within a topology. Names that begin with
// "__" are reserved for the runtime (see [SystemComponent]).
type ComponentID string

// StreamID names an output stream of a component. Every component has the
// [DefaultStream]; it may declare more.
type StreamID string

// TaskID identifies one task of a topology. Task ids are assigned by
// [Builder.Build]: the tasks of each component get consecutive ids, in the order
// of component names, starting at 1. Ids above the user tasks belong to system
// tasks such as ackers.
type TaskID int32

const (
	// DefaultStream is the stream a component emits to unless it names another.
	DefaultStream StreamID = "default"

	// SystemComponent is the source component of tuples the runtime makes
	// itself, such as ticks.
	SystemComponent ComponentID = "__system"

	// TickStream is the stream of tick tuples sent to a bolt that asked for a
	// tick interval (see [BoltDeclarer.Tick]).
	TickStream StreamID = "__tick"
)

// reservedPrefix marks names the runtime keeps for itself.
const reservedPrefix = "__"

// IsReserved reports whether name is reserved for the runtime.
func IsReserved(name string) bool { return strings.HasPrefix(name, reservedPrefix) }
