// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxSize bounds what Decode reads (bytes): the largest real recording is ~1 MiB.
const maxSize = 256 << 20

// Load reads and decodes the recording at path.
func Load(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	defer f.Close()
	rec, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	return rec, nil
}

// Decode reads one recording, rejecting unknown fields, a wrong format version and
// inconsistent contents (see [Recording.Validate]).
func Decode(r io.Reader) (*Recording, error) {
	data, err := readAll(r, maxSize)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rec Recording
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	// dec.More alone would miss a stray ']' or '}': it reports only whether another
	// value follows. Anything but the end of input after the recording is an error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: trailing data after the recording")
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return &rec, nil
}

// readAll reads all of r, failing once it holds more than limit bytes.
func readAll(r io.Reader, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// Encode writes rec as indented JSON after validating it.
func Encode(w io.Writer, rec *Recording) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(rec)
}

// Validate checks what the replayers rely on: the format, at least one sample,
// one entry per device in every sample, device indexes 0..n-1, and sample and
// phase offsets that never go back in time.
func (rec *Recording) Validate() error {
	if rec.Format != Format {
		return fmt.Errorf("format %q: want %q", rec.Format, Format)
	}
	if rec.Source == "" {
		return errors.New("source is empty: every recording must name where it came from")
	}
	if len(rec.Samples) == 0 {
		return errors.New("no samples")
	}
	for i, d := range rec.Devices {
		if d.Index != uint32(i) {
			return fmt.Errorf("devices[%d] has index %d: want %d", i, d.Index, i)
		}
	}
	var last int64
	for i, s := range rec.Samples {
		if len(s.Devices) != len(rec.Devices) {
			return fmt.Errorf("samples[%d] has %d devices: want %d", i, len(s.Devices), len(rec.Devices))
		}
		if s.OffsetNanos < last {
			return fmt.Errorf("samples[%d] offset %d ns goes back in time (previous %d ns)", i, s.OffsetNanos, last)
		}
		last = s.OffsetNanos
	}
	last = 0
	for i, p := range rec.Phases {
		if p.OffsetNanos < last {
			return fmt.Errorf("phases[%d] %q offset %d ns goes back in time", i, p.Name, p.OffsetNanos)
		}
		last = p.OffsetNanos
	}
	if rec.Engines != nil {
		return rec.Engines.validate()
	}
	return nil
}

// Duration is the span from the first to the last sample (ns).
func (rec *Recording) Duration() int64 {
	return rec.Samples[len(rec.Samples)-1].OffsetNanos - rec.Samples[0].OffsetNanos
}

// PhaseAt returns the name of the phase running at offset ns, or "" before the first.
func (rec *Recording) PhaseAt(offsetNanos int64) string {
	name := ""
	for _, p := range rec.Phases {
		if p.OffsetNanos > offsetNanos {
			break
		}
		name = p.Name
	}
	return name
}
