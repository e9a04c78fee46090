// SPDX-License-Identifier: Apache-2.0

// Package regfile reads files the process is pointed at by flags (TLS
// material, recordings, the NVML library) without trusting what the path
// turns out to be: only a regular file is read, opening never waits (a FIFO
// without a writer would block open(2) forever), and reads are bounded (a
// path swapped for /dev/zero would otherwise grow the process until it is
// killed).
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped by errors for a path that is not a regular file
// (after following symbolic links): a directory, FIFO, socket or device.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by [Read]'s error for a file above its bound.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading when it is a regular file. O_NONBLOCK makes
// open(2) return at once on a FIFO, which is then refused; on a regular file
// it changes nothing. The type is checked on the opened descriptor, so a path
// swapped between a check and the open cannot slip through.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w (%s): want a file", path, ErrNotRegular, kind(st.Mode()))
	}
	return f, nil
}

// Read returns the contents of the regular file path, at most max bytes; a
// longer file is refused with an error wrapping ErrTooLarge after reading
// max+1 bytes, never more. Other errors are Open's or the read's.
func Read(path string, max int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrTooLarge, max)
	}
	return b, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
