package main

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// electionSetting is one set of leader election flags.
type electionSetting struct {
	name  string
	flags []string
	reps  int
}

// failRow is one failover.
type failRow struct {
	setting string
	// detect is from the SIGKILL to the standby holding the Lease; the
	// others are from the Lease taken to the new leader's first Offer, to
	// every framework having one, and to every agent being offered.
	detect, firstOffer, allFrameworks, allAgents time.Duration
}

// standbyReady is what controller-runtime logs once a master's caches have
// synced and it starts to compete for the Lease ("Attempting to acquire
// leader lease...").
const standbyReady = "ttempting to acquire leader lease"

// failover kills the leading master of two, again and again, and times
// how soon the standby leads and offers: with short leader election
// settings, then with the defaults.
func (bn *bench) failover(ctx context.Context) ([]failRow, error) {
	cfg := bn.cfg
	if err := bn.world.ensureFrameworks(ctx, cfg.frameworks); err != nil {
		return nil, err
	}
	if err := bn.world.setSuppressed(ctx, false); err != nil {
		return nil, err
	}
	if err := bn.ensureAgents(ctx, cfg.failAgents); err != nil {
		return nil, err
	}
	if err := bn.ensureTasks(ctx, cfg.failTasks, 0); err != nil {
		return nil, err
	}
	settings := []electionSetting{
		{name: "short (lease 4s, renew deadline 3s, retry 1s)", reps: cfg.shortReps,
			flags: []string{"--leader-election-lease-duration=4s", "--leader-election-renew-deadline=3s", "--leader-election-retry-period=1s"}},
		{name: "default (lease 15s, renew deadline 10s, retry 2s)", reps: cfg.defaultReps},
	}
	var rows []failRow
	for si, s := range settings {
		if s.reps == 0 {
			continue
		}
		got, err := bn.failoverSetting(ctx, si, s)
		rows = append(rows, got...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func (bn *bench) failoverSetting(ctx context.Context, si int, s electionSetting) ([]failRow, error) {
	agents := bn.world.agentCount()
	if err := bn.world.deleteOffers(ctx); err != nil {
		return nil, err
	}
	if err := bn.deleteMasterLease(ctx); err != nil {
		return nil, err
	}
	n := 0
	next := func() (*proc, error) {
		n++
		return bn.startMaster(fmt.Sprintf("p5-%d-master-%d", si, n), s.flags...)
	}
	leader, err := next()
	if err != nil {
		return nil, err
	}
	defer func() { leader.kill() }()
	if err := bn.waitSettled(ctx, leader, agents, bn.world.live, bn.world.ended); err != nil {
		return nil, err
	}
	standby, err := next()
	if err != nil {
		return nil, err
	}
	defer func() { standby.kill() }()
	var rows []failRow
	for rep := range s.reps {
		if err := waitFor(ctx, "standby "+standby.name+" to sync its caches and compete (log: "+standby.logPath+")", 10*time.Minute, 200*time.Millisecond,
			func() (bool, error) {
				if err := standby.exited(); err != nil {
					return false, err
				}
				return standby.logContains(standbyReady), nil
			}); err != nil {
			return rows, err
		}
		row, err := bn.failoverOnce(ctx, leader, agents)
		if err != nil {
			return rows, err
		}
		row.setting = s.name
		logf("P5 %s #%d: Lease taken %s after the kill; first offer %s, every framework %s, every agent %s after it",
			s.name, rep+1, row.detect.Round(time.Millisecond), row.firstOffer.Round(time.Millisecond),
			row.allFrameworks.Round(time.Millisecond), row.allAgents.Round(time.Millisecond))
		rows = append(rows, row)
		// The standby leads now; the killed master comes back as the
		// next standby, as its pod would restart it.
		leader = standby
		if rep == s.reps-1 {
			break
		}
		if standby, err = next(); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// stamped is a watch event with the time it arrived here.
type stamped struct {
	ev watch.Event
	at time.Time
}

// watchStamped watches list's kind and stamps each event as it arrives.
func (bn *bench) watchStamped(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (<-chan stamped, error) {
	w, err := bn.c.Watch(ctx, list, opts...)
	if err != nil {
		return nil, fmt.Errorf("watching %T: %w", list, err)
	}
	out := make(chan stamped, 100000)
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					close(out)
					return
				}
				out <- stamped{ev: ev, at: time.Now()}
			}
		}
	}()
	return out, nil
}

// failoverOnce suppresses the frameworks and clears their offers, kills
// the leader, revives the frameworks at once, and times the standby's
// takeover from the API server's events: the master Lease changing hands,
// then the new leader's Offers.
func (bn *bench) failoverOnce(ctx context.Context, leader *proc, agents int) (failRow, error) {
	var row failRow
	w := bn.world
	if err := w.setSuppressed(ctx, true); err != nil {
		return row, err
	}
	// The leader makes no more offers once it sees the frameworks
	// suppressed; clear the ones it made, until none come back.
	if err := waitFor(ctx, "the suppressed frameworks' offers to be gone", 2*time.Minute, 0, func() (bool, error) {
		if err := w.deleteOffers(ctx); err != nil {
			return false, err
		}
		time.Sleep(3 * time.Second)
		_, n, err := w.offers(ctx)
		return err == nil && n == 0, err
	}); err != nil {
		return row, err
	}
	old, err := bn.masterHolder(ctx)
	if err != nil {
		return row, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leases, err := bn.watchStamped(wctx, &coordinationv1.LeaseList{}, client.InNamespace(systemNS),
		client.MatchingFields{"metadata.name": kmv1.MasterLeaseName})
	if err != nil {
		return row, err
	}
	offers, err := bn.watchStamped(wctx, &kmv1.OfferList{})
	if err != nil {
		return row, err
	}

	kill := time.Now()
	leader.kill()
	if err := w.setSuppressed(ctx, false); err != nil {
		return row, err
	}
	var taken, first, allFws, allAgents time.Time
	perNS := map[string]int{}
	total := 0
	deadline := time.After(5 * time.Minute)
	for allAgents.IsZero() || allFws.IsZero() {
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-deadline:
			return row, fmt.Errorf("after the kill of %s: Lease taken %v, %d offers in %d namespaces within 5 minutes", leader.name, !taken.IsZero(), total, len(perNS))
		case e, ok := <-leases:
			if !ok {
				return row, fmt.Errorf("the watch of the master Lease ended")
			}
			if l, isLease := e.ev.Object.(*coordinationv1.Lease); isLease && taken.IsZero() &&
				l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" && *l.Spec.HolderIdentity != old {
				taken = e.at
			}
		case e, ok := <-offers:
			if !ok {
				return row, fmt.Errorf("the watch of the offers ended")
			}
			o, isOffer := e.ev.Object.(*kmv1.Offer)
			if e.ev.Type != watch.Added || !isOffer {
				continue
			}
			if first.IsZero() {
				first = e.at
			}
			perNS[o.Namespace]++
			total++
			if allFws.IsZero() && len(perNS) == len(w.frameworks) {
				allFws = e.at
			}
			if total >= agents {
				allAgents = e.at
			}
		}
	}
	if taken.IsZero() || first.Before(taken) {
		return row, fmt.Errorf("offers were made before the standby took the Lease: the old leader %s was still making them", leader.name)
	}
	row.detect = taken.Sub(kill)
	row.firstOffer, row.allFrameworks, row.allAgents = first.Sub(taken), allFws.Sub(taken), allAgents.Sub(taken)
	return row, nil
}

func (r *report) failover(rows []failRow, cfg *config) {
	r.printf("### P5: master failover\n\n")
	r.printf("Two `kubemesos master` processes, %s agents, %s live Tasks, %d frameworks with their scheduler Leases held. Before each kill the frameworks are suppressed and their offers cleared; the leader is killed with SIGKILL and the frameworks are revived at once, so the new leader must make every offer. (a) is from the kill to the standby holding the Lease, bound by the lease duration (the standby waits it out from the last renewal it saw); (b), (c) and (d) are from the Lease taken to the new leader's first Offer, to every framework having an Offer, and to every agent being offered. Times are when the runner's watches saw the events. The killed master is started again as the next standby, which syncs its caches before the next kill.\n\n",
		thousands(cfg.failAgents), thousands(cfg.failTasks), cfg.frameworks)
	r.printf("| settings | runs | (a) kill → Lease taken, median / worst | (b) → first offer, median / worst | (c) → every framework offered, median / worst | (d) → every agent offered, median / worst |\n|---|---|---|---|---|---|\n")
	var order []string
	by := map[string][]failRow{}
	for _, row := range rows {
		if _, ok := by[row.setting]; !ok {
			order = append(order, row.setting)
		}
		by[row.setting] = append(by[row.setting], row)
	}
	for _, s := range order {
		var a, b, c, d durations
		for _, row := range by[s] {
			a, b, c, d = append(a, row.detect), append(b, row.firstOffer), append(c, row.allFrameworks), append(d, row.allAgents)
		}
		r.printf("| %s | %d | %s / %s | %s / %s | %s / %s | %s / %s |\n", s, len(by[s]), secs(a.median()), secs(a.worst()),
			secs(b.median()), secs(b.worst()), secs(c.median()), secs(c.worst()), secs(d.median()), secs(d.worst()))
	}
	r.printf("\n")
}
