package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubemesos/kubemesos/controllers/mesosapi"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestHelpExplainsEachCommand(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{args: []string{"--help"}, want: []string{"master", "agent", "version", "kubectl get kubemesos"}},
		{args: []string{"master", "--help"}, want: []string{"kubemesos-master", "--kubeconfig", "--allocation-interval", "--offer-timeout", "--agent-ping-timeout", "--max-agent-ping-timeouts", "--agent-removal-rate-limit", "--role-weights", "--leader-elect", "--leader-election-lease-duration", "--health-probe-bind-address", "--pprof-bind-address", "/debug/pprof/heap?gc=1", "--zap-log-level"}},
		{args: []string{"agent", "--help"}, want: []string{"kubemesos-agent-<node>", "--node-name", "--work-dir", "--heartbeat-interval", "--resource-growth-delay", "--port", "--pprof-bind-address", "--executor-api-anonymous-namespaces", "cannot send the executor", "SECURITY.md"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := run(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestFlagUsagesHaveNoBackquotes: pflag takes a back-quoted word in a
// flag's usage as the name of its value in --help ("--running-update-delay
// kubectl get" for a duration), so none may have one.
func TestFlagUsagesHaveNoBackquotes(t *testing.T) {
	root := NewRootCommand()
	for _, cmd := range root.Commands() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				name, _ := pflag.UnquoteUsage(f)
				t.Errorf("%s --%s: its usage has a back quote, and --help calls its value %q", cmd.Name(), f.Name, name)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "kubemesos ") {
		t.Errorf("version printed %q", out)
	}
}

func TestAgentFlagErrorsSayWhatToDo(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	cases := []struct {
		o    agentOptions
		want string
	}{
		{o: agentOptions{port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1}, want: "--node-name is required"},
		{o: agentOptions{nodeName: "n", port: 70000, heartbeatInterval: time.Second, statusUpdateWriters: 1}, want: "--port 70000 is not a TCP port"},
		{o: agentOptions{nodeName: "n", port: 5051, statusUpdateWriters: 1}, want: "--heartbeat-interval must be positive"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second}, want: "--status-update-writers must be at least 1"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, offerTolerations: "dedicated=batch"}, want: "--offer-tolerations is not a JSON list"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, ports: "31000-32000"}, want: "--ports: port ranges"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, ports: "[32000-31000]"}, want: "begins after its end"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, offerTolerations: `[{"key":"k","operator":"Within"}]`}, want: `operator "Within"`},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, offerTolerations: `[{"operator":"Exists","value":"v"}]`}, want: "Exists takes no value"},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, offerTolerations: `[{"key":"k","effect":"Sometimes"}]`}, want: `effect "Sometimes"`},
		{o: agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, anonymous: "mesos,Batch"}, want: `--executor-api-anonymous-namespaces: namespace 2 ("Batch") is not a namespace name`},
	}
	for _, tc := range cases {
		err := tc.o.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate(%+v) = %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
	if err := (&agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1}).validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
	ok := &agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1,
		offerTolerations: `[{"key":"dedicated","operator":"Equal","value":"batch","effect":"NoSchedule"},{"operator":"Exists"}]`}
	if err := ok.validate(); err != nil || len(ok.tolerations) != 2 || ok.tolerations[0].Value != "batch" {
		t.Errorf("valid tolerations: %v, %+v", err, ok.tolerations)
	}
	ok = &agentOptions{nodeName: "n", port: 5051, heartbeatInterval: time.Second, statusUpdateWriters: 1, ports: DefaultAgentPorts}
	if err := ok.validate(); err != nil || ok.portSet.String() != "[31000-32000]" || ok.portSet.Count() != 1001 {
		t.Errorf("the default ports: %v, %s", err, ok.portSet)
	}
}

func TestLeaderElectionTimingsAreChecked(t *testing.T) {
	cases := []struct {
		lease, renew, retry time.Duration
		want                string // "" when valid
	}{
		{lease: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second},
		{lease: 4 * time.Second, renew: 3 * time.Second, retry: time.Second},
		{lease: 4 * time.Second, renew: 2500 * time.Millisecond, retry: 500 * time.Millisecond},
		// Two renewals within one second look like one to a standby.
		{lease: 4 * time.Second, renew: 3 * time.Second, retry: 500 * time.Millisecond, want: "must be more than 1s shorter than the lease duration in whole seconds (4s)"},
		{lease: 10 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second, want: "must be shorter than the lease duration in whole seconds (10s)"},
		// Standbys wait whole seconds: 3.5s is 3s for them.
		{lease: 3500 * time.Millisecond, renew: 3 * time.Second, retry: 500 * time.Millisecond, want: "must be shorter than the lease duration in whole seconds (3s)"},
		{lease: 15 * time.Second, renew: 2 * time.Second, retry: 2 * time.Second, want: "must be longer than 1.2 × the retry period"},
		{lease: 500 * time.Millisecond, renew: 200 * time.Millisecond, retry: 100 * time.Millisecond, want: "must be at least 1s"},
	}
	for _, tc := range cases {
		o := &masterOptions{leaderElect: true, leaseDuration: tc.lease, renewDeadline: tc.renew, retryPeriod: tc.retry}
		err := validateLeaderElection(o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s/%s/%s refused: %v", tc.lease, tc.renew, tc.retry, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--leader-election-renew-deadline")):
			t.Errorf("%s/%s/%s: got %v, want an error naming the flags and containing %q", tc.lease, tc.renew, tc.retry, err, tc.want)
		}
	}
	off := &masterOptions{leaderElect: false, leaseDuration: time.Second, renewDeadline: time.Second}
	if err := validateLeaderElection(off); err != nil || off.election() != nil {
		t.Errorf("without leader election the timings do not matter: %v", err)
	}
}

func TestMasterOptionsParse(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{args: []string{"--agent-removal-rate-limit", "5/30s"}},
		{args: []string{"--agent-removal-rate-limit", ""}},
		{args: []string{"--role-weights", "prod=3,dev=0.5"}},
		{args: []string{"--agent-removal-rate-limit", "five/1m"}, want: "is not N/period with a positive N"},
		{args: []string{"--agent-removal-rate-limit", "5/soon"}, want: "with a positive period"},
		{args: []string{"--role-weights", "prod=-1"}, want: `the weight of role "prod" is "-1"`},
		{args: []string{"--allocation-interval", "0s"}, want: "--allocation-interval must be positive"},
		{args: []string{"--agent-usage-writes-per-second", "0"}},
		{args: []string{"--agent-usage-writes-per-second", "-1"}, want: "--agent-usage-writes-per-second must be a number, 0 or more"},
		{args: []string{"--agent-usage-writes-per-second", "NaN"}, want: "--agent-usage-writes-per-second must be a number, 0 or more"},
		{args: []string{"--mesos-api-bind-address", "0", "--mesos-api-heartbeat-interval", "0s"}},
		{args: []string{"--mesos-api-heartbeat-interval", "10ms"}, want: "--mesos-api-heartbeat-interval must be at least 1s"},
		{args: []string{"--mesos-api-max-body-bytes", "0"}, want: "--mesos-api-max-body-bytes must be positive"},
		{args: []string{"--mesos-api-max-connections", "0"}, want: "--mesos-api-max-connections must be positive"},
		{args: []string{"--mesos-api-max-calls-per-namespace", "0"}, want: "--mesos-api-max-calls-per-namespace must be positive"},
		{args: []string{"--mesos-api-max-connections-per-address", "-1"}, want: "--mesos-api-max-connections-per-address must be positive"},
		{args: []string{"--mesos-api-bind-address", "5050"}, want: "is not host:port"},
		{args: []string{"--mesos-api-advertise-address", "10.0.0.1"}, want: "is not host:port"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, o := masterCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.complete()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	cmd, o := masterCommand()
	_ = cmd.ParseFlags([]string{"--agent-removal-rate-limit", "5/30s", "--role-weights", "prod=3"})
	if err := o.complete(); err != nil {
		t.Fatal(err)
	}
	if o.master.AgentRemovalRate != 5 || o.master.AgentRemovalPeriod != 30*time.Second || o.master.RoleWeights["prod"] != 3 ||
		o.master.OfferTimeout != 5*time.Minute {
		t.Errorf("parsed %+v", o.master)
	}
	cmd, o = masterCommand()
	_ = cmd.ParseFlags([]string{"--mesos-api-bind-address", ":6060", "--mesos-api-advertise-address", "10.1.2.3:6060"})
	if err := o.complete(); err != nil {
		t.Fatal(err)
	}
	if addr, ok := mesosapi.AdvertisedAddress(o.identity); !ok || addr != "10.1.2.3:6060" || o.election().Identity != o.identity {
		t.Errorf("identity %q (election %q) does not advertise 10.1.2.3:6060", o.identity, o.election().Identity)
	}
	cmd, o = masterCommand()
	_ = cmd.ParseFlags([]string{"--mesos-api-bind-address", ":6060", "--mesos-api-advertise-address", "10.1.2.3:6060",
		"--console-bind-address", ":7070", "--console-advertise-address", "10.1.2.3:7070"})
	if err := o.complete(); err != nil {
		t.Fatal(err)
	}
	api, apiOK := mesosapi.AdvertisedAddress(o.identity)
	con, conOK := mesosapi.ConsoleAddress(o.identity)
	if !apiOK || api != "10.1.2.3:6060" || !conOK || con != "10.1.2.3:7070" || o.mesosAPI.MasterID != o.identity || o.console.LeaderLease.Name != "kubemesos-master" {
		t.Errorf("identity %q: Mesos API %q, console %q; want 10.1.2.3:6060 and 10.1.2.3:7070", o.identity, api, con)
	}
	cmd, o = masterCommand()
	_ = cmd.ParseFlags([]string{"--mesos-api-bind-address", "0", "--console-bind-address", ":7070", "--console-advertise-address", "10.1.2.3:7070"})
	if err := o.complete(); err != nil {
		t.Fatal(err)
	}
	if _, ok := mesosapi.AdvertisedAddress(o.identity); ok {
		t.Errorf("identity %q advertises a Mesos API that is off", o.identity)
	}
	if con, _ := mesosapi.ConsoleAddress(o.identity); con != "10.1.2.3:7070" {
		t.Errorf("identity %q: console %q, want 10.1.2.3:7070", o.identity, con)
	}
	cmd, o = masterCommand()
	_ = cmd.ParseFlags([]string{"--mesos-api-bind-address", "0", "--console-bind-address", "0"})
	if err := o.complete(); err != nil || o.identity != "" {
		t.Errorf("with neither on: identity %q, %v; want the election's default", o.identity, err)
	}
	cmd, o = masterCommand()
	_ = cmd.ParseFlags([]string{"--console-advertise-address", "10.0.0.1"})
	if err := o.complete(); err == nil || !strings.Contains(err.Error(), "--console-advertise-address") {
		t.Errorf("a console address without a port: %v", err)
	}
}

func TestPrepareWorkDir(t *testing.T) {
	dir := t.TempDir() + "/node-1/sub"
	uid, gid := os.Getuid(), os.Getgid()
	for i := 0; i < 2; i++ { // a second run, on a directory already prepared, changes nothing
		if _, err := run(t, "prepare-work-dir", "--dir", dir, "--owner", fmt.Sprintf("%d:%d", uid, gid)); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("work dir %v, %v; want a 0700 directory", fi, err)
	}
	// 4294967295 is chown's "leave it", which would leave the directory
	// as it is.
	for _, bad := range []string{"root", "1:", ":2", "-1:0", "a:b", "4294967295:4294967295", "0:4294967296"} {
		out, err := run(t, "prepare-work-dir", "--dir", dir, "--owner", bad)
		if err == nil || !strings.Contains(out+err.Error(), "numeric UID:GID") {
			t.Errorf("--owner %q: err %v, output %q; want a refusal that names the format", bad, err, out)
		}
	}
	if _, err := run(t, "prepare-work-dir"); err == nil || !strings.Contains(err.Error(), "--dir is required") {
		t.Errorf("no --dir: %v", err)
	}
}

// TestAnonymousExecutorNamespacesParse: --executor-api-anonymous-namespaces
// takes namespace names, comma-separated; empty is none.
func TestAnonymousExecutorNamespacesParse(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "mesos-anonymous", want: []string{"mesos-anonymous"}},
		{in: "a, b ,c", want: []string{"a", "b", "c"}},
		{in: "a,,b", err: `namespace 2 ("")`},
		{in: "a,", err: `namespace 2 ("")`},
		{in: "a_b", err: "is not a namespace name"},
		{in: strings.Repeat("n", 64), err: "is not a namespace name"},
		{in: "a,b,a", err: `namespace "a" is given twice`},
	}
	for _, tc := range cases {
		got, err := parseNamespaces(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseNamespaces(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseNamespaces(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	o := &agentOptions{}
	if err := agentCommand(o).ParseFlags([]string{"--node-name", "n", "--executor-api-anonymous-namespaces", "mesos-anonymous,batch"}); err != nil {
		t.Fatal(err)
	}
	if err := o.validate(); err != nil || !slices.Equal(o.anonymousNamespaces, []string{"mesos-anonymous", "batch"}) {
		t.Errorf("the flag gives %q, %v; want [mesos-anonymous batch]", o.anonymousNamespaces, err)
	}
}

// FuzzParseNamespaces: whatever it is given, parseNamespaces returns valid,
// distinct namespace names or an error, and what it returns reads back the
// same.
func FuzzParseNamespaces(f *testing.F) {
	for _, s := range []string{"", "a", "a,b", " a , b ", "a,,b", "A", "a,a", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := parseNamespaces(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range names {
			if len(n) == 0 || len(n) > 63 || strings.TrimSpace(n) != n || strings.Contains(n, ",") || seen[n] {
				t.Fatalf("parseNamespaces(%q) gave %q", s, names)
			}
			seen[n] = true
		}
		again, err := parseNamespaces(strings.Join(names, ","))
		if err != nil || !slices.Equal(again, names) {
			t.Fatalf("parseNamespaces(%q) = %q, which reads back as %q, %v", s, names, again, err)
		}
	})
}

// FuzzParseRate: whatever --agent-removal-rate-limit says, parseRate does not
// panic; it takes a positive count over a positive period (or no bound,
// for an empty flag), which reads back the same.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"", "10/1m", "1/1ns", "0/1m", "-1/1m", "10/0s", "10/-1m", "10", "/1m", "10/", "+3/1h", "10/1m/2", "9223372036854775807/2562047h47m16.854775807s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, d, err := parseRate(s)
		if err != nil {
			return
		}
		if s == "" {
			if n != 0 || d != 0 {
				t.Fatalf(`parseRate("") = %d, %v; want no bound`, n, d)
			}
			return
		}
		if n <= 0 || d <= 0 {
			t.Fatalf("parseRate(%q) = %d, %v", s, n, d)
		}
		n2, d2, err := parseRate(fmt.Sprintf("%d/%s", n, d))
		if err != nil || n2 != n || d2 != d {
			t.Fatalf("parseRate(%q) = %d/%v, which reads back as %d/%v, %v", s, n, d, n2, d2, err)
		}
	})
}

// FuzzParseOwner: whatever --owner says, parseOwner does not panic; it
// takes a UID and a GID that chown sets (from 0, short of 2^32-1), which
// read back the same.
func FuzzParseOwner(f *testing.F) {
	for _, s := range []string{"65532:65532", "0:0", ":", "1", "1:", ":1", "-1:0", "a:b", "1:2:3", "+1:2", "4294967294:1", "4294967295:1", "1:4294967296", "9223372036854775807:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uid, gid, err := parseOwner(s)
		if err != nil {
			return
		}
		if uid < 0 || gid < 0 || uid >= math.MaxUint32 || gid >= math.MaxUint32 {
			t.Fatalf("parseOwner(%q) = %d:%d", s, uid, gid)
		}
		u2, g2, err := parseOwner(fmt.Sprintf("%d:%d", uid, gid))
		if err != nil || u2 != uid || g2 != gid {
			t.Fatalf("parseOwner(%q) = %d:%d, which reads back as %d:%d, %v", s, uid, gid, u2, g2, err)
		}
	})
}
