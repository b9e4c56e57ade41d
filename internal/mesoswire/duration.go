package mesoswire

import (
	"strconv"
	"time"
)

// durationUnits are the units of Mesos's duration syntax, smallest first.
var durationUnits = []struct {
	d    time.Duration
	name string
}{
	{time.Nanosecond, "ns"}, {time.Microsecond, "us"}, {time.Millisecond, "ms"}, {time.Second, "secs"},
	{time.Minute, "mins"}, {time.Hour, "hrs"}, {24 * time.Hour, "days"}, {7 * 24 * time.Hour, "weeks"},
}

// Duration writes d in the syntax Mesos uses for durations in flags and in
// an executor's environment ("5secs", "15mins", "250ms"): in the largest
// unit that d reaches, or in the unit below it when that makes a whole
// number and the larger one does not.
func Duration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	i := 0
	for i+1 < len(durationUnits) && d >= durationUnits[i+1].d {
		i++
	}
	if i > 0 && d%durationUnits[i].d != 0 && d%durationUnits[i-1].d == 0 {
		i--
	}
	u := durationUnits[i]
	v := strconv.FormatFloat(float64(d)/float64(u.d), 'f', -1, 64)
	return sign + v + u.name
}
