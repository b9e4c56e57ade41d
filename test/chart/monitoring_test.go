package chart

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The API versions that make the chart render its Prometheus Operator
// objects, as `helm template --api-versions` passes them.
const (
	apiPrometheusRule = "monitoring.coreos.com/v1/PrometheusRule"
	apiServiceMonitor = "monitoring.coreos.com/v1/ServiceMonitor"
)

// TestChartAgentMetrics: the agent serves its metrics by default, on its
// node's address only, behind a headless Service; agent.metricsPort=0
// turns both off.
func TestChartAgentMetrics(t *testing.T) {
	docs := render(t)
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal([]byte(docs["DaemonSet/kubemesos-agent"]), &ds); err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--metrics-bind-address=$(HOST_IP):5053") {
		t.Errorf("the agent does not serve its metrics on the node's address: %q", c.Args)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 5053 }) {
		t.Errorf("the agent has no metrics port: %+v", c.Ports)
	}
	var svc corev1.Service
	if err := yaml.Unmarshal([]byte(docs["Service/kubemesos-agent-metrics"]), &svc); err != nil || svc.Spec.ClusterIP != corev1.ClusterIPNone ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Selector["app.kubernetes.io/component"] != "agent" {
		t.Errorf("the agents' metrics Service (%v):\n%s", err, docs["Service/kubemesos-agent-metrics"])
	}
	off := render(t, "--set", "agent.metricsPort=0")
	if _, ok := off["Service/kubemesos-agent-metrics"]; ok || strings.Contains(off["DaemonSet/kubemesos-agent"], "--metrics-bind-address") {
		t.Error("agent.metricsPort=0 still serves the agent's metrics")
	}
}

// TestChartMonitoringOffByDefault: no dashboard, rules or ServiceMonitor
// unless asked for, even where the Prometheus Operator is installed.
func TestChartMonitoringOffByDefault(t *testing.T) {
	docs := render(t, "--api-versions", apiPrometheusRule, "--api-versions", apiServiceMonitor)
	for _, k := range []string{"ConfigMap/kubemesos-dashboard", "PrometheusRule/kubemesos", "ServiceMonitor/kubemesos"} {
		if _, ok := docs[k]; ok {
			t.Errorf("%s is rendered by default", k)
		}
	}
}

// TestChartPrometheusOperatorObjects: the PrometheusRule and the
// ServiceMonitor are rendered only where the cluster serves their API, so
// that enabling them on a cluster without the Prometheus Operator does not
// fail the install.
func TestChartPrometheusOperatorObjects(t *testing.T) {
	on := []string{"--set", "prometheusRule.enabled=true", "--set", "serviceMonitor.enabled=true",
		"--set", "prometheusRule.labels.release=prom", "--set", "serviceMonitor.labels.release=prom"}
	without := render(t, on...)
	for _, k := range []string{"PrometheusRule/kubemesos", "ServiceMonitor/kubemesos"} {
		if _, ok := without[k]; ok {
			t.Errorf("%s is rendered on a cluster without its API", k)
		}
	}
	with := render(t, append(on, "--api-versions", apiPrometheusRule, "--api-versions", apiServiceMonitor)...)
	var rule struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			Groups []struct {
				Rules []struct {
					Alert       string
					For         string
					Labels      map[string]string
					Annotations map[string]string
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(with["PrometheusRule/kubemesos"]), &rule); err != nil || len(rule.Spec.Groups) == 0 {
		t.Fatalf("the PrometheusRule (%v):\n%s", err, with["PrometheusRule/kubemesos"])
	}
	if rule.Metadata.Labels["release"] != "prom" {
		t.Errorf("prometheusRule.labels are not on the PrometheusRule: %v", rule.Metadata.Labels)
	}
	var alerts []string
	for _, r := range rule.Spec.Groups[0].Rules {
		alerts = append(alerts, r.Alert)
		if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
			t.Errorf("%s: severity %q", r.Alert, sev)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s lacks a summary or a description: %v", r.Alert, r.Annotations)
		}
		if _, ok := r.Annotations["runbook_url"]; ok {
			t.Errorf("%s has a runbook_url without prometheusRule.runbookBaseURL", r.Alert)
		}
	}
	for _, want := range []string{"KubemesosAgentsUnreachable", "KubemesosAgentRemovalLimitHit", "KubemesosAllocationCycleSlow",
		"KubemesosStatusUpdateBacklog", "KubemesosFrameworkDisconnected", "KubemesosTasksLost", "KubemesosNoLeader"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("the rules lack %s (have %v)", want, alerts)
		}
	}
	runbooks := render(t, append(on, "--api-versions", apiPrometheusRule, "--set", "prometheusRule.runbookBaseURL=https://runbooks.example/kubemesos")...)
	if !strings.Contains(runbooks["PrometheusRule/kubemesos"], `runbook_url: "https://runbooks.example/kubemesos#kubemesosnoleader"`) {
		t.Errorf("prometheusRule.runbookBaseURL does not give the alerts runbook URLs:\n%s", runbooks["PrometheusRule/kubemesos"])
	}
	var sm struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			Selector  struct{ MatchLabels map[string]string }
			Endpoints []struct{ Port string }
		}
	}
	if err := yaml.Unmarshal([]byte(with["ServiceMonitor/kubemesos"]), &sm); err != nil || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "metrics" || sm.Metadata.Labels["release"] != "prom" {
		t.Fatalf("the ServiceMonitor (%v):\n%s", err, with["ServiceMonitor/kubemesos"])
	}
	// It selects both metrics Services, which are the only ones with a
	// port named metrics.
	for _, name := range []string{"Service/kubemesos-master-metrics", "Service/kubemesos-agent-metrics", "Service/kubemesos-master"} {
		var svc corev1.Service
		if err := yaml.Unmarshal([]byte(with[name]), &svc); err != nil {
			t.Fatal(err)
		}
		selected := true
		for k, v := range sm.Spec.Selector.MatchLabels {
			selected = selected && svc.Labels[k] == v
		}
		scraped := selected && slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" })
		if want := name != "Service/kubemesos-master"; scraped != want {
			t.Errorf("%s scraped: %v, want %v", name, scraped, want)
		}
	}
}

// Dashboard is the part of Grafana's dashboard model that the chart's
// dashboard must get right.
type Dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct{ Type, UID string }
		GridPos    struct{ X, Y, W, H int }
		Targets    []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Datasource struct{ Type, UID string }
		}
	}
}

// TestChartGrafanaDashboard: the ConfigMap carries the sidecar's label and
// the dashboard, valid JSON in Grafana's model: a Prometheus data source
// variable that every panel and query uses, panels on the 24-column grid
// with unique IDs, and a query in every target. (test/monitoring parses
// the queries and checks the metrics they name.)
func TestChartGrafanaDashboard(t *testing.T) {
	docs := render(t, "--set", "grafana.dashboard.enabled=true", "--set", "grafana.dashboard.label=dashboards",
		"--set", "grafana.dashboard.labelValue=kubemesos", "--set", "grafana.dashboard.namespace=monitoring",
		"--set", "grafana.dashboard.annotations.grafana_folder=Mesos")
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(docs["ConfigMap/kubemesos-dashboard"]), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels["dashboards"] != "kubemesos" || cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Mesos" {
		t.Errorf("the dashboard ConfigMap's metadata: %+v", cm.ObjectMeta)
	}
	raw, ok := cm.Data["kubemesos.json"]
	if !ok {
		t.Fatalf("the ConfigMap has no kubemesos.json: %v", cm.Data)
	}
	var d Dashboard
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if d.UID != "kubemesos" || d.Title == "" || d.SchemaVersion != 39 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct {
		Name, Type string
		Query      any
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("no Prometheus data source variable: %+v", d.Templating.List)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel ID %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "timeseries" && p.Type != "stat" {
			t.Errorf("panel %q: type %q", p.Title, p.Type)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q is off the 24-column grid: %+v", p.Title, g)
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %+v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || q.Datasource.Type != "prometheus" || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: target %+v", p.Title, q)
			}
		}
	}
	for _, want := range []string{"kubemesos_master_agents", "kubemesos_master_tasks", "kubemesos_master_offers_total",
		"kubemesos_master_allocation_cycle_duration_seconds_bucket", "kubemesos_master_frameworks", "kubemesos_agent_status_updates_queued",
		"rest_client_requests_total"} {
		if !strings.Contains(raw, want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}
