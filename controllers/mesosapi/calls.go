package mesosapi

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// dispatch carries out a call other than SUBSCRIBE on its stream's
// framework. A nil answer is 202 Accepted.
func (s *Server) dispatch(ctx context.Context, st *stream, call *schedulerv1.Call) *httpError {
	var err error
	switch call.GetType() {
	case schedulerv1.Call_TEARDOWN:
		err = s.teardown(ctx, st)
	case schedulerv1.Call_SUPPRESS:
		err = s.setSuppress(ctx, st, true)
	case schedulerv1.Call_REVIVE:
		err = s.setSuppress(ctx, st, false)
	case schedulerv1.Call_UNKNOWN:
		return &httpError{http.StatusNotImplemented, ""}
	default:
		return &httpError{http.StatusNotImplemented, "kubemesos does not support the " + call.GetType().String() + " call yet (see docs/mesos-compatibility.md)"}
	}
	if err != nil {
		s.log.Error(err, "carrying out a scheduler call", "call", call.GetType().String(), "framework", st.namespace+"/"+st.name)
		return &httpError{http.StatusInternalServerError, "Failed to carry out " + call.GetType().String() + ": " + err.Error()}
	}
	return nil
}

// teardown ends the framework as the SDK's Stop does: the Succeeded
// condition tells the master to complete it, kill its tasks and withdraw
// its offers. The stream then closes, as Mesos closes a removed
// framework's connection.
func (s *Server) teardown(ctx context.Context, st *stream) error {
	key := types.NamespacedName{Namespace: st.namespace, Name: st.name}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var fw kmv1.Framework
		if err := s.reader.Get(ctx, key, &fw); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonCompletedByScheduler, Message: "torn down by the scheduler (Mesos TEARDOWN call)"})
		return s.schedulerClient.Status().Patch(ctx, &fw, patch)
	})
	if err != nil {
		return fmt.Errorf("tearing down Framework %s: %w", key, err)
	}
	st.close(nil)
	return nil
}

// setSuppress writes spec.suppressOffers = v. The patch is spelled out:
// false, an omitempty field, would not appear in a computed diff.
func (s *Server) setSuppress(ctx context.Context, st *stream, v bool) error {
	fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: st.namespace, Name: st.name}}
	patch := fmt.Appendf(nil, `{"spec":{"suppressOffers":%t}}`, v)
	if err := s.schedulerClient.Patch(ctx, fw, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("setting suppressOffers=%t on Framework %s/%s: %w", v, st.namespace, st.name, err)
	}
	return nil
}
