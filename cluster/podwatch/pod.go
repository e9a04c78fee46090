// SPDX-License-Identifier: Apache-2.0

// Package podwatch keeps the list of pods on one node from the Kubernetes API
// server, without client-go: a list and then a watch of
// /api/v1/pods?fieldSelector=spec.nodeName=<node> over plain HTTPS with the
// pod's service-account token and CA, decoded into the few fields the engine
// scraper needs. A watch that ends is resumed from the last resourceVersion;
// 410 Gone (the version expired) relists. RBAC needed: get, list and watch on
// pods, nothing else.
package podwatch

import "time"

// Pod is the part of a core/v1 Pod the engine scraper reads.
type Pod struct {
	Namespace   string
	Name        string
	UID         string
	IP          string
	Annotations map[string]string
	Containers  []Container
	// Ready is the pod's Ready condition.
	Ready bool
	// Terminating: metadata.deletionTimestamp is set.
	Terminating bool
	// Started is status.startTime: a declared port is probed once per start.
	Started time.Time
}

// Container is one container's declared ports.
type Container struct {
	Name  string
	Ports []Port
}

// Port is a declared containerPort.
type Port struct {
	Name     string
	Port     int32
	Protocol string // "TCP" when unset
}

// Counts reports whether p's engine metrics may count: Ready and not
// terminating.
func (p *Pod) Counts() bool { return p.Ready && !p.Terminating }

// Key is namespace/name.
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// wirePod is the JSON of a core/v1 Pod, only the fields read.
type wirePod struct {
	Metadata struct {
		Namespace         string            `json:"namespace"`
		Name              string            `json:"name"`
		UID               string            `json:"uid"`
		ResourceVersion   string            `json:"resourceVersion"`
		Annotations       map[string]string `json:"annotations"`
		DeletionTimestamp *time.Time        `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name  string `json:"name"`
			Ports []struct {
				Name          string `json:"name"`
				ContainerPort int32  `json:"containerPort"`
				Protocol      string `json:"protocol"`
			} `json:"ports"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		PodIP      string     `json:"podIP"`
		StartTime  *time.Time `json:"startTime"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (w *wirePod) pod() Pod {
	p := Pod{Namespace: w.Metadata.Namespace, Name: w.Metadata.Name, UID: w.Metadata.UID, IP: w.Status.PodIP,
		Annotations: w.Metadata.Annotations, Terminating: w.Metadata.DeletionTimestamp != nil}
	if w.Status.StartTime != nil {
		p.Started = *w.Status.StartTime
	}
	for _, c := range w.Status.Conditions {
		if c.Type == "Ready" {
			p.Ready = c.Status == "True"
		}
	}
	for _, c := range w.Spec.Containers {
		ct := Container{Name: c.Name}
		for _, port := range c.Ports {
			proto := port.Protocol
			if proto == "" {
				proto = "TCP"
			}
			ct.Ports = append(ct.Ports, Port{Name: port.Name, Port: port.ContainerPort, Protocol: proto})
		}
		p.Containers = append(p.Containers, ct)
	}
	return p
}
