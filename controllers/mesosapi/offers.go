package mesosapi

import (
	"context"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Mesos resource names and the Kubernetes resources they stand for.
const (
	// ResourceCPUs is cores, from cpu.
	ResourceCPUs = "cpus"
	// ResourceMem is MB (MiB), from memory.
	ResourceMem = "mem"
	// ResourceDisk is MB (MiB), from ephemeral-storage.
	ResourceDisk = "disk"
	// ResourceGPUs is whole GPUs, from ResourceNvidiaGPU.
	ResourceGPUs = "gpus"
	// ResourceNvidiaGPU is the extended resource offered as gpus.
	ResourceNvidiaGPU corev1.ResourceName = "nvidia.com/gpu"
	// agentPath is the path of an agent's URL, which some clients read.
	agentPath = "/slave(1)"
	// mebibyte is Mesos's MB.
	mebibyte = 1 << 20
)

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
// for the framework's role, the agent's attributes as TEXT, and the
// agent's URL.
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
		Resources:      MesosResources(o.Spec.Resources, role),
		AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: &role},
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
	}
	return mo
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

// MesosResources turns a ResourceList into Mesos scalar resources of role:
// cpus in cores, mem and disk in MB (MiB), gpus. Other resources are not
// offered through the Mesos API.
func MesosResources(rl kmv1.ResourceList, role string) []*mesosv1.Resource {
	var out []*mesosv1.Resource
	add := func(name string, v float64) {
		if v <= 0 {
			return
		}
		out = append(out, &mesosv1.Resource{Name: ptr.To(name), Type: mesosv1.Value_SCALAR.Enum(),
			Scalar:         &mesosv1.Value_Scalar{Value: ptr.To(roundScalar(v))},
			AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: ptr.To(role)}})
	}
	if q, ok := rl[corev1.ResourceCPU]; ok {
		add(ResourceCPUs, float64(q.MilliValue())/1000)
	}
	if q, ok := rl[corev1.ResourceMemory]; ok {
		add(ResourceMem, float64(q.Value())/mebibyte)
	}
	if q, ok := rl[corev1.ResourceEphemeralStorage]; ok {
		add(ResourceDisk, float64(q.Value())/mebibyte)
	}
	if q, ok := rl[ResourceNvidiaGPU]; ok {
		add(ResourceGPUs, float64(q.Value()))
	}
	return out
}

// roundScalar keeps three decimals, as Mesos does with scalar values
// (rounded down, so that nothing more than what exists is offered).
func roundScalar(v float64) float64 { return math.Floor(v*1000) / 1000 }

// KubernetesResources turns Mesos scalar resources into a ResourceList,
// summing repeated names; unknown names are returned.
func KubernetesResources(rs []*mesosv1.Resource) (kmv1.ResourceList, []string) {
	out := kmv1.ResourceList{}
	var unknown []string
	add := func(name corev1.ResourceName, q resource.Quantity) {
		cur := out[name]
		cur.Add(q)
		out[name] = cur
	}
	for _, r := range rs {
		v := r.GetScalar().GetValue()
		switch r.GetName() {
		case ResourceCPUs:
			add(corev1.ResourceCPU, *resource.NewMilliQuantity(int64(math.Round(v*1000)), resource.DecimalSI))
		case ResourceMem:
			add(corev1.ResourceMemory, *resource.NewQuantity(int64(math.Round(v*mebibyte)), resource.BinarySI))
		case ResourceDisk:
			add(corev1.ResourceEphemeralStorage, *resource.NewQuantity(int64(math.Round(v*mebibyte)), resource.BinarySI))
		case ResourceGPUs:
			add(ResourceNvidiaGPU, *resource.NewQuantity(int64(math.Round(v)), resource.DecimalSI))
		default:
			unknown = append(unknown, r.GetName())
		}
	}
	return out, unknown
}
