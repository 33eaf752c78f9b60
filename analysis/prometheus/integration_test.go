package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-dev/sluice/analysis/condition"
	"github.com/sluice-dev/sluice/analysis/prometheus"
	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// weirdLabel is a label value that only an exactly escaped matcher finds.
const weirdLabel = "a\"b\\c\nd 'é' 日本 `x` }[5m]) or vector(1) #"

// app is the process Prometheus scrapes: requests by code, with an error
// fraction the test sets, counted under a lock that the scrape also takes,
// so that every scrape sees whole ticks and the error ratio is exact.
type app struct {
	mu       sync.Mutex
	reg      *promclient.Registry
	requests *promclient.CounterVec
	errPer10 int
}

func newApp() *app {
	a := &app{reg: promclient.NewRegistry(), errPer10: 1}
	a.requests = promclient.NewCounterVec(promclient.CounterOpts{Name: "sluice_test_requests_total", Help: "Requests by code."}, []string{"code"})
	idle := promclient.NewCounterVec(promclient.CounterOpts{Name: "sluice_test_idle_requests_total", Help: "Requests that never come."}, []string{"code"})
	idle.WithLabelValues("200")
	idle.WithLabelValues("500")
	pods := promclient.NewGaugeVec(promclient.GaugeOpts{Name: "sluice_test_pod_value", Help: "One value per pod."}, []string{"pod"})
	pods.WithLabelValues("b").Set(2)
	pods.WithLabelValues("a").Set(1)
	pods.WithLabelValues("c").Set(3)
	weird := promclient.NewGaugeVec(promclient.GaugeOpts{Name: "sluice_test_weird", Help: "A hostile label value."}, []string{"v"})
	weird.WithLabelValues(weirdLabel).Set(42)
	weird.WithLabelValues("a").Set(1)
	a.reg.MustRegister(a.requests, idle, pods, weird)
	return a
}

func (a *app) tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests.WithLabelValues("500").Add(float64(a.errPer10))
	a.requests.WithLabelValues("200").Add(float64(10 - a.errPer10))
}

func (a *app) Gather() ([]*dto.MetricFamily, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reg.Gather()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPrometheus runs the real Prometheus scraping target every second and
// returns its address and a function that stops it.
func startPrometheus(t *testing.T, target string) (string, func()) {
	t.Helper()
	bin, err := testenv.Tool("prometheus")
	if err != nil {
		t.Fatalf("the integration test needs a real Prometheus: %v", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 15s: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base, stop
}

func TestRealPrometheus(t *testing.T) {
	a := newApp()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a, promhttp.HandlerOpts{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				a.tick()
			}
		}
	}()

	address, stop := startPrometheus(t, l.Addr().String())
	c, err := prometheus.New(v1alpha1.PrometheusServer{Address: address, Timeout: ptr(v1alpha1.Duration("5s"))}, prometheus.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	args := prometheus.Args(map[string]string{prometheus.ArgNamespace: "shop"}, []v1alpha1.AnalysisArg{{Name: "job", Value: "app"}, {Name: "window", Value: "5s"}})
	render := func(q string, extra ...string) string {
		t.Helper()
		all := map[string]string{}
		for k, v := range args {
			all[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			all[extra[i]] = extra[i+1]
		}
		out, err := prometheus.Render(q, all)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	errorRatio := render(`sum(rate(sluice_test_requests_total{job="{{args.job}}",code=~"5.."}[{{args.window}}])) / sum(rate(sluice_test_requests_total{job="{{args.job}}"}[{{args.window}}]))`)

	// Wait until rate has had a value for a few steps (two scrapes in its
	// window, then three more seconds), so that range queries see them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := c.QueryRange(ctx, errorRatio, v1alpha1.QueryRange{Window: "3s", Step: "1s"}, time.Now())
		if err == nil && len(v.Values) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate after 20s: %+v %v", v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("rate ratio", func(t *testing.T) {
		v, err := c.Query(ctx, errorRatio, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Values) != 1 || math.Abs(v.Values[0]-0.1) > 1e-9 {
			t.Fatalf("error ratio %+v, want 0.1", v)
		}
		cond, err := condition.Compile(v1alpha1.Metric{Name: "error-rate", SuccessCondition: "result < 0.2"})
		if err != nil {
			t.Fatal(err)
		}
		if verdict := cond.Evaluate(v.Values); verdict.Phase != v1alpha1.AnalysisSuccessful {
			t.Fatalf("verdict %+v", verdict)
		}
	})

	t.Run("several series", func(t *testing.T) {
		v, err := c.Query(ctx, render(`sluice_test_pod_value{job="{{args.job}}"}`), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(v.Values) != "[1 2 3]" || v.Series != 3 || v.Text != "[1, 2, 3]" {
			t.Fatalf("got %+v", v)
		}
		for _, pod := range []string{`pod="a"}=1`, `pod="b"}=2`, `pod="c"}=3`} {
			if !strings.Contains(v.Message, pod) {
				t.Errorf("message %q does not list %s", v.Message, pod)
			}
		}
		cond, _ := condition.Compile(v1alpha1.Metric{Name: "pods", SuccessCondition: "result < 10"})
		if verdict := cond.Evaluate(v.Values); verdict.Phase != v1alpha1.AnalysisError || !strings.Contains(verdict.Message, "list of 3 values") {
			t.Fatalf("a scalar condition on three series: %+v", verdict)
		}
	})

	t.Run("empty result", func(t *testing.T) {
		v, err := c.Query(ctx, `sluice_test_requests_total{code="404"}`, time.Time{})
		if err != nil || !v.NoData || v.Message != "no series (empty vector)" {
			t.Fatalf("got %+v %v", v, err)
		}
	})

	t.Run("NaN from 0/0", func(t *testing.T) {
		v, err := c.Query(ctx, `sum(rate(sluice_test_idle_requests_total{code="500"}[5s])) / sum(rate(sluice_test_idle_requests_total[5s]))`, time.Time{})
		if err != nil || !v.NoData || v.Text != "NaN" || v.Message != prometheus.NaNMessage {
			t.Fatalf("got %+v %v", v, err)
		}
	})

	t.Run("+Inf", func(t *testing.T) {
		v, err := c.Query(ctx, `sum(rate(sluice_test_requests_total[5s])) / sum(rate(sluice_test_idle_requests_total[5s]))`, time.Time{})
		if err != nil || v.NoData || len(v.Values) != 1 || !math.IsInf(v.Values[0], 1) || !strings.Contains(v.Message, "+Inf") {
			t.Fatalf("got %+v %v", v, err)
		}
	})

	t.Run("hostile argument values", func(t *testing.T) {
		for _, hostile := range []string{`"}[5m]) or vector(1) #`, `\`, "x\ny", `é日本🚀`, `.*`} {
			q := render(`sum(sluice_test_requests_total{code="{{args.code}}"})`, "code", hostile)
			v, err := c.Query(ctx, q, time.Time{})
			if err != nil || !v.NoData {
				t.Fatalf("%q rendered as %s: got %+v %v; want no series", hostile, q, v, err)
			}
		}
		// The escaping is exact: a hostile label value is matched as itself.
		for _, q := range []string{`sluice_test_weird{v="{{args.v}}"}`, `sluice_test_weird{v=~"{{args.v}}"}`, `sluice_test_weird{v='{{args.v}}'}`} {
			v, err := c.Query(ctx, render(q, "v", weirdLabel), time.Time{})
			if err != nil || fmt.Sprint(v.Values) != "[42]" {
				t.Fatalf("%s: got %+v %v; want 42", q, v, err)
			}
		}
		// In a regex matcher an argument is literal: ".*" matches nothing.
		v, err := c.Query(ctx, render(`sluice_test_weird{v=~"{{args.v}}"}`, "v", ".*"), time.Time{})
		if err != nil || !v.NoData {
			t.Fatalf("got %+v %v", v, err)
		}
	})

	t.Run("range query", func(t *testing.T) {
		v, err := c.QueryRange(ctx, errorRatio, v1alpha1.QueryRange{Window: "4s", Step: "1s"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Values) < 3 {
			t.Fatalf("got %+v, want a sample per step", v)
		}
		for _, x := range v.Values {
			if math.Abs(x-0.1) > 1e-9 {
				t.Fatalf("sample %v of %+v, want 0.1", x, v)
			}
		}
		s, err := c.Samples(ctx, render(`rate(sluice_test_requests_total{job="{{args.job}}"}[{{args.window}}])`), v1alpha1.QueryRange{Window: "3s", Step: "1s"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if s.Series != 2 || len(s.Values) < 6 || s.NaN != 0 {
			t.Fatalf("samples %+v", s)
		}
		s, err = c.Samples(ctx, `sum(rate(sluice_test_idle_requests_total{code="500"}[5s])) / sum(rate(sluice_test_idle_requests_total[5s]))`, v1alpha1.QueryRange{Window: "3s", Step: "1s"}, time.Now())
		if err != nil || len(s.Values) != 0 || s.NaN < 3 {
			t.Fatalf("NaN samples %+v %v", s, err)
		}
	})

	t.Run("PromQL syntax error", func(t *testing.T) {
		_, err := c.Query(ctx, `sum(rate(sluice_test_requests_total[5s])`, time.Time{})
		var pe *prometheus.ProviderError
		if !errors.As(err, &pe) || pe.Reason != prometheus.ReasonBadQuery || pe.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "parse error") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("execution error", func(t *testing.T) {
		_, err := c.Query(ctx, `sluice_test_pod_value + on() sluice_test_pod_value`, time.Time{})
		var pe *prometheus.ProviderError
		if !errors.As(err, &pe) || pe.Reason != prometheus.ReasonExecution || !strings.Contains(err.Error(), "many-to-many") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("stopped Prometheus", func(t *testing.T) {
		stop()
		_, err := c.Query(ctx, errorRatio, time.Time{})
		var pe *prometheus.ProviderError
		if !errors.As(err, &pe) || pe.Reason != prometheus.ReasonUnreachable || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v", err)
		}
		t.Logf("stopped Prometheus reads: %v", err)
	})
}

func ptr[T any](v T) *T { return &v }
