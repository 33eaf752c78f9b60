package install

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "copy config/crd/bases and config/rbac/role.yaml into charts/sluice/files (TestChartInSync)")

// chartCopies maps the chart's copies of generated files to their sources.
func chartCopies(t testing.TB) map[string]string {
	t.Helper()
	m := map[string]string{"charts/sluice/files/rbac/role.yaml": "config/rbac/role.yaml"}
	for _, src := range crdFiles(t, "config/crd/bases") {
		m[filepath.Join("charts/sluice/files/crds", filepath.Base(src))] = src
	}
	return m
}

// The chart cannot read files outside its directory, so it carries copies
// of the generated CRDs and ClusterRole. They must be byte-for-byte the
// generated files (run this test with -update after `make manifests`), and
// what the chart renders from them, and its admission policy, must mean the
// same as config/crd/bases, config/rbac/role.yaml and config/policy.
func TestChartInSync(t *testing.T) {
	root := repoRoot(t)
	copies := chartCopies(t)
	if *update {
		os.RemoveAll(filepath.Join(root, "charts/sluice/files/crds"))
		for dst, src := range copies {
			b, err := os.ReadFile(filepath.Join(root, src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, dst)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, dst), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	have := crdFiles(t, "charts/sluice/files/crds")
	var want []string
	for dst := range copies {
		if strings.HasPrefix(dst, "charts/sluice/files/crds/") {
			want = append(want, dst)
		}
	}
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("charts/sluice/files/crds holds %v, config/crd/bases gives %v; run go test ./install -run TestChartInSync -update", have, want)
	}
	for dst, src := range copies {
		a, errA := os.ReadFile(filepath.Join(root, dst))
		b, errB := os.ReadFile(filepath.Join(root, src))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (%v, %v); run go test ./install -run TestChartInSync -update", dst, src, errA, errB)
		}
	}

	chart := helmTemplate(t)
	role := readManifests(t, "config/rbac/role.yaml")[0]
	expectSame(t, "ClusterRole rules", field(find(t, chart, "ClusterRole", "sluice-manager"), "rules"), field(role, "rules"))

	configCRDs := readManifests(t, crdFiles(t, "config/crd/bases")...)
	if got, want := keys(byKind(chart, "CustomResourceDefinition")), keys(configCRDs); !slices.Equal(got, want) {
		t.Errorf("the chart renders CRDs %v, config/crd/bases has %v", got, want)
	}
	for _, crd := range configCRDs {
		expectSame(t, "CRD "+crd.GetName(), field(find(t, chart, "CustomResourceDefinition", crd.GetName()), "spec"), field(crd, "spec"))
	}

	for _, p := range readManifests(t, "config/policy/approval-identity.yaml") {
		expectSame(t, p.GetKind()+" "+p.GetName(), field(find(t, chart, p.GetKind(), p.GetName()), "spec"), field(p, "spec"))
	}
}

func field(o *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

// expectSame compares two decoded values after a JSON round trip, so that
// int64 and float64 renderings of the same number are equal.
func expectSame(t testing.TB, what string, got, want any) {
	t.Helper()
	if n1, n2 := normal(t, got), normal(t, want); n1 != n2 {
		t.Errorf("%s differ:\n got: %s\nwant: %s", what, n1, n2)
	}
}

func normal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(back)
	return string(b)
}

// With the defaults and release "sluice", the chart installs what the
// kustomize install does (less the Namespace, which Helm users create with
// --create-namespace): the same objects by name, the same RBAC (so the RBAC
// tests cover both), and the same manager pod apart from the flags the chart
// spells out.
func TestChartMatchesKustomize(t *testing.T) {
	kust := kustomizeInstall(t)
	chart := helmTemplate(t)
	var kustKeys []string
	for _, o := range kust {
		if o.GetKind() != "Namespace" {
			kustKeys = append(kustKeys, key(o))
		}
	}
	slices.Sort(kustKeys)
	if got := keys(chart); !slices.Equal(got, kustKeys) {
		t.Errorf("objects differ:\n helm: %v\n kustomize: %v", got, kustKeys)
	}

	for _, k := range []struct{ kind, name string }{
		{"ClusterRole", "sluice-manager"}, {"Role", "sluice-leader-election"},
	} {
		expectSame(t, k.kind+" "+k.name+" rules", field(find(t, chart, k.kind, k.name), "rules"), field(find(t, kust, k.kind, k.name), "rules"))
	}
	for _, k := range []struct{ kind, name string }{
		{"ClusterRoleBinding", "sluice-manager"}, {"RoleBinding", "sluice-leader-election"},
	} {
		h, c := find(t, chart, k.kind, k.name), find(t, kust, k.kind, k.name)
		expectSame(t, k.kind+" "+k.name+" roleRef", field(h, "roleRef"), field(c, "roleRef"))
		expectSame(t, k.kind+" "+k.name+" subjects", field(h, "subjects"), field(c, "subjects"))
	}
	for _, name := range []string{"sluice-manager-metrics", "sluice-slack"} {
		expectSame(t, "Service "+name, field(find(t, chart, "Service", name), "spec"), field(find(t, kust, "Service", name), "spec"))
	}

	hd, kd := find(t, chart, "Deployment", "sluice-manager"), find(t, kust, "Deployment", "sluice-manager")
	expectSame(t, "Deployment selector", field(hd, "spec", "selector"), field(kd, "spec", "selector"))
	expectSame(t, "pod labels", field(hd, "spec", "template", "metadata", "labels"), field(kd, "spec", "template", "metadata", "labels"))
	for _, f := range []string{"serviceAccountName", "securityContext", "terminationGracePeriodSeconds", "volumes"} {
		expectSame(t, "pod "+f, field(hd, "spec", "template", "spec", f), field(kd, "spec", "template", "spec", f))
	}
	hc, kc := container(t, hd), container(t, kd)
	for _, f := range []string{"image", "imagePullPolicy", "env", "ports", "livenessProbe", "readinessProbe", "securityContext", "resources", "volumeMounts"} {
		expectSame(t, "container "+f, hc[f], kc[f])
	}
	helmFlags := flagMap(t, hc)
	for name, v := range flagMap(t, kc) {
		if helmFlags[name] != v {
			t.Errorf("kustomize runs the manager with --%s=%s, helm with %q", name, v, helmFlags[name])
		}
	}
}

func container(t testing.TB, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers, want 1", key(dep), len(cs))
	}
	return cs[0].(map[string]any)
}

func args(t testing.TB, dep *unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	raw, _ := container(t, dep)["args"].([]any)
	for _, a := range raw {
		out = append(out, a.(string))
	}
	return out
}

// flagMap reads --name=value and --name (a true boolean) arguments.
func flagMap(t testing.TB, c map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, _ := c["args"].([]any)
	for _, a := range raw {
		s := strings.TrimLeft(a.(string), "-")
		name, v, ok := strings.Cut(s, "=")
		if !ok {
			v = "true"
		}
		out[name] = v
	}
	return out
}

// What non-default values change in the rendered chart.
func TestChartValues(t *testing.T) {
	appVersion := func() string {
		var c struct{ AppVersion string }
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts/sluice/Chart.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c.AppVersion
	}()
	manager := func(objs []*unstructured.Unstructured) *unstructured.Unstructured {
		return byKind(objs, "Deployment")[0]
	}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, g Gomega, objs []*unstructured.Unstructured)
	}{{
		name: "defaults",
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(byKind(objs, "CustomResourceDefinition")).To(HaveLen(5))
			for _, crd := range byKind(objs, "CustomResourceDefinition") {
				g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"), crd.GetName())
				g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("argocd.argoproj.io/sync-options", "ServerSideApply=true"), crd.GetName())
			}
			g.Expect(has(objs, "ValidatingAdmissionPolicy", "sluice-approval-identity")).To(BeTrue())
			g.Expect(has(objs, "ValidatingAdmissionPolicyBinding", "sluice-approval-identity")).To(BeTrue())
			c := container(t, manager(objs))
			g.Expect(c["image"]).To(Equal("ghcr.io/sluice-dev/sluice:" + appVersion))
			g.Expect(args(t, manager(objs))).To(ContainElements("--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"))
			g.Expect(args(t, manager(objs))).NotTo(ContainElement(HavePrefix("--leader-election-namespace")))
			g.Expect(find(t, objs, "ServiceAccount", serviceAccount).GetNamespace()).To(Equal(systemNamespace))
		},
	}, {
		name: "no CRDs, no policy",
		args: []string{"--set", "installCRDs=false", "--set", "admissionPolicy.enabled=false"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(byKind(objs, "CustomResourceDefinition")).To(BeEmpty())
			g.Expect(byKind(objs, "ValidatingAdmissionPolicy")).To(BeEmpty())
			g.Expect(byKind(objs, "ValidatingAdmissionPolicyBinding")).To(BeEmpty())
			g.Expect(byKind(objs, "Deployment")).To(HaveLen(1))
			g.Expect(byKind(objs, "ClusterRole")).To(HaveLen(1))
		},
	}, {
		name: "CRDs not kept",
		args: []string{"--set", "keepCRDs=false"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			for _, crd := range byKind(objs, "CustomResourceDefinition") {
				g.Expect(crd.GetAnnotations()).NotTo(HaveKey("helm.sh/resource-policy"), crd.GetName())
			}
		},
	}, {
		name: "image",
		args: []string{"--set", "image.repository=registry.example.com/sluice", "--set", "image.tag=v9.9.9", "--set", "image.pullPolicy=Always"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			c := container(t, manager(objs))
			g.Expect(c["image"]).To(Equal("registry.example.com/sluice:v9.9.9"))
			g.Expect(c["imagePullPolicy"]).To(Equal("Always"))
		},
	}, {
		name: "another ServiceAccount in another namespace",
		args: []string{"--namespace", "delivery", "--set", "serviceAccount.name=deployer"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(find(t, objs, "ServiceAccount", "deployer").GetNamespace()).To(Equal("delivery"))
			subject := []any{map[string]any{"kind": "ServiceAccount", "name": "deployer", "namespace": "delivery"}}
			g.Expect(field(find(t, objs, "ClusterRoleBinding", "sluice-manager"), "subjects")).To(Equal(subject))
			g.Expect(field(find(t, objs, "RoleBinding", "sluice-leader-election"), "subjects")).To(Equal(subject))
			g.Expect(find(t, objs, "Role", "sluice-leader-election").GetNamespace()).To(Equal("delivery"))
			g.Expect(field(manager(objs), "spec", "template", "spec", "serviceAccountName")).To(Equal("deployer"))
			vars := field(find(t, objs, "ValidatingAdmissionPolicy", "sluice-approval-identity"), "spec", "variables")
			g.Expect(vars).To(ContainElement(map[string]any{"name": "slackRelay", "expression": "'system:serviceaccount:delivery:deployer'"}))
			for _, o := range objs {
				if o.GetNamespace() != "" {
					g.Expect(o.GetNamespace()).To(Equal("delivery"), key(o))
				}
			}
		},
	}, {
		name: "existing ServiceAccount",
		args: []string{"--set", "serviceAccount.create=false"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(byKind(objs, "ServiceAccount")).To(BeEmpty())
			g.Expect(field(manager(objs), "spec", "template", "spec", "serviceAccountName")).To(Equal(serviceAccount))
		},
	}, {
		name: "leader election off",
		args: []string{"--set", "leaderElection.enabled=false"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(byKind(objs, "Role")).To(BeEmpty())
			g.Expect(byKind(objs, "RoleBinding")).To(BeEmpty())
			g.Expect(args(t, manager(objs))).To(ContainElement("--leader-elect=false"))
		},
	}, {
		name: "leader election elsewhere",
		args: []string{"--set", "leaderElection.namespace=elect"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(find(t, objs, "Role", "sluice-leader-election").GetNamespace()).To(Equal("elect"))
			g.Expect(find(t, objs, "RoleBinding", "sluice-leader-election").GetNamespace()).To(Equal("elect"))
			g.Expect(field(find(t, objs, "RoleBinding", "sluice-leader-election"), "subjects")).To(Equal([]any{map[string]any{"kind": "ServiceAccount", "name": serviceAccount, "namespace": systemNamespace}}))
			g.Expect(args(t, manager(objs))).To(ContainElement("--leader-election-namespace=elect"))
		},
	}, {
		name: "tuning flags",
		args: []string{
			"--set", "replicaCount=3", "--set", "concurrency=16", "--set", "kubeApiQPS=50.5", "--set", "kubeApiBurst=1000000",
			"--set", "logLevel=debug", "--set", "disableEvents=true", "--set", "gracefulShutdownSeconds=60",
			"--set", "extraArgs={--zap-encoder=console,--zap-stacktrace-level=panic}",
			"--set", "extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://proxy:3128",
		},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			dep := manager(objs)
			g.Expect(field(dep, "spec", "replicas")).To(BeEquivalentTo(3))
			a := args(t, dep)
			g.Expect(a).To(ContainElements("--concurrency=16", "--kube-api-qps=50.5", "--kube-api-burst=1000000",
				"--zap-log-level=debug", "--disable-events", "--graceful-shutdown-timeout=60s"))
			g.Expect(a[len(a)-2:]).To(Equal([]string{"--zap-encoder=console", "--zap-stacktrace-level=panic"}), "extraArgs come last")
			g.Expect(field(dep, "spec", "template", "spec", "terminationGracePeriodSeconds")).To(BeEquivalentTo(70))
			g.Expect(container(t, dep)["env"]).To(ContainElement(map[string]any{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}))
		},
	}, {
		name: "scheduling and security",
		args: []string{
			"--set", "resources.limits.memory=1Gi", "--set", "nodeSelector.pool=system",
			"--set", "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
			"--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
			"--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
			"--set", "podSecurityContext.runAsUser=1000", "--set", "priorityClassName=high",
			"--set", "podAnnotations.team=delivery", "--set", "podLabels.team=delivery",
		},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			spec := field(manager(objs), "spec", "template", "spec").(map[string]any)
			g.Expect(spec["nodeSelector"]).To(Equal(map[string]any{"pool": "system"}))
			g.Expect(spec["tolerations"]).To(Equal([]any{map[string]any{"key": "dedicated", "operator": "Exists"}}))
			g.Expect(spec["affinity"]).To(HaveKey("nodeAffinity"))
			g.Expect(spec["priorityClassName"]).To(Equal("high"))
			g.Expect(spec["securityContext"]).To(HaveKeyWithValue("runAsUser", BeEquivalentTo(1000)))
			g.Expect(spec["securityContext"]).To(HaveKeyWithValue("runAsNonRoot", true))
			g.Expect(container(t, manager(objs))["resources"]).To(HaveKeyWithValue("limits", map[string]any{"cpu": "1", "memory": "1Gi"}))
			meta := field(manager(objs), "spec", "template", "metadata").(map[string]any)
			g.Expect(meta["annotations"]).To(HaveKeyWithValue("team", "delivery"))
			g.Expect(meta["labels"]).To(HaveKeyWithValue("team", "delivery"))
			g.Expect(field(manager(objs), "spec", "selector", "matchLabels")).NotTo(HaveKey("team"), "pod labels stay out of the immutable selector")
		},
	}, {
		name: "services",
		args: []string{"--set", "metrics.service.enabled=false", "--set", "slack.service.enabled=false"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(byKind(objs, "Service")).To(BeEmpty())
			g.Expect(container(t, manager(objs))["ports"]).To(ContainElement(HaveKeyWithValue("name", "slack")), "the pod keeps its ports")
		},
	}, {
		name: "ports",
		args: []string{"--set", "metrics.port=9090", "--set", "healthProbePort=9091", "--set", "slack.port=9443", "--set", "slack.service.port=443", "--set", "slack.service.type=LoadBalancer"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			dep := manager(objs)
			g.Expect(args(t, dep)).To(ContainElements("--metrics-bind-address=:9090", "--health-probe-bind-address=:9091"))
			ports := container(t, dep)["ports"]
			g.Expect(ports).To(ContainElement(And(HaveKeyWithValue("name", "metrics"), HaveKeyWithValue("containerPort", BeEquivalentTo(9090)))))
			g.Expect(ports).To(ContainElement(And(HaveKeyWithValue("name", "slack"), HaveKeyWithValue("containerPort", BeEquivalentTo(9443)))))
			g.Expect(field(find(t, objs, "Service", "sluice-manager-metrics"), "spec", "ports")).To(ContainElement(HaveKeyWithValue("port", BeEquivalentTo(9090))))
			slack := find(t, objs, "Service", "sluice-slack")
			g.Expect(field(slack, "spec", "type")).To(Equal("LoadBalancer"))
			expectSame(t, "Slack Service ports", field(slack, "spec", "ports"), []any{map[string]any{"name": "http-slack", "port": 443, "targetPort": "slack", "protocol": "TCP", "appProtocol": "http"}})
		},
	}, {
		name: "names",
		args: []string{"--set", "fullnameOverride=delivery"},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			for _, k := range []struct{ kind, name string }{
				{"Deployment", "delivery-manager"}, {"ClusterRole", "delivery-manager"}, {"ClusterRoleBinding", "delivery-manager"},
				{"Role", "delivery-leader-election"}, {"Service", "delivery-manager-metrics"}, {"Service", "delivery-slack"},
				{"ValidatingAdmissionPolicy", "delivery-approval-identity"},
			} {
				g.Expect(has(objs, k.kind, k.name)).To(BeTrue(), "%s %s", k.kind, k.name)
			}
			g.Expect(field(find(t, objs, "ClusterRoleBinding", "delivery-manager"), "roleRef", "name")).To(Equal("delivery-manager"))
			g.Expect(field(find(t, objs, "ValidatingAdmissionPolicyBinding", "delivery-approval-identity"), "spec", "policyName")).To(Equal("delivery-approval-identity"))
			g.Expect(has(objs, "ServiceAccount", serviceAccount)).To(BeTrue(), "the ServiceAccount keeps its own name")
		},
	}, {
		name: "cache without a size limit",
		args: []string{"--set", "cache.sizeLimit="},
		check: func(t *testing.T, g Gomega, objs []*unstructured.Unstructured) {
			g.Expect(field(manager(objs), "spec", "template", "spec", "volumes")).To(ContainElement(map[string]any{"name": "cache", "emptyDir": map[string]any{}}))
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, NewWithT(t), helmTemplate(t, c.args...))
		})
	}

	t.Run("no ServiceAccount name", func(t *testing.T) {
		_, err := helmTemplateErr(t, "--set", "serviceAccount.name=")
		if err == nil || !strings.Contains(err.Error(), "serviceAccount.name is required") {
			t.Fatalf("want a render error naming serviceAccount.name, got %v", err)
		}
	})
	t.Run("too old a cluster", func(t *testing.T) {
		_, err := runErr(helmEnv(t), tool(t, "helm"), "template", release, filepath.Join(repoRoot(t), "charts", "sluice"), "--kube-version", "1.29.0")
		if err == nil || !strings.Contains(err.Error(), "kubeVersion") {
			t.Fatalf("want the chart to refuse Kubernetes 1.29 (no admissionregistration.k8s.io/v1 policies), got %v", err)
		}
	})
}

// helm lint passes in strict mode, with defaults and with the optional
// parts off.
func TestHelmLint(t *testing.T) {
	chart := filepath.Join(repoRoot(t), "charts", "sluice")
	for _, extra := range [][]string{nil, {"--set", "installCRDs=false,admissionPolicy.enabled=false,leaderElection.enabled=false,metrics.service.enabled=false,slack.service.enabled=false"}} {
		out := run(t, helmEnv(t), tool(t, "helm"), append([]string{"lint", "--strict", chart, "--kube-version", serverVersion(t)}, extra...)...)
		if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm lint %v:\n%s", extra, out)
		}
	}
}

// helm install --dry-run against the real apiserver (Helm reads the
// cluster's version and API groups): the kubeVersion constraint holds and
// NOTES.txt renders with the manager's identity and endpoints.
// --take-ownership only skips Helm's check for objects that exist without
// Helm's labels (the other tests applied the same objects); nothing is
// written in a dry run.
func TestHelmInstallNotes(t *testing.T) {
	chart := filepath.Join(repoRoot(t), "charts", "sluice")
	base := []string{"install", release, chart, "--namespace", systemNamespace, "--dry-run=client", "--take-ownership", "--kubeconfig", env.Kubeconfig}
	out := string(run(t, helmEnv(t), tool(t, "helm"), base...))
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", tail(out))
	}
	for _, want := range []string{
		"Manager identity: " + saUser,
		"http://sluice-manager-metrics.sluice-system.svc:8080/metrics",
		"Service sluice-slack port 8082",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	out = string(run(t, helmEnv(t), tool(t, "helm"), append(base, "--set", "installCRDs=false,admissionPolicy.enabled=false")...))
	_, notes, _ = strings.Cut(out, "NOTES:")
	for _, want := range []string{"installCRDs=false", "admissionPolicy.enabled=false"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// opaqueValues are values whose contents are free-form Kubernetes fields;
// the README documents them as a whole.
var opaqueValues = []string{
	"resources", "podSecurityContext", "securityContext", "podAnnotations", "podLabels",
	"nodeSelector", "tolerations", "affinity", "imagePullSecrets", "extraArgs", "extraEnv",
	"serviceAccount.annotations", "metrics.service.annotations", "slack.service.annotations",
}

// The chart's README lists every value in values.yaml.
func TestChartReadmeListsEveryValue(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "charts/sluice/values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "charts/sluice/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !slices.Contains(opaqueValues, p) {
				walk(p+".", sub)
				continue
			}
			paths = append(paths, p)
		}
	}
	walk("", values)
	slices.Sort(paths)
	for _, p := range paths {
		if !bytes.Contains(readme, []byte("| `"+p+"` |")) {
			t.Errorf("charts/sluice/README.md has no row for `%s`", p)
		}
	}
	// And no row for a value that does not exist.
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllSubmatch(readme, -1) {
		if !slices.Contains(paths, string(m[1])) {
			t.Errorf("charts/sluice/README.md documents `%s`, which values.yaml does not have", m[1])
		}
	}
}
