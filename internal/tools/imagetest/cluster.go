// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// runKubelet serves a fake kubelet PodResources v1 API on -socket that
// allocates the GPUs -uuids to container "server" of pod -pod (namespace/name)
// as nvidia.com/gpu, until SIGTERM. The socket gets mode 0755, as the
// kubelet's under umask 022: only its owner, root, may connect.
func runKubelet(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest kubelet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "unix socket to serve on")
	pod := fs.String("pod", "", "namespace/name of the pod holding the GPUs")
	uuids := fs.String("uuids", "", "comma-separated GPU UUIDs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, name, ok := strings.Cut(*pod, "/")
	if *socket == "" || !ok || *uuids == "" || fs.NArg() != 0 {
		return errors.New("kubelet: want -socket PATH -pod NAMESPACE/NAME -uuids GPU-…[,GPU-…]")
	}
	lis, err := net.Listen("unix", *socket)
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	if err := os.Chmod(*socket, 0o755); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	gs := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(gs, &fakeKubelet{resp: &podresourcesv1.ListPodResourcesResponse{
		PodResources: []*podresourcesv1.PodResources{{Name: name, Namespace: ns, Containers: []*podresourcesv1.ContainerResources{{
			Name:    "server",
			Devices: []*podresourcesv1.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: strings.Split(*uuids, ",")}},
		}}}},
	}})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); gs.Stop() }()
	return gs.Serve(lis)
}

// fakeKubelet answers List with a fixed allocation.
type fakeKubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	resp *podresourcesv1.ListPodResourcesResponse
}

func (k *fakeKubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	return k.resp, nil
}

// runNoCaps chroots into -root, keeps uid 0, takes gid 65532 and no
// supplementary groups, empties the capability bounding, inheritable and
// ambient sets, sets no_new_privs, and execs the command: a process that is
// root by uid and holds no capability, as the DaemonSet's securityContext
// in cluster mode (runAsUser 0, runAsGroup 65532, capabilities drop ALL,
// allowPrivilegeEscalation false) leaves it.
func runNoCaps(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest nocaps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "directory to chroot into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" || fs.NArg() == 0 {
		return errors.New("nocaps: want -root DIR COMMAND [ARG…]")
	}
	if err := syscall.Chroot(*root); err != nil {
		return fmt.Errorf("nocaps: chroot: %w", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return err
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("nocaps: setgroups: %w", err)
	}
	if err := syscall.Setgid(65532); err != nil {
		return fmt.Errorf("nocaps: setgid: %w", err)
	}
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // the running kernel knows fewer capabilities
		}
		if err != nil {
			return fmt.Errorf("nocaps: drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("nocaps: clear ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("nocaps: no_new_privs: %w", err)
	}
	// Empty the inheritable set: after exec, permitted is then
	// (inheritable & file inheritable) | (file permitted & bounding) = 0.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("nocaps: capget: %w", err)
	}
	for i := range data {
		data[i].Inheritable = 0
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("nocaps: capset: %w", err)
	}
	return syscall.Exec(fs.Arg(0), fs.Args(), os.Environ())
}

// runNodeAPI reads one snapshot from the node API at -addr and requires its
// attribution to be available with -pod holding -uuid.
func runNodeAPI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest nodeapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:6001", "the agent's --node-api-listen")
	pod := fs.String("pod", "", "namespace/name the attribution must name")
	uuid := fs.String("uuid", "", "a GPU UUID the pod must hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	var dec agent.Decoder
	for {
		st, err := nodev1.NewNodeSnapshotsClient(cc).Watch(ctx, &nodev1.WatchRequest{})
		if err != nil {
			return fmt.Errorf("nodeapi: watch %s: %w", *addr, err)
		}
		m, err := st.Recv()
		if err != nil {
			return fmt.Errorf("nodeapi: %s: %w", *addr, err)
		}
		n, err := dec.Decode(m)
		if err != nil {
			return fmt.Errorf("nodeapi: %w", err)
		}
		a := n.Attribution
		if a.Available {
			for _, o := range a.Owners {
				if o.DeviceID == *uuid && o.Namespace+"/"+o.Pod == *pod {
					fmt.Fprintf(stdout, "attribution available: %s holds %s (%d owner(s))\n", *pod, *uuid, len(a.Owners))
					return nil
				}
			}
			return fmt.Errorf("nodeapi: attribution available but %s does not hold %s: %+v", *pod, *uuid, a.Owners)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodeapi: attribution still unavailable: %s", a.Reason)
		case <-time.After(500 * time.Millisecond):
			dec = agent.Decoder{}
		}
	}
}
