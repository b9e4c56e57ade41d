package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/internal/messages"
)

func msg(sender string, seq uint64, at int) messages.Message {
	return messages.Message{Sender: sender, Sequence: seq, Data: fmt.Sprintf("%s%d", sender, seq),
		UID: types.UID(fmt.Sprintf("%s-%d", sender, seq)), Time: time.Unix(int64(at), 0)}
}

func takeAll(b *inbox, open bool) []string {
	var out []string
	b.take(open, func(m messages.Message) { out = append(out, m.Data) })
	return out
}

// TestInbox: the inbox holds what arrives until it is opened, then hands
// out each sender's messages in sequence order, each once; a repeat of a
// message handed out or pending is refused; a message whose Event is gone
// is forgotten.
func TestInbox(t *testing.T) {
	b := newInbox()
	// The informer's first list, in name order: no use for delivery.
	for _, m := range []messages.Message{msg("b", 10, 5), msg("b", 9, 4), msg("a", 2, 2), msg("a", 1, 1), msg("c", 1, 3)} {
		if !b.add(m) {
			t.Fatalf("refused %s", m.Data)
		}
	}
	if got := takeAll(b, false); got != nil {
		t.Fatalf("handed out %v before the inbox was open", got)
	}
	if d := cmp.Diff([]string{"a1", "a2", "c1", "b9", "b10"}, takeAll(b, true)); d != "" {
		t.Fatalf("first delivery (-want +got):\n%s", d)
	}
	// Once open, whatever arrives is handed out at once.
	if !b.add(msg("a", 3, 6)) {
		t.Fatal("refused a3")
	}
	if d := cmp.Diff([]string{"a3"}, takeAll(b, false)); d != "" {
		t.Fatalf("a3 (-want +got):\n%s", d)
	}
	// A send retried after it was stored: a new Event, the same message.
	again := msg("a", 3, 6)
	again.UID = "other"
	if b.add(again) || b.add(msg("b", 9, 4)) {
		t.Error("a repeat of a message handed out was taken")
	}
	// Pending twice: the same Event is no repeat, another Event is.
	b.open = false
	if !b.add(msg("d", 1, 7)) || !b.add(msg("d", 1, 7)) {
		t.Error("the same Event, seen twice, was refused")
	}
	other := msg("d", 1, 7)
	other.UID = "other"
	if b.add(other) {
		t.Error("another Event for a pending message was taken")
	}
	// Gone before delivery: delivered by another instance.
	if !b.add(msg("d", 2, 8)) {
		t.Fatal("refused d2")
	}
	b.forget(msg("d", 1, 7).UID)
	if d := cmp.Diff([]string{"d2"}, takeAll(b, true)); d != "" {
		t.Fatalf("after forgetting d1 (-want +got):\n%s", d)
	}
	// A gap (messages that expired unread) holds nothing up.
	if !b.add(msg("d", 7, 9)) {
		t.Fatal("refused d7 after a gap")
	}
	if d := cmp.Diff([]string{"d7"}, takeAll(b, false)); d != "" {
		t.Fatalf("after the gap (-want +got):\n%s", d)
	}
}
