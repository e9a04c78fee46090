// SPDX-License-Identifier: Apache-2.0

// Package tlsreload serves TLS from certificate files that change under the
// process (cert-manager renewing a Secret mounted as a volume): every
// handshake uses the newest valid certificate and client CA, while
// connections already open keep theirs and are not dropped.
//
// A [Reloader] polls the files' contents (not their mtimes: a Secret volume
// swaps a symlink, and the files keep their old times) and swaps an immutable
// *tls.Config in an atomic pointer, which tls.Config.GetConfigForClient hands
// to each new handshake. Files that do not parse — a certificate written
// before its key — leave the previous configuration in place until a later
// poll reads a matching pair. A certificate outside its validity period
// (expired, or not yet valid) is not rotated in either: the current one is
// kept and a warning logged at each poll until the files change. Each file
// must be a regular file of at most MaxFileSize bytes (package regfile), so a
// path swapped for a FIFO or /dev/zero is refused instead of blocking or
// filling memory.
package tlsreload

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/internal/regfile"
)

// DefaultInterval is how often Run polls the files when Config.Interval is 0.
// The kubelet refreshes a Secret volume within about a minute of the change.
const DefaultInterval = 10 * time.Second

// MaxFileSize bounds each TLS file (bytes): a chain is a few KiB, a full
// public CA bundle about 200 KiB.
const MaxFileSize = 1 << 20

// ErrNotValidNow is wrapped by Reload's error for a certificate that is
// expired or not yet valid.
var ErrNotValidNow = errors.New("certificate is not valid now")

// Config names the PEM files.
type Config struct {
	// CertFile and KeyFile are the server's certificate chain and key.
	// Required.
	CertFile, KeyFile string
	// ClientCAFile, when set, turns on mutual TLS: clients must present a
	// certificate signed by one of its CAs.
	ClientCAFile string
	// Interval between polls in Run; 0 means DefaultInterval.
	Interval time.Duration
	// Logger receives reloads and rejected files; nil discards.
	Logger *slog.Logger
	// Now is the clock certificates' validity is checked against; nil means
	// time.Now.
	Now func() time.Time
}

// Reloader holds the current TLS configuration. Its methods are safe for
// concurrent use.
type Reloader struct {
	cfg     Config
	current atomic.Pointer[tls.Config]

	mu   sync.Mutex // serialises Reload
	seen [3][]byte  // the file contents last looked at, valid or not
	// untimely is the certificate file last refused as not valid now, so
	// that it is looked at again at each poll (time moves) but only once
	// parsed and warned about as new.
	untimely []byte
}

// New loads the files once and returns a Reloader serving them; an error when
// they cannot be read or do not form a valid key pair (and CA bundle).
func New(cfg Config) (*Reloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tls: a certificate file and a key file are both required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reloader{cfg: cfg}
	files, err := r.read()
	if err != nil {
		return nil, err
	}
	c, leaf, err := r.parse(files)
	if err != nil {
		return nil, err
	}
	r.seen = files
	r.current.Store(c)
	if err := r.checkTime(leaf); err != nil {
		// Serving it beats not starting: clients refuse it and say why.
		cfg.Logger.Warn("tls certificate loaded, but clients will refuse it", append(certAttrs(leaf, cfg), "err", err)...)
		return r, nil
	}
	cfg.Logger.Info("tls certificate loaded", certAttrs(leaf, cfg)...)
	return r, nil
}

// ServerConfig returns the tls.Config to serve with (for gRPC:
// credentials.NewTLS). It picks the current certificate and client CAs for
// each handshake through GetConfigForClient.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current.Load(), nil
		},
	}
}

// ClientCertificate returns the current certificate, for
// tls.Config.GetClientCertificate when the files are a client's (the cluster
// aggregator dialing the agents with mutual TLS): each new connection presents
// the newest certificate. ClientCAFile plays no part on that side.
func (r *Reloader) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &r.current.Load().Certificates[0], nil
}

// Leaf returns the certificate new handshakes present.
func (r *Reloader) Leaf() *x509.Certificate { return r.current.Load().Certificates[0].Leaf }

// Run polls the files every Interval until ctx ends. It returns when ctx ends
// even while a poll is stuck reading (a hung network mount): that poll's
// goroutine is left behind, and shutdown does not wait for it.
func (r *Reloader) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			_, _ = r.Reload()
		}()
		select {
		case <-polled:
		case <-ctx.Done():
			r.cfg.Logger.Warn("tls files still being read at shutdown; not waiting for them")
			return
		}
	}
}

// Reload reads the files now and, when their contents changed and form a
// valid configuration, makes new handshakes use it. It reports whether the
// configuration changed; an error (also logged, once per content) leaves the
// old one in place.
func (r *Reloader) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, err := r.read()
	if err != nil {
		r.cfg.Logger.Warn("tls files unreadable, keeping the current certificate", "err", err)
		return false, err
	}
	if r.same(files) && r.untimely == nil {
		return false, nil
	}
	changed := !r.same(files)
	r.seen = files
	c, leaf, err := r.parse(files)
	if err != nil {
		r.untimely = nil
		r.cfg.Logger.Warn("tls files changed but are not valid, keeping the current certificate", "err", err)
		return false, err
	}
	if err := r.checkTime(leaf); err != nil {
		if changed || !bytes.Equal(r.untimely, files[0]) {
			r.cfg.Logger.Warn("tls certificate changed but is not valid now, keeping the current certificate",
				append(certAttrs(leaf, r.cfg), "err", err)...)
		}
		r.untimely = files[0]
		return false, err
	}
	r.untimely = nil
	r.current.Store(c)
	r.cfg.Logger.Info("tls certificate reloaded", certAttrs(leaf, r.cfg)...)
	return true, nil
}

func (r *Reloader) same(files [3][]byte) bool {
	for i := range files {
		if !bytes.Equal(files[i], r.seen[i]) {
			return false
		}
	}
	return true
}

// checkTime returns an error wrapping ErrNotValidNow when leaf is outside its
// validity period at the Config's Now.
func (r *Reloader) checkTime(leaf *x509.Certificate) error {
	now := r.cfg.Now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("tls: %s: %w: expired at %s", r.cfg.CertFile, ErrNotValidNow, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("tls: %s: %w: valid from %s", r.cfg.CertFile, ErrNotValidNow, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func (r *Reloader) read() ([3][]byte, error) {
	var out [3][]byte
	for i, name := range [3]string{r.cfg.CertFile, r.cfg.KeyFile, r.cfg.ClientCAFile} {
		if name == "" {
			continue
		}
		b, err := regfile.Read(name, MaxFileSize)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// parse builds the per-handshake configuration from the files' contents.
func (r *Reloader) parse(files [3][]byte) (*tls.Config, *x509.Certificate, error) {
	cert, err := tls.X509KeyPair(files[0], files[1])
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %s and %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// gRPC needs ALPN h2; credentials.NewTLS adds it to the base config
		// only, not to the one returned per handshake.
		NextProtos: []string{"h2"},
	}
	if r.cfg.ClientCAFile != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(files[2]) {
			return nil, nil, fmt.Errorf("tls: client CA %s: no PEM certificate in it", r.cfg.ClientCAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, cert.Leaf, nil
}

func certAttrs(leaf *x509.Certificate, cfg Config) []any {
	return []any{"cert", cfg.CertFile, "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "serial", leaf.SerialNumber.String(),
		"mutual", cfg.ClientCAFile != ""}
}
