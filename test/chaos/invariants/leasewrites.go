package invariants

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// holderPod returns the master pod a Lease holder identity names. A
// master's identity is its hostname, which is its pod's name, "_" and a
// unique suffix (newLeaseLock in internal/leader/election.go), followed by
// what it advertises after "@" (AdvertisedIdentity and WithConsole in
// controllers/mesosapi/leader.go); the zombie e2e test cuts it at "_" the
// same way. Pod names hold neither "_" nor "@".
func holderPod(identity string) string {
	pod, _, _ := strings.Cut(identity, "_")
	pod, _, _ = strings.Cut(pod, "@")
	return pod
}

// tenure is a time one master pod held the Lease: from the API server's
// receipt of the write that took it (zero: since before the record) to
// the receipt of the write by which another pod took it (zero: to the end).
type tenure struct {
	pod      string
	from, to time.Time
	// fromRV and toRV are the resourceVersions of the Lease writes that
	// began and ended it, when the audit log has them (0: unknown).
	fromRV, toRV uint64
	// renewal is the pod's last successful write of the Lease in the
	// tenure, if the audit log has one; recent are the tenure's successful
	// Lease writes received less than a second before it, renewal last.
	renewal *record.Write
	recent  []*record.Write
}

// renewed records w, a successful Lease write of the tenure's pod.
func (t *tenure) renewed(w *record.Write) {
	t.renewal = w
	for len(t.recent) > 0 && w.Received.Sub(t.recent[0].Received) >= time.Second {
		t.recent = t.recent[1:]
	}
	t.recent = append(t.recent, w)
}

// waitFrom is when a standby's wait for the Lease may have started: the
// first of the renewals received within a second before the last. A
// standby compares Lease records as client-go does, as JSON whose
// renewTime has whole seconds, so renewals within one second look like one
// to it (the receipt follows the renewTime the master set by a few
// milliseconds, so the window is a little wider than client-go's own).
func (t *tenure) waitFrom() time.Time { return t.recent[0].Received }

func (t *tenure) holds(at time.Time) bool {
	return !at.Before(t.from) && (t.to.IsZero() || at.Before(t.to))
}

// appliedIn reports whether a write whose answer carried resourceVersion
// rv was stored within the tenure: etcd orders every write, the Lease's
// included, so a write stored before the takeover's Lease write was stored
// while the tenure's pod held the Lease, whenever its answer came. False
// when rv or a bound the tenure has is unknown.
func (t *tenure) appliedIn(rv uint64) bool {
	if rv == 0 || (!t.from.IsZero() && t.fromRV == 0) || (!t.to.IsZero() && t.toRV == 0) {
		return false
	}
	return rv > t.fromRV && (t.to.IsZero() || rv < t.toRV)
}

// storedIn reports whether w was stored within one of tenures, by the
// resourceVersion in its answer (appliedIn).
func storedIn(tenures []*tenure, w record.Write) bool {
	rv := writeRV(w)
	for _, t := range tenures {
		if t.appliedIn(rv) {
			return true
		}
	}
	return false
}

// writeRV is w's resourceVersion as a number (0: unknown, or not a number).
func writeRV(w record.Write) uint64 {
	rv, err := strconv.ParseUint(w.ResourceVersion, 10, 64)
	if err != nil {
		return 0
	}
	return rv
}

func (t *tenure) String() string {
	from, to := "the start", "the end"
	if !t.from.IsZero() {
		from = t.from.Format(time.RFC3339Nano)
	}
	if !t.to.IsZero() {
		to = t.to.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s from %s to %s", t.pod, from, to)
}

func describeWrite(w record.Write) string {
	obj := w.Name
	if w.Namespace != "" {
		obj = w.Namespace + "/" + w.Name
	}
	return fmt.Sprintf("%s %s %s -> %d (received %s, answered %s)", w.Verb, w.Resource, obj, w.Code,
		w.Received.Format(time.RFC3339Nano), w.Answered.Format(time.RFC3339Nano))
}

// checkLeaseWrites holds the master pods' writes (the API server's audit
// log) to the master Lease: a master writes only while it holds the Lease,
// as a Mesos master aborts the moment it loses ZooKeeper, and the Guard of
// internal/leader fences every write but the Lease's own.
//
// Who held the Lease when comes from the same audit log, so that one
// clock (the API server's) times both: a successful write of the Lease by
// another pod than the holder is a takeover, at its receipt. Before the
// first, the holder is the one the record's first Lease entry names. A
// write by pod P breaks the invariant when P did not hold the Lease when
// the API server received it (a standby writes nothing), or when its
// answer came at or after another pod's takeover: a paused leader
// (the campaign's leader-pause) must have every write answered before the
// new leader's acquisition was received. The grace for writes in flight is built into
// the election, not into this check: the Guard stops a leader's writes at
// the renew deadline, and a standby takes over only a lease duration after
// the last renewal it saw, so a write sent in time lands in time (Election
// in internal/leader/election.go).
//
// Exempt are the Lease's own writes (a renewal refused with 409 changes
// nothing; a successful one is a takeover or a renewal) and Events, which
// tell people, not the registry; late Events are noted. A write the API
// server refused (4xx) changed nothing and is noted, not counted; a 5xx
// (or no code) may have been stored and counts.
//
// It also checks the takeovers: a pod must not take the Lease before the
// lease duration passed since the receipt of its holder's last renewal (a
// standby waits that long after the last change it saw, and it cannot have
// seen the renewal before the API server received it), or two masters
// were leading at once. A standby sees renewals within one second as one
// (waitFrom), so the wait is timed from the first of them; the election
// keeps the renew deadline a second short of the lease for that
// (Election.Validate).
//
// When the audit log holds the answers (the resourceVersion each write
// produced), a write is judged by its place in etcd's order rather than by
// when it was answered: one stored before the takeover's Lease write was
// stored in its pod's tenure, even if the answer came after (a leader
// paused with a request on its way stops reading its answers; the API
// server's fence, the chart's kubemesos-master-leader policy, refuses such
// a request when it reaches admission after the takeover, 403). Writes so
// excused are noted.
//
// When the audit log has no successful Lease write, the tenures come from
// the record's Lease entries, timed by when the recorder saw them; that is
// coarser, and noted.
func checkLeaseWrites(h *history, writes []record.Write, limits Limits, notes *[]string) (int, []Violation, int) {
	ws := append([]record.Write(nil), writes...)
	sort.SliceStable(ws, func(i, j int) bool {
		if !ws[i].Received.Equal(ws[j].Received) {
			return ws[i].Received.Before(ws[j].Received)
		}
		return ws[i].Answered.Before(ws[j].Answered)
	})
	isLease := func(w record.Write) bool {
		return w.Resource == "leases" && (w.Name == limits.LeaseName || (w.Verb == "create" && w.Name == ""))
	}
	duration := limits.LeaseDuration
	if duration == 0 {
		for _, it := range h.leases {
			if d := it.e.Lease.Duration; d > 0 {
				duration = time.Duration(d) * time.Second
			}
		}
	}

	var out []Violation
	tenures, takeovers := auditTenures(h, ws, isLease, duration, &out)
	if tenures == nil {
		tenures = recordTenures(h)
		if len(tenures) > 0 {
			*notes = append(*notes, fmt.Sprintf("%s: the audit log has no successful write of Lease %s; who held it was taken from the record's Lease entries, timed by when the recorder saw them",
				NoWritesWithoutLease, limits.LeaseName))
		}
	}
	if len(tenures) == 0 {
		if len(ws) > 0 {
			*notes = append(*notes, fmt.Sprintf("%s: neither the audit log nor the record shows who held Lease %s; %d writes were not judged",
				NoWritesWithoutLease, limits.LeaseName, len(ws)))
		}
		return 0, out, takeovers
	}
	byPod := map[string][]*tenure{}
	for _, t := range tenures {
		byPod[t.pod] = append(byPod[t.pod], t)
	}
	holderAt := func(at time.Time) string {
		for _, t := range tenures {
			if t.holds(at) {
				return t.pod
			}
		}
		return "nobody"
	}

	checked, refused, events, stored := 0, 0, 0, 0
	for _, w := range ws {
		if isLease(w) {
			continue
		}
		var held *tenure
		for _, t := range byPod[w.Pod] {
			if t.holds(w.Received) {
				held = t
				break
			}
		}
		var msg string
		switch {
		case held == nil:
			msg = fmt.Sprintf("wrote while %s held the Lease: %s", holderAt(w.Received), describeWrite(w))
		case !held.to.IsZero() && !w.Answered.Before(held.to):
			msg = fmt.Sprintf("wrote past its tenure (%s), answered after another master took the Lease: %s", held, describeWrite(w))
		}
		switch {
		case w.Resource == "events":
			if msg != "" {
				events++
			}
			continue
		case w.Code >= 400 && w.Code < 500:
			if msg != "" {
				refused++
			}
			continue
		}
		checked++
		if msg != "" && storedIn(byPod[w.Pod], w) {
			stored++
			continue
		}
		if msg != "" {
			out = append(out, Violation{At: w.Received, Subject: "pod " + w.Pod, Message: msg})
		}
	}
	if events > 0 {
		*notes = append(*notes, fmt.Sprintf("%s: %d Events were written by a master that did not hold the Lease (not counted)", NoWritesWithoutLease, events))
	}
	if stored > 0 {
		*notes = append(*notes, fmt.Sprintf("%s: %d writes answered after their master lost the Lease were stored before the takeover (by resourceVersion; not counted)", NoWritesWithoutLease, stored))
	}
	if refused > 0 {
		*notes = append(*notes, fmt.Sprintf("%s: %d writes by a master that did not hold the Lease reached the API server and were refused (4xx; not counted)", NoWritesWithoutLease, refused))
	}
	return checked, out, takeovers
}

// auditTenures builds the tenures from the successful Lease writes of the
// audit log (ws, in order of receipt), starting with the holder of the
// record's first Lease entry; nil when the log has no successful Lease
// write. It appends a violation for every takeover before the lease
// duration passed, and counts the takeovers between pods it saw renew.
func auditTenures(h *history, ws []record.Write, isLease func(record.Write) bool, duration time.Duration, out *[]Violation) ([]*tenure, int) {
	var tenures []*tenure
	var cur *tenure
	for _, it := range h.leases {
		if holder := it.e.Lease.Holder; holder != "" {
			cur = &tenure{pod: holderPod(holder)}
			tenures = append(tenures, cur)
			break
		}
	}
	takeovers, leaseWrites := 0, 0
	for i := range ws {
		w := &ws[i]
		if !isLease(*w) || w.Code >= 300 {
			continue
		}
		leaseWrites++
		switch {
		case cur == nil:
			cur = &tenure{pod: w.Pod, from: w.Received, fromRV: writeRV(*w)}
			tenures = append(tenures, cur)
		case w.Pod != cur.pod:
			if cur.renewal != nil {
				takeovers++
				if from := cur.waitFrom(); duration > 0 && w.Received.Before(from.Add(duration)) {
					*out = append(*out, Violation{At: w.Received, Subject: "pod " + w.Pod, Message: fmt.Sprintf(
						"took the Lease %s after %s's last renewal was received (%s after the first of its renewals in the second before), before the lease duration (%s) passed: two masters led at once",
						w.Received.Sub(cur.renewal.Received), cur.pod, w.Received.Sub(from), duration)})
				}
			}
			rv := writeRV(*w)
			cur.to, cur.toRV = w.Received, rv
			cur = &tenure{pod: w.Pod, from: w.Received, fromRV: rv}
			tenures = append(tenures, cur)
		}
		cur.renewed(w)
	}
	if leaseWrites == 0 {
		return nil, 0
	}
	return tenures, takeovers
}

// recordTenures builds the tenures from the record's Lease entries alone,
// timed by when the recorder saw each holder.
func recordTenures(h *history) []*tenure {
	var tenures []*tenure
	var cur *tenure
	for _, it := range h.leases {
		holder := it.e.Lease.Holder
		if holder == "" {
			continue
		}
		pod := holderPod(holder)
		if cur != nil && cur.pod == pod {
			continue
		}
		if cur != nil {
			cur.to = it.e.At
		}
		from := it.e.At
		if cur == nil {
			from = time.Time{}
		}
		cur = &tenure{pod: pod, from: from}
		tenures = append(tenures, cur)
	}
	return tenures
}
