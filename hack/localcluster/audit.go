package main

import (
	"fmt"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"
)

// masterUser is the kubemesos master's ServiceAccount as the chart installs
// it into kubemesos-system, the namespace of the demo and the e2e tests.
const masterUser = "system:serviceaccount:kubemesos-system:kubemesos-master"

// auditPolicy records every write of the kubemesos master (who, which
// pod: the user's extra carries the pod name of the pod-bound token, what
// object, when it arrived and when it was answered, the response code) with
// its answer, whose resourceVersion places the write in etcd's order (the
// fault campaign judges a write answered after its master lost the Lease by
// it; managed fields left out), its Events at the Metadata level, and
// every pod deletion, whoever asks it (so that the fault campaign can tell
// who deleted an executor pod), and nothing else: the API server's own
// record of what each master replica wrote, which the e2e tests read. One
// event per request, when it is answered.
func auditPolicy() auditv1.Policy {
	writes := []string{"create", "update", "patch", "delete", "deletecollection"}
	return auditv1.Policy{
		TypeMeta:          metav1.TypeMeta{APIVersion: auditv1.SchemeGroupVersion.String(), Kind: "Policy"},
		OmitStages:        []auditv1.Stage{auditv1.StageRequestReceived},
		OmitManagedFields: true,
		Rules: []auditv1.PolicyRule{
			{Level: auditv1.LevelMetadata, Users: []string{masterUser}, Verbs: writes,
				Resources: []auditv1.GroupResources{{Group: "", Resources: []string{"events"}}, {Group: "events.k8s.io", Resources: []string{"events"}}}},
			{Level: auditv1.LevelRequestResponse, Users: []string{masterUser}, Verbs: writes},
			{Level: auditv1.LevelMetadata, Verbs: []string{"delete", "deletecollection"},
				Resources: []auditv1.GroupResources{{Group: "", Resources: []string{"pods"}}}},
			{Level: auditv1.LevelNone},
		},
	}
}

// auditLogBackups is how many rotated audit logs (100 MiB each) the API
// server keeps: enough for a fault campaign of over 10 hours, bounded so
// that repeated runs do not fill the disk.
const auditLogBackups = 8

// auditPolicyFile and auditLogFile are the audit policy and log under the
// cluster directory.
func auditPolicyFile(dir string) string { return filepath.Join(dir, "audit-policy.yaml") }
func auditLogFile(dir string) string    { return filepath.Join(dir, "audit.log") }

// writeAuditPolicy writes auditPolicy for kube-apiserver.
func (cp *controlPlane) writeAuditPolicy() error {
	raw, err := yaml.Marshal(auditPolicy())
	if err != nil {
		return fmt.Errorf("encoding the audit policy: %w", err)
	}
	if err := os.WriteFile(auditPolicyFile(cp.dir), raw, 0o600); err != nil {
		return fmt.Errorf("writing the audit policy: %w", err)
	}
	return nil
}
