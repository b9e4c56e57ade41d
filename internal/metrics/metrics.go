// Package metrics defines the kubemesos_* Prometheus metrics of the master
// (kubemesos_master_*) and the agent (kubemesos_agent_*). Each binary
// registers its own set with controller-runtime's registry (RegisterMaster,
// RegisterAgent), so they are served beside its own metrics on
// --metrics-bind-address. Label values are bounded: outcomes, task states
// and sources, phases, call types and HTTP status codes; never the name of
// a task, pod, framework or node.
//
// Names follow the Prometheus conventions: base units (seconds), _total on
// counters, and no unit or _total on gauges that count things.
package metrics

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "kubemesos"

// register registers cs with reg; a collector registered there already is
// no error, so that a test may register a set twice.
func register(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if errors.As(err, &dup) {
				continue
			}
			return err
		}
	}
	return nil
}

// source is a function a gauge reads at scrape time, set by the component
// that owns the value (0 while unset).
type source struct {
	f atomic.Pointer[func() float64]
}

func (s *source) set(f func() float64) { s.f.Store(&f) }

func (s *source) read() float64 {
	if f := s.f.Load(); f != nil {
		return (*f)()
	}
	return 0
}

// gaugeFunc is a gauge read from src at scrape time.
func gaugeFunc(opts prometheus.GaugeOpts, src *source) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(opts, src.read)
}
