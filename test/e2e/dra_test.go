// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
)

// The DRA objects of testDRA: NVIDIA's driver names a node's pool after the
// node and its devices gpu-<index>; the claim asks for one device of the
// driver's DeviceClass, which is named after the driver.
const (
	draDevice  = "gpu-0"
	draClaim   = "gpu-claim"
	draRequest = "gpu"
)

// withDRA runs serve with --dra as it runs in a pod: $KUBERNETES_SERVICE_HOST
// and _PORT name the API server, and the service-account token and CA are
// at /var/run/secrets/kubernetes.io/serviceaccount, the one place serve
// reads them. The agent gets a private mount namespace (unshare, as root)
// in which saRun, holding secrets/kubernetes.io/serviceaccount, is bound
// over /run (/var/run), so nothing of the host changes.
func withDRA(apiURL, saRun string) agentOption {
	return func(t *testing.T, a *agent) []string {
		u, err := url.Parse(apiURL)
		require.NoError(t, err)
		a.env = append(a.env, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port())
		a.launcher = []string{"unshare", "--mount", "--propagation=private", "--", "sh", "-c",
			`mount --bind "$1" /run && shift && exec "$@"`, "sh", saRun}
		return []string{"--dra"}
	}
}

// draAgentAccess gives the agents what deploy/kustomize/components/dra gives
// them: that component's ClusterRole and binding, as shipped, for the
// ServiceAccount nvml-scaler/nvml-scaler, and a token of it (TokenRequest)
// with the cluster's CA under the returned directory's
// secrets/kubernetes.io/serviceaccount, for withDRA.
func draAgentAccess(t *testing.T, b *bed) string {
	t.Helper()
	ctx := context.Background()
	ns := b.namespace(t, "nvml-scaler")
	token := serviceAccountToken(t, b, ns, "nvml-scaler")
	rbac, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kustomize", "components", "dra", "dra-rbac.yaml"))
	require.NoError(t, err)
	require.NoError(t, b.applyYAML(ctx, rbac, applyCreate), "components/dra/dra-rbac.yaml")
	t.Cleanup(func() {
		_ = b.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), "nvml-scaler-dra", metav1.DeleteOptions{})
		_ = b.kube.RbacV1().ClusterRoles().Delete(context.Background(), "nvml-scaler-dra", metav1.DeleteOptions{})
	})
	run := filepath.Join(t.TempDir(), "run")
	sa := filepath.Join(run, "secrets", "kubernetes.io", "serviceaccount")
	require.NoError(t, os.MkdirAll(sa, 0o755))
	for name, data := range map[string][]byte{"token": []byte(token), "ca.crt": b.ca.certPEM, "namespace": []byte(ns)} {
		require.NoError(t, os.WriteFile(filepath.Join(sa, name), data, 0o600))
	}
	return run
}

// publishSlice creates the ResourceSlice NVIDIA's DRA driver publishes for
// node: one pool named after the node, device gpu-<i> for GPU i with its
// index, minor and uuid attributes. It is deleted when the test ends.
func publishSlice(t *testing.T, b *bed, node string, uuids []string) {
	t.Helper()
	s := &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{GenerateName: node + "-" + attribution.DRADriver + "-"},
		Spec: resourcev1.ResourceSliceSpec{Driver: attribution.DRADriver, NodeName: ptr.To(node),
			Pool: resourcev1.ResourcePool{Name: node, Generation: 1, ResourceSliceCount: 1}},
	}
	for i, u := range uuids {
		s.Spec.Devices = append(s.Spec.Devices, resourcev1.Device{Name: fmt.Sprintf("gpu-%d", i),
			Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"index": {IntValue: ptr.To(int64(i))}, "minor": {IntValue: ptr.To(int64(i))},
				"uuid": {StringValue: ptr.To(u)}}})
	}
	s, err := b.kube.ResourceV1().ResourceSlices().Create(context.Background(), s,
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err, "ResourceSlice of %s", node)
	t.Cleanup(func() {
		_ = b.kube.ResourceV1().ResourceSlices().Delete(context.Background(), s.Name, metav1.DeleteOptions{})
	})
}

// draDeployment creates Deployment ns/name with one pod that holds its GPU
// only through the claim entry rc (a ResourceClaim or a template; no
// nvidia.com/gpu request) and no node (the test binds it).
func (b *bed) draDeployment(t *testing.T, ns, name string, rc corev1.PodResourceClaim) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					ResourceClaims:                []corev1.PodResourceClaim{rc},
					Containers: []corev1.Container{{Name: "server", Image: "vllm/vllm-openai:e2e-not-pulled",
						Resources: corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: draRequest}}}}},
				},
			},
		},
	}
	_, err := b.kube.AppsV1().Deployments(ns).Create(context.Background(), d,
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err)
}

// testDRA is the DRA scenario: a pod of a Deployment holds its GPU through a
// ResourceClaim only, against the real API server's resource.k8s.io/v1. The
// node's ResourceSlice (driver gpu.nvidia.com) names the device's uuid; the
// agent runs serve --dra with the RBAC of components/dra and resolves the
// fake kubelet's DRA device through that slice; the aggregator runs
// aggregate --dra. While the claim is unallocated and the pod unscheduled the
// pod is pending: the aggregator answers 0, not "requests no GPU". Bound
// before the claim is allocated (the aggregator's cache lagging the
// scheduler's), the running pod is an error naming the claim. Allocated, the
// aggregator answers the agent's own reading of that GPU.
func testDRA(t *testing.T, b *bed) {
	if out, err := exec.Command("unshare", "--mount", "--propagation=private", "true").CombinedOutput(); err != nil {
		// serve reads its token only where a pod has it (withDRA); without a
		// mount namespace there is no way to put one there for one process.
		t.Skipf("dra-claims needs a private mount namespace as root (unshare --mount): %v: %s", err, out)
	}
	ns := b.namespace(t, "dra")
	const node = "gpu-dra"
	b.createNode(t, node)
	n := &gpuNode{name: node, kubelet: kubelettest.Start(t)}
	rep, err := fakenvml.Replicate(loadRecording(t, rampRecording), 1)
	require.NoError(t, err)
	for _, d := range rep.Devices {
		n.uuids = append(n.uuids, d.UUID.Value)
	}
	publishSlice(t, b, node, n.uuids)
	n.agent = startAgent(t, b, node, rep, withNodeAPI(n.kubelet.Socket), withDRA(b.apiURL, draAgentAccess(t, b)))
	want := n.agent.setPhase(t, "duty070")
	agg := startAggregatorArgs(t, b, []string{"--dra", "--kubeconfig=" + draAggregatorAccess(t, b)}, n)

	ctx := context.Background()
	claim, err := b.kube.ResourceV1().ResourceClaims(ns).Create(ctx, &resourcev1.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: draClaim}, Spec: oneGPUClaim(),
	}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err)
	b.draDeployment(t, ns, "llm", corev1.PodResourceClaim{Name: draRequest, ResourceClaimName: ptr.To(draClaim)})
	// A target of 1000 keeps the HPA at one replica: this scenario checks the
	// aggregator's answer, not scaling.
	const meta = "metric=sm_active_percent,aggregation=sum,targetValue=1000"
	require.NoError(t, b.applyYAML(ctx, []byte(scaledObject(ns, "llm", agg, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "1000"}, 1, 2, "")), applyCreate))
	pod := b.onePod(t, ns, "llm")
	ask := func(match func(queryAnswer, error) error) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			q, err := b.queryOnce(agg, 1, meta, "--name=llm", "--namespace="+ns)
			if err := match(q, err); err != nil {
				return false, err
			}
			return true, nil
		}
	}

	require.NoError(t, poll(ctx, 30*time.Second, 500*time.Millisecond, ask(func(q queryAnswer, err error) error {
		if err == nil && q.Value != 0 {
			return fmt.Errorf("answer %.2f", q.Value)
		}
		return err
	})), "unallocated and unscheduled, the pod is pending: 0, no error")

	bind(t, b, ns, pod.Name, node)
	require.NoError(t, poll(ctx, time.Minute, 500*time.Millisecond, ask(func(_ queryAnswer, err error) error {
		switch {
		case err == nil:
			return errors.New("no error yet")
		case !strings.Contains(err.Error(), "ResourceClaim "+ns+"/"+draClaim+" is not allocated yet"):
			return fmt.Errorf("want the unallocated claim named: %w", err)
		}
		return nil
	})), "running with its claim unallocated: an error naming the claim")

	allocate(t, b, n, claim, pod)

	own := b.query(t, n.agent.grpc, 1, meta)
	require.InDelta(t, want, own.Value, 0.01, "the agent reads the recorded GPU")
	require.NoError(t, poll(ctx, time.Minute, 500*time.Millisecond, ask(func(q queryAnswer, err error) error {
		if err == nil && math.Abs(q.Value-own.Value) > 0.01 {
			return fmt.Errorf("answer %.2f", q.Value)
		}
		return err
	})), "allocated: the aggregator answers the agent's reading %.2f of %s", own.Value, n.uuids[0])

	testDRATemplate(t, b, n, agg, ns, pod.Name, own.Value)
}

// testDRATemplate is the scenario's second half: the first Deployment gone,
// a second one's pod asks for its GPU through a ResourceClaimTemplate, so
// kube-controller-manager's resource-claim controller generates the claim
// and names it in the pod's status.resourceClaimStatuses, which is how the
// aggregator finds it. Allocated, the aggregator answers the same reading.
func testDRATemplate(t *testing.T, b *bed, n *gpuNode, agg, ns, oldPod string, want float64) {
	ctx := context.Background()
	require.NoError(t, b.kube.AppsV1().Deployments(ns).Delete(ctx, "llm", metav1.DeleteOptions{}))
	n.kubelet.Remove(ns, oldPod)
	_, err := b.kube.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, &resourcev1.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "one-gpu"},
		Spec:       resourcev1.ResourceClaimTemplateSpec{Spec: oneGPUClaim()},
	}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err)
	b.draDeployment(t, ns, "llm-tpl", corev1.PodResourceClaim{Name: draRequest, ResourceClaimTemplateName: ptr.To("one-gpu")})
	const meta = "metric=sm_active_percent,aggregation=sum,targetValue=1000"
	require.NoError(t, b.applyYAML(ctx, []byte(scaledObject(ns, "llm-tpl", agg, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "1000"}, 1, 2, "")), applyCreate))
	pod := b.onePod(t, ns, "llm-tpl")
	var generated string
	require.NoError(t, poll(ctx, time.Minute, pollEvery, func(ctx context.Context) (bool, error) {
		p, err := b.kube.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, st := range p.Status.ResourceClaimStatuses {
			if st.Name == draRequest && st.ResourceClaimName != nil {
				generated, pod = *st.ResourceClaimName, *p
				return true, nil
			}
		}
		return false, errors.New("no generated claim in the pod's status yet")
	}), "the resource-claim controller generates the pod's claim")
	claim, err := b.kube.ResourceV1().ResourceClaims(ns).Get(ctx, generated, metav1.GetOptions{})
	require.NoError(t, err)
	bind(t, b, ns, pod.Name, n.name)
	allocate(t, b, n, claim, pod)
	require.NoError(t, poll(ctx, time.Minute, 500*time.Millisecond, func(context.Context) (bool, error) {
		q, err := b.queryOnce(agg, 1, meta, "--name=llm-tpl", "--namespace="+ns)
		if err == nil && math.Abs(q.Value-want) > 0.01 {
			err = fmt.Errorf("answer %.2f", q.Value)
		}
		return err == nil, err
	}), "the generated claim %s, allocated: the aggregator answers %.2f", generated, want)
}

// oneGPUClaim asks for one device of the driver's DeviceClass (named after
// the driver).
func oneGPUClaim() resourcev1.ResourceClaimSpec {
	return resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
		Name: draRequest, Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: attribution.DRADriver,
			AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 1}}}}}
}

// allocate does what the scheduler and NVIDIA's DRA driver would: it
// allocates the node's device draDevice to claim, reserved for pod, and the
// fake kubelet then reports it as the pod's dynamic resource.
func allocate(t *testing.T, b *bed, n *gpuNode, claim *resourcev1.ResourceClaim, pod corev1.Pod) {
	t.Helper()
	claim.Status.Allocation = &resourcev1.AllocationResult{
		Devices: resourcev1.DeviceAllocationResult{Results: []resourcev1.DeviceRequestAllocationResult{{
			Request: draRequest, Driver: attribution.DRADriver, Pool: n.name, Device: draDevice}}},
		NodeSelector: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n.name}}}}}},
	}
	claim.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: pod.Name, UID: pod.UID}}
	_, err := b.kube.ResourceV1().ResourceClaims(claim.Namespace).UpdateStatus(context.Background(), claim,
		metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err, "allocate %s to %s", claim.Name, draDevice)
	n.kubelet.AllocateDynamic(pod.Namespace, pod.Name, "server", claim.Namespace, claim.Name,
		kubelettest.ClaimDevice(attribution.DRADriver, n.name, draDevice, "k8s.gpu.nvidia.com/claim="+string(claim.UID)+"-"+draDevice))
}

// onePod waits for the Deployment's one pod and returns it.
func (b *bed) onePod(t *testing.T, ns, app string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	require.NoError(t, poll(context.Background(), time.Minute, pollEvery, func(ctx context.Context) (bool, error) {
		pods, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err
		}
		if len(pods.Items) != 1 {
			return false, fmt.Errorf("%d pods", len(pods.Items))
		}
		pod = pods.Items[0]
		return true, nil
	}), "the pod of %s/%s", ns, app)
	return pod
}

// bind puts pod on node, as the scheduler would.
func bind(t *testing.T, b *bed, ns, pod, node string) {
	t.Helper()
	require.NoError(t, b.kube.CoreV1().Pods(ns).Bind(context.Background(), &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{}), "bind %s to %s", pod, node)
}

// draAggregatorAccess gives the aggregator what overlays/cluster and
// components/dra give it, instead of the admin kubeconfig: the overlay's
// ClusterRole and binding for ServiceAccount nvml-scaler/nvml-scaler-aggregator
// with the component's patch applied (its one operation appends a rule), and
// a kubeconfig holding a token of that account, whose path it returns. The
// namespace nvml-scaler must exist (draAgentAccess makes it).
func draAggregatorAccess(t *testing.T, b *bed) string {
	t.Helper()
	ctx := context.Background()
	const ns, name = "nvml-scaler", "nvml-scaler-aggregator"
	token := serviceAccountToken(t, b, ns, name)
	overlay, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kustomize", "overlays", "cluster", "aggregator-rbac.yaml"))
	require.NoError(t, err)
	docs := strings.Split(string(overlay), "\n---\n")
	require.Len(t, docs, 2, "overlays/cluster/aggregator-rbac.yaml: a ClusterRole and its binding")
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[0]), &role))
	patch, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kustomize", "components", "dra", "aggregator-rbac.yaml"))
	require.NoError(t, err)
	var ops []struct {
		Op    string            `json:"op"`
		Path  string            `json:"path"`
		Value rbacv1.PolicyRule `json:"value"`
	}
	require.NoError(t, yaml.UnmarshalStrict(patch, &ops))
	require.Len(t, ops, 1, "components/dra/aggregator-rbac.yaml")
	require.Equal(t, "add /rules/-", ops[0].Op+" "+ops[0].Path, "the only patch operation this helper applies")
	role.Rules = append(role.Rules, ops[0].Value)
	_, err = b.kube.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	require.NoError(t, err)
	require.NoError(t, b.applyYAML(ctx, []byte(docs[1]), applyCreate), "the aggregator's ClusterRoleBinding")
	t.Cleanup(func() {
		_ = b.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
		_ = b.kube.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: b.apiURL, CertificateAuthorityData: b.ca.certPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(t.TempDir(), "aggregator.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// serviceAccountToken creates ServiceAccount ns/name and returns a token of
// it (TokenRequest, an hour), as the kubelet would mount in its pod.
func serviceAccountToken(t *testing.T, b *bed, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	_, err := b.kube.CoreV1().ServiceAccounts(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tok, err := b.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tok.Status.Token
}
