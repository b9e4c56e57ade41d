package mesosapi

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/recordio"
	"github.com/kubemesos/kubemesos/internal/version"
)

// Annotations of the Frameworks that Mesos API subscriptions create (their
// label is kmv1.LabelAPI: kmv1.APIMesosV1).
const (
	// AnnotationFrameworkInfo keeps the subscription's FrameworkInfo in
	// Mesos JSON (without its id, which is the Framework's UID), so that
	// its capabilities, user, hostname, principal and labels survive a
	// scheduler and a master failover.
	AnnotationFrameworkInfo = "kubemesos.io/mesos-framework-info"
)

// maxNamePrefix bounds the part of a Framework's name taken from
// FrameworkInfo.name; the API server appends five characters.
const maxNamePrefix = 40

var (
	roleRE    = regexp.MustCompile(kmv1.RolePattern)
	notDNSRun = regexp.MustCompile(`[^a-z0-9]+`)
)

// frameworkNamePrefix is a DNS-1123 form of a FrameworkInfo name, ending
// in "-" for the API server's generated suffix.
func frameworkNamePrefix(name string) string {
	s := notDNSRun.ReplaceAllString(strings.ToLower(name), "-")
	s = strings.Trim(s, "-")
	if len(s) > maxNamePrefix {
		s = strings.TrimRight(s[:maxNamePrefix], "-")
	}
	if s == "" {
		s = "mesos"
	}
	return s + "-"
}

// frameworkRole is the one role of a FrameworkInfo: its only entry in
// roles, else role (default "*").
func frameworkRole(info *mesosv1.FrameworkInfo) (string, *httpError) {
	role := info.GetRole()
	switch roles := info.GetRoles(); len(roles) {
	case 0:
	case 1:
		role = roles[0]
	default:
		return "", badRequest(fmt.Sprintf("kubemesos gives a framework one role; FrameworkInfo.roles names %d (%s)", len(roles), strings.Join(roles, ", ")))
	}
	if !roleRE.MatchString(role) {
		return "", badRequest(fmt.Sprintf("Role '%s' is not a kubemesos role: it must be '*' or DNS-1123 labels joined by '/'", role))
	}
	return role, nil
}

// suppressed reads the suppressed_roles of a SUBSCRIBE or UPDATE_FRAMEWORK:
// whether the framework's one role is suppressed. Mesos refuses roles that
// are not the framework's.
func suppressed(role string, roles []string) (bool, *httpError) {
	for _, r := range roles {
		if r != role {
			return false, badRequest(fmt.Sprintf("Suppressed role '%s' is not one of the framework's roles ('%s')", r, role))
		}
	}
	return len(roles) > 0, nil
}

// failoverSeconds is FrameworkInfo.failover_timeout in whole seconds,
// within what the Framework accepts.
func failoverSeconds(info *mesosv1.FrameworkInfo) int32 {
	f := info.GetFailoverTimeout()
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= 31536000:
		return 31536000
	}
	return int32(math.Ceil(f))
}

// infoAnnotation is the FrameworkInfo as kept on the Framework.
func infoAnnotation(info *mesosv1.FrameworkInfo) (string, error) {
	kept := cloneInfo(info)
	kept.Id = nil
	b, err := mesosjson.Marshal(kept)
	if err != nil {
		return "", fmt.Errorf("encoding the FrameworkInfo: %w", err)
	}
	return string(b), nil
}

// subscribe answers SUBSCRIBE: it creates or adopts the Framework, then
// streams events until the subscriber goes, a newer subscription fails
// it over, or the master stops.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, caller *httpauth.Caller, ns string, out mesoswire.Codec, sub *schedulerv1.Call_Subscribe) *httpError {
	ctx := r.Context()
	info := sub.GetFrameworkInfo()
	role, herr := frameworkRole(info)
	if herr != nil {
		return herr
	}
	suppress, herr := suppressed(role, sub.GetSuppressedRoles())
	if herr != nil {
		return herr
	}
	var fw *kmv1.Framework
	var refusal string
	var err error
	if id := info.GetId().GetValue(); id != "" {
		known, ferr := s.findFramework(ctx, ns, id, s.c, s.reader)
		if ferr != nil {
			return failed(ferr.Error())
		}
		name := ""
		if known != nil {
			name = known.Name
		}
		if herr := s.authorize(r, caller, schedulerv1.Call_SUBSCRIBE.String(), ns, name); herr != nil {
			return herr
		}
		fw, refusal, err = s.adopt(ctx, ns, known, info, role, suppress)
	} else {
		if herr := s.authorize(r, caller, schedulerv1.Call_SUBSCRIBE.String(), ns, ""); herr != nil {
			return herr
		}
		fw, err = s.createFramework(ctx, ns, info, role, suppress)
	}
	if why := refusedByAPIServer(err); why != "" {
		// The API server's verdict on the Framework (a role the namespace
		// is not granted, for one): as Mesos refuses a framework it does
		// not authorize, an ERROR on the stream, which a retry would not
		// change.
		fw, refusal, err = nil, why, nil
	}
	if fencedMaster(err) {
		// Another master leads now: the scheduler detects it and
		// subscribes there.
		s.log.Info("refused a subscription: this master no longer leads", "namespace", ns, "name", info.GetName())
		return noLongerLeads()
	}
	if err != nil {
		s.log.Error(err, "subscribing a framework", "namespace", ns, "name", info.GetName())
		return failed("Failed to subscribe: " + err.Error())
	}
	streamID := uuid.NewString()
	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set(HeaderStreamID, streamID)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	rc := http.NewResponseController(w)
	writeTimeout := s.opts.StreamWriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = DefaultStreamWriteTimeout
	}
	write := func(e *schedulerv1.Event) error {
		b, err := out.Encode(e)
		if err != nil {
			return err
		}
		// A scheduler that stops reading fills the connection's buffers;
		// its stream then ends instead of holding a writer, and what is
		// queued for it, for ever.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		return rw.WriteRecord(b)
	}
	log := s.log.WithValues("stream", streamID)
	if refusal != "" {
		log.Info("refused a subscription", "namespace", ns, "frameworkID", info.GetId().GetValue(), "reason", refusal)
		if err := write(errorEvent(refusal)); err != nil {
			log.V(2).Info("writing to a scheduler stream", "error", err.Error())
		}
		return nil
	}
	fwID := string(fw.UID)
	info = cloneInfo(info)
	info.Id = &mesosv1.FrameworkID{Value: &fwID}
	st := newStream(streamID, fwID, fw.Namespace, fw.Name, info)
	log = log.WithValues("framework", fw.Namespace+"/"+fw.Name, "frameworkID", fwID)
	if old := s.streams.replace(st); old != nil {
		old.close(errorEvent("Framework failed over"))
		log.Info("framework failed over to a new stream", "oldStream", old.id)
	}
	defer s.streams.remove(st)
	defer st.close(nil)
	log.Info("framework subscribed", "name", info.GetName(), "role", role, "mediaType", out.MediaType())

	hold, stopHolding := context.WithCancel(ctx)
	defer stopHolding()
	go s.holdLease(hold, st)

	if err := s.stream(ctx, st, write); err != nil {
		log.V(2).Info("scheduler stream ended", "error", err.Error())
	}
	return nil
}

// stream writes SUBSCRIBED, a first HEARTBEAT, and then the stream's
// events and a HEARTBEAT every interval, until the stream closes.
func (s *Server) stream(ctx context.Context, st *stream, write func(*schedulerv1.Event) error) error {
	interval := s.opts.HeartbeatInterval
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	subscribed := &schedulerv1.Event{Type: schedulerv1.Event_SUBSCRIBED.Enum(), Subscribed: &schedulerv1.Event_Subscribed{
		FrameworkId:              st.frameworkInfo().GetId(),
		HeartbeatIntervalSeconds: ptr.To(interval.Seconds()),
		MasterInfo:               s.masterInfo(),
	}}
	heartbeat := &schedulerv1.Event{Type: schedulerv1.Event_HEARTBEAT.Enum()}
	if err := write(subscribed); err != nil {
		return err
	}
	if err := write(heartbeat); err != nil {
		return err
	}
	// Written here, not queued: this goroutine is the queue's one reader.
	if err := s.writeOutstandingOffers(ctx, st, write); err != nil {
		return err
	}
	if err := s.writeTaskUpdates(ctx, st, write); err != nil {
		return err
	}
	if err := s.writeMessages(ctx, st, write); err != nil {
		return err
	}
	tick := s.clock.NewTicker(interval)
	defer tick.Stop()
	resend := s.clock.NewTicker(time.Second)
	defer resend.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.done:
			for {
				select {
				case e := <-st.events:
					if err := write(e); err != nil {
						return err
					}
					continue
				default:
				}
				break
			}
			if st.last != nil {
				return write(st.last)
			}
			return nil
		case e := <-st.events:
			if err := write(e); err != nil {
				return err
			}
		case <-tick.C():
			if err := write(heartbeat); err != nil {
				return err
			}
		case <-st.arrived:
			if err := s.writeMessages(ctx, st, write); err != nil {
				return err
			}
		case <-resend.C():
			if err := s.resendDue(st, write); err != nil {
				return err
			}
		}
	}
}

// cloneInfo returns a deep copy of info.
func cloneInfo(info *mesosv1.FrameworkInfo) *mesosv1.FrameworkInfo {
	return proto.Clone(info).(*mesosv1.FrameworkInfo)
}

// masterInfo describes this master as SUBSCRIBED carries it. ip is the
// IPv4 address in network byte order read as a little-endian integer,
// as Mesos fills it on the platforms it runs on.
func (s *Server) masterInfo() *mesosv1.MasterInfo {
	id := s.opts.MasterID
	if id == "" {
		id = "kubemesos"
	}
	mi := &mesosv1.MasterInfo{Id: &id, Ip: ptr.To(uint32(0)), Port: ptr.To(uint32(5050)), Version: ptr.To(version.String())}
	host, port, err := net.SplitHostPort(s.opts.AdvertiseAddress)
	if err != nil {
		return mi
	}
	if p, err := strconv.ParseUint(port, 10, 16); err == nil {
		mi.Port = ptr.To(uint32(p))
	}
	mi.Hostname = &host
	addr := &mesosv1.Address{Hostname: &host, Port: ptr.To(int32(*mi.Port))}
	if ip := net.ParseIP(host); ip != nil {
		addr.Ip = ptr.To(ip.String())
		if v4 := ip.To4(); v4 != nil {
			mi.Ip = ptr.To(binary.LittleEndian.Uint32(v4))
		}
	}
	mi.Address = addr
	return mi
}

// masterLeaderPolicy is the chart's admission policy that refuses the
// writes of a master that no longer holds the master Lease.
const masterLeaderPolicy = "kubemesos-master-leader"

// refusedByAPIServer returns why the API server refused err's request for
// what the request holds (its schema, or an admission policy other than
// masterLeaderPolicy), or "" for any other error, or none: a failure that
// the caller may retry, as RBAC's, a quota's, or the leader fence's, which
// is about this master and not the framework (fencedMaster).
func refusedByAPIServer(err error) string {
	code, msg := apiServerVerdict(err)
	if code == http.StatusBadRequest || (code == http.StatusForbidden && strings.Contains(msg, "ValidatingAdmissionPolicy")) {
		return "Framework refused by the API server: " + msg
	}
	return ""
}

// createFramework creates the Framework of a new subscription.
func (s *Server) createFramework(ctx context.Context, ns string, info *mesosv1.FrameworkInfo, role string, suppress bool) (*kmv1.Framework, error) {
	kept, err := infoAnnotation(info)
	if err != nil {
		return nil, err
	}
	fw := &kmv1.Framework{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, GenerateName: frameworkNamePrefix(info.GetName()),
			Labels:      map[string]string{kmv1.LabelAPI: kmv1.APIMesosV1},
			Annotations: map[string]string{AnnotationFrameworkInfo: kept},
		},
		Spec: kmv1.FrameworkSpec{Role: role, FailoverTimeoutSeconds: ptr.To(failoverSeconds(info)), SuppressOffers: suppress},
	}
	if err := s.schedulerClient.Create(ctx, fw); err != nil {
		return nil, fmt.Errorf("creating a Framework in namespace %s: %w", ns, err)
	}
	return fw, nil
}

// adopt finds the Framework of a re-subscription and records its new
// FrameworkInfo and suppression: a subscription says which roles are
// suppressed, whatever an earlier stream set, as in Mesos. A framework that
// is gone or ended is refused as Mesos refuses a removed one.
func (s *Server) adopt(ctx context.Context, ns string, fw *kmv1.Framework, info *mesosv1.FrameworkInfo, role string, suppress bool) (*kmv1.Framework, string, error) {
	id := info.GetId().GetValue()
	switch {
	case fw == nil || removedWhy(fw) != "":
		return nil, "Framework has been removed", nil
	case fw.Labels[kmv1.LabelAPI] != kmv1.APIMesosV1:
		return nil, "Framework " + id + " is driven by the kubemesos SDK, not by the Mesos API", nil
	case fw.Spec.Role != role:
		return nil, fmt.Sprintf("Framework %s has role '%s'; a subscription cannot change it to '%s'", id, fw.Spec.Role, role), nil
	}
	kept, err := infoAnnotation(info)
	if err != nil {
		return nil, "", err
	}
	if err := s.recordSubscription(ctx, fw, kept, failoverSeconds(info), suppress); err != nil {
		return nil, "", err
	}
	return fw, "", nil
}

// recordSubscription writes onto fw what a SUBSCRIBE or UPDATE_FRAMEWORK
// says of it: the FrameworkInfo kept, the failover timeout and the
// suppression. fw is then the Framework as the API server returned it.
func (s *Server) recordSubscription(ctx context.Context, fw *kmv1.Framework, kept string, failover int32, suppress bool) error {
	if err := s.schedulerClient.Patch(ctx, fw, client.RawPatch(types.MergePatchType, subscriptionPatch(kept, failover, suppress))); err != nil {
		return fmt.Errorf("updating Framework %s/%s: %w", fw.Namespace, fw.Name, err)
	}
	return nil
}

// subscriptionPatch is recordSubscription's merge patch. It is spelled
// out, every field in it, not computed as a diff from a Framework read
// earlier: that one may come from a cache that has not yet seen the last
// write (a SUPPRESS a moment ago), and a diff would then leave out a
// field that only looks unchanged.
func subscriptionPatch(kept string, failover int32, suppress bool) []byte {
	type spec struct {
		FailoverTimeoutSeconds int32 `json:"failoverTimeoutSeconds"`
		SuppressOffers         bool  `json:"suppressOffers"`
	}
	type meta struct {
		Annotations map[string]string `json:"annotations"`
	}
	b, err := json.Marshal(struct {
		Metadata meta `json:"metadata"`
		Spec     spec `json:"spec"`
	}{meta{map[string]string{AnnotationFrameworkInfo: kept}}, spec{failover, suppress}})
	if err != nil {
		panic(fmt.Sprintf("encoding a merge patch of strings, a number and a bool: %v", err)) // cannot happen
	}
	return b
}

// findFramework returns the Framework in ns whose frameworkID is id, or
// nil, asking readers in turn: the cache first, and for a subscription the
// API server when the cache has none (a Framework created a moment ago).
func (s *Server) findFramework(ctx context.Context, ns, id string, readers ...client.Reader) (*kmv1.Framework, error) {
	for _, r := range readers {
		var l kmv1.FrameworkList
		if err := r.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing the Frameworks of namespace %s: %w", ns, err)
		}
		for i := range l.Items {
			if string(l.Items[i].UID) == id { // status.frameworkID is the UID
				return l.Items[i].DeepCopy(), nil
			}
		}
	}
	return nil, nil
}

// subscribedStream returns the open stream that a call other than
// SUBSCRIBE names, with Mesos's answers when there is none or it is not
// the caller's.
func (s *Server) subscribedStream(ctx context.Context, ns, frameworkID, streamID string) (*stream, *httpError) {
	st := s.streams.get(frameworkID, ns)
	if st == nil {
		// The cache only: this runs before the call is authorized, and
		// must not cost the API server a List per request.
		fw, err := s.findFramework(ctx, ns, frameworkID, s.c)
		if err != nil {
			return nil, failed(err.Error())
		}
		if fw == nil {
			return nil, badRequest("Framework cannot be found")
		}
		return nil, forbidden("Framework is not subscribed")
	}
	if streamID == "" {
		return nil, badRequest("All non-subscribe calls should include the '" + HeaderStreamID + "' header")
	}
	if streamID != st.id {
		return nil, badRequest("The stream ID '" + streamID + "' included in this request didn't match the stream ID currently associated with framework ID " + frameworkID)
	}
	return st, nil
}
