package mesosapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/portrange"
)

func TestResourcesBothWays(t *testing.T) {
	rl := b.Resources("cpu", "1500m", "memory", "1Gi", "ephemeral-storage", "10Gi", "nvidia.com/gpu", "2", "example.com/foo", "1")
	got := map[string]float64{}
	for _, r := range mesoswire.MesosResources(rl, "eng") {
		if r.GetAllocationInfo().GetRole() != "eng" || r.GetType() != mesosv1.Value_SCALAR {
			t.Errorf("resource %v: want a scalar for role eng", r)
		}
		got[r.GetName()] = r.GetScalar().GetValue()
	}
	if d := cmp.Diff(map[string]float64{"cpus": 1.5, "mem": 1024, "disk": 10240, "gpus": 2}, got); d != "" {
		t.Errorf("Mesos resources (-want +got):\n%s", d)
	}
	back, unknown := mesoswire.KubernetesResources([]*mesosv1.Resource{
		{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(0.25)}},
		{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(0.25)}},
		{Name: proto.String("mem"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(128)}},
		{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{Range: []*mesosv1.Value_Range{
			{Begin: proto.Uint64(31000), End: proto.Uint64(31001)}, {Begin: proto.Uint64(31005), End: proto.Uint64(31005)}}}},
		{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{Range: []*mesosv1.Value_Range{
			{Begin: proto.Uint64(31001), End: proto.Uint64(31002)}}}},
		{Name: proto.String("bandwidth"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(1)}},
	})
	cpu, mem, ports := back[corev1.ResourceCPU], back[corev1.ResourceMemory], back[kmv1.ResourcePorts]
	if cpu.MilliValue() != 500 || mem.Value() != 128<<20 || ports.Value() != 4 || !cmp.Equal(unknown, []string{"bandwidth"}) {
		t.Errorf("Kubernetes resources %v, unknown %v; want 500m cpu, 128Mi memory, 4 ports, bandwidth unknown", back, unknown)
	}

	// kubemesos.io/ports is no Mesos scalar: an offer's ports are ranges.
	withPorts := b.Resources("cpu", "1", string(kmv1.ResourcePorts), "1001")
	if rs := mesoswire.MesosResources(withPorts, "*"); len(rs) != 1 || rs[0].GetName() != "cpus" {
		t.Errorf("Mesos resources of %v: %v, want cpus alone", withPorts, rs)
	}
	set, err := portrange.Parse("[31000-31099,32000-32000]")
	if err != nil {
		t.Fatal(err)
	}
	r := mesoswire.PortsResource(set, "eng")
	if r.GetName() != "ports" || r.GetType() != mesosv1.Value_RANGES || r.GetAllocationInfo().GetRole() != "eng" || len(r.GetRanges().GetRange()) != 2 ||
		r.GetRanges().GetRange()[1].GetBegin() != 32000 || mesoswire.PortsOf([]*mesosv1.Resource{r}).String() != set.String() {
		t.Errorf("mesoswire.PortsResource(%s) = %v", set, r)
	}
	if mesoswire.PortsResource(nil, "eng") != nil {
		t.Error("no ports make a resource")
	}
}

func TestResourcesForPorts(t *testing.T) {
	ports := func(typ mesosv1.Value_Type, rs ...uint64) *mesosv1.Resource {
		r := &mesosv1.Resource{Name: proto.String("ports"), Type: typ.Enum(), Ranges: &mesosv1.Value_Ranges{}}
		for i := 0; i+1 < len(rs); i += 2 {
			r.Ranges.Range = append(r.Ranges.Range, &mesosv1.Value_Range{Begin: proto.Uint64(rs[i]), End: proto.Uint64(rs[i+1])})
		}
		return r
	}
	for _, tc := range []struct {
		r    *mesosv1.Resource
		want string
	}{
		{ports(mesosv1.Value_RANGES, 31000, 31000, 31002, 31003), ""},
		{ports(mesosv1.Value_RANGES, 31003, 31002), "Invalid resources: Invalid ranges resource: begin > end"},
		{ports(mesosv1.Value_RANGES, 31000, 31005, 31005, 31006), "Invalid resources: Invalid ranges resource: overlapping ranges"},
		{ports(mesosv1.Value_SCALAR), "Resource ports must be ranges"},
	} {
		res, msg := resourcesFor([]*mesosv1.Resource{tc.r}, "the task")
		if msg != tc.want {
			t.Errorf("resourcesFor(%v) says %q, want %q", tc.r, msg, tc.want)
		}
		if q := res[kmv1.ResourcePorts]; tc.want == "" && q.Value() != 3 {
			t.Errorf("resourcesFor(%v) counts %s ports, want 3", tc.r, q.String())
		}
	}
}

func TestCommandFor(t *testing.T) {
	cases := []struct {
		name string
		ti   *mesosv1.TaskInfo
		want *kmv1.CommandInfo
		err  string
	}{
		{"shell", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("echo $HOME")}},
			&kmv1.CommandInfo{Image: "img", Command: []string{"/bin/sh", "-c", "echo $HOME"}}, ""},
		{"argv", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/echo"), Arguments: []string{"echo", "a", "b"}}},
			&kmv1.CommandInfo{Image: "img", Command: []string{"/bin/echo"}, Args: []string{"a", "b"}}, ""},
		{"mesos image", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("true")}, Container: &mesosv1.ContainerInfo{
			Type: mesosv1.ContainerInfo_MESOS.Enum(), Mesos: &mesosv1.ContainerInfo_MesosInfo{Image: &mesosv1.Image{Type: mesosv1.Image_DOCKER.Enum(),
				Docker: &mesosv1.Image_Docker{Name: proto.String("alpine")}}}}},
			&kmv1.CommandInfo{Image: "alpine", Command: []string{"/bin/sh", "-c", "true"}}, ""},
		{"shell with a URI", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("./run.sh"), Uris: []*mesosv1.CommandInfo_URI{
			{Value: proto.String("http://repo/run.sh"), Executable: proto.Bool(true)}}}},
			&kmv1.CommandInfo{Image: "img", Command: []string{"/bin/sh", "-c", mustFetch(t, "http://repo/run.sh", true) + "./run.sh"}}, ""},
		{"argv with a URI", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Shell: proto.Bool(false), Value: proto.String("./run.sh"), Arguments: []string{"run", "-v"},
			Uris: []*mesosv1.CommandInfo_URI{{Value: proto.String("http://repo/run.sh"), Executable: proto.Bool(true)}}}},
			&kmv1.CommandInfo{Image: "img", Command: []string{"/bin/sh", "-c", mustFetch(t, "http://repo/run.sh", true) + `exec "$0" "$@"`}, Args: []string{"./run.sh", "-v"}}, ""},
		{"a URI kubemesos cannot fetch", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("x"), Uris: []*mesosv1.CommandInfo_URI{
			{Value: proto.String("hdfs://nn/x.tgz")}}}}, nil, "http, https and ftp"},
		{"URIs for the image's entrypoint", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Shell: proto.Bool(false), Uris: []*mesosv1.CommandInfo_URI{
			{Value: proto.String("http://repo/x")}}}}, nil, "with URIs"},
		{"empty shell", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{}}, nil, "must be set"},
		{"secret", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("x"), Environment: &mesosv1.Environment{
			Variables: []*mesosv1.Environment_Variable{{Name: proto.String("S"), Type: mesosv1.Environment_Variable_SECRET.Enum()}}}}}, nil, "secret"},
		{"bad env name", &mesosv1.TaskInfo{Command: &mesosv1.CommandInfo{Value: proto.String("x"), Environment: &mesosv1.Environment{
			Variables: []*mesosv1.Environment_Variable{{Name: proto.String("1=2"), Value: proto.String("v")}}}}}, nil, "not valid"},
	}
	for _, tc := range cases {
		got, msg := commandFor(tc.ti, "img")
		if tc.err != "" {
			if !strings.Contains(msg, tc.err) {
				t.Errorf("%s: message %q, want one with %q", tc.name, msg, tc.err)
			}
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" || msg != "" {
			t.Errorf("%s: %q (-want +got):\n%s", tc.name, msg, d)
		}
	}
}

// mustFetch is the fetch prologue of one URI.
func mustFetch(t *testing.T, value string, executable bool) string {
	t.Helper()
	p, msg := fetchPrologue([]*mesosv1.CommandInfo_URI{{Value: proto.String(value), Executable: proto.Bool(executable)}})
	if msg != "" {
		t.Fatal(msg)
	}
	return p
}

func TestFrameworkRole(t *testing.T) {
	info := func(role string, roles ...string) *mesosv1.FrameworkInfo {
		i := &mesosv1.FrameworkInfo{Roles: roles}
		if role != "" {
			i.Role = &role
		}
		return i
	}
	for _, tc := range []struct {
		info *mesosv1.FrameworkInfo
		want string
		code int
	}{
		{info(""), "*", 0}, {info("eng"), "eng", 0}, {info("", "eng/batch"), "eng/batch", 0},
		{info("", "a", "b"), "", 400}, {info("Bad Role"), "", 400},
	} {
		got, herr := frameworkRole(tc.info)
		if code := 0; herr != nil {
			code = herr.Code
			if code != tc.code {
				t.Errorf("%v: %d %q, want %d", tc.info, code, herr.Msg, tc.code)
			}
		} else if got != tc.want || tc.code != 0 {
			t.Errorf("%v: role %q, want %q (code %d)", tc.info, got, tc.want, tc.code)
		}
	}
}

func TestPortLedger(t *testing.T) {
	ports := func(pairs ...uint64) *mesosv1.Resource {
		r := &mesosv1.Resource{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{}}
		for i := 0; i+1 < len(pairs); i += 2 {
			r.Ranges.Range = append(r.Ranges.Range, &mesosv1.Value_Range{Begin: proto.Uint64(pairs[i]), End: proto.Uint64(pairs[i+1])})
		}
		return r
	}
	parse := func(s string) portrange.Set {
		set, err := portrange.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	l := &portLedger{available: parse("[31000-31007]"), executors: map[string]portrange.Set{"running": parse("[31008-31009]")}}
	launch := func(own, exec *mesosv1.Resource, executor string) (*kmv1.Task, string) {
		ti := &mesosv1.TaskInfo{Resources: []*mesosv1.Resource{own}}
		task := &kmv1.Task{}
		if executor != "" {
			ti.Executor = &mesosv1.ExecutorInfo{Resources: []*mesosv1.Resource{exec}}
			task.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: executor}
		}
		return task, l.take(task, ti)
	}
	for _, tc := range []struct {
		name      string
		own, exec *mesosv1.Resource
		executor  string
		want, msg string
		available string
	}{
		{"a new executor takes its ports", ports(31001, 31001), ports(31000, 31000), "new", "[31000-31001]", "", "[31002-31007]"},
		{"its next task holds them again", ports(31002, 31002), ports(31000, 31000), "new", "[31000-31000,31002-31002]", "", "[31003-31007]"},
		{"a running executor's ports are its own", ports(31003, 31003), ports(31008, 31009), "running", "[31003-31003,31008-31009]", "", "[31004-31007]"},
		{"a command task", ports(31004, 31005), nil, "", "[31004-31005]", "", "[31006-31007]"},
		{"overlap", ports(31006, 31006), ports(31006, 31007), "other", "",
			"There are overlapping resources in the task resources ports:[31006-31006] and executor resources ports:[31006-31007]", "[31006-31007]"},
		{"taken", ports(31000, 31000), nil, "", "",
			"Total resources ports:[31000-31000] required by task and its executor is more than available ports:[31006-31007]", "[31006-31007]"},
	} {
		task, msg := launch(tc.own, tc.exec, tc.executor)
		if msg != tc.msg || portrange.FromAPI(task.Spec.Ports).String() != tc.want && tc.msg == "" || l.available.String() != tc.available {
			t.Errorf("%s: %q, task ports %v, available %s; want %q, %s, %s", tc.name, msg, task.Spec.Ports, l.available, tc.msg, tc.want, tc.available)
		}
	}
}
