package mesosapi

import (
	"encoding/json"
	"testing"
)

// TestASubscriptionPatchNamesEveryField: the patch of a SUBSCRIBE or
// UPDATE_FRAMEWORK carries each of its fields even at its zero value, so
// that it undoes what an earlier call set (a SUPPRESS) whatever the
// master's cache has seen of that call.
func TestASubscriptionPatchNamesEveryField(t *testing.T) {
	for _, suppress := range []bool{false, true} {
		var got struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec map[string]any `json:"spec"`
		}
		b := subscriptionPatch(`{"name":"x"}`, 0, suppress)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Metadata.Annotations[AnnotationFrameworkInfo] != `{"name":"x"}` {
			t.Errorf("%s: want the FrameworkInfo under %s", b, AnnotationFrameworkInfo)
		}
		if v, ok := got.Spec["suppressOffers"]; !ok || v != suppress {
			t.Errorf("%s: want spec.suppressOffers %t, spelled out", b, suppress)
		}
		if v, ok := got.Spec["failoverTimeoutSeconds"]; !ok || v != float64(0) {
			t.Errorf("%s: want spec.failoverTimeoutSeconds 0, spelled out", b)
		}
	}
}
