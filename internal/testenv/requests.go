package testenv

import (
	"bytes"
	"context"
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Request names a kind of API request as the API server counts it in
// apiserver_request_total.
type Request struct {
	// Verb is the request's verb: GET, LIST, WATCH, POST, PUT, PATCH,
	// DELETE, ...
	Verb string
	// Group is the resource's API group, "" for the core group.
	Group string
	// Resource and Subresource name what was requested ("pods", "status").
	Resource, Subresource string
	// Code is the HTTP status code of the answer, as a string.
	Code string
}

// Requests is a reading of the API server's request counters.
type Requests map[Request]float64

// ReadRequests reads apiserver_request_total from the API server's own
// /metrics, the record of what every client sent it.
func ReadRequests(ctx context.Context, cfg *rest.Config) (Requests, error) {
	families, err := ReadMetrics(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := Requests{}
	fam := families["apiserver_request_total"]
	if fam == nil {
		return out, nil
	}
	for _, m := range fam.GetMetric() {
		var r Request
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "verb":
				r.Verb = l.GetValue()
			case "group":
				r.Group = l.GetValue()
			case "resource":
				r.Resource = l.GetValue()
			case "subresource":
				r.Subresource = l.GetValue()
			case "code":
				r.Code = l.GetValue()
			}
		}
		out[r] += m.GetCounter().GetValue()
	}
	return out, nil
}

// Since returns the requests counted in r but not yet in before.
func (r Requests) Since(before Requests) Requests {
	out := Requests{}
	for k, v := range r {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Count sums the requests that match.
func (r Requests) Count(match func(Request) bool) float64 {
	var n float64
	for k, v := range r {
		if match(k) {
			n += v
		}
	}
	return n
}

// IsWrite reports whether a request changes what the API server stores.
// Reviews (TokenReview, SubjectAccessReview) are POSTs that store nothing.
func IsWrite(r Request) bool {
	switch r.Verb {
	case "POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY":
		return r.Resource != "tokenreviews" && r.Resource != "subjectaccessreviews" &&
			r.Resource != "selfsubjectaccessreviews" && r.Resource != "localsubjectaccessreviews"
	}
	return false
}

// ReadMetrics reads and parses the API server's own /metrics, by family
// name.
func ReadMetrics(ctx context.Context, cfg *rest.Config) (map[string]*dto.MetricFamily, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a clientset: %w", err)
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	return families, nil
}
