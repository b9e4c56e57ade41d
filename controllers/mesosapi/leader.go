package mesosapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// identitySeparator separates a master's Lease identity from the
// addresses it advertises. Host names and pod names never hold it.
const identitySeparator = "@"

// consoleTag starts the segment of a Lease identity that carries the web
// console's address (WithConsole).
const consoleTag = "console="

// A master's Lease identity is its base name followed by what it
// advertises, each after an "@":
//
//	base[@console=CONSOLE_ADDR][@MESOS_API_ADDR]
//
// The Mesos API address comes last, so that a master of an earlier
// version, which reads only the last segment, still finds it.

// AdvertisedIdentity returns the Lease identity of a master that serves
// the scheduler API at addr (host:port): base, "@", addr. A standby reads
// it back from the master Lease to redirect frameworks to the leader. base
// may already carry the console's address (WithConsole).
func AdvertisedIdentity(base, addr string) string {
	if addr == "" {
		return base
	}
	return base + identitySeparator + addr
}

// WithConsole returns base extended with the web console's address addr
// (host:port), for AdvertisedIdentity to extend further; a standby's
// console reads it back with ConsoleAddress to proxy to the leader's.
func WithConsole(base, addr string) string {
	if addr == "" {
		return base
	}
	return base + identitySeparator + consoleTag + addr
}

// AdvertisedAddress returns the Mesos API address in a master's Lease
// identity, if it has one.
func AdvertisedAddress(identity string) (string, bool) {
	i := strings.LastIndex(identity, identitySeparator)
	if i < 0 || i == len(identity)-1 || strings.HasPrefix(identity[i+1:], consoleTag) {
		return "", false
	}
	return identity[i+1:], true
}

// ConsoleAddress returns the web console's address in a master's Lease
// identity, if it has one.
func ConsoleAddress(identity string) (string, bool) {
	i := strings.Index(identity, identitySeparator+consoleTag)
	if i < 0 {
		return "", false
	}
	addr := identity[i+len(identitySeparator)+len(consoleTag):]
	if j := strings.Index(addr, identitySeparator); j >= 0 {
		addr = addr[:j]
	}
	return addr, addr != ""
}

// redirect answers a call to a standby as Mesos does: 307 with the
// leader's endpoint as a protocol-relative Location, or 503 when no
// leader is known.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) *httpError {
	noLeader := &httpError{Code: http.StatusServiceUnavailable, Msg: "No leader elected"}
	lease, err := s.masterLease.read(r.Context(), s)
	if err != nil {
		return noLeader
	}
	spec := lease.Spec
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" || spec.RenewTime == nil {
		return noLeader
	}
	if spec.LeaseDurationSeconds != nil {
		expiry := spec.RenewTime.Add(time.Duration(*spec.LeaseDurationSeconds) * time.Second)
		if s.clock.Now().After(expiry) {
			return noLeader
		}
	}
	addr, ok := AdvertisedAddress(*spec.HolderIdentity)
	if !ok {
		return &httpError{Code: http.StatusServiceUnavailable, Msg: "The leading master does not advertise a Mesos API address"}
	}
	w.Header().Set("Location", "//"+addr+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

// leaseReadInterval is how long a standby answers calls from one reading
// of the master Lease. Its callers need not have credentials: without it,
// each call would be a read of the API server, which a flood of calls
// would turn into a flood of reads, and which would wait behind them in
// the master's client, as the standby's own leader election would.
const leaseReadInterval = time.Second

// leaseReadTimeout bounds one reading of the master Lease, which the
// calls waiting for it share.
const leaseReadTimeout = 10 * time.Second

// leaseReading is the last reading of the master Lease, for redirect.
type leaseReading struct {
	flight singleflight.Group
	mu     sync.Mutex
	at     time.Time
	lease  *coordinationv1.Lease
	err    error
}

// read returns the master Lease as read at most leaseReadInterval ago, or
// reads it; the calls that come meanwhile share that read, and each stops
// waiting for it when its own context ends.
func (lr *leaseReading) read(ctx context.Context, s *Server) (*coordinationv1.Lease, error) {
	lr.mu.Lock()
	now := s.clock.Now()
	if !lr.at.IsZero() && now.Sub(lr.at) < leaseReadInterval && now.Sub(lr.at) >= 0 {
		lease, err := lr.lease, lr.err
		lr.mu.Unlock()
		return lease, err
	}
	lr.mu.Unlock()
	ch := lr.flight.DoChan("lease", func() (any, error) {
		// Shared by every call waiting: one leaving must not end it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseReadTimeout)
		defer cancel()
		var lease coordinationv1.Lease
		err := s.reader.Get(rctx, s.opts.LeaderLease, &lease)
		if err != nil && !apierrors.IsNotFound(err) {
			s.log.Error(err, "reading the master Lease to redirect a scheduler call", "lease", s.opts.LeaderLease)
		}
		lr.mu.Lock()
		lr.at, lr.lease, lr.err = now, &lease, err
		lr.mu.Unlock()
		return &lease, err
	})
	select {
	case res := <-ch:
		lease, _ := res.Val.(*coordinationv1.Lease)
		return lease, res.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
