package mesosapi

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/portrange"
)

// agentPath is the path of an agent's URL, which some clients read.
const agentPath = "/slave(1)"

// watchOffers sends an OFFERS event for each Offer the master makes for a
// subscribed framework, and RESCIND for each it withdraws.
func (s *Server) watchOffers(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &kmv1.Offer{})
	if err != nil {
		return fmt.Errorf("watching Offers: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(*kmv1.Offer); ok && o.DeletionTimestamp == nil {
				s.offerMade(ctx, o)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(*kmv1.Offer); ok {
				s.ports.forget(client.ObjectKeyFromObject(o))
				s.offerWithdrawn(o)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching Offers: %w", err)
	}
	return nil
}

// streamOf returns the open stream of an Offer's framework, or nil.
func (s *Server) streamOf(o *kmv1.Offer) *stream {
	return s.streams.get(o.Spec.FrameworkID, o.Namespace)
}

func (s *Server) offerMade(ctx context.Context, o *kmv1.Offer) {
	st := s.streamOf(o)
	if st == nil || !st.offerSent(o.Name) {
		return
	}
	st.send(offersEvent(s.mesosOffer(ctx, st, o)))
}

func (s *Server) offerWithdrawn(o *kmv1.Offer) {
	st := s.streamOf(o)
	if st == nil || !st.offerGone(o.Name) {
		return
	}
	st.send(&schedulerv1.Event{Type: schedulerv1.Event_RESCIND.Enum(), Rescind: &schedulerv1.Event_Rescind{OfferId: &mesosv1.OfferID{Value: ptr.To(o.Name)}}})
}

// writeOutstandingOffers writes, in one OFFERS event, the framework's
// Offers that exist when its stream opens.
func (s *Server) writeOutstandingOffers(ctx context.Context, st *stream, write func(*schedulerv1.Event) error) error {
	var l kmv1.OfferList
	if err := s.c.List(ctx, &l, client.InNamespace(st.namespace), client.MatchingLabels{kmv1.LabelFramework: st.name}); err != nil {
		s.log.Error(err, "listing the Offers of a subscribed framework", "framework", st.namespace+"/"+st.name)
		return nil
	}
	var offers []*mesosv1.Offer
	for i := range l.Items {
		o := &l.Items[i]
		if o.DeletionTimestamp == nil && o.Spec.FrameworkID == st.frameworkID && st.offerSent(o.Name) {
			offers = append(offers, s.mesosOffer(ctx, st, o))
		}
	}
	if len(offers) > 0 {
		return write(offersEvent(offers...))
	}
	return nil
}

func offersEvent(offers ...*mesosv1.Offer) *schedulerv1.Event {
	return &schedulerv1.Event{Type: schedulerv1.Event_OFFERS.Enum(), Offers: &schedulerv1.Event_Offers{Offers: offers}}
}

// mesosOffer is an Offer as Mesos describes it: resources in Mesos units
// for the framework's role (ports as the ranges offerPorts gives), the
// agent's attributes as TEXT, and the agent's URL.
func (s *Server) mesosOffer(ctx context.Context, st *stream, o *kmv1.Offer) *mesosv1.Offer {
	info := st.frameworkInfo()
	role := info.GetRole()
	if roles := info.GetRoles(); len(roles) == 1 {
		role = roles[0]
	}
	mo := &mesosv1.Offer{
		Id:             &mesosv1.OfferID{Value: ptr.To(o.Name)},
		FrameworkId:    &mesosv1.FrameworkID{Value: ptr.To(st.frameworkID)},
		AgentId:        &mesosv1.AgentID{Value: ptr.To(o.Spec.AgentID)},
		Hostname:       ptr.To(o.Spec.NodeName),
		Resources:      mesoswire.MesosResources(o.Spec.Resources, role),
		AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: &role},
	}
	for _, id := range o.Spec.ExecutorIDs {
		mo.ExecutorIds = append(mo.ExecutorIds, &mesosv1.ExecutorID{Value: ptr.To(id)})
	}
	names := make([]string, 0, len(o.Spec.Attributes))
	for k := range o.Spec.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		mo.Attributes = append(mo.Attributes, &mesosv1.Attribute{Name: ptr.To(k), Type: mesosv1.Value_TEXT.Enum(),
			Text: &mesosv1.Value_Text{Value: ptr.To(o.Spec.Attributes[k])}})
	}
	var agent kmv1.Agent
	if err := s.c.Get(ctx, types.NamespacedName{Name: o.Spec.NodeName}, &agent); err == nil {
		mo.Url = agentURL(agent.Spec.Endpoint, o.Spec.NodeName)
		if ports, err := s.offerPorts(ctx, &agent, o); err != nil {
			s.log.Error(err, "reading the ports of an offer; it carries none", "offer", o.Namespace+"/"+o.Name)
		} else if r := mesoswire.PortsResource(ports, role); r != nil {
			mo.Resources = append(mo.Resources, r)
		}
	}
	return mo
}

// portSets holds the ports of each outstanding offer once they are worked
// out, so that an offer carries the same ports from its OFFERS event to its
// ACCEPT whatever ends or goes meanwhile, and no two outstanding offers of
// an agent carry the same port.
type portSets struct {
	mu   sync.Mutex
	sets map[types.NamespacedName]portrange.Set
}

// forget drops the ports of an offer that is gone.
func (p *portSets) forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sets, key)
}

// offerPorts is the ports that Offer o of agent carries, worked out the
// first time it is asked: the agent's spec.ports that no live task of the
// agent holds (Task spec.ports) and that no other outstanding offer of the
// agent carries, the lowest first, as many as o counts of
// kmv1.ResourcePorts. An offer whose ports this master has not worked out
// yet (older ones, after a failover) counts the lowest free ones in the
// order the offers were made, so that every master works them out alike.
func (s *Server) offerPorts(ctx context.Context, agent *kmv1.Agent, o *kmv1.Offer) (portrange.Set, error) {
	if portCount(o) == 0 || len(agent.Spec.Ports) == 0 {
		return nil, nil
	}
	key := client.ObjectKeyFromObject(o)
	s.ports.mu.Lock()
	defer s.ports.mu.Unlock()
	if p, ok := s.ports.sets[key]; ok {
		return p, nil
	}
	free, err := s.unheldPorts(ctx, agent, o.Spec.AgentID)
	if err != nil {
		return nil, err
	}
	var offers kmv1.OfferList
	if err := s.c.List(ctx, &offers, client.MatchingFields{controllers.IndexOfferNode: o.Spec.NodeName}); err != nil {
		return nil, fmt.Errorf("listing the offers of agent %s: %w", o.Spec.NodeName, err)
	}
	older := make([]*kmv1.Offer, 0, len(offers.Items))
	for i := range offers.Items {
		x := &offers.Items[i]
		if x.DeletionTimestamp != nil || x.Spec.AgentID != o.Spec.AgentID || client.ObjectKeyFromObject(x) == key {
			continue
		}
		if p, ok := s.ports.sets[client.ObjectKeyFromObject(x)]; ok {
			free = free.Minus(p)
		} else if offerBefore(x, o) {
			older = append(older, x)
		}
	}
	sort.Slice(older, func(i, j int) bool { return offerBefore(older[i], older[j]) })
	for _, x := range older {
		free = free.Minus(free.Lowest(portCount(x)))
	}
	p := free.Lowest(portCount(o))
	if s.ports.sets == nil {
		s.ports.sets = map[types.NamespacedName]portrange.Set{}
	}
	s.ports.sets[key] = p
	return p, nil
}

// unheldPorts is the agent's ports that no live task on agentID holds.
func (s *Server) unheldPorts(ctx context.Context, agent *kmv1.Agent, agentID string) (portrange.Set, error) {
	var tasks kmv1.TaskList
	if err := s.c.List(ctx, &tasks, client.MatchingFields{controllers.IndexTaskAgentID: agentID}); err != nil {
		return nil, fmt.Errorf("listing the tasks of agent %s: %w", agent.Name, err)
	}
	var held []portrange.Range
	for i := range tasks.Items {
		if t := &tasks.Items[i]; !t.Status.State.IsTerminal() {
			held = append(held, portrange.FromAPI(t.Spec.Ports)...)
		}
	}
	return portrange.FromAPI(agent.Spec.Ports).Minus(portrange.Normalize(held)), nil
}

// offerBefore orders the offers of an agent: by creation, then namespace
// and name.
func offerBefore(a, b *kmv1.Offer) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// portCount is how many ports an Offer counts.
func portCount(o *kmv1.Offer) uint64 {
	q, ok := o.Spec.Resources[kmv1.ResourcePorts]
	if !ok || q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value())
}

// agentURL is the URL of an agent whose endpoint is host:port.
func agentURL(endpoint, node string) *mesosv1.URL {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return nil
	}
	p, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return nil
	}
	addr := &mesosv1.Address{Hostname: ptr.To(node), Port: ptr.To(int32(p))}
	if ip := net.ParseIP(host); ip != nil {
		addr.Ip = ptr.To(ip.String())
	} else {
		addr.Hostname = ptr.To(host)
	}
	return &mesosv1.URL{Scheme: ptr.To("http"), Address: addr, Path: ptr.To(agentPath)}
}
