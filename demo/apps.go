package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// errorRates are the simulated images' behaviour: v3 ships with a bug that
// fails about 30% of its requests. A container env ERROR_RATE overrides it.
var errorRates = map[string]float64{"v3": 0.3}

// runner stands in for the kubelet and the container runtime: the demo's
// pods are kwok fakes, so for each revision whose ReplicaSet wants pods it
// runs one real demo-app process (version from the image tag, revision from
// the pods' canonical-revision label) on one of the addresses Prometheus
// scrapes, and stops it when the ReplicaSet is scaled to zero.
type runner struct {
	c    client.Client
	ns   string
	bin  string
	logs string
	prom *prometheus
	log  func(format string, args ...any)

	mu    sync.Mutex
	procs map[string]*appProc // by revision
	slots []string            // addresses Prometheus scrapes
}

// slotCount addresses are registered with Prometheus before any process
// runs, like pod IPs a service discovery already knows: a new revision's
// process takes a free one and is scraped within a second, where a new
// file_sd target would wait for Prometheus's discovery (about 5 s).
const slotCount = 6

// appProc is one running demo-app.
type appProc struct {
	Revision  string
	Version   string
	Addr      string
	ErrorRate float64
	cmd       *exec.Cmd
	done      chan struct{}
}

func newRunner(c client.Client, ns, bin, logs string, prom *prometheus, log func(string, ...any)) (*runner, error) {
	r := &runner{c: c, ns: ns, bin: bin, logs: logs, prom: prom, log: log, procs: map[string]*appProc{}}
	for range slotCount {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		r.slots = append(r.slots, addr)
	}
	return r, prom.setTargets(r.targets())
}

// run reconciles processes with ReplicaSets every 200 ms until ctx ends.
func (r *runner) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if err := r.sync(ctx); err != nil && ctx.Err() == nil {
			r.log("process runner: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *runner) sync(ctx context.Context) error {
	var sets appsv1.ReplicaSetList
	if err := r.c.List(ctx, &sets, client.InNamespace(r.ns), client.HasLabels{sluicev1.LabelRevision}); err != nil {
		return err
	}
	want := map[string]appsv1.ReplicaSet{}
	for _, rs := range sets.Items {
		rev := rs.Spec.Template.Labels[sluicev1.LabelCanonicalRevision]
		if rev == "" {
			rev = rs.Labels[sluicev1.LabelRevision]
		}
		if ptr.Deref(rs.Spec.Replicas, 0) > 0 || rs.Status.Replicas > 0 {
			want[rev] = rs
		}
	}
	for rev, rs := range want {
		r.mu.Lock()
		p := r.procs[rev]
		r.mu.Unlock()
		if p != nil && !p.exited() {
			continue
		}
		if p != nil {
			r.log("demo-app %s (%s) exited; restarting it", p.Version, short(rev))
		}
		np, err := r.start(rev, rs)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.procs[rev] = np
		r.mu.Unlock()
	}
	r.mu.Lock()
	for rev, p := range r.procs {
		if _, ok := want[rev]; !ok {
			delete(r.procs, rev)
			go func() {
				p.stop()
				r.log("demo-app %s stopped (revision %s scaled to zero)", p.Version, short(rev))
			}()
		}
	}
	r.mu.Unlock()
	return nil
}

// freeSlot is an address no process uses; a fresh one (registered with
// Prometheus) when all are taken or after a failed bind.
func (r *runner) freeSlot(avoid map[string]bool) (string, error) {
	r.mu.Lock()
	used := map[string]bool{}
	for _, p := range r.procs {
		used[p.Addr] = true
	}
	for _, a := range r.slots {
		if !used[a] && !avoid[a] {
			r.mu.Unlock()
			return a, nil
		}
	}
	r.mu.Unlock()
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.slots = append(r.slots, addr)
	ts := r.targets()
	r.mu.Unlock()
	return addr, r.prom.setTargets(ts)
}

// start runs demo-app for a revision with what its pod template says.
func (r *runner) start(rev string, rs appsv1.ReplicaSet) (*appProc, error) {
	if len(rs.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("ReplicaSet %s has no containers", rs.Name)
	}
	c := rs.Spec.Template.Spec.Containers[0]
	version := c.Image
	if i := strings.LastIndexByte(version, ':'); i >= 0 {
		version = version[i+1:]
	}
	rate := errorRates[version]
	env := os.Environ()
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
		if e.Name == "ERROR_RATE" {
			if v, err := strconv.ParseFloat(e.Value, 64); err == nil {
				rate = v
			}
		}
	}
	avoid := map[string]bool{}
	for attempt := 0; ; attempt++ {
		addr, err := r.freeSlot(avoid)
		if err != nil {
			return nil, err
		}
		p, err := r.exec(rev, version, rate, env, addr)
		if err == nil || attempt == 3 {
			return p, err
		}
		avoid[addr] = true // most likely taken by another process meanwhile
	}
}

// exec starts one demo-app and waits until it serves.
func (r *runner) exec(rev, version string, rate float64, env []string, addr string) (*appProc, error) {
	logf, err := os.OpenFile(filepath.Join(r.logs, fmt.Sprintf("demo-app-%s-%s.log", version, short(rev))), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.bin,
		"--listen="+addr, "--version="+version, "--revision="+rev, "--service=web",
		"--error-rate="+strconv.FormatFloat(rate, 'f', -1, 64))
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C in the terminal reaches the demo,
	// which stops the apps in order; Pdeathsig ends them if the demo dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting demo-app %s: %w", version, err)
	}
	p := &appProc{Revision: rev, Version: version, Addr: addr, ErrorRate: rate, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	// Wait until it serves, so the first request routed to it finds it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("demo-app %s exited at once; see %s", version, logf.Name())
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Demo-Revision") == rev {
				break
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("demo-app %s does not serve on %s; see %s", version, addr, logf.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.log("demo-app %s started for revision %s on %s (%.0f%% errors)", version, short(rev), addr, rate*100)
	return p, nil
}

// targets are the slots; the processes label their own metrics with their
// revision, as Istio's sidecar would.
func (r *runner) targets() []target {
	var ts []target
	for i, a := range r.slots {
		ts = append(ts, target{Addr: a, Labels: map[string]string{"slot": strconv.Itoa(i)}})
	}
	return ts
}

// endpoint is where a revision's process serves, if it runs.
func (r *runner) endpoint(rev string) (*appProc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[rev]
	return p, ok
}

// running lists the processes, by revision.
func (r *runner) running() []*appProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*appProc, 0, len(r.procs))
	for _, p := range r.procs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// stopAll stops every process.
func (r *runner) stopAll() {
	r.mu.Lock()
	procs := r.procs
	r.procs = map[string]*appProc{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

func (p *appProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *appProc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func short(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}
