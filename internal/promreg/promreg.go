// Package promreg registers Prometheus collectors so that registering the
// same metrics again — a second task of a component, a topology restarted
// in the same process — reuses the collectors already registered instead of
// failing.
package promreg

import (
	"errors"
	"reflect"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns it, or returns the collector of
// the same type already registered under the same descriptors. Any other
// registration error is joined into *errp and c is returned unregistered.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errp = errors.Join(*errp, err)
	}
	return c
}

var shared struct {
	sync.Mutex
	m map[sharedKey]any
}

type sharedKey struct {
	reg prometheus.Registerer
	typ reflect.Type
}

// Shared returns the value make built for reg, calling make on first use
// only: the tasks of a component, which each ask for their metrics, then
// share one set of collectors per registry. Registerers are compared by
// identity (they are pointers in practice). make is called with the lock
// held, so it must not call Shared.
func Shared[T any](reg prometheus.Registerer, make func(prometheus.Registerer) (T, error)) (T, error) {
	shared.Lock()
	defer shared.Unlock()
	k := sharedKey{reg, reflect.TypeFor[T]()}
	if v, ok := shared.m[k]; ok {
		return v.(T), nil
	}
	v, err := make(reg)
	if err != nil {
		return v, err
	}
	if shared.m == nil {
		shared.m = map[sharedKey]any{}
	}
	shared.m[k] = v
	return v, nil
}
