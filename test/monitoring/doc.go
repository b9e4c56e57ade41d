// Package monitoring checks the chart's Grafana dashboard and Prometheus
// alert rules with Prometheus's own parsers: every rule passes rulefmt (as
// `promtool check rules` does), every query parses as PromQL, and every
// metric a query names is one that kubemesos (or controller-runtime, in
// the same registry) registers, so renaming a metric fails here.
//
// It is a module of its own so that the Prometheus module, whose
// dependencies are many, stays out of kubemesos's go.mod; `make test`
// runs it (test-monitoring).
package monitoring
