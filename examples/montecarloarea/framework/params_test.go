package framework

import (
	"strings"
	"testing"
)

func TestParseSettings(t *testing.T) {
	good := map[string]string{"expression": "2x2 + 3x", "xLow": "0", "xHigh": "10", "yLow": "0", "yHigh": "230", "points": "100", "tasks": "4"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{name: "sample", params: good},
		{name: "random method", params: with("method", "random")},
		{name: "no expression", params: with("expression", ""), want: "parameter expression"},
		{name: "bad term", params: with("expression", "2x2 + 3y"), want: `"3y"`},
		{name: "bad number", params: with("xHigh", "ten"), want: `parameter xHigh: "ten" is not a number`},
		{name: "bad points", params: with("points", "1.5"), want: "parameter points"},
		{name: "empty rectangle", params: with("xHigh", "0"), want: "invalid parameters"},
		{name: "bad method", params: with("method", "guess"), want: "invalid parameters"},
		{name: "bad cpu", params: with("cpu", "-1"), want: "parameter cpu"},
		{name: "negative retries", params: with("maxRetries", "-1"), want: "parameter maxRetries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.params, "img")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if s.CPU.String() != "1" || s.Memory.String() != "128Mi" || s.Image != "img" || s.MaxRetries != 3 {
					t.Errorf("defaults: %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPieceRoundTrip(t *testing.T) {
	p := Piece{Index: 2, Expression: "2x2 + 3x", XHigh: 10, YHigh: 230, Points: 100, Tasks: 4, Method: "grid", From: 51, To: 76}
	got, params, err := DecodePiece(p.Encode())
	if err != nil || got != p || params.Points != 100 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Only the pieces the scheduler makes: any other range would be
	// counted twice, or not at all, in the area.
	for name, change := range map[string]func(*Piece){
		"overlapping":               func(q *Piece) { q.From = 50 },
		"beyond the grid":           func(q *Piece) { q.To = 1000 },
		"index too large":           func(q *Piece) { q.Index = 4 },
		"negative index":            func(q *Piece) { q.Index = -1 },
		"random, not its own share": func(q *Piece) { q.Method, q.From, q.To = "random", 0, 4 },
	} {
		bad := p
		change(&bad)
		if _, _, err := DecodePiece(bad.Encode()); err == nil {
			t.Errorf("%s: %+v accepted", name, bad)
		}
	}
	s, err := ParseSettings(map[string]string{"expression": "2x2 + 3x", "points": "10", "tasks": "3", "method": "random"}, "img")
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range Pieces(s.Params) {
		if got, _, err := DecodePiece(pc.Encode()); err != nil || got != pc {
			t.Errorf("the scheduler's piece %+v reads back as %+v, %v", pc, got, err)
		}
	}
	if _, _, err := DecodePiece("not json"); err == nil {
		t.Error("garbage accepted")
	}
	if _, _, err := DecodePiece(Piece{Expression: "2x2", XLow: 1, XHigh: 0, Points: 1, Tasks: 1, Method: "grid"}.Encode()); err == nil {
		t.Error("an invalid piece accepted")
	}
}

func TestParseCount(t *testing.T) {
	c, err := ParseCount(Count{Under: 3, Total: 10}.String())
	if err != nil || c.Under != 3 || c.Total != 10 {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "under=3", "under=11 total=10", "under=-1 total=10", "under=0 total=0",
		"under=3 total=10 under=5", "under=03 total=10", "under=+3 total=10", "under=3  total=10", " under=3 total=10"} {
		if _, err := ParseCount(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzDecodePiece: whatever task data an executor is given, DecodePiece
// does not panic; it takes only valid parameters and a piece the
// scheduler makes of them, which reads back the same once encoded again.
func FuzzDecodePiece(f *testing.F) {
	f.Add(Piece{Index: 2, Expression: "2x2 + 3x", XHigh: 10, YHigh: 230, Points: 100, Tasks: 4, Method: "grid", From: 51, To: 76}.Encode())
	f.Add(Piece{Index: 0, Expression: "x", XHigh: 1, YHigh: 1, Points: 1, Tasks: 2, Method: "grid", From: 0, To: 1}.Encode())
	f.Add(Piece{Index: 1, Expression: "-0.5x3 + 2", XLow: -1, XHigh: 1, YLow: -3, YHigh: 3, Points: 7, Tasks: 3, Method: "random", Seed: -9, From: 1, To: 2}.Encode())
	for _, data := range []string{"", "null", "{}", "not json", `{"expression":"x","xHigh":1,"yHigh":1,"points":1,"tasks":1,"method":"grid","to":2}`,
		`{"expression":"x","xHigh":1e308,"xLow":-1e308,"yHigh":1,"points":1,"tasks":1,"method":"grid","to":2}`,
		`{"expression":"x","xHigh":1,"yHigh":1,"points":1,"tasks":1,"method":"grid","to":2}{}`} {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		p, params, err := DecodePiece(data)
		if err != nil {
			return
		}
		if err := params.Validate(); err != nil {
			t.Fatalf("DecodePiece(%q) took invalid parameters: %v", data, err)
		}
		if planned := Pieces(params); p.Index < 0 || p.Index >= len(planned) || planned[p.Index].From != p.From || planned[p.Index].To != p.To {
			t.Fatalf("DecodePiece(%q) took piece %d [%d, %d), which the scheduler does not make", data, p.Index, p.From, p.To)
		}
		again, _, err := DecodePiece(p.Encode())
		if err != nil || again != p {
			t.Fatalf("DecodePiece(%q) = %+v, which reads back as %+v, %v", data, p, again, err)
		}
	})
}

// FuzzParseCount: whatever data a finished task reports, ParseCount does
// not panic; it takes only a count that Count.String writes, with
// 0 <= under <= total and total > 0.
func FuzzParseCount(f *testing.F) {
	for _, data := range []string{"under=3 total=10", "under=0 total=1", "under=9223372036854775807 total=9223372036854775807", "",
		"under=3", "under=11 total=10", "under=-1 total=10", "under=0 total=0", "under=3 total=10 under=5", "under=03 total=10",
		"under=+3 total=10", "under=3\ntotal=10", "under=9223372036854775808 total=1"} {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := ParseCount(data)
		if err != nil {
			return
		}
		if c.Under < 0 || c.Total <= 0 || c.Under > c.Total || c.String() != data {
			t.Fatalf("ParseCount(%q) took %+v", data, c)
		}
	})
}

// FuzzParseSettings: whatever a Framework's spec.parameters say,
// ParseSettings does not panic; what it takes is valid, and every piece
// the scheduler makes of it passes the executor's DecodePiece unchanged.
func FuzzParseSettings(f *testing.F) {
	f.Add("2x2 + 3x", "0", "10", "0", "230", "100", "4", "grid", "", "", "", "")
	f.Add("x", "-1", "1", "-1", "1", "10", "11", "random", "-7", "500m", "64Mi", "0")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "")
	f.Add("x", "1e15", "1.0000000000000002e15", "0", "1", "1000", "1", "grid", "", "", "", "")
	f.Add("x", "0", "10", "0", "1", "1", "3", "grid", "", "-1", "0", "-1")
	f.Fuzz(func(t *testing.T, expr, xLow, xHigh, yLow, yHigh, points, tasks, method, seed, cpu, memory, retries string) {
		params := map[string]string{}
		for k, v := range map[string]string{ParamExpression: expr, ParamXLow: xLow, ParamXHigh: xHigh, ParamYLow: yLow, ParamYHigh: yHigh,
			ParamPoints: points, ParamTasks: tasks, ParamMethod: method, ParamSeed: seed, ParamCPU: cpu, ParamMemory: memory, ParamRetries: retries} {
			if v != "" {
				params[k] = v
			}
		}
		s, err := ParseSettings(params, "img")
		if err != nil {
			return
		}
		if err := s.Params.Validate(); err != nil || s.CPU.Sign() <= 0 || s.Memory.Sign() <= 0 || s.MaxRetries < 0 || s.Image == "" {
			t.Fatalf("ParseSettings(%v) took %+v (%v)", params, s, err)
		}
		pieces := Pieces(s.Params)
		if len(pieces) != s.Params.Tasks {
			t.Fatalf("%d tasks cut into %d pieces", s.Params.Tasks, len(pieces))
		}
		// The first and the last piece (all of them would make a
		// million-task plan cost a million decodes).
		for _, pc := range []Piece{pieces[0], pieces[len(pieces)-1]} {
			if got, _, err := DecodePiece(pc.Encode()); err != nil || got != pc {
				t.Fatalf("the scheduler's piece %+v reads back as %+v, %v", pc, got, err)
			}
		}
	})
}
