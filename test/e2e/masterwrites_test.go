//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// masterUser is the master's ServiceAccount, whose writes the local
// cluster's audit policy records.
const masterUser = "system:serviceaccount:" + systemNS + ":kubemesos-master"

// podNameKey is the user extra that names the pod a bound token belongs to.
const podNameKey = "authentication.kubernetes.io/pod-name"

// masterWrite is one write of a master replica, from the audit log.
type masterWrite struct {
	file     string // the audit log file, audit.log or a rotated backup
	line     int
	pod      string
	verb     string
	resource string // resource[/subresource] namespace/name
	// res is resource[/subresource], ns and name the object's.
	res, ns, name string
	lease         bool // a write of the Lease kubemesos-master
	code          int32
	received      time.Time
	answered      time.Time
	// rv is the resourceVersion of the object in the answer, when the
	// answer holds one (the audit policy records the master's answers).
	rv string
}

func (w masterWrite) String() string {
	return fmt.Sprintf("%s:%d: %s %s %s -> %d (received %s, answered %s)", w.file, w.line, w.pod, w.verb, w.resource, w.code,
		w.received.Format(time.RFC3339Nano), w.answered.Format(time.RFC3339Nano))
}

// masterWrites reads the local cluster's audit log (beside the kubeconfig):
// every write of the master's ServiceAccount received at or after since,
// in the order the API server answered them. The API server rotates the
// log at 100 MiB into audit-<time>.log beside it (a long fault campaign
// spans several); the backups written to since then are read first, oldest
// first.
func masterWrites(t *testing.T, since time.Time) []masterWrite {
	t.Helper()
	dir := filepath.Dir(kubeconfig)
	backups, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(backups) // their names carry the time of rotation
	var paths []string
	for _, b := range backups {
		if fi, err := os.Stat(b); err == nil && fi.ModTime().Before(since) {
			continue // rotated before since: nothing of this run
		}
		paths = append(paths, b)
	}
	var out []masterWrite
	for _, path := range append(paths, filepath.Join(dir, "audit.log")) {
		out = append(out, auditFileWrites(t, path, since)...)
	}
	return out
}

// auditFileWrites reads one audit log file for masterWrites.
func auditFileWrites(t *testing.T, path string, since time.Time) []masterWrite {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the local cluster's audit log: %v", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	var out []masterWrite
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s line %d: %v", name, n, err)
		}
		if ev.User.Username != masterUser || ev.Stage != auditv1.StageResponseComplete || ev.ObjectRef == nil ||
			ev.RequestReceivedTimestamp.Time.Before(since) {
			continue
		}
		pods := ev.User.Extra[podNameKey]
		if len(pods) != 1 {
			t.Fatalf("%s line %d: a master write without its pod's name: %v", name, n, ev.User.Extra)
		}
		w := masterWrite{file: name, line: n, pod: pods[0], verb: ev.Verb, received: ev.RequestReceivedTimestamp.Time, answered: ev.StageTimestamp.Time}
		r := ev.ObjectRef
		w.resource = r.Resource
		if r.Subresource != "" {
			w.resource += "/" + r.Subresource
		}
		w.res, w.ns, w.name = w.resource, r.Namespace, r.Name
		w.resource += " " + r.Namespace + "/" + r.Name
		// The master writes no Lease but its own (it only reads the
		// agents' and the schedulers'); a create names none in the URL.
		w.lease = r.Resource == "leases" && r.Namespace == systemNS && (r.Name == kmv1.MasterLeaseName || ev.Verb == "create")
		if ev.ResponseStatus != nil {
			w.code = ev.ResponseStatus.Code
		}
		if ev.ResponseObject != nil {
			var answer struct {
				Metadata struct {
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
			}
			if json.Unmarshal(ev.ResponseObject.Raw, &answer) == nil {
				w.rv = answer.Metadata.ResourceVersion
			}
		}
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// asRecord is w as the fault campaign's record has it.
func (w masterWrite) asRecord() record.Write {
	return record.Write{Pod: w.pod, Verb: w.verb, Resource: w.res, Namespace: w.ns, Name: w.name, Code: w.code,
		Received: w.received, Answered: w.answered, ResourceVersion: w.rv}
}
