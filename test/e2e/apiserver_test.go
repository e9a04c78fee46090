// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pkiFiles are the paths of the bed's certificates and keys.
type pkiFiles struct {
	caCert                    string
	serverCert, serverKey     string // kube-apiserver
	adminCert, adminKey       string // CN admin, O system:masters
	frontCA                   string // requestheader client CA
	frontCert, frontKey       string // the aggregator's proxy client
	saPub, saKey              string
	kedaDir                   string // ca.crt, tls.crt, tls.key: KEDA's operator and adapter
	adminCertPEM, adminKeyPEM []byte
	frontCAPEM                []byte
}

// writePKI generates a CA for the cluster, another for the front proxy, and
// every certificate the control plane needs, under dir/pki.
func (b *bed) writePKI() (*pkiFiles, error) {
	dir := filepath.Join(b.dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c, err := newCA("e2e-ca")
	if err != nil {
		return nil, err
	}
	b.ca = c
	front, err := newCA("e2e-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	f := &pkiFiles{caCert: filepath.Join(dir, "ca.crt"), frontCA: filepath.Join(dir, "front-ca.crt"), frontCAPEM: front.certPEM}
	if err := os.WriteFile(f.caCert, c.certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.frontCA, front.certPEM, 0o600); err != nil {
		return nil, err
	}
	issue := func(signer *ca, name, cn string, orgs []string, hosts ...string) (string, string, leaf, error) {
		l, err := signer.issue(cn, orgs, hosts...)
		if err != nil {
			return "", "", l, err
		}
		cert, key, err := l.write(dir, name)
		return cert, key, l, err
	}
	if f.serverCert, f.serverKey, _, err = issue(c, "apiserver", "kube-apiserver", nil,
		"127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1"); err != nil {
		return nil, err
	}
	var admin leaf
	if f.adminCert, f.adminKey, admin, err = issue(c, "admin", "admin", []string{"system:masters"}); err != nil {
		return nil, err
	}
	f.adminCertPEM, f.adminKeyPEM = admin.certPEM, admin.keyPEM
	if f.frontCert, f.frontKey, _, err = issue(front, "front-proxy-client", "front-proxy-client", nil); err != nil {
		return nil, err
	}
	if f.saPub, f.saKey, err = serviceAccountKey(dir); err != nil {
		return nil, err
	}
	// KEDA: the operator's gRPC metrics service (dialled at 127.0.0.1) and the
	// adapter's serving certificate (the aggregation layer verifies it
	// against the Service's DNS name).
	f.kedaDir = filepath.Join(dir, "keda")
	if err := os.MkdirAll(f.kedaDir, 0o700); err != nil {
		return nil, err
	}
	kl, err := c.issue("keda", nil, "127.0.0.1", "localhost", "keda-operator.keda.svc",
		"keda-metrics-apiserver.keda.svc", "keda-metrics-apiserver.keda.svc.cluster.local")
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"ca.crt": c.certPEM, "tls.crt": kl.certPEM, "tls.key": kl.keyPEM} {
		if err := os.WriteFile(filepath.Join(f.kedaDir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (b *bed) startAPIServer(ctx context.Context, f *pkiFiles) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	b.apiURL = "https://" + hostPort(port)
	p, err := b.run("kube-apiserver", []string{
		"--etcd-servers=" + b.etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + itoa(port), "--endpoint-reconciler-type=none",
		"--tls-cert-file=" + f.serverCert, "--tls-private-key-file=" + f.serverKey,
		"--client-ca-file=" + f.caCert, "--authorization-mode=RBAC",
		"--service-account-key-file=" + f.saPub, "--service-account-signing-key-file=" + f.saKey,
		"--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.0.0.0/24",
		"--requestheader-client-ca-file=" + f.frontCA, "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + f.frontCert, "--proxy-client-key-file=" + f.frontKey,
		"--profiling=false", "--v=1",
	})
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(f.adminCertPEM, f.adminKeyPEM)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.ca.certPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	if err := waitHTTP(ctx, p, b.apiURL+"/readyz", hc); err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.dir, "admin.kubeconfig")
	if err := writeKubeconfig(b.kubeconfig, b.apiURL, b.ca.certPEM, f.adminCertPEM, f.adminKeyPEM); err != nil {
		return err
	}
	return b.clients()
}

// writeKubeconfig writes a kubeconfig for server with a client certificate.
func writeKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "user", Namespace: "default"}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, path)
}

// waitHTTP polls url until it answers 200, or p exits.
func waitHTTP(ctx context.Context, p *proc, url string, hc *http.Client) error {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	return poll(ctx, 90*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return true, fmt.Errorf("%s exited: %w\n%s", p.name, p.waitErr, p.tail(30))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return true, nil
	})
}
