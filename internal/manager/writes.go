package manager

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// apiWrites counts the manager's write requests by verb and resource, so an
// operator (and the benchmark) can see what each rollout step costs the
// apiserver.
var apiWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sluice_api_writes_total",
	Help: "Write requests (POST, PUT, PATCH, DELETE) the manager sent to the apiserver, by verb and resource.",
}, []string{"verb", "resource"})

func init() { metrics.Registry.MustRegister(apiWrites) }

// countWrites wraps the rest.Config's transport.
func countWrites(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return writeCounter{rt} })
	return cfg
}

type writeCounter struct{ next http.RoundTripper }

func (w writeCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		apiWrites.WithLabelValues(req.Method, resourceOf(req.URL.Path)).Inc()
	}
	return w.next.RoundTrip(req)
}

// resourceOf turns /apis/apps/v1/namespaces/x/replicasets/y/status into
// "replicasets/status".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// Skip "api/v1" or "apis/<group>/<version>".
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "other"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		if len(parts) == 2 {
			return "namespaces"
		}
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "other"
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}
