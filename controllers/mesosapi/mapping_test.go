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
)

func TestResourcesBothWays(t *testing.T) {
	rl := b.Resources("cpu", "1500m", "memory", "1Gi", "ephemeral-storage", "10Gi", "nvidia.com/gpu", "2", "example.com/foo", "1")
	got := map[string]float64{}
	for _, r := range MesosResources(rl, "eng") {
		if r.GetAllocationInfo().GetRole() != "eng" || r.GetType() != mesosv1.Value_SCALAR {
			t.Errorf("resource %v: want a scalar for role eng", r)
		}
		got[r.GetName()] = r.GetScalar().GetValue()
	}
	if d := cmp.Diff(map[string]float64{"cpus": 1.5, "mem": 1024, "disk": 10240, "gpus": 2}, got); d != "" {
		t.Errorf("Mesos resources (-want +got):\n%s", d)
	}
	back, unknown := KubernetesResources([]*mesosv1.Resource{
		{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(0.25)}},
		{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(0.25)}},
		{Name: proto.String("mem"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(128)}},
		{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum()},
	})
	cpu, mem := back[corev1.ResourceCPU], back[corev1.ResourceMemory]
	if cpu.MilliValue() != 500 || mem.Value() != 128<<20 || !cmp.Equal(unknown, []string{"ports"}) {
		t.Errorf("Kubernetes resources %v, unknown %v; want 500m cpu, 128Mi memory, ports unknown", back, unknown)
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
