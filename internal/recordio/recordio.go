// Package recordio reads and writes RecordIO, the framing of the streaming
// responses of the Mesos v1 HTTP APIs (the scheduler's and the executor's
// event streams).
//
// A stream is a sequence of records; each record is its length in bytes as
// decimal ASCII digits, a line feed, and then exactly that many bytes:
//
//	records     = *record
//	record      = record-size LF record-data
//	record-size = 1*DIGIT
//	record-data = record-size(OCTET)
//
// The rules, as Apache Mesos states and implements them (docs/recordio.md,
// 3rdparty/stout/include/stout/recordio.hpp and src/common/recordio.hpp in
// the Mesos repository):
//
//   - The length is an unsigned 64-bit decimal number with no sign, no
//     spaces and no carriage return; leading zeros are allowed. (stout's
//     decoder parses the line with numify, which also takes hexadecimal
//     and signed forms; no writer produces them, and this Reader keeps to
//     the documented grammar.) Anything else in the length line is
//     malformed, and since the reader can no longer tell where the next
//     record starts, the stream is dead: every later read fails too.
//   - A record of length 0 is valid and is an empty record.
//   - Chunk boundaries mean nothing to a reader (a proxy may split or merge
//     them). A writer still sends each record as one write and flushes it,
//     so that an HTTP client sees every record as soon as it is written,
//     in one chunk.
//
// Beyond Mesos, a Reader refuses a record longer than its limit before it
// reads the record, and tells a stream that ends inside a record from one
// that ends between records (io.EOF).
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxLengthDigits is how many digits the largest length (2^64-1) has.
const maxLengthDigits = 20

// Errors that a Reader returns, wrapped with the details; test with
// errors.Is.
var (
	// ErrBadLength means a record's length line is not 1 to 20 decimal
	// digits followed by a line feed.
	ErrBadLength = errors.New("malformed record length")
	// ErrTooLarge means a record is longer than the reader's limit.
	ErrTooLarge = errors.New("record too large")
	// ErrTruncated means the stream ended inside a record (its length line
	// or its data). It also matches io.ErrUnexpectedEOF.
	ErrTruncated = errors.New("truncated record")
)

// truncated is ErrTruncated that also matches io.ErrUnexpectedEOF.
type truncated struct{ msg string }

func (t *truncated) Error() string { return t.msg }

func (t *truncated) Is(target error) bool {
	return target == ErrTruncated || target == io.ErrUnexpectedEOF
}

// AppendRecord appends the encoding of one record (its length line, then
// record) to dst and returns the extended buffer.
func AppendRecord(dst, record []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(len(record)), 10)
	dst = append(dst, '\n')
	return append(dst, record...)
}

// Writer writes records to an underlying writer. Each record goes out in
// one Write call and is flushed at once: through http.ResponseController
// when the writer is an http.ResponseWriter (so that each record is one
// HTTP chunk), or through its Flush method when it has one (http.Flusher,
// bufio.Writer). A Writer is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	flush func() error
	buf   []byte
}

// NewWriter returns a Writer that writes records to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, flush: flusher(w)}
}

// flusher returns how to flush w, or nil when w cannot be flushed.
func flusher(w io.Writer) func() error {
	switch f := w.(type) {
	case http.ResponseWriter:
		rc := http.NewResponseController(f)
		return func() error {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
	case interface{ Flush() error }:
		return f.Flush
	case http.Flusher:
		return func() error { f.Flush(); return nil }
	}
	return nil
}

// WriteRecord writes record as one RecordIO record and flushes it.
func (w *Writer) WriteRecord(record []byte) error {
	w.buf = AppendRecord(w.buf[:0], record)
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 64<<10 {
		// Keep no large buffer alive between records.
		w.buf = nil
	}
	if err != nil {
		return fmt.Errorf("writing a record of %d bytes: %w", len(record), err)
	}
	if w.flush != nil {
		if err := w.flush(); err != nil {
			return fmt.Errorf("flushing a record of %d bytes: %w", len(record), err)
		}
	}
	return nil
}

// Reader reads records from an underlying reader. After any error other
// than io.EOF the stream cannot be resynchronised, and every later read
// returns the same error. A Reader is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max uint64
	err error
}

// NewReader returns a Reader of r that refuses records longer than
// maxRecord bytes (a negative maxRecord is taken as 0).
func NewReader(r io.Reader, maxRecord int) *Reader {
	if maxRecord < 0 {
		maxRecord = 0
	}
	return &Reader{r: bufio.NewReader(r), max: uint64(maxRecord)}
}

// ReadRecord returns the next record's data. It returns io.EOF when the
// stream ends cleanly between two records, and an error matching
// ErrBadLength, ErrTooLarge or ErrTruncated (or the underlying reader's
// error) otherwise.
func (r *Reader) ReadRecord() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.read()
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return rec, err
}

func (r *Reader) read() ([]byte, error) {
	var line [maxLengthDigits + 1]byte
	n := 0
	for {
		c, err := r.r.ReadByte()
		if err == io.EOF {
			if n == 0 {
				return nil, io.EOF
			}
			return nil, &truncated{msg: fmt.Sprintf("%s: the stream ended in the length line %q", ErrTruncated, line[:n])}
		}
		if err != nil {
			return nil, fmt.Errorf("reading a record length: %w", err)
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' || n == maxLengthDigits {
			line[n] = c
			return nil, fmt.Errorf("%w: %q is not 1 to %d decimal digits and a line feed", ErrBadLength, line[:n+1], maxLengthDigits)
		}
		line[n] = c
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: an empty length line", ErrBadLength)
	}
	size, err := strconv.ParseUint(string(line[:n]), 10, 64)
	if err != nil {
		// Twenty digits beyond 2^64-1: longer than any limit.
		return nil, fmt.Errorf("%w: %s bytes; the limit is %d", ErrTooLarge, line[:n], r.max)
	}
	if size > r.max {
		return nil, fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, size, r.max)
	}
	rec := make([]byte, size)
	if got, err := io.ReadFull(r.r, rec); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &truncated{msg: fmt.Sprintf("%s: the stream ended after %d of %d bytes", ErrTruncated, got, size)}
		}
		return nil, fmt.Errorf("reading a record of %d bytes: %w", size, err)
	}
	return rec, nil
}
