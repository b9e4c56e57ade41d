package main

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// TestAuditPolicyRecordsTheMastersWritesOnly loads the written policy as
// kube-apiserver loads it (validated) and evaluates requests with its own
// evaluator: the master's writes with their answers (its Events at
// Metadata), with no stage but the answer; its reads, and everyone else's
// writes but pod deletions, not at all.
func TestAuditPolicyRecordsTheMastersWritesOnly(t *testing.T) {
	cp := &controlPlane{dir: t.TempDir()}
	if err := cp.writeAuditPolicy(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(auditPolicyFile(cp.dir))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadPolicyFromBytes(raw)
	if err != nil {
		t.Fatalf("kube-apiserver would refuse the policy: %v", err)
	}
	eval := policy.NewPolicyRuleEvaluator(p)
	master := &user.DefaultInfo{Name: masterUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kubemesos-system"},
		Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"kubemesos-master-abc"}}}
	agent := &user.DefaultInfo{Name: "system:serviceaccount:kubemesos-system:kubemesos-agent"}
	cases := []struct {
		who      user.Info
		verb     string
		resource string
		want     audit.Level
	}{
		{master, "create", "offers", audit.LevelRequestResponse},
		{master, "update", "coordination.k8s.io/leases", audit.LevelRequestResponse},
		{master, "patch", "tasks", audit.LevelRequestResponse},
		{master, "delete", "/pods", audit.LevelRequestResponse},
		{master, "deletecollection", "offers", audit.LevelRequestResponse},
		{master, "create", "/events", audit.LevelMetadata},
		{master, "patch", "events.k8s.io/events", audit.LevelMetadata},
		{master, "get", "leases", audit.LevelNone},
		{master, "watch", "tasks", audit.LevelNone},
		{agent, "update", "leases", audit.LevelNone},
		{&user.DefaultInfo{Name: "kubemesos-admin", Groups: []string{"system:masters"}}, "create", "frameworks", audit.LevelNone},
		// Who deletes a pod is recorded, whoever it is.
		{agent, "delete", "/pods", audit.LevelMetadata},
		{&user.DefaultInfo{Name: "system:serviceaccount:kube-system:generic-garbage-collector"}, "delete", "/pods", audit.LevelMetadata},
		{agent, "delete", "tasks", audit.LevelNone},
		{agent, "create", "/pods", audit.LevelNone},
	}
	if !p.OmitManagedFields {
		t.Error("the policy keeps managed fields in the answers it records; the master's writes need only their resourceVersion")
	}
	for _, tc := range cases {
		group, resource := "kubemesos.io", tc.resource
		if g, r, ok := strings.Cut(resource, "/"); ok { // another group, "" the core group
			group, resource = g, r
		}
		attrs := authorizer.AttributesRecord{User: tc.who, Verb: tc.verb, Resource: resource, ResourceRequest: true, Namespace: "ns", APIGroup: group}
		got := eval.EvaluatePolicyRule(attrs)
		if got.Level != tc.want {
			t.Errorf("%s %s %s: level %s, want %s", tc.who.GetName(), tc.verb, tc.resource, got.Level, tc.want)
		}
		if got.Level != audit.LevelNone && (len(got.OmitStages) != 1 || got.OmitStages[0] != audit.StageRequestReceived) {
			t.Errorf("%s %s: stages omitted %v, want only RequestReceived (one event per request)", tc.verb, tc.resource, got.OmitStages)
		}
	}
}
