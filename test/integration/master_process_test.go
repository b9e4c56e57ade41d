package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/leader"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// buildKubemesos builds the kubemesos binary once per test.
func buildKubemesos(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubemesos")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kubemesos: %v\n%s", err, out)
	}
	return bin
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url) //nolint:noctx // loopback test endpoint
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestMasterProcessExitsWhenItLosesTheLease runs the real kubemesos master
// process, checks its probes and metrics, then takes its Lease away as a
// partitioned leader would lose it. The master must exit with the guard's
// exit code.
func TestMasterProcessExitsWhenItLosesTheLease(t *testing.T) {
	ctx := context.Background()
	ns := "kubemesos-leader-test"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	bin := buildKubemesos(t)
	probe, metricsAddr := inprocess.FreeAddr(t), inprocess.FreeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "master", "--kubeconfig", kc,
		"--leader-election-namespace", ns, "--agent-lease-namespace", ns,
		"--leader-election-lease-duration", "3s", "--leader-election-renew-deadline", "1500ms", "--leader-election-retry-period", "500ms",
		"--health-probe-bind-address", probe, "--metrics-bind-address", metricsAddr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	key := types.NamespacedName{Namespace: ns, Name: kmv1.MasterLeaseName}
	var lease coordinationv1.Lease
	waitForOut(t, &out, "the master to take its Lease", func() bool {
		return env.Client.Get(ctx, key, &lease) == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
	})
	waitFor(t, "/healthz and /readyz", func() bool {
		h, _, err1 := httpGet("http://" + probe + "/healthz")
		r, _, err2 := httpGet("http://" + probe + "/readyz")
		return err1 == nil && err2 == nil && h == http.StatusOK && r == http.StatusOK
	})
	waitFor(t, "kubemesos metrics", func() bool {
		code, body, err := httpGet("http://" + metricsAddr + "/metrics")
		return err == nil && code == http.StatusOK && strings.Contains(body, "kubemesos_master_allocation_cycles_total")
	})

	// Another candidate takes the Lease: the master can no longer renew.
	waitFor(t, "the Lease to be taken away", func() bool {
		if err := env.Client.Get(ctx, key, &lease); err != nil {
			return false
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity = ptr.To("usurper")
		lease.Spec.RenewTime = &now
		lease.Spec.LeaseDurationSeconds = ptr.To(int32(3600))
		return env.Client.Update(ctx, &lease) == nil
	})
	select {
	case err := <-exited:
		// Its guard trips at the renew deadline after the start of its
		// last successful renewal, before leader election gives up
		// (a retry period later), and exits at once.
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != leader.LostLeaseExitCode {
			t.Fatalf("the master exited with %v after losing its Lease; want exit code %d\n%s", err, leader.LostLeaseExitCode, out.String())
		}
		if !strings.Contains(out.String(), "can no longer be sure it holds its Lease") {
			t.Errorf("the master's log does not say it lost its Lease:\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the master kept running after losing its Lease\n%s", out.String())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 60*time.Second, cond)
}

func waitForOut(t *testing.T, out *bytes.Buffer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; the process said:\n%s", what, out.String())
}
