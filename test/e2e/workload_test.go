// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// gpuResource is the device plugin's resource name the pods ask for.
const gpuResource = "nvidia.com/gpu"

// kwokNodeLabel marks the nodes kwok plays the kubelet for.
const kwokNodeLabel = "e2e.nvml-scaler.io/kwok"

// createNode registers a fake GPU node that kwok makes Ready.
func (b *bed) createNode(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		kwokNodeLabel: "true", "nvidia.com/gpu.present": "true", "kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{}}}
	_, err := b.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	require.NoError(t, ignoreExists(err))
	require.NoError(t, poll(ctx, startTimeout, pollEvery, func(ctx context.Context) (bool, error) {
		n, err := b.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("node %s not Ready", name)
	}), "kwok makes node %s Ready", name)
}

// namespace creates a namespace for one scenario and deletes it at the end.
func (b *bed) namespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	_, err := b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// deployment creates Deployment ns/name with replicas pods on node (no
// scheduler runs: "" leaves them to a binder), each asking for gpus
// nvidia.com/gpu.
func (b *bed) deployment(t *testing.T, ns, name string, replicas int32, node string, gpus ...int64) {
	t.Helper()
	labels := map[string]string{"app": name}
	c := corev1.Container{Name: "server", Image: "vllm/vllm-openai:e2e-not-pulled"}
	if len(gpus) > 0 {
		q := *resource.NewQuantity(gpus[0], resource.DecimalSI)
		c.Resources.Limits = corev1.ResourceList{gpuResource: q}
		c.Resources.Requests = corev1.ResourceList{gpuResource: q}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName:                      node,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{c},
				},
			},
		},
	}
	_, err := b.kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
}

// replicas returns the Deployment's spec and ready replicas.
func (b *bed) replicas(ctx context.Context, ns, name string) (spec, ready int32, err error) {
	d, err := b.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas, nil
}

// waitReplicas waits until the Deployment wants want replicas and has them Ready.
func (b *bed) waitReplicas(t *testing.T, ns, name string, want int32, timeout time.Duration, why string) {
	t.Helper()
	err := poll(context.Background(), timeout, pollEvery, func(ctx context.Context) (bool, error) {
		if err := b.alive(); err != nil {
			return true, err
		}
		spec, ready, err := b.replicas(ctx, ns, name)
		if err != nil {
			return false, err
		}
		if spec == want && ready == want {
			return true, nil
		}
		return false, fmt.Errorf("%d replicas wanted, %d ready", spec, ready)
	})
	require.NoError(t, err, "%s/%s to %d replicas: %s", ns, name, want, why)
}

// waitSpec waits until the Deployment wants want replicas, ready or not.
func (b *bed) waitSpec(t *testing.T, ns, name string, want int32, timeout time.Duration, why string) {
	t.Helper()
	err := poll(context.Background(), timeout, pollEvery, func(ctx context.Context) (bool, error) {
		if err := b.alive(); err != nil {
			return true, err
		}
		spec, _, err := b.replicas(ctx, ns, name)
		if err != nil {
			return false, err
		}
		if spec == want {
			return true, nil
		}
		return false, fmt.Errorf("%d replicas wanted", spec)
	})
	require.NoError(t, err, "%s/%s to %d replicas: %s", ns, name, want, why)
}

// hpa returns the HPA KEDA made for ScaledObject so.
func (b *bed) hpa(ctx context.Context, ns, so string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	return b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "keda-hpa-"+so, metav1.GetOptions{})
}

// hpaValue is the HPA's newest reading of its first external metric: the
// average value or the value, as its target type says.
func hpaValue(h *autoscalingv2.HorizontalPodAutoscaler) (string, float64) {
	for _, m := range h.Status.CurrentMetrics {
		if m.External == nil {
			continue
		}
		if q := m.External.Current.AverageValue; q != nil {
			return m.External.Metric.Name, q.AsApproximateFloat64()
		}
		if q := m.External.Current.Value; q != nil {
			return m.External.Metric.Name, q.AsApproximateFloat64()
		}
	}
	return "", -1
}

// timeline samples a Deployment's replicas and its HPA's metric once a
// second, for the report and for assertions on the whole run.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	points []point
	stop   func()
}

type point struct {
	at            time.Duration
	note          string
	value         float64 // the HPA's reading; -1 before it has one
	spec, ready   int32
	hpaDesired    int32
	metric, error string
}

func (b *bed) record(t *testing.T, ns, deploy, so string) *timeline {
	ctx, cancel := context.WithCancel(context.Background())
	tl := &timeline{start: time.Now()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p := point{at: time.Since(tl.start).Round(100 * time.Millisecond), value: -1}
			var err error
			p.spec, p.ready, err = b.replicas(ctx, ns, deploy)
			if err == nil {
				var h *autoscalingv2.HorizontalPodAutoscaler
				if h, err = b.hpa(ctx, ns, so); err == nil {
					p.metric, p.value = hpaValue(h)
					p.hpaDesired = h.Status.DesiredReplicas
				}
			}
			switch {
			case apierrors.IsNotFound(err):
				p.error = "no HPA yet"
			case err != nil:
				p.error = err.Error()
			}
			tl.mu.Lock()
			tl.points = append(tl.points, p)
			tl.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	tl.stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		tl.stop()
		tl.write(t)
	})
	return tl
}

// mark notes an event (a phase change, a fault) at the current time.
func (tl *timeline) mark(note string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.points = append(tl.points, point{at: time.Since(tl.start).Round(100 * time.Millisecond), note: note})
}

// maxSpec is the most replicas the Deployment wanted in the timeline so far.
func (tl *timeline) maxSpec() int32 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var m int32
	for _, p := range tl.points {
		m = max(m, p.spec)
	}
	return m
}

// write logs the timeline and, with $E2E_TIMELINES set, saves it there.
func (tl *timeline) write(t *testing.T) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s: t(s)\tHPA metric value\tdesired(HPA)\treplicas(spec/ready)\tnote\n", t.Name())
	for _, p := range tl.points {
		if p.note != "" {
			fmt.Fprintf(&sb, "%.1f\t\t\t\t# %s\n", p.at.Seconds(), p.note)
			continue
		}
		v := "-"
		if p.value >= 0 {
			v = fmt.Sprintf("%.2f", p.value)
		}
		fmt.Fprintf(&sb, "%.1f\t%s\t%d\t%d/%d\t%s\n", p.at.Seconds(), v, p.hpaDesired, p.spec, p.ready, p.error)
	}
	t.Log("\n" + sb.String())
	if dir := os.Getenv("E2E_TIMELINES"); dir != "" {
		name := strings.ReplaceAll(t.Name(), "/", "_") + ".tsv"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
			t.Errorf("timeline: %v", err)
		}
	}
}
