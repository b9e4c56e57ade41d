package recordio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendRecord(t *testing.T) {
	for _, tc := range []struct {
		record, want string
	}{
		{"", "0\n"},
		{"hello", "5\nhello"},
		{`{"type":"HEARTBEAT"}`, "20\n{\"type\":\"HEARTBEAT\"}"},
		{"a\nb", "3\na\nb"},
	} {
		if got := string(AppendRecord(nil, []byte(tc.record))); got != tc.want {
			t.Errorf("AppendRecord(%q) = %q, want %q", tc.record, got, tc.want)
		}
	}
}

// countingWriter records each Write and each Flush.
type countingWriter struct {
	writes  []string
	flushes int
	err     error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *countingWriter) Flush() { c.flushes++ }

func TestWriterOneWriteAndFlushPerRecord(t *testing.T) {
	var cw countingWriter
	w := NewWriter(&cw)
	big := strings.Repeat("x", 100<<10)
	for _, r := range []string{"hello", "", big, "world!"} {
		if err := w.WriteRecord([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"5\nhello", "0\n", fmt.Sprintf("%d\n%s", len(big), big), "6\nworld!"}
	if diff := cmp.Diff(want, cw.writes); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if cw.flushes != 4 {
		t.Errorf("%d flushes, want 4", cw.flushes)
	}
}

func TestWriterFlushesABufioWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(bufio.NewWriter(&out))
	if err := w.WriteRecord([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "3\nabc" {
		t.Errorf("after one record the destination holds %q, want it flushed", out.String())
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	err := NewWriter(&countingWriter{err: boom}).WriteRecord([]byte("x"))
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want it to wrap %v", err, boom)
	}
}

// TestWriterOneChunkPerRecord reads a chunked HTTP response off the wire:
// every record is exactly one chunk, in time (before the handler ends).
func TestWriterOneChunkPerRecord(t *testing.T) {
	records := []string{`{"type":"SUBSCRIBED"}`, "", strings.Repeat("y", 5000), `{"type":"HEARTBEAT"}`}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/recordio")
		rw.WriteHeader(http.StatusOK)
		w := NewWriter(rw)
		for _, r := range records {
			if err := w.WriteRecord([]byte(r)); err != nil {
				t.Error(err)
				return
			}
		}
		<-done // Every chunk must have arrived before the handler returns.
	}))
	defer srv.Close()
	defer close(done)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	chunked := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(strings.TrimSpace(line), "Transfer-Encoding: chunked") {
			chunked = true
		}
		if line == "\r\n" {
			break
		}
	}
	if !chunked {
		t.Fatal("the response is not chunked")
	}
	for _, r := range records {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		size, err := strconv.ParseUint(strings.TrimSpace(line), 16, 64)
		if err != nil {
			t.Fatalf("chunk size line %q: %v", line, err)
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			t.Fatal(err)
		}
		if want := string(AppendRecord(nil, []byte(r))) + "\r\n"; string(chunk) != want {
			t.Errorf("chunk %.40q, want the record %.40q", chunk, want)
		}
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error
	}{
		{name: "empty stream", in: "", max: 10},
		{name: "records", in: "5\nhello6\nworld!", max: 10, want: []string{"hello", "world!"}},
		{name: "empty record", in: "0\n3\nabc0\n", max: 10, want: []string{"", "abc", ""}},
		{name: "leading zeros", in: "003\nabc", max: 10, want: []string{"abc"}},
		{name: "newline in data", in: "3\na\nb", max: 10, want: []string{"a\nb"}},
		{name: "at the limit", in: "4\nabcd", max: 4, want: []string{"abcd"}},
		{name: "not a number", in: "x\n{}", max: 10, wantErr: ErrBadLength},
		{name: "empty length line", in: "\n", max: 10, wantErr: ErrBadLength},
		{name: "sign", in: "+1\na", max: 10, wantErr: ErrBadLength},
		{name: "negative", in: "-1\n", max: 10, wantErr: ErrBadLength},
		{name: "space", in: " 1\na", max: 10, wantErr: ErrBadLength},
		{name: "carriage return", in: "1\r\na", max: 10, wantErr: ErrBadLength},
		{name: "hex", in: "0x1\na", max: 10, wantErr: ErrBadLength},
		{name: "21 digits", in: "000000000000000000001\na", max: 10, wantErr: ErrBadLength},
		{name: "bad after good", in: "1\naz\n", max: 10, want: []string{"a"}, wantErr: ErrBadLength},
		{name: "too large", in: "5\nhello", max: 4, wantErr: ErrTooLarge},
		{name: "beyond uint64", in: "99999999999999999999\n", max: 4, wantErr: ErrTooLarge},
		{name: "max uint64", in: "18446744073709551615\n", max: 1 << 30, wantErr: ErrTooLarge},
		{name: "truncated data", in: "5\nhel", max: 10, wantErr: ErrTruncated},
		{name: "truncated length", in: "12", max: 100, wantErr: ErrTruncated},
		{name: "no data", in: "1\n", max: 10, wantErr: ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.max)
			var got []string
			var err error
			for {
				var rec []byte
				rec, err = r.ReadRecord()
				if err != nil {
					break
				}
				got = append(got, string(rec))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			want := tc.wantErr
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
			if want == io.EOF {
				return
			}
			// The error sticks: the stream cannot be resynchronised.
			if _, again := r.ReadRecord(); again == nil || again.Error() != err.Error() {
				t.Errorf("the next read returned %v, want %v again", again, err)
			}
		})
	}
}

func TestTruncatedIsUnexpectedEOF(t *testing.T) {
	_, err := NewReader(strings.NewReader("5\nab"), 10).ReadRecord()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "2 of 5 bytes") {
		t.Errorf("got %v, want an unexpected EOF after 2 of 5 bytes", err)
	}
}

func TestReaderUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewReader(io.MultiReader(strings.NewReader("5\nab"), &failingReader{boom}), 10).ReadRecord()
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want it to wrap %v", err, boom)
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

// FuzzReader: no input panics the reader or yields a record over its limit,
// and what it reads is written back to a stream that reads the same.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"", "5\nhello6\nworld!", "0\n", "x\n", "\n", "18446744073709551615\n", "3\nab", "007\nabcdefg", "1\r\na"} {
		f.Add([]byte(s), 8)
	}
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = min(max(limit, 0), 1<<20) // A negative limit is taken as 0.
		r := NewReader(bytes.NewReader(in), limit)
		var again []byte
		var records [][]byte
		total := 0
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrBadLength) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				break
			}
			if len(rec) > limit {
				t.Fatalf("a record of %d bytes passed a limit of %d", len(rec), limit)
			}
			total += len(rec) + 2
			if total > len(in) {
				t.Fatalf("read %d bytes of records and length lines from %d bytes", total, len(in))
			}
			records = append(records, rec)
			again = AppendRecord(again, rec)
		}
		r2 := NewReader(bytes.NewReader(again), limit)
		for i, want := range records {
			got, err := r2.ReadRecord()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("record %d read back as %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := r2.ReadRecord(); err != io.EOF {
			t.Fatalf("after the records read back: %v, want io.EOF", err)
		}
	})
}
