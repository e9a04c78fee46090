// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// kcmControllers are the controllers the tests need: the HPA's chain down to
// pods, what makes namespaces and service accounts work, and the claims
// DRA pods generate from templates.
var kcmControllers = []string{
	"deployment-controller", "replicaset-controller", "horizontal-pod-autoscaler-controller",
	"garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
	"serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
	"resourceclaim-controller", // dra-claims: claims from ResourceClaimTemplates
}

func (b *bed) startControllerManager(ctx context.Context, f *pkiFiles) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := b.run("kube-controller-manager", []string{
		"--kubeconfig=" + b.kubeconfig, "--authentication-kubeconfig=" + b.kubeconfig,
		"--authorization-kubeconfig=" + b.kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + itoa(port), "--leader-elect=false",
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--service-account-private-key-file=" + f.saKey, "--root-ca-file=" + f.caCert,
		"--horizontal-pod-autoscaler-sync-period=" + hpaSync.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + hpaDownscale.String(),
		"--v=2",
	})
	if err != nil {
		return err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // its self-signed serving cert; only /healthz
	return waitHTTP(ctx, p, "https://"+hostPort(port)+"/healthz", insecure)
}

// startKEDA installs KEDA's CRDs, wires external.metrics.k8s.io to the
// adapter through an ExternalName Service (Endpoints may not point at
// loopback), and starts the operator and the adapter out of cluster.
func (b *bed) startKEDA(ctx context.Context, f *pkiFiles) error {
	crds, err := filepath.Glob(filepath.Join(b.bin, "keda-crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return fmt.Errorf("no KEDA CRDs in %s/keda-crds (run hack/e2e-build.sh): %w", b.bin, err)
	}
	sort.Strings(crds)
	for _, c := range crds {
		data, err := os.ReadFile(c)
		if err != nil {
			return err
		}
		if err := b.applyYAML(ctx, data, applyCreate); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	if err := b.waitCRDs(ctx); err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	grpcAddr, health, metrics, adapterPort, adapterMetrics := hostPort(ports[0]), hostPort(ports[1]), hostPort(ports[2]), ports[3], ports[4]
	if err := b.applyYAML(ctx, []byte(kedaWiring(adapterPort, b.ca.certPEM)), applyCreate); err != nil {
		return fmt.Errorf("keda wiring: %w", err)
	}
	env := []string{"WATCH_NAMESPACE=", "KEDA_CLUSTER_OBJECT_NAMESPACE=keda", "POD_NAMESPACE=keda", "KUBECONFIG=" + b.kubeconfig}
	op, err := b.run("keda-operator", []string{
		"--kubeconfig=" + b.kubeconfig, "--leader-elect=false",
		"--metrics-bind-address=" + metrics, "--health-probe-bind-address=" + health,
		"--metrics-service-bind-address=" + grpcAddr, "--cert-dir=" + f.kedaDir,
		"--enable-cert-rotation=false", "--enable-webhook-patching=false", "--enable-apiservice-patching=false",
		"--ca-dir=" + f.kedaDir, "--zap-log-level=info",
	}, env...)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, op, "http://"+health+"/readyz", nil); err != nil {
		return err
	}
	if _, err := b.run("keda-adapter", []string{
		"--kubeconfig=" + b.kubeconfig, "--lister-kubeconfig=" + b.kubeconfig,
		"--authentication-kubeconfig=" + b.kubeconfig, "--authorization-kubeconfig=" + b.kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + itoa(adapterPort), "--cert-dir=" + f.kedaDir,
		"--tls-cert-file=" + filepath.Join(f.kedaDir, "tls.crt"), "--tls-private-key-file=" + filepath.Join(f.kedaDir, "tls.key"),
		"--metrics-service-address=" + grpcAddr, "--port=" + itoa(adapterMetrics), "--v=1",
	}, env...); err != nil {
		return err
	}
	return b.waitAPIService(ctx, "v1beta1.external.metrics.k8s.io")
}

// kedaWiring is the keda namespace, the adapter's ExternalName Service and
// the APIService that routes external.metrics.k8s.io to it.
func kedaWiring(adapterPort int, caPEM []byte) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: %d}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: %s
  service: {name: keda-metrics-apiserver, namespace: keda, port: %d}
`, adapterPort, b64(caPEM), adapterPort)
}

func (b *bed) startKwok(ctx context.Context, _ *pkiFiles) error {
	stages, err := filepath.Glob(filepath.Join(b.bin, "kwok-stages", "*.yaml"))
	if err != nil || len(stages) == 0 {
		return fmt.Errorf("no kwok stages in %s/kwok-stages (run hack/e2e-build.sh): %w", b.bin, err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := b.run("kwok", []string{
		"--kubeconfig=" + b.kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-label-selector=" + kwokNodeLabel + "=true",
		"--server-address=" + hostPort(port), "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
		"--config=" + strings.Join(stages, ","),
	})
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, "http://"+hostPort(port)+"/healthz", nil)
}
