// Package manager wires sluice's controllers into a controller-runtime
// manager. main.go and the tests use the same wiring, so tests run what
// ships.
package manager

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sluice-dev/sluice/controllers"
	"github.com/sluice-dev/sluice/gitops"
	"github.com/sluice-dev/sluice/internal/scheme"
)

// Options are the manager's settings; main.go binds them to flags.
type Options struct {
	MetricsAddr, ProbeAddr string
	LeaderElection         bool
	LeaderNamespace        string
	Concurrency            int
	DisableEvents          bool
	GracefulShutdown       time.Duration
	// SkipNameValidation lets tests start several managers in one process.
	SkipNameValidation bool
	// GitCacheDir holds the clones of app repos for Git write-back;
	// defaults to $SLUICE_CACHE_DIR/git or the user's cache directory.
	GitCacheDir string
	// Slack receives approval clicks; posting works without it.
	Slack SlackOptions
}

// gitCacheDir picks where app repos are cloned.
func gitCacheDir(o Options) (string, error) {
	if o.GitCacheDir != "" {
		return o.GitCacheDir, nil
	}
	if d := os.Getenv("SLUICE_CACHE_DIR"); d != "" {
		return filepath.Join(d, "git"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no directory for Git clones: set --git-cache-dir or SLUICE_CACHE_DIR: %w", err)
	}
	return filepath.Join(d, "sluice", "git"), nil
}

// New creates the manager with every sluice controller registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	s := scheme.New()
	graceful := o.GracefulShutdown
	if graceful == 0 {
		graceful = 30 * time.Second
	}
	skip := o.SkipNameValidation
	mgr, err := ctrl.NewManager(countWrites(cfg), ctrl.Options{
		Scheme:                  s,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "sluice.dev",
		LeaderElectionNamespace: o.LeaderNamespace,
		// Hand the Lease over at once on a clean shutdown.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &graceful,
		// Istio objects are cached as unstructured so sluice's patches keep
		// fields the typed structs do not know.
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		// Of ConfigMaps, only the namespaces' notification settings.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Field: fields.OneTermEqualSelector("metadata.name", controllers.NotificationsConfigMap)},
		}},
		Controller: ctrlConfig(skip),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	gitDir, err := gitCacheDir(o)
	if err != nil {
		return nil, err
	}
	r := &controllers.RolloutReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Scheme:                  s,
		MaxConcurrentReconciles: o.Concurrency,
		// A reconcile waits at most 2 s for another write to the same branch,
		// then requeues: a busy repo must not hold every worker.
		Git:   &gitops.Writer{CacheDir: gitDir, LockWait: 2 * time.Second, Log: ctrl.Log.WithName("gitops")},
		Slack: &controllers.SlackPoster{APIURL: o.Slack.APIURL, Log: ctrl.Log.WithName("slack")},
	}
	if !o.DisableEvents {
		r.Recorder = mgr.GetEventRecorder("sluice")
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	if err := addSlack(mgr, o.Slack); err != nil {
		return nil, err
	}
	ar := &controllers.AnalysisRunReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}
	if err := ar.SetupWithManager(mgr, o.Concurrency); err != nil {
		return nil, fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
