// Package e2e runs the real sluice manager binary against the real local
// control plane (etcd, kube-apiserver, kube-controller-manager, kwok), as a
// separate process, so restarts, leader election, flags and the metrics
// endpoint are exercised as they ship.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/revision"
)

var (
	env        *testenv.Env
	managerBin string
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.Options{Cluster: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	managerBin = filepath.Join(env.Dir(), "manager")
	root, _ := testenv.RepoRoot()
	build := exec.Command("go", "build", "-o", managerBin, ".")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the manager:", err)
		env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// managerProc is one run of the manager binary.
type managerProc struct {
	cmd         *exec.Cmd
	metricsAddr string
	done        chan struct{}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startManager runs the manager with leader election on, as in a cluster.
func startManager(t testing.TB, extra ...string) *managerProc {
	t.Helper()
	m := &managerProc{metricsAddr: freePort(), done: make(chan struct{})}
	logf, err := os.Create(filepath.Join(env.Dir(), fmt.Sprintf("manager-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--kubeconfig=" + env.Kubeconfig,
		"--metrics-bind-address=" + m.metricsAddr,
		"--health-probe-bind-address=" + freePort(),
		"--leader-elect=true",
		"--leader-election-namespace=default",
		"--kube-api-qps=1000", "--kube-api-burst=2000",
	}, extra...)
	m.cmd = exec.Command(managerBin, args...)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); logf.Close(); close(m.done) }()
	return m
}

// stop ends the manager with sig (SIGTERM for a clean shutdown, SIGKILL for
// a crash).
func (m *managerProc) stop(sig syscall.Signal) {
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(40 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// cpuSeconds is the process's user+system CPU time from /proc.
func (m *managerProc) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// peakRSSMB is VmHWM from /proc.
func (m *managerProc) peakRSSMB() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// metrics returns the manager's metrics page.
func (m *managerProc) metrics() string {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// writes reads the manager's write requests from sluice_api_writes_total,
// by resource. Leader election's Lease renewals are reported apart.
func (m *managerProc) writes() (map[string]float64, error) {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "sluice_api_writes_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `resource="`)
		resource, _, _ := strings.Cut(rest, `"`)
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		out[resource] += v
	}
	return out, s.Err()
}

// app creates a VirtualService and a DestinationRule named name and
// returns a Rollout for them with the given canary steps.
func app(ctx context.Context, t testing.TB, ns, name, image string, replicas int32, steps []sluicev1.Step, scaleDownDelay string) *sluicev1.Rollout {
	t.Helper()
	for _, doc := range []string{
		fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":%q,"namespace":%q},"spec":{"hosts":[%q],"http":[{"name":"primary","route":[{"destination":{"host":%q,"subset":"stable"},"weight":100}]}]}}`, name, ns, name, name),
		fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":%q,"namespace":%q},"spec":{"host":%q,"subsets":[{"name":"stable"},{"name":"canary"}]}}`, name, ns, name),
	} {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	delay := sluicev1.Duration(scaleDownDelay)
	return &sluicev1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: sluicev1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(name, image),
			Strategy: sluicev1.RolloutStrategy{Canary: &sluicev1.CanaryStrategy{Steps: steps}, ScaleDownDelay: &delay},
			Traffic: sluicev1.TrafficRouting{Istio: sluicev1.IstioTraffic{
				VirtualServices: []sluicev1.VirtualServiceRef{{Name: name, Routes: []string{"primary"}}},
				DestinationRule: &sluicev1.DestinationRuleRef{Name: name, StableSubset: "stable", CanarySubset: "canary"},
			}},
		},
	}
}

func template(name, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:   testenv.FakeNode,
			Containers: []corev1.Container{{Name: "app", Image: image}},
		},
	}
}

func revisionOf(name, image string) string {
	tpl := template(name, image)
	h, err := revision.Hash(&tpl)
	if err != nil {
		panic(err)
	}
	return h
}

func weights(steps ...int32) []sluicev1.Step {
	out := make([]sluicev1.Step, len(steps))
	for i, w := range steps {
		out[i].SetWeight = ptr.To(w)
	}
	return out
}
