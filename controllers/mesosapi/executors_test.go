package mesosapi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestWithExecutorToken runs the wrapped command lines with a real /bin/sh
// against a token file: the executor sees the token in
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN and its command or argv unchanged,
// and does not start when the file cannot be read.
func TestWithExecutorToken(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok.en-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An executable that prints its token and its arguments, one a line.
	printer := []string{"/bin/sh", "-c", `printf '<%s>\n' "$` + EnvMesosExecutorToken + `" "$0" "$@"`}
	weird := []string{"argzero", "with space", `quo"te's`, "", "$HOME", "a\\b", "-x"}
	cases := []struct {
		name          string
		command, args []string
		want          string
	}{
		{"shell", []string{"/bin/sh", "-c", `printf '<%s>\n' "$` + EnvMesosExecutorToken + `" "a b"; exit 0`}, nil,
			"<tok.en-123>\n<a b>\n"},
		{"shell of many lines", []string{"/bin/sh", "-c", "x='it''s'\nprintf '<%s>\\n' \"$" + EnvMesosExecutorToken + "\" \"$x\" || exit 3"}, nil,
			"<tok.en-123>\n<its>\n"},
		{"argv", printer, weird,
			"<tok.en-123>\n<argzero>\n<with space>\n<quo\"te's>\n<>\n<$HOME>\n<a\\b>\n<-x>\n"},
		{"executable alone", []string{"/bin/echo"}, nil, "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			command, args := WithExecutorToken(tc.command, tc.args)
			if command[0] != "/bin/sh" || strings.Contains(strings.Join(append(command, args...), " "), "tok.en-123") {
				t.Fatalf("wrapped %q %q: want /bin/sh, without the token's value", command, args)
			}
			cmd := exec.Command(command[0], append(command[1:], args...)...)
			cmd.Env = []string{executorapi.EnvTokenFile + "=" + tokenFile, "PATH=/usr/bin:/bin", EnvMesosExecutorToken + "=stale"}
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != tc.want {
				t.Fatalf("ran %q %q: %v, output %q, want %q", command, args, err, out, tc.want)
			}
		})
	}
	t.Run("no token file", func(t *testing.T) {
		command, args := WithExecutorToken([]string{"/bin/echo"}, []string{"started"})
		cmd := exec.Command(command[0], append(command[1:], args...)...)
		cmd.Env = []string{executorapi.EnvTokenFile + "=" + filepath.Join(dir, "missing"), "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "started") {
			t.Fatalf("ran without a token: %v, output %q; want a failure before the executor starts", err, out)
		}
	})
}

func TestExecutorFor(t *testing.T) {
	cmd := func(v string) *mesosv1.CommandInfo { return &mesosv1.CommandInfo{Value: proto.String(v)} }
	ei := func(id string, c *mesosv1.CommandInfo) *mesosv1.ExecutorInfo {
		return &mesosv1.ExecutorInfo{ExecutorId: &mesosv1.ExecutorID{Value: proto.String(id)}, Command: c}
	}
	full := ei("exec-1", &mesosv1.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/usr/bin/exec"), Arguments: []string{"exec", "--flag", "a b"},
		Environment: &mesosv1.Environment{Variables: []*mesosv1.Environment_Variable{{Name: proto.String("K"), Value: proto.String("v")}}}})
	full.Type = mesosv1.ExecutorInfo_CUSTOM.Enum()
	full.FrameworkId = &mesosv1.FrameworkID{Value: proto.String("fw")}
	full.Resources = []*mesosv1.Resource{scalarResource("cpus", 0.25), scalarResource("mem", 32), scalarResource("disk", 10)}
	full.Container = &mesosv1.ContainerInfo{Type: mesosv1.ContainerInfo_DOCKER.Enum(), Docker: &mesosv1.ContainerInfo_DockerInfo{Image: proto.String("example/exec:1")}}
	wantCmd, wantArgs := WithExecutorToken([]string{"/usr/bin/exec"}, []string{"--flag", "a b"})
	shellCmd, _ := WithExecutorToken([]string{"/bin/sh", "-c", "./run"}, nil)
	typed := func(e *mesosv1.ExecutorInfo, tp mesosv1.ExecutorInfo_Type) *mesosv1.ExecutorInfo {
		e.Type = tp.Enum()
		return e
	}
	cases := []struct {
		name string
		ei   *mesosv1.ExecutorInfo
		want *kmv1.ExecutorInfo
		err  string
	}{
		{"argv with everything", full, &kmv1.ExecutorInfo{ExecutorID: "exec-1", Image: "example/exec:1", Command: wantCmd, Args: wantArgs,
			Env: []kmv1.EnvVar{{Name: "K", Value: "v"}}, Resources: b.Resources("cpu", "250m", "memory", "32Mi", "ephemeral-storage", "10Mi")}, ""},
		{"shell, default image", ei("e", cmd("./run")), &kmv1.ExecutorInfo{ExecutorID: "e", Image: "img", Command: shellCmd}, ""},
		{"default type", typed(ei("e", cmd("x")), mesosv1.ExecutorInfo_DEFAULT), nil, "'ExecutorInfo.type' must be 'CUSTOM'"},
		{"no command", ei("e", nil), nil, "'ExecutorInfo.command' must be set"},
		{"argv without value", ei("e", &mesosv1.CommandInfo{Shell: proto.Bool(false)}), nil, "'ExecutorInfo.command.value' must be set"},
		{"empty ID", ei("", cmd("x")), nil, "must not be empty"},
		{"any Mesos ID", ei("My Executor.1:ü", cmd("./run")), &kmv1.ExecutorInfo{ExecutorID: "My Executor.1:ü", Image: "img", Command: shellCmd}, ""},
		{"ID with a slash", ei("a/b", cmd("x")), nil, "'a/b' contains invalid characters"},
		{"ID '..'", ei("..", cmd("x")), nil, "'..' is disallowed"},
		{"ID too long", ei(strings.Repeat("e", 256), cmd("x")), nil, "ID must not be greater than 255 characters"},
		{"another framework", func() *mesosv1.ExecutorInfo {
			e := ei("e", cmd("x"))
			e.FrameworkId = &mesosv1.FrameworkID{Value: proto.String("other")}
			return e
		}(), nil, "invalid FrameworkID (Actual: other vs Expected: fw)"},
		{"unknown resource", func() *mesosv1.ExecutorInfo {
			e := ei("e", cmd("x"))
			e.Resources = []*mesosv1.Resource{scalarResource("bandwidth", 1)}
			return e
		}(), nil, "the executor asks for bandwidth"},
	}
	for _, tc := range cases {
		got, msg := executorFor(tc.ei, "fw", "img")
		if tc.err != "" {
			if !strings.Contains(msg, tc.err) || got != nil {
				t.Errorf("%s: %v, message %q, want one with %q", tc.name, got, msg, tc.err)
			}
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" || msg != "" {
			t.Errorf("%s: %q (-want +got):\n%s", tc.name, msg, d)
		}
	}
}

func scalarResource(name string, v float64) *mesosv1.Resource {
	return &mesosv1.Resource{Name: &name, Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: &v}}
}
