package invariants

import (
	"fmt"
	"strings"
	"testing"
)

// The default MonteCarloArea run of the e2e tests (2x2 + 3x over [0,10] x
// [0,230], 1000 points, 4 grid pieces), as the area package computes it.
const exactResult = "area=817.300282135447 under=356059 total=1002001 method=grid pieces=4 exact=816.6666666666589"

var pieceCounts = []string{"under=8772 total=251251", "under=44150 total=250250", "under=106704 total=250250", "under=196433 total=250250"}

// piece adds the tasks of attempt a of piece i of framework mc: staged,
// running, then ended in state with result as its data.
func (r *rec) piece(i, a int, state, result string) *rec {
	name := fmt.Sprintf("mc-piece-%d-%d", i, a)
	uid := "uid-" + name
	r.task(uid, "TASK_STAGING", "a1", named(name)).task(uid, "TASK_RUNNING", "a1", named(name))
	opts := []taskOpt{named(name)}
	if result != "" {
		opts = append(opts, data(result))
	}
	return r.task(uid, state, "a1", opts...)
}

// pieces adds the four pieces, each finished at its first attempt.
func (r *rec) pieces() *rec {
	for i, c := range pieceCounts {
		r.piece(i, 0, "TASK_FINISHED", c)
	}
	return r
}

func TestMonteCarloExact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rec   *rec
		want  int
		says  string
		notes string
	}{
		{name: "exact, every piece once", want: 0, rec: newRec().pieces().
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "a piece lost, relaunched and finished", want: 0, rec: newRec().
			piece(0, 0, "TASK_LOST", "").piece(0, 1, "TASK_FINISHED", pieceCounts[0]).
			piece(1, 0, "TASK_FINISHED", pieceCounts[1]).piece(2, 0, "TASK_FINISHED", pieceCounts[2]).piece(3, 0, "TASK_FINISHED", pieceCounts[3]).
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "a piece finished twice with one count", want: 0, rec: newRec().pieces().piece(2, 1, "TASK_FINISHED", pieceCounts[2]).
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "another result", want: 1, says: "result \"area=1", rec: newRec().pieces().
			framework("mc", "Completed", "area=1 under=1 total=2 method=grid pieces=4 exact=1").expect("mc", "Completed", exactResult)},
		{name: "no result at all", want: 1, says: `result ""`, rec: newRec().pieces().
			framework("mc", "Failed", "").expect("mc", "Completed", exactResult)},
		{name: "never seen", want: 1, says: "no state of it", rec: newRec().expect("mc", "Completed", exactResult)},
		{name: "a piece lost, yet the result is exact", want: 1, says: "piece 3 of 4 never finished", rec: newRec().
			piece(0, 0, "TASK_FINISHED", pieceCounts[0]).piece(1, 0, "TASK_FINISHED", pieceCounts[1]).piece(2, 0, "TASK_FINISHED", pieceCounts[2]).
			piece(3, 0, "TASK_LOST", "").framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "the pieces add up to something else", want: 1, says: "add up to under=356060", rec: newRec().
			piece(0, 0, "TASK_FINISHED", "under=8773 total=251251").piece(1, 0, "TASK_FINISHED", pieceCounts[1]).
			piece(2, 0, "TASK_FINISHED", pieceCounts[2]).piece(3, 0, "TASK_FINISHED", pieceCounts[3]).
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "one piece, two counts", want: 1, says: "piece 1 finished with different counts", rec: newRec().pieces().
			piece(1, 1, "TASK_FINISHED", "under=1 total=250250").
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "a piece the result does not have", want: 1, says: "piece 4 finished", rec: newRec().pieces().
			piece(4, 0, "TASK_FINISHED", "under=1 total=2").
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "a piece finished with no count", want: 2, says: "not a piece's count", rec: newRec().
			piece(0, 0, "TASK_FINISHED", "done").piece(1, 0, "TASK_FINISHED", pieceCounts[1]).
			piece(2, 0, "TASK_FINISHED", pieceCounts[2]).piece(3, 0, "TASK_FINISHED", pieceCounts[3]).
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "a result that is not MonteCarloArea's", want: 0, notes: "not key=value", rec: newRec().
			framework("mc", "Completed", "42").expect("mc", "Completed", "42")},
		{name: "no piece tasks in the record", want: 0, notes: "no finished piece task", rec: newRec().
			framework("mc", "Completed", exactResult).expect("mc", "Completed", exactResult)},
		{name: "no expected result", want: 0, rec: newRec().framework("mc", "Completed", "whatever").expect("mc", "Completed", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, MonteCarloExact, tc.want, tc.says)
			if tc.notes != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q, want one saying %q", rep.Notes, tc.notes)
			}
		})
	}
}

func TestPieceIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"mc-piece-0-0", 0, true}, {"mc-piece-12-3", 12, true}, {"mc-piece-1", 0, false}, {"mc-piece-01-0", 0, false},
		{"mc-piece--1-0", 0, false}, {"mc-piece-1-x", 0, false}, {"other-piece-1-0", 0, false}, {"mc-piece-1-0-0", 0, false},
	} {
		if got, ok := pieceIndex(tc.name, "mc"); got != tc.want || ok != tc.ok {
			t.Errorf("pieceIndex(%q) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseFields feeds the result and count parsers anything: they never
// panic, and what they accept they accept again once written back.
func FuzzParseFields(f *testing.F) {
	f.Add(exactResult)
	f.Add("under=8772 total=251251")
	f.Add("under=1 under=2")
	f.Add("=x")
	f.Add("area=NaN under=-1 total=0")
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := parseFields(s)
		if err != nil {
			return
		}
		var parts []string
		for k, v := range fields {
			if k == "" || strings.ContainsAny(k+v, " \t\n") {
				t.Fatalf("field %q=%q from %q", k, v, s)
			}
			parts = append(parts, k+"="+v)
		}
		again, err := parseFields(strings.Join(parts, " "))
		if err != nil || len(again) != len(fields) {
			t.Fatalf("%q read back as %v, %v", s, again, err)
		}
		if c, err := parseCount(fields); err == nil {
			if c.under < 0 || c.total <= 0 || c.under > c.total {
				t.Fatalf("accepted count %+v from %q", c, s)
			}
			if back, err := parsePieceCount(c.String()); err != nil || back != c {
				t.Fatalf("count %+v read back as %+v, %v", c, back, err)
			}
		}
	})
}

// FuzzPieceIndex checks that pieceIndex accepts only the names the
// MonteCarloArea scheduler gives and reads their piece.
func FuzzPieceIndex(f *testing.F) {
	f.Add("mc-piece-3-1", "mc")
	f.Add("mc-piece-3", "mc")
	f.Add("a-b-piece-0-0", "a-b")
	f.Fuzz(func(t *testing.T, name, fw string) {
		i, ok := pieceIndex(name, fw)
		if !ok {
			return
		}
		if i < 0 || !strings.HasPrefix(name, fmt.Sprintf("%s-piece-%d-", fw, i)) {
			t.Fatalf("pieceIndex(%q, %q) = %d", name, fw, i)
		}
	})
}
