package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// render runs helm template with the dashboard and the rules on, on a
// cluster that serves PrometheusRule, and returns the documents by
// kind/name.
func render(t *testing.T) map[string]string {
	t.Helper()
	bin := testenv.Helm()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: run `make tools` (make test builds it): %v", bin, err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "template", "km", filepath.Join(testenv.RepoRoot(), "charts", "kubemesos"), "--namespace", "kubemesos-system",
		"--set", "grafana.dashboard.enabled=true", "--set", "prometheusRule.enabled=true",
		"--api-versions", "monitoring.coreos.com/v1/PrometheusRule")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, out.String())
	}
	docs := map[string]string{}
	for _, doc := range strings.Split(out.String(), "\n---\n") {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err == nil && meta.Kind != "" {
			docs[meta.Kind+"/"+meta.Metadata.Name] = doc
		}
	}
	return docs
}

// exists reports whether a metric of this name is registered with the
// registry the master and the agent serve (controller-runtime's, with
// kubemesos's registered as the binaries do): a probe collector of that
// name is refused there exactly when the name is taken. Vectors without
// series count too, which a scrape would not show.
func exists(t *testing.T, name string) bool {
	t.Helper()
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := ctrlmetrics.Registry.Register(probe); err != nil {
		return true
	}
	ctrlmetrics.Registry.Unregister(probe)
	return false
}

// known reports whether a query may name metric: a registered metric, or
// a series (_bucket, _sum, _count) of a histogram that the registry
// serves. (A histogram vector serves nothing until it has a series, so a
// query of one of controller-runtime's fails here: add it to the check
// when a query needs one.)
func known(t *testing.T, metric string) bool {
	t.Helper()
	if exists(t, metric) {
		return true
	}
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(metric, suffix)
		if ok && slices.ContainsFunc(families, func(f *dto.MetricFamily) bool {
			return f.GetName() == base && f.GetType() == dto.MetricType_HISTOGRAM
		}) {
			return true
		}
	}
	return false
}

var promql = parser.NewParser(parser.Options{})

// metricNames parses a PromQL query and returns the metric names it
// selects; a selector without a name (by __name__ alone) is an error, as
// the check below could not follow it.
func metricNames(query string) ([]string, error) {
	expr, err := promql.ParseExpr(query)
	if err != nil {
		return nil, err
	}
	var names []string
	var unnamed error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				unnamed = fmt.Errorf("selector %s names no metric", vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, unnamed
}

func registerKubemesos(t *testing.T) {
	t.Helper()
	if err := metrics.RegisterMaster(ctrlmetrics.Registry); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterAgent(ctrlmetrics.Registry); err != nil {
		t.Fatal(err)
	}
}

// TestMetricNamesAreChecked: the check itself tells a registered metric
// (and its histogram series) from an unknown one.
func TestMetricNamesAreChecked(t *testing.T) {
	registerKubemesos(t)
	for name, want := range map[string]bool{
		"kubemesos_master_agents": true, "kubemesos_master_allocation_cycle_duration_seconds_bucket": true,
		"kubemesos_agent_status_updates_queued": true, "leader_election_master_status": true, "workqueue_depth": true,
		"rest_client_requests_total": true, "kubemesos_master_agents_total": false, "kubemesos_master_tasks_bucket": false,
	} {
		if got := known(t, name); got != want {
			t.Errorf("known(%s) = %v, want %v", name, got, want)
		}
	}
	if _, err := metricNames(`{__name__=~"kubemesos_.*"}`); err == nil {
		t.Error("a selector by __name__ alone passes the name check")
	}
	if _, err := metricNames(`rate(kubemesos_master_offers_total[5m]`); err == nil {
		t.Error("an unbalanced query parses")
	}
}

// TestDashboardQueries: every query of the dashboard parses as PromQL and
// names only metrics that kubemesos and controller-runtime register.
func TestDashboardQueries(t *testing.T) {
	registerKubemesos(t)
	var cm struct{ Data map[string]string }
	if err := yaml.Unmarshal([]byte(render(t)["ConfigMap/kubemesos-dashboard"]), &cm); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["kubemesos.json"]), &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	queries := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			queries++
			names, err := metricNames(q.Expr)
			if err != nil {
				t.Errorf("panel %q: %q: %v", p.Title, q.Expr, err)
				continue
			}
			for _, n := range names {
				if !known(t, n) {
					t.Errorf("panel %q: %q names %s, which nothing registers", p.Title, q.Expr, n)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries; its panels were not read", queries)
	}
}

// TestAlertRules: the PrometheusRule's groups pass rulefmt, as promtool
// check rules does (fields, durations, PromQL, annotation templates), and
// each alert's query names only registered metrics.
func TestAlertRules(t *testing.T) {
	registerKubemesos(t)
	var pr struct {
		Spec json.RawMessage
	}
	if err := yaml.Unmarshal([]byte(render(t)["PrometheusRule/kubemesos"]), &pr); err != nil || len(pr.Spec) == 0 {
		t.Fatalf("no PrometheusRule rendered (%v)", err)
	}
	groupsYAML, err := yaml.JSONToYAML(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(groupsYAML, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" {
				t.Errorf("group %s has a recording rule %q; the chart ships alerts only", g.Name, r.Record)
			}
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			for _, n := range names {
				if !known(t, n) {
					t.Errorf("%s: %q names %s, which nothing registers", r.Alert, r.Expr, n)
				}
			}
		}
	}
	if !slices.Contains(alerts, "KubemesosNoLeader") || len(alerts) < 7 {
		t.Errorf("alerts %v", alerts)
	}
}
