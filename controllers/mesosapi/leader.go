package mesosapi

import (
	"net/http"
	"strings"
	"time"

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
	var lease coordinationv1.Lease
	if err := s.reader.Get(r.Context(), s.opts.LeaderLease, &lease); err != nil {
		if !apierrors.IsNotFound(err) {
			s.log.Error(err, "reading the master Lease to redirect a scheduler call", "lease", s.opts.LeaderLease)
		}
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
