// SPDX-License-Identifier: Apache-2.0

package tlsreload

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/regfile"
	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
)

// within fails the test unless f returns within 5s.
func within[T any](t *testing.T, f func() T) T {
	t.Helper()
	got := make(chan T, 1)
	go func() { got <- f() }()
	select {
	case v := <-got:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("did not return within 5s")
		panic("unreachable")
	}
}

// A TLS path that becomes a FIFO or /dev/zero is refused at once, keeping the
// current certificate; at start-up it is an error, not a hang.
func TestUnsafeFilesAreRefused(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "ca")
	for _, tt := range []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"fifo", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) }},
		{"dev zero", func(t *testing.T, path string) { require.NoError(t, os.Symlink("/dev/zero", path)) }},
		{"too large", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, make([]byte, MaxFileSize+1), 0o600))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFiles(t, ca.Issue(t, "s"), nil)
			r, err := New(Config{CertFile: f.cert, KeyFile: f.key})
			require.NoError(t, err)
			leaf := r.Leaf()
			require.NoError(t, os.Remove(f.cert))
			tt.make(t, f.cert)
			err = within(t, func() error { _, err := r.Reload(); return err })
			require.Error(t, err)
			assert.True(t, errIsOneOf(err, regfile.ErrNotRegular, regfile.ErrTooLarge), "%v", err)
			assert.Equal(t, leaf, r.Leaf(), "the current certificate is kept")
			err = within(t, func() error { _, err := New(Config{CertFile: f.cert, KeyFile: f.key}); return err })
			require.Error(t, err)
		})
	}
}

func errIsOneOf(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// atomicTime is a settable clock.
type atomicTime struct{ ns atomic.Int64 }

func (a *atomicTime) set(t time.Time) { a.ns.Store(t.UnixNano()) }
func (a *atomicTime) get() time.Time  { return time.Unix(0, a.ns.Load()) }

func countLines(s, sub string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// An expired or not-yet-valid certificate is not rotated in: the valid one
// stays, with a warning. Once the clock reaches a not-yet-valid one's period,
// it is.
func TestRotationRefusesCertificatesOutsideTheirValidity(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "ca")
	f := newFiles(t, ca.Issue(t, "valid"), nil)
	var logs testutil.SyncBuffer
	var now atomicTime
	now.set(time.Now())
	r, err := New(Config{CertFile: f.cert, KeyFile: f.key, Now: now.get, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	valid := r.Leaf()

	ca.IssueValid(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)).Write(t, f.dir, "tls")
	_, err = r.Reload()
	require.ErrorIs(t, err, ErrNotValidNow)
	assert.Contains(t, err.Error(), "expired at")
	assert.Equal(t, valid, r.Leaf())

	ca.IssueValid(t, "future", time.Now().Add(time.Hour), time.Now().Add(48*time.Hour)).Write(t, f.dir, "tls")
	_, err = r.Reload()
	require.ErrorIs(t, err, ErrNotValidNow)
	assert.Contains(t, err.Error(), "valid from")
	assert.Equal(t, valid, r.Leaf())
	_, err = r.Reload() // looked at again, warned about once
	require.ErrorIs(t, err, ErrNotValidNow)
	assert.Equal(t, 2, countLines(logs.String(), "is not valid now, keeping the current certificate"), logs.String())

	now.set(time.Now().Add(2 * time.Hour))
	changed, err := r.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "future", r.Leaf().Subject.CommonName)
}

// At start-up an expired certificate is served (nothing better exists), with
// a warning instead of the INFO line.
func TestNewWarnsOfAnExpiredCertificate(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "ca")
	f := newFiles(t, ca.IssueValid(t, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)), nil)
	var logs testutil.SyncBuffer
	_, err := New(Config{CertFile: f.cert, KeyFile: f.key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "clients will refuse it")
	assert.Contains(t, logs.String(), "expired at")
}
