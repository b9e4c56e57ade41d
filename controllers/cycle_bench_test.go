package controllers

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// benchMaster is a master whose scheduling cache holds agents active
// agents with 4 cpu and 8Gi each, frameworks active frameworks in 10 roles,
// and live tasks one-cpu tasks spread over the agents.
func benchMaster(agents, frameworks, tasks int) *Master {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := New(nil, clocktesting.NewFakeClock(now), nil, DefaultOptions())
	for i := 0; i < agents; i++ {
		a := b.MakeAgent(fmt.Sprintf("node-%05d", i)).Resources("cpu", "4", "memory", "8Gi").Obj()
		a.Status.AgentID, a.Status.Phase = fmt.Sprintf("agent-%05d", i), kmv1.AgentActive
		m.sched.Upsert(a)
	}
	for i := 0; i < frameworks; i++ {
		fw := b.MakeFramework(fmt.Sprintf("fw-%04d", i), "ns").Role(fmt.Sprintf("role-%d", i%10)).Obj()
		fw.Status.FrameworkID, fw.Status.Phase = fmt.Sprintf("fw-id-%04d", i), kmv1.FrameworkActive
		m.sched.Upsert(fw)
	}
	for i := 0; i < tasks; i++ {
		t := b.MakeTask(fmt.Sprintf("task-%06d", i), "ns").Framework(fmt.Sprintf("fw-%04d", i%frameworks)).Resources("cpu", "1").Command("img").Obj()
		t.UID = types.UID(t.Name)
		t.Status.State, t.Status.AgentID = kmv1.TaskRunning, fmt.Sprintf("agent-%05d", i%agents)
		m.sched.Upsert(t)
	}
	return m
}

// BenchmarkCycle1000Agents10Frameworks is one allocation cycle of the
// master, glue included: the scheduling cache's snapshot, the offers'
// fates, the allocator's input, DRF and the Offer objects to create (not
// their API calls). 1,000 agents × 10 frameworks, 2,000 live tasks; every
// agent is offered.
func BenchmarkCycle1000Agents10Frameworks(bm *testing.B) {
	m := benchMaster(1000, 10, 2000)
	bm.ReportAllocs()
	for bm.Loop() {
		if p := m.planCycle(m.sched.Snapshot()); len(p.make) != 1000 {
			bm.Fatalf("%d offers, want 1000", len(p.make))
		}
	}
}

// BenchmarkCycle10000Agents10Frameworks is the P1 shape with
// offers: 10,000 agents × 10 frameworks, 10,000 live tasks, every agent
// offered.
func BenchmarkCycle10000Agents10Frameworks(bm *testing.B) {
	m := benchMaster(10000, 10, 10000)
	bm.ReportAllocs()
	for bm.Loop() {
		if p := m.planCycle(m.sched.Snapshot()); len(p.make) != 10000 {
			bm.Fatalf("%d offers, want 10000", len(p.make))
		}
	}
}

// BenchmarkCycle10000Agents1000FrameworksDeclined is Mesos's
// DeclineOffers shape through the whole cycle: 10,000 agents × 1,000
// frameworks, every framework refusing every agent (ten million decline
// filters), 10,000 live tasks; every pair is considered, no offer made.
func BenchmarkCycle10000Agents1000FrameworksDeclined(bm *testing.B) {
	m := benchMaster(10000, 1000, 10000)
	until := m.Clock.Now().Add(time.Hour)
	s := m.sched.Snapshot()
	for _, a := range s.Agents {
		for _, f := range s.Frameworks {
			m.sched.Filter(schedcache.Pair{Framework: nsName(f.Obj), AgentID: a.Obj.Status.AgentID}, until)
		}
	}
	bm.ReportAllocs()
	bm.ResetTimer()
	for bm.Loop() {
		if p := m.planCycle(m.sched.Snapshot()); len(p.make) != 0 {
			bm.Fatalf("%d offers, want 0", len(p.make))
		}
	}
}
