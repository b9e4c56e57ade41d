package testenv

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Refusal is a ValidatingAdmissionPolicy that a test installs so that the
// API server itself refuses some writes.
type Refusal struct {
	// Name names the policy and its binding.
	Name string
	// Group and Resource are what it applies to ("frameworks/status" for
	// a subresource).
	Group, Resource string
	// Operations are the operations it applies to.
	Operations []admissionregistrationv1.OperationType
	// Allow is the CEL expression that a request must meet.
	Allow string
	// Message is the refusal's message.
	Message string
	// Reason is the refusal's reason: metav1.StatusReasonForbidden
	// answers 403, as the chart's policies do; none, 422 (Invalid).
	Reason metav1.StatusReason
}

// Refuse installs r, with a binding that denies, through c, and removes
// both when the test ends. The API server takes a moment to load them:
// wait for a first refusal before relying on it.
func Refuse(t testing.TB, c client.Client, r Refusal) {
	t.Helper()
	var reason *metav1.StatusReason
	if r.Reason != "" {
		reason = &r.Reason
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: r.Operations,
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{"*"}, Resources: []string{r.Resource}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: r.Allow, Message: r.Message, Reason: reason}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: r.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("installing the refusal %s: %v", r.Name, err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
}
