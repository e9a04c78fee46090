// SPDX-License-Identifier: Apache-2.0

// Command footprint measures the resident memory and CPU time of
// `nvml-scaler serve` on fake GPUs, for BENCHMARKS.md:
//
//	make build && go run ./internal/tools/footprint -bin bin/nvml-scaler -gpus 8 -interval 1s -duration 60s
//
// It builds the fake libnvidia-ml (internal/fakenvml; needs a C compiler),
// replicates a recording onto -gpus GPUs replayed in real time (fakenvml's
// Clock), starts serve on it, probes /readyz and /healthz every 10 s and asks
// GetMetrics every 15 s (what the kubelet and the HPA do), and samples
// /proc/<pid>/status (VmRSS) and /proc/<pid>/stat (utime + stime) after a
// warm-up. Run it from the module root.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// clockTicks is USER_HZ, the unit of utime and stime: 100 on every Linux ABI
// Go supports.
const clockTicks = 100

func main() {
	bin := flag.String("bin", "bin/nvml-scaler", "the nvml-scaler binary")
	gpus := flag.Int("gpus", 8, "fake GPUs")
	interval := flag.Duration("interval", time.Second, "serve --interval")
	warmup := flag.Duration("warmup", 10*time.Second, "time after ready before measuring")
	duration := flag.Duration("duration", 60*time.Second, "measured time")
	rec := flag.String("recording", "testdata/recordings/h200-inference-ramp.json", "recording replicated onto the GPUs")
	flag.Parse()
	if err := run(*bin, *rec, *gpus, *interval, *warmup, *duration, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func run(bin, recPath string, gpus int, interval, warmup, duration time.Duration, extra []string) error {
	dir, err := os.MkdirTemp("", "footprint")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lib, err := fakeLibrary(dir, recPath, gpus)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := append([]string{"serve", "--nvml-lib", lib, "--interval", interval.String(),
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "text"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr, cmd.Stdout = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	grpcAddr, httpAddr, err := addrs(logPath)
	if err != nil {
		return err
	}
	if err := waitReady(httpAddr); err != nil {
		return err
	}
	stop := probe(grpcAddr, httpAddr)
	defer stop()
	pid := cmd.Process.Pid
	time.Sleep(warmup)

	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	var rss []int
	for time.Since(start) < duration {
		r, err := rssKiB(pid)
		if err != nil {
			return err
		}
		rss = append(rss, r)
		time.Sleep(time.Second)
	}
	elapsed := time.Since(start)
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	runtimeStats(httpAddr)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "RssAnon:") || strings.HasPrefix(l, "RssFile:") {
				fmt.Fprintln(os.Stderr, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	fileRSS(pid)
	cpu := float64(cpu1-cpu0) / clockTicks
	maxRSS := 0
	for _, r := range rss {
		maxRSS = max(maxRSS, r)
	}
	fmt.Printf("| GPUs | interval | measured | RSS at start | RSS max | RSS at end | CPU time | CPU (one core) | binary |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %v | %v | %.1f MiB | %.1f MiB | %.1f MiB | %.2f s | %.3f%% | %.1f MiB |\n",
		gpus, interval, elapsed.Round(time.Second), mib(rss[0]), mib(maxRSS), mib(rss[len(rss)-1]),
		cpu, 100*cpu/elapsed.Seconds(), float64(st.Size())/(1<<20))
	return nil
}

func mib(kib int) float64 { return float64(kib) / 1024 }

// fakeLibrary puts the fake library and a script replaying rec on n GPUs in
// real time into dir and returns the library's path.
func fakeLibrary(dir, recPath string, n int) (string, error) {
	built, err := fakenvml.Build(fakenvml.Modern)
	if err != nil {
		return "", err
	}
	rec, err := recording.Load(recPath)
	if err != nil {
		return "", err
	}
	if rec, err = fakenvml.Replicate(rec, n); err != nil {
		return "", err
	}
	var script bytes.Buffer
	if err := fakenvml.WriteScript(&script, rec, fakenvml.Clock(1)); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, fakenvml.ScriptName), script.Bytes(), 0o644); err != nil {
		return "", err
	}
	b, err := os.ReadFile(built)
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, fakenvml.LibName)
	return lib, os.WriteFile(lib, b, 0o755)
}

var listening = regexp.MustCompile(`grpc=(\S+) http=(\S+)`)

// addrs waits for serve's "starting" line and returns its addresses.
func addrs(logPath string) (string, string, error) {
	for range 300 {
		b, _ := os.ReadFile(logPath)
		if m := listening.FindSubmatch(b); m != nil {
			return string(m[1]), string(m[2]), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	return "", "", fmt.Errorf("serve did not start:\n%s", b)
}

func waitReady(httpAddr string) error {
	for range 300 {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("serve never became ready")
}

// probe does what the kubelet and the HPA would, until stop is called.
func probe(grpcAddr, httpAddr string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		defer conn.Close()
		c := pb.NewExternalScalerClient(conn)
		req := &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{Name: "vllm", Namespace: "ml",
			ScalerMetadata: map[string]string{"metric": "sm_active_percent", "targetValue": "60", "aggregation": "sum"}}}
		health, metrics := time.NewTicker(10*time.Second), time.NewTicker(15*time.Second)
		defer health.Stop()
		defer metrics.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-health.C:
				for _, p := range []string{"/readyz", "/healthz"} {
					if resp, err := http.Get("http://" + httpAddr + p); err == nil {
						resp.Body.Close()
					}
				}
			case <-metrics.C:
				_, _ = c.GetMetrics(ctx, req)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// runtimeStats prints the Go runtime's view of memory from serve's /metrics,
// to tell heap from the rest of the resident set.
func runtimeStats(httpAddr string) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		for _, name := range []string{"go_memstats_heap_inuse_bytes ", "go_memstats_sys_bytes ", "go_goroutines ", "process_open_fds "} {
			if strings.HasPrefix(s.Text(), name) {
				fmt.Fprintln(os.Stderr, s.Text())
			}
		}
	}
}

// fileRSS prints the resident size of each file mapped into serve, summed per
// file: the binary's own pages dominate the resident set.
func fileRSS(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return
	}
	perFile := map[string]int{}
	file := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			file = ""
			if len(f) >= 6 {
				file = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:" && file != "":
			n, _ := strconv.Atoi(f[1])
			perFile[file] += n
		}
	}
	for name, kib := range perFile {
		if kib >= 256 {
			fmt.Fprintf(os.Stderr, "rss %s: %d kB\n", name, kib)
		}
	}
}

func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuTicks returns utime + stime from /proc/<pid>/stat, in clock ticks.
func cpuTicks(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	utime, err1 := strconv.Atoi(f[11]) // field 14
	stime, err2 := strconv.Atoi(f[12]) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %s", pid, b)
	}
	return utime + stime, nil
}
