package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Prometheus is a real Prometheus started by a test, scraping targets every
// second.
type Prometheus struct {
	// URL is http://127.0.0.1:<port>.
	URL  string
	addr string
	dir  string
	env  *Env
	proc *process
}

// StartPrometheus runs the Prometheus that hack/tools.sh built, scraping
// the given host:port targets every second. Restart after Stop keeps its
// data and address, for tests of an outage.
func (e *Env) StartPrometheus(targets ...string) (*Prometheus, error) {
	dir, err := os.MkdirTemp(e.dir, "prometheus-")
	if err != nil {
		return nil, err
	}
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [%s]\n", strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	p := &Prometheus{URL: "http://" + addr, addr: addr, dir: dir, env: e}
	return p, p.Start()
}

// Start (re)starts the process and waits until it is ready.
func (p *Prometheus) Start() error {
	bin, err := Tool("prometheus")
	if err != nil {
		return err
	}
	if err := p.env.StartProcess(fmt.Sprintf("prometheus-%d", time.Now().UnixNano()), bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr,
		"--log.level=warn",
	); err != nil {
		return err
	}
	p.proc = p.env.procs[len(p.env.procs)-1]
	return waitFor(30*time.Second, "prometheus", func() error {
		if err := p.proc.exited(); err != nil {
			return err
		}
		resp, err := http.Get(p.URL + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// Stop stops the process (an outage); Start brings it back.
func (p *Prometheus) Stop() error { return p.proc.stop() }
