package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// process is a child process whose output goes to a log file, so a failing
// test can point at it.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// StartProcess runs a binary in the background until Stop; its output goes
// to <Dir>/<name>.log.
func (e *Env) StartProcess(name, path string, args ...string) error {
	logPath := filepath.Join(e.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	e.procs = append(e.procs, p)
	return nil
}

func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}

func (p *process) exited() error {
	select {
	case <-p.done:
		tail, _ := os.ReadFile(p.log)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s exited: %s", p.name, tail)
	default:
		return nil
	}
}

// startCluster runs kube-controller-manager (ReplicaSets create Pods, garbage
// collection follows owner references) and kwok (Pods on the fake Node
// become Running and Ready without a kubelet).
func (e *Env) startCluster(opts Options) error {
	kcm, err := Tool("kube-controller-manager")
	if err != nil {
		return err
	}
	kwok, err := Tool("kwok")
	if err != nil {
		return err
	}
	stages := filepath.Join(filepath.Dir(mustEval(kwok)), "stages.yaml")
	if _, err := os.Stat(stages); err != nil {
		return fmt.Errorf("kwok stages not found at %s: run `make tools`", stages)
	}
	args := []string{
		"--kubeconfig=" + e.Kubeconfig,
		"--authentication-kubeconfig=" + e.Kubeconfig,
		"--authorization-kubeconfig=" + e.Kubeconfig,
		"--controllers=replicaset,deployment,garbagecollector,namespace",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--secure-port=0",
		// Its default 20 QPS throttles Pod churn, which would make tests and
		// benchmarks measure kube-controller-manager instead of sluice.
		"--kube-api-qps=1000", "--kube-api-burst=2000",
		"--concurrent-replicaset-syncs=20",
		"--v=1",
	}
	if err := e.StartProcess("kube-controller-manager", kcm, append(args, opts.ControllerManagerArgs...)...); err != nil {
		return err
	}
	if err := e.StartProcess("kwok", kwok,
		"--kubeconfig="+e.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config="+stages,
		"--server-address=",
	); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.createFakeNode(ctx); err != nil {
		return err
	}
	return waitFor(60*time.Second, "fake node "+FakeNode, func() error {
		for _, p := range e.procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		var n corev1.Node
		if err := e.Client.Get(ctx, client.ObjectKey{Name: FakeNode}, &n); err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", FakeNode)
	})
}

func (e *Env) createFakeNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("100000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        FakeNode,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": FakeNode},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if err := e.Client.Create(ctx, node); err != nil {
		return fmt.Errorf("creating fake node: %w", err)
	}
	return nil
}

func mustEval(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
