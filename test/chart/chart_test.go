// Package chart tests the Helm chart with the helm built into bin/ (helm
// lint and helm template), and the Dockerfile against the Makefile.
package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/internal/version"
)

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Helm()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: run `make tools` (make test builds it): %v", bin, err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "kubemesos") }

// render runs helm template and returns the documents by kind/name.
func render(t *testing.T, args ...string) map[string]string {
	t.Helper()
	out, err := helm(t, append([]string{"template", "km", chartDir(), "--namespace", "kubemesos-system"}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	docs := map[string]string{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil || meta.Kind == "" {
			continue
		}
		docs[meta.Kind+"/"+meta.Metadata.Name] = doc
	}
	return docs
}

func TestHelmLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chartDir()); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

func TestChartRendersTheComponents(t *testing.T) {
	docs := render(t)
	for _, want := range []string{
		"CustomResourceDefinition/frameworks.kubemesos.io", "CustomResourceDefinition/tasks.kubemesos.io",
		"CustomResourceDefinition/offers.kubemesos.io", "CustomResourceDefinition/agents.kubemesos.io",
		"Deployment/kubemesos-master", "DaemonSet/kubemesos-agent", "Service/kubemesos-master-metrics",
		"ServiceAccount/kubemesos-master", "ServiceAccount/kubemesos-agent",
		"ClusterRole/kubemesos-master", "ClusterRole/kubemesos-agent", "ClusterRole/kubemesos-scheduler",
		"ClusterRoleBinding/kubemesos-master", "ClusterRoleBinding/kubemesos-agent", "RoleBinding/kubemesos-scheduler",
		"Role/kubemesos-agent", "RoleBinding/kubemesos-agent",
		"ValidatingAdmissionPolicy/kubemesos-framework-scheduler", "ValidatingAdmissionPolicyBinding/kubemesos-framework-scheduler",
		"ValidatingAdmissionPolicy/kubemesos-framework-role", "ValidatingAdmissionPolicyBinding/kubemesos-framework-role",
		"ValidatingAdmissionPolicy/kubemesos-framework-status", "ValidatingAdmissionPolicyBinding/kubemesos-framework-status",
		"ValidatingAdmissionPolicy/kubemesos-agent-node", "ValidatingAdmissionPolicyBinding/kubemesos-agent-node",
		"ValidatingAdmissionPolicy/kubemesos-executor-label", "ValidatingAdmissionPolicyBinding/kubemesos-executor-label",
		"ValidatingAdmissionPolicy/kubemesos-master-leader", "ValidatingAdmissionPolicyBinding/kubemesos-master-leader",
		"ValidatingAdmissionPolicy/kubemesos-offer-decline", "ValidatingAdmissionPolicyBinding/kubemesos-offer-decline",
		"ValidatingAdmissionPolicy/kubemesos-master-writes", "ValidatingAdmissionPolicyBinding/kubemesos-master-writes",
	} {
		if _, ok := docs[want]; !ok {
			t.Errorf("the chart lacks %s", want)
		}
	}
	if !strings.Contains(docs["CustomResourceDefinition/tasks.kubemesos.io"], "helm.sh/resource-policy: keep") {
		t.Error("the CRDs are not kept on uninstall")
	}

	var dep appsv1.Deployment
	if err := yaml.Unmarshal([]byte(docs["Deployment/kubemesos-master"]), &dep); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if *dep.Spec.Replicas != 2 || c.LivenessProbe == nil || c.ReadinessProbe == nil || !strings.Contains(strings.Join(c.Args, " "), "--leader-election-namespace") {
		t.Errorf("master: replicas %d, probes %v/%v, args %v", *dep.Spec.Replicas, c.LivenessProbe, c.ReadinessProbe, c.Args)
	}
	if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the master does not run as non-root")
	}

	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal([]byte(docs["DaemonSet/kubemesos-agent"]), &ds); err != nil {
		t.Fatal(err)
	}
	ps := ds.Spec.Template.Spec
	if !ps.HostNetwork || len(ps.Volumes) != 1 || ps.Volumes[0].HostPath == nil || len(ps.Tolerations) == 0 {
		t.Errorf("agent: hostNetwork %v, volumes %+v, tolerations %v", ps.HostNetwork, ps.Volumes, ps.Tolerations)
	}
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("the agent does not run as a non-root user: %+v", sc)
	}
	// Only the init container that hands the hostPath work dir to the
	// agent's user runs as root, with CAP_CHOWN alone.
	if len(ps.InitContainers) != 1 {
		t.Fatalf("agent init containers: %+v", ps.InitContainers)
	}
	ic := ps.InitContainers[0]
	if sc := ic.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 0 || sc.Capabilities == nil ||
		!cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !cmp.Equal(sc.Capabilities.Add, []corev1.Capability{"CHOWN"}) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("the work-dir init container's security context: %+v", ic.SecurityContext)
	}
	if args := strings.Join(ic.Args, " "); !strings.Contains(args, "--dir=/var/lib/kubemesos/$(NODE_NAME)") || !strings.Contains(args, "--owner=65532:65532") ||
		!strings.Contains(strings.Join(ps.Containers[0].Args, " "), "--work-dir=/var/lib/kubemesos/$(NODE_NAME)") {
		t.Errorf("the init container prepares %v; the agent uses %v", ic.Args, ps.Containers[0].Args)
	}
	env := map[string]string{}
	for _, e := range ps.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["NODE_NAME"] != "spec.nodeName" || env["HOST_IP"] != "status.hostIP" {
		t.Errorf("agent downward API env: %v", env)
	}
}

// TestChartRBACMatchesTheMarkers: the chart's ClusterRoles and Roles are
// the ones controller-gen made from the code's RBAC markers, and a Role
// lives in the release namespace.
func TestChartRBACMatchesTheMarkers(t *testing.T) {
	docs := render(t)
	for _, role := range []string{"master", "agent"} {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", role, "role.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			var want, got struct {
				Kind     string
				Metadata struct{ Name, Namespace string }
				Rules    []rbacv1.PolicyRule
			}
			if err := yaml.Unmarshal([]byte(doc), &want); err != nil || want.Kind == "" {
				continue
			}
			key := want.Kind + "/" + want.Metadata.Name
			if err := yaml.Unmarshal([]byte(docs[key]), &got); err != nil || got.Kind == "" {
				t.Errorf("%s: the chart has no %s (%v)", role, key, err)
				continue
			}
			if !reflect.DeepEqual(got.Rules, want.Rules) || len(got.Rules) == 0 {
				t.Errorf("%s: the chart's %s rules %+v differ from the markers' %+v", role, key, got.Rules, want.Rules)
			}
			if want.Kind == "Role" && got.Metadata.Namespace != "kubemesos-system" {
				t.Errorf("%s: %s is in namespace %q, not the release's", role, key, got.Metadata.Namespace)
			}
			for _, r := range got.Rules {
				for _, v := range r.Verbs {
					if v == "*" {
						t.Errorf("%s: wildcard verb in %+v", role, r)
					}
				}
			}
		}
	}
	if !strings.Contains(docs["RoleBinding/kubemesos-agent"], "namespace: kubemesos-system") {
		t.Errorf("the agent's Role is not bound in the release namespace:\n%s", docs["RoleBinding/kubemesos-agent"])
	}
}

func TestChartValues(t *testing.T) {
	docs := render(t, "--set", "crds.enabled=false", "--set", "master.replicas=3", "--set", "master.roleWeights.prod=3",
		"--set", "frameworkNamespaces={default,batch}")
	if _, ok := docs["CustomResourceDefinition/tasks.kubemesos.io"]; ok {
		t.Error("crds.enabled=false still renders the CRDs")
	}
	if !strings.Contains(docs["Deployment/kubemesos-master"], "replicas: 3") || !strings.Contains(docs["Deployment/kubemesos-master"], "--role-weights=prod=3") {
		t.Errorf("values not applied:\n%s", docs["Deployment/kubemesos-master"])
	}
	var tainted appsv1.DaemonSet
	if err := yaml.Unmarshal([]byte(render(t, "--set", "agent.offerTolerations[0].key=dedicated", "--set", "agent.offerTolerations[0].operator=Exists",
		"--set", "agent.offerTolerations[0].value=")["DaemonSet/kubemesos-agent"]), &tainted); err != nil {
		t.Fatal(err)
	}
	if args := tainted.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, `--offer-tolerations=[{"key":"dedicated","operator":"Exists","value":""}]`) {
		t.Errorf("agent.offerTolerations is not passed to the agent: %q", args)
	}
	if strings.Contains(render(t)["DaemonSet/kubemesos-agent"], "--offer-tolerations") {
		t.Error("the agent tolerates taints for its offers by default")
	}
	agentArgs := func(docs map[string]string) []string {
		var ds appsv1.DaemonSet
		if err := yaml.Unmarshal([]byte(docs["DaemonSet/kubemesos-agent"]), &ds); err != nil {
			t.Fatal(err)
		}
		return ds.Spec.Template.Spec.Containers[0].Args
	}
	if args := agentArgs(render(t)); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--executor-api-anonymous-namespaces") }) {
		t.Errorf("the agent takes executor calls without credentials by default: %q", args)
	}
	if args := agentArgs(render(t, "--set", "agent.executorAPI.anonymousNamespaces={mesos-anonymous,batch}")); !slices.Contains(args, "--executor-api-anonymous-namespaces=mesos-anonymous,batch") {
		t.Errorf("agent.executorAPI.anonymousNamespaces is not passed to the agent: %q", args)
	}
	plain := render(t)
	if !strings.Contains(plain["DaemonSet/kubemesos-agent"], "--status-update-writers=8") ||
		!strings.Contains(render(t, "--set", "agent.statusUpdateWriters=16")["DaemonSet/kubemesos-agent"], "--status-update-writers=16") {
		t.Error("agent.statusUpdateWriters is not passed to the agent (default 8)")
	}
	if args := agentArgs(plain); !slices.Contains(args, "--running-update-delay=0s") {
		t.Errorf("the agent holds a task's first TASK_RUNNING by default: %q", args)
	}
	if args := agentArgs(render(t, "--set", "agent.runningUpdateDelay=200ms")); !slices.Contains(args, "--running-update-delay=200ms") {
		t.Errorf("agent.runningUpdateDelay is not passed to the agent: %q", args)
	}
	if args := agentArgs(plain); !slices.Contains(args, "--resource-growth-delay=30s") {
		t.Errorf("the agent writes every growth of its node's resources by default: %q", args)
	}
	if args := agentArgs(render(t, "--set", "agent.resourceGrowthDelay=0s")); !slices.Contains(args, "--resource-growth-delay=0s") {
		t.Errorf("agent.resourceGrowthDelay is not passed to the agent: %q", args)
	}
	for _, kind := range []string{"Deployment/kubemesos-master", "DaemonSet/kubemesos-agent"} {
		if strings.Contains(plain[kind], "--pprof-bind-address") {
			t.Errorf("%s serves Go's profiles by default", kind)
		}
	}
	profiled := render(t, "--set", "master.pprofPort=6060", "--set", "agent.pprofPort=6061")
	if !strings.Contains(profiled["Deployment/kubemesos-master"], "--pprof-bind-address=$(POD_IP):6060") ||
		!strings.Contains(profiled["DaemonSet/kubemesos-agent"], "--pprof-bind-address=$(HOST_IP):6061") {
		t.Errorf("master.pprofPort and agent.pprofPort are not passed on:\n%s\n%s", profiled["Deployment/kubemesos-master"], profiled["DaemonSet/kubemesos-agent"])
	}
	goMemLimit := func(docs map[string]string) corev1.EnvVar {
		var dep appsv1.Deployment
		if err := yaml.Unmarshal([]byte(docs["Deployment/kubemesos-master"]), &dep); err != nil {
			t.Fatal(err)
		}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "GOMEMLIMIT" {
				return e
			}
		}
		t.Fatal("the master has no GOMEMLIMIT")
		return corev1.EnvVar{}
	}
	if e := goMemLimit(plain); e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil ||
		e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || e.ValueFrom.ResourceFieldRef.ContainerName != "master" {
		t.Errorf("GOMEMLIMIT is not the master's memory limit by default: %+v", e)
	}
	if e := goMemLimit(render(t, "--set", "master.goMemLimit=400MiB")); e.Value != "400MiB" || e.ValueFrom != nil {
		t.Errorf("master.goMemLimit is not passed on: %+v", e)
	}
	for _, bad := range [][]string{{"--set", "agent.offerTolerations[0].operator=Maybe"}, {"--set", "bogus=1"}, {"--set", "master.bogus=1"}, {"--set", "master.replicas=0"}, {"--set", "agent.heartbeatInterval=soon"}, {"--set", "agent.runningUpdateDelay=soon"}, {"--set", "agent.resourceGrowthDelay=later"}, {"--set", "master.goMemLimit=400M"}, {"--set", "agent.statusUpdateWriters=0"}, {"--set", "agent.executorAPI.anonymousNamespaces={Mesos}"}, {"--set", "agent.executorAPI.bogus=1"}} {
		out, err := helm(t, append([]string{"template", "km", chartDir()}, bad...)...)
		if err == nil {
			t.Errorf("values %v accepted", bad)
		} else if !strings.Contains(out, "values don't meet the specifications of the schema") {
			t.Errorf("values %v refused without the schema's message:\n%s", bad, out)
		}
	}
}

// TestChartPortsDiffer: two ports of one component that are bound on one
// address must differ; the install says which, rather than the component
// crash-looping.
func TestChartPortsDiffer(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"--set", "agent.pprofPort=5053"}, "agent.metricsPort and agent.pprofPort are both 5053"},
		{[]string{"--set", "agent.probePort=5051"}, "agent.port and agent.probePort are both 5051"},
		{[]string{"--set", "master.console.port=5050"}, "master.console.port and master.mesosAPI.port are both 5050"},
		{[]string{"--set", "master.pprofPort=8080"}, "master.metricsPort and master.pprofPort are both 8080"},
	} {
		out, err := helm(t, append([]string{"template", "km", chartDir()}, tc.set...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v, want a refusal saying %q:\n%s", tc.set, err, tc.want, out)
		}
	}
	// Ports that are off (0) never collide.
	if out, err := helm(t, "template", "km", chartDir(), "--set", "master.console.port=0", "--set", "master.mesosAPI.port=0", "--set", "agent.metricsPort=0"); err != nil {
		t.Errorf("ports turned off are refused: %v\n%s", err, out)
	}
}

// TestDockerfileBuildsWhatMakeBuilds: the image cannot be built here (no
// container engine), so check what can be: the same packages and flags as
// `make build`, a version build argument, a non-root user and the entrypoint.
func TestDockerfileBuildsWhatMakeBuilds(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	df, mk := read("Dockerfile"), read("Makefile")
	for _, want := range []string{`-o /out/kubemesos .`, `-o /out/montecarloarea ./examples/montecarloarea`, "CGO_ENABLED=0", "-trimpath",
		"ARG VERSION", "internal/version.Version=${VERSION}", "USER 65532:65532", `ENTRYPOINT ["kubemesos"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	for _, pkg := range []string{"-o bin/kubemesos .", "-o bin/montecarloarea ./examples/montecarloarea", "internal/version.Version="} {
		if !strings.Contains(mk, pkg) {
			t.Errorf("the Makefile's build lacks %q, which the Dockerfile builds", pkg)
		}
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read("go.mod"))
	if goVersion == nil || !strings.Contains(df, "FROM golang:"+goVersion[1]) {
		t.Errorf("the Dockerfile's Go image does not match go.mod's go %v", goVersion)
	}
}

// TestOneReleaseVersion: the chart's appVersion is the release's, the tag
// of the image the chart, the samples and MonteCarloArea use by default
// (and that the local cluster builds).
func TestOneReleaseVersion(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != version.AppVersion {
		t.Errorf("Chart.yaml appVersion %q, internal/version.AppVersion %q", chart.AppVersion, version.AppVersion)
	}
	docs := render(t)
	if !strings.Contains(docs["Deployment/kubemesos-master"], "image: "+version.Image) {
		t.Errorf("the chart's default image is not %s", version.Image)
	}
	samples, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	for _, f := range samples {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`image: (kubemesos/\S+)`).FindAllStringSubmatch(string(raw), -1) {
			if m[1] != version.Image {
				t.Errorf("%s uses %s, not this release's %s", filepath.Base(f), m[1], version.Image)
			}
		}
	}
}

// TestChartConsole: the console listens on the pod's address on
// master.console.port, advertises it for the standbys, and has a
// ClusterIP Service; port 0 turns it off and renders no Service.
func TestChartConsole(t *testing.T) {
	docs := render(t)
	dep := docs["Deployment/kubemesos-master"]
	for _, want := range []string{"--console-bind-address=:5080", "--console-advertise-address=$(POD_IP):5080", "{name: console, containerPort: 5080}"} {
		if !strings.Contains(dep, want) {
			t.Errorf("the master lacks %q", want)
		}
	}
	svc := docs["Service/kubemesos-console"]
	if !strings.Contains(svc, "type: ClusterIP") || !strings.Contains(svc, "{name: console, port: 5080, targetPort: console}") {
		t.Errorf("Service/kubemesos-console:\n%s", svc)
	}
	off := render(t, "--set", "master.console.port=0")
	if _, ok := off["Service/kubemesos-console"]; ok || !strings.Contains(off["Deployment/kubemesos-master"], "--console-bind-address=0") {
		t.Errorf("master.console.port=0 still serves the console:\n%s", off["Deployment/kubemesos-master"])
	}
	if _, err := helm(t, "template", "km", chartDir(), "--set", "master.console.extra=1"); err == nil {
		t.Error("the schema accepts an unknown key under master.console")
	}
	// The viewer's role reads, and only reads, what the console checks.
	role := docs["ClusterRole/kubemesos-viewer"]
	for _, want := range []string{"resources: [frameworks, tasks, offers, agents]", "resources: [pods/log]"} {
		if !strings.Contains(role, want) {
			t.Errorf("ClusterRole/kubemesos-viewer lacks %q:\n%s", want, role)
		}
	}
	for _, verb := range []string{"create", "update", "patch", "delete", "*"} {
		if strings.Contains(role, " "+verb+",") || strings.Contains(role, " "+verb+"]") || strings.Contains(role, "["+verb+"]") {
			t.Errorf("ClusterRole/kubemesos-viewer grants %s:\n%s", verb, role)
		}
	}
}

// TestFrameworkStatusPolicyListsTheMastersFields: kubemesos-framework-status
// keeps every field of a Framework's status but the scheduler's (result,
// and the Succeeded condition among the conditions) as the master wrote it.
// A field added to FrameworkStatus must be added to the policy too, or a
// scheduler could write it. The first rule is a conjunction: each of its
// terms must be one field's own comparison.
func TestFrameworkStatusPolicyListsTheMastersFields(t *testing.T) {
	doc := render(t)["ValidatingAdmissionPolicy/kubemesos-framework-status"]
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	if err := yaml.Unmarshal([]byte(doc), &policy); err != nil || len(policy.Spec.Validations) == 0 {
		t.Fatalf("the chart has no kubemesos-framework-status with rules (%v)", err)
	}
	terms := map[string]bool{}
	for _, term := range strings.Split(policy.Spec.Validations[0].Expression, "&&") {
		terms[strings.Join(strings.Fields(term), " ")] = true
	}
	st := reflect.TypeOf(kmv1.FrameworkStatus{})
	want := map[string]bool{}
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		switch name {
		case "result":
		case "conditions":
			want["object.?status.?conditions.orValue([]).filter(c, c.type != 'Succeeded') == "+
				"oldObject.?status.?conditions.orValue([]).filter(c, c.type != 'Succeeded')"] = true
		default:
			want["object.?status.?"+name+" == oldObject.?status.?"+name] = true
		}
	}
	for term := range want {
		if !terms[term] {
			t.Errorf("the policy's first rule lacks the term %q", term)
		}
	}
	for term := range terms {
		if !want[term] {
			t.Errorf("the policy's first rule has a term that keeps no field of the master's: %q", term)
		}
	}
}
