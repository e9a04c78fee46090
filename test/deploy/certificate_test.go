// SPDX-License-Identifier: Apache-2.0

package deploy

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// certificate mirrors the fields of cert-manager's cert-manager.io/v1
// Certificate that the chart and the tls overlay may set, with cert-manager's
// JSON names (pkg/apis/certmanager/v1, CertificateSpec). cert-manager's own
// Go module is not imported: it would pull in a second copy of the Kubernetes
// libraries at other versions for four structs. Strict decoding into this
// mirror catches misspelt or misplaced fields in our manifests; it does not
// know fields we never use.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              certificateSpec `json:"spec"`
}

type certificateSpec struct {
	SecretName  string                 `json:"secretName"`
	CommonName  string                 `json:"commonName,omitempty"`
	DNSNames    []string               `json:"dnsNames,omitempty"`
	Duration    *metav1.Duration       `json:"duration,omitempty"`
	RenewBefore *metav1.Duration       `json:"renewBefore,omitempty"`
	Usages      []string               `json:"usages,omitempty"`
	PrivateKey  *certificatePrivateKey `json:"privateKey,omitempty"`
	IssuerRef   issuerRef              `json:"issuerRef"`
}

type certificatePrivateKey struct {
	RotationPolicy string `json:"rotationPolicy,omitempty"`
	Encoding       string `json:"encoding,omitempty"`
	Algorithm      string `json:"algorithm,omitempty"`
	Size           int    `json:"size,omitempty"`
}

type issuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}
