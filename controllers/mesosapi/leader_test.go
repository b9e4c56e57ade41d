package mesosapi

import (
	"strings"
	"testing"
)

// TestIdentityAddresses: an identity carries the Mesos API address, the
// console's, both or neither, and each is read back alone; the Mesos API
// address stays last, where a master of an earlier version reads it.
func TestIdentityAddresses(t *testing.T) {
	for _, tc := range []struct {
		id, mesos, console string
	}{
		{id: AdvertisedIdentity(WithConsole("pod-1_abc", "10.0.0.1:5080"), "10.0.0.1:5050"), mesos: "10.0.0.1:5050", console: "10.0.0.1:5080"},
		{id: AdvertisedIdentity(WithConsole("pod-1_abc", "[fd00::1]:5080"), "[fd00::1]:5050"), mesos: "[fd00::1]:5050", console: "[fd00::1]:5080"},
		{id: AdvertisedIdentity(WithConsole("pod-1_abc", ""), "10.0.0.1:5050"), mesos: "10.0.0.1:5050"},
		{id: AdvertisedIdentity(WithConsole("pod-1_abc", "10.0.0.1:5080"), ""), console: "10.0.0.1:5080"},
		{id: "pod-1_abc"},
		{id: "pod-1_abc@console="},
		{id: "pod-1_abc@console=@10.0.0.1:5050", mesos: "10.0.0.1:5050"},
	} {
		m, mok := AdvertisedAddress(tc.id)
		c, cok := ConsoleAddress(tc.id)
		if m != tc.mesos || mok != (tc.mesos != "") || c != tc.console || cok != (tc.console != "") {
			t.Errorf("%q: Mesos API %q %v, console %q %v; want %q and %q", tc.id, m, mok, c, cok, tc.mesos, tc.console)
		}
		if i := strings.LastIndex(tc.id, "@"); tc.mesos != "" && tc.id[i+1:] != tc.mesos {
			t.Errorf("%q: the Mesos API address is not the last segment", tc.id)
		}
	}
}

// FuzzIdentityAddresses: reading the addresses of any identity never
// panics, never returns an address holding the separator, and reads back
// what the writers wrote.
func FuzzIdentityAddresses(f *testing.F) {
	f.Add("pod_1", "10.0.0.1:5080", "10.0.0.1:5050")
	f.Add("pod_1", "", "[fd00::1]:5050")
	f.Add("x@console=y@z", "", "")
	f.Fuzz(func(t *testing.T, base, console, mesos string) {
		id := AdvertisedIdentity(WithConsole(base, console), mesos)
		m, mok := AdvertisedAddress(id)
		c, cok := ConsoleAddress(id)
		if (mok && strings.Contains(m, "@")) || (cok && strings.Contains(c, "@")) {
			t.Fatalf("%q: an address holds the separator: %q, %q", id, m, c)
		}
		if strings.ContainsAny(base+console+mesos, "@") || strings.HasPrefix(mesos, "console=") {
			return // outside the writers' contract: nothing more to hold
		}
		if m != mesos || c != console {
			t.Fatalf("%q: read %q and %q, wrote %q and %q", id, m, c, mesos, console)
		}
	})
}
