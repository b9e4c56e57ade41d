package mesosapi

import (
	"net/http"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// identitySeparator separates a master's Lease identity from the Mesos
// API address it advertises. Host names and pod names never hold it.
const identitySeparator = "@"

// AdvertisedIdentity returns the Lease identity of a master that serves
// the scheduler API at addr (host:port): base, "@", addr. A standby reads
// it back from the master Lease to redirect frameworks to the leader.
func AdvertisedIdentity(base, addr string) string {
	if addr == "" {
		return base
	}
	return base + identitySeparator + addr
}

// AdvertisedAddress returns the Mesos API address in a master's Lease
// identity, if it has one.
func AdvertisedAddress(identity string) (string, bool) {
	i := strings.LastIndex(identity, identitySeparator)
	if i < 0 || i == len(identity)-1 {
		return "", false
	}
	return identity[i+1:], true
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
