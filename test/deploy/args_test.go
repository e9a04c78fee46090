// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// listenPorts are the ports serve listens on, from its arguments or, absent
// those, from the binary's defaults; nodeAPI is 0 outside cluster mode.
type listenPorts struct{ grpc, http, nodeAPI int }

// checkArgs checks that the container runs `serve` with flags the binary has
// (TLS flags only with TLS, cluster-mode flags only with the aggregator) and
// returns the ports they make it listen on.
func checkArgs(t *testing.T, ds *appsv1.DaemonSet, flags helpFlags, tls, cluster bool) listenPorts {
	c := ds.Spec.Template.Spec.Containers[0]
	assert.Empty(t, c.Command, "the image's ENTRYPOINT runs the binary")
	require.NotEmpty(t, c.Args)
	require.Equal(t, "serve", c.Args[0])
	values := map[string]string{"listen": flags["listen"], "http-listen": flags["http-listen"]}
	var tlsArgs, clusterArgs []string
	clusterLanded := cluster && clusterFlagsLanded(t, flags) // logs once if not yet
	seen := map[string]bool{}
	for _, a := range c.Args[1:] {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		require.True(t, strings.HasPrefix(a, "--") && ok, "argument %q: want --flag=value", a)
		require.False(t, seen[name], "argument %q: --%s given twice", a, name)
		seen[name] = true
		values[name] = val
		switch {
		case slices.Contains(plannedTLSFlags, name):
			tlsArgs = append(tlsArgs, name)
			if _, ok := flags[name]; !ok {
				continue // not in serve --help yet: the hardening issue
			}
		case slices.Contains(plannedClusterFlags, name):
			clusterArgs = append(clusterArgs, name)
			if cluster && !clusterLanded {
				continue // not in serve --help yet: the cluster issue
			}
		}
		require.Contains(t, flags, name, "argument %q: serve --help has no --%s", a, name)
	}
	if tls {
		assert.ElementsMatch(t, plannedTLSFlags, tlsArgs, "TLS flags with TLS")
	} else {
		assert.Empty(t, tlsArgs, "TLS flags without TLS")
	}
	ports := listenPorts{grpc: port(t, values["listen"]), http: port(t, values["http-listen"])}
	want := []corev1.ContainerPort{
		{Name: "grpc", ContainerPort: int32(ports.grpc), Protocol: corev1.ProtocolTCP},
		{Name: "http", ContainerPort: int32(ports.http), Protocol: corev1.ProtocolTCP},
	}
	if cluster {
		require.ElementsMatch(t, plannedClusterFlags, clusterArgs, "cluster-mode flags with the aggregator")
		ports.nodeAPI = port(t, values["node-api-listen"])
		want = append(want, corev1.ContainerPort{Name: "node-api", ContainerPort: int32(ports.nodeAPI), Protocol: corev1.ProtocolTCP})
		assert.Equal(t, kubeletSocket, values["kubelet-socket"], "--kubelet-socket: the socket in the mounted PodResources directory")
	} else {
		assert.Empty(t, clusterArgs, "cluster-mode flags without the aggregator")
	}
	assert.Equal(t, want, c.Ports, "containerPorts = serve's --listen, --http-listen and --node-api-listen")
	return ports
}

// checkProbes: native gRPC health on the gRPC port ("liveness" always
// SERVING, "readiness" only with fresh data); with TLS, which the kubelet's
// gRPC probe cannot speak, HTTP /healthz and /readyz on the HTTP port.
func checkProbes(t *testing.T, ds *appsv1.DaemonSet, ports listenPorts, tls bool) {
	c := ds.Spec.Template.Spec.Containers[0]
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Nil(t, c.StartupProbe)
	for _, p := range []struct {
		probe   *corev1.Probe
		service string
		path    string
	}{{c.LivenessProbe, "liveness", "/healthz"}, {c.ReadinessProbe, "readiness", "/readyz"}} {
		assert.Nil(t, p.probe.Exec, "exec probe: the image has no shell")
		assert.Nil(t, p.probe.TCPSocket)
		if tls {
			require.Nil(t, p.probe.GRPC, "gRPC probe against a TLS port")
			require.NotNil(t, p.probe.HTTPGet)
			assert.Equal(t, p.path, p.probe.HTTPGet.Path)
			assert.Equal(t, ports.http, resolvePort(t, c, p.probe.HTTPGet.Port))
			continue
		}
		require.NotNil(t, p.probe.GRPC)
		require.Nil(t, p.probe.HTTPGet)
		assert.Equal(t, int32(ports.grpc), p.probe.GRPC.Port)
		assert.Equal(t, ptr(p.service), p.probe.GRPC.Service)
	}
}

// resolvePort returns the container port a probe's or Service's port names.
func resolvePort(t testing.TB, c corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Fatalf("port %q is not a container port", p.StrVal)
	return 0
}
