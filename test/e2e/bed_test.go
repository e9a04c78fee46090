// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// Timing of the test bed: the HPA controller syncs every hpaSync (the
// default is 15 s) and scales down after hpaDownscale of lower proposals
// (default 5 min); KEDA's operator polls each ScaledObject at its
// pollingInterval, set per test.
const (
	hpaSync      = 2 * time.Second
	hpaDownscale = 6 * time.Second

	startTimeout = 2 * time.Minute        // for one part of the plane to come up
	pollEvery    = 250 * time.Millisecond // how often waits look
)

// bed is the running control plane every test shares.
type bed struct {
	dir, bin   string // the work directory; where hack/e2e-build.sh put the binaries
	scalerBin  string // our nvml-scaler, built from the main module
	kubeconfig string // system:masters admin
	etcdURL    string
	apiURL     string
	ca         *ca
	procs      procs
	plane      map[string]*proc
	rest       *rest.Config
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper
}

// binaries the test bed runs, from hack/e2e-build.sh.
var planeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "keda-operator", "keda-adapter", "kwok"}

// findBinaries returns the directory hack/e2e-build.sh filled, or an error
// saying how to fill it.
func findBinaries() (string, error) {
	dir := os.Getenv("E2E_BIN")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "e2e", "bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for _, b := range planeBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s missing in %s: run hack/e2e-build.sh (or make test-e2e) first, or set E2E_BIN", b, dir)
		}
	}
	return dir, nil
}

// buildScaler builds our binary from the main module into dir.
func buildScaler(dir string) (string, error) {
	out := filepath.Join(dir, "nvml-scaler")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/nvml-scaler")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nvml-scaler: %w\n%s", err, b)
	}
	return out, nil
}

// startBed starts the whole control plane; on error, whatever started is
// stopped again.
func startBed(ctx context.Context, dir string) (b *bed, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	b = &bed{dir: dir, bin: bin, plane: map[string]*proc{}}
	defer func() {
		if err != nil {
			b.describe()
			b.stop()
		}
	}()
	if b.scalerBin, err = buildScaler(dir); err != nil {
		return nil, err
	}
	pki, err := b.writePKI()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	steps := []struct {
		name string
		run  func(context.Context, *pkiFiles) error
	}{
		{"etcd", b.startEtcd},
		{"kube-apiserver", b.startAPIServer},
		{"kube-controller-manager", b.startControllerManager},
		{"keda", b.startKEDA},
		{"kwok", b.startKwok},
	}
	for _, s := range steps {
		if err := s.run(ctx, pki); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.name, err)
		}
	}
	return b, nil
}

// stop ends every process of the bed, newest first.
func (b *bed) stop() { b.procs.stopAll() }

// describe prints the tail of each control-plane log, for a failed start or test.
func (b *bed) describe() {
	for _, p := range b.procs.list {
		fmt.Fprintf(os.Stderr, "--- %s (%s), last lines ---\n%s\n", p.name, p.logPath, p.tail(25))
	}
}

// run starts a control-plane process and records it under name.
func (b *bed) run(name string, args []string, env ...string) (*proc, error) {
	p, err := startProc(b.dir, name, filepath.Join(b.bin, name), args, env...)
	if err != nil {
		return nil, err
	}
	b.plane[name] = b.procs.add(p)
	return p, nil
}

// alive fails when a control-plane process has exited, naming it.
func (b *bed) alive() error {
	var errs []error
	for name, p := range b.plane {
		if p.exited() {
			errs = append(errs, fmt.Errorf("%s exited: %w (log %s)", name, p.waitErr, p.logPath))
		}
	}
	return errors.Join(errs...)
}

func (b *bed) startEtcd(ctx context.Context, _ *pkiFiles) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	client, peer := "http://"+hostPort(ports[0]), "http://"+hostPort(ports[1])
	p, err := b.run("etcd", []string{
		"--name=e2e", "--data-dir=" + filepath.Join(b.dir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=e2e=" + peer, "--log-level=warn", "--quota-backend-bytes=1073741824",
	})
	if err != nil {
		return err
	}
	b.etcdURL = client
	return waitHTTP(ctx, p, client+"/health", nil)
}

func (b *bed) clients() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", b.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	b.rest = cfg
	if b.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	b.dyn, err = dynamic.NewForConfig(cfg)
	return err
}

func itoa(i int) string { return strconv.Itoa(i) }
