package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestATenantTakesOnlyItsNamespacesRoles: a Framework takes role "*", or
// one that its namespace's kubemesos.io/roles annotation lists, whoever
// writes it; it keeps its role when the list changes later.
func TestATenantTakesOnlyItsNamespacesRoles(t *testing.T) {
	ctx := context.Background()
	ns, alice := schedulerTenant(t)
	withRole := func(name, role string) *kmv1.Framework { return b.MakeFramework(name, ns).Role(role).Obj() }
	eventuallyRefused(t, func() error {
		fw := withRole("probe", "prod")
		err := alice.Create(ctx, fw)
		if err == nil {
			_ = env.Client.Delete(ctx, fw)
		}
		return err
	})
	const msg = "may not take role" // the policy's message
	refused(t, "role prod in a namespace that lists no role", alice.Create(ctx, withRole("prod", "prod")), msg+" prod: its kubemesos.io/roles annotation lists no role")
	allowed(t, "role *", alice.Create(ctx, withRole("star", "*")))
	allowed(t, "no role (the default, *)", alice.Create(ctx, b.MakeFramework("plain", ns).Obj()))
	// The rule holds whoever writes: the master, for a Mesos API
	// SUBSCRIBE, writes Frameworks with cluster-wide rights.
	refused(t, "role prod by a cluster admin", env.Client.Create(ctx, withRole("byadmin", "prod")), msg)

	// A cluster admin grants eng, and batch's sub-roles.
	setRoles(t, ns, "eng, batch/*")
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return alice.Create(ctx, withRole("eng", "eng")) == nil, nil
	})
	allowed(t, "a listed role", err)
	allowed(t, "a sub-role of batch/*", alice.Create(ctx, withRole("nightly", "batch/nightly")))
	for _, role := range []string{"batch", "eng/web", "engineering", "prod"} {
		refused(t, "role "+role+" with eng and batch/* listed", alice.Create(ctx, withRole("r-"+strings.ReplaceAll(role, "/", "-"), role)), msg+" "+role+": its kubemesos.io/roles annotation lists eng, batch/*")
	}

	// A Framework's role changes only to one its namespace has.
	eng := &kmv1.Framework{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "eng"}, eng); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(eng.DeepCopy())
	eng.Spec.Role = "prod"
	refused(t, "changing a role to prod", alice.Patch(ctx, eng.DeepCopy(), patch), msg)

	// The list shrinks: a Framework keeps the role it has, and changes
	// like any other.
	setRoles(t, ns, "")
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := alice.Create(ctx, withRole("eng2", "eng"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), msg), nil
	})
	allowed(t, "waiting for the namespace's list to shrink", err)
	eng.Spec.Role = "eng"
	eng.Spec.Parameters = map[string]string{"x": "1"}
	allowed(t, "another change of a Framework whose role is no longer listed", alice.Patch(ctx, eng.DeepCopy(), patch))
	eng.Spec.Role = "eng/x"
	refused(t, "changing that role to another that is not listed", alice.Patch(ctx, eng.DeepCopy(), patch), msg+" eng/x")

	// A Framework with no spec at all takes the default role.
	nospec := &unstructured.Unstructured{Object: map[string]any{"apiVersion": kmv1.GroupVersion.String(), "kind": "Framework",
		"metadata": map[string]any{"name": "nospec", "namespace": ns}}}
	allowed(t, "a Framework with no spec", alice.Create(ctx, nospec))
}

// setRoles sets namespace ns's kubemesos.io/roles annotation to roles, or
// removes it when roles is "".
func setRoles(t *testing.T, ns, roles string) {
	t.Helper()
	var n corev1.Namespace
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(n.DeepCopy())
	if roles == "" {
		delete(n.Annotations, kmv1.AnnotationRoles)
	} else {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[kmv1.AnnotationRoles] = roles
	}
	if err := env.Client.Patch(context.Background(), &n, patch); err != nil {
		t.Fatal(err)
	}
}
