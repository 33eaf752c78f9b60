package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/internal/testenv"
)

// prometheus is the real Prometheus that hack/tools.sh built. It finds the
// demo-app processes through a file_sd target file, as Kubernetes service
// discovery would find pods; the processes label their own metrics with
// their revision, as Istio's sidecar does.
type prometheus struct {
	URL     string
	targets string
	mu      sync.Mutex
}

const promConfig = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: web
    file_sd_configs:
      - files: [%q]
        refresh_interval: 1s
`

// startPrometheus runs Prometheus under env, so env.Stop stops it.
func startPrometheus(env *testenv.Env, dir string) (*prometheus, error) {
	bin, err := testenv.Tool("prometheus")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := &prometheus{targets: filepath.Join(dir, "targets.json")}
	if err := p.setTargets(nil); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, promConfig, p.targets), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + addr
	if err := env.StartProcess("prometheus", bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("prometheus on %s not ready after 60s (log: %s): %v", addr, filepath.Join(env.Dir(), "prometheus.log"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// target is one scrape target with its labels.
type target struct {
	Addr   string
	Labels map[string]string
}

// setTargets rewrites the target file atomically; Prometheus's discovery
// picks it up within about five seconds.
func (p *prometheus) setTargets(ts []target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].Addr < ts[j].Addr })
	groups := []map[string]any{}
	for _, t := range ts {
		groups = append(groups, map[string]any{"targets": []string{t.Addr}, "labels": t.Labels})
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	tmp := p.targets + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p.targets)
}
