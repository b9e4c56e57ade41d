package mesoswire

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0ns",
		500 * time.Nanosecond:   "500ns",
		1500 * time.Nanosecond:  "1500ns",
		250 * time.Millisecond:  "250ms",
		1500 * time.Millisecond: "1500ms",
		2 * time.Second:         "2secs",
		90 * time.Second:        "90secs",
		15 * time.Minute:        "15mins",
		time.Hour:               "1hrs",
		36 * time.Hour:          "36hrs",
		10 * 24 * time.Hour:     "10days",
		14 * 24 * time.Hour:     "2weeks",
		-5 * time.Second:        "-5secs",
		// Neither a whole number of seconds nor of milliseconds.
		2*time.Second + 100*time.Microsecond: "2.0001secs",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
