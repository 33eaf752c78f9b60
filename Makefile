# sluice's build. `make test` is what CI runs (.ci/run); `make demo` is the
# first thing a new user runs. Both build the tools they need when missing.
SHELL := /usr/bin/env bash
GO ?= go
export GOFLAGS ?= -buildvcs=false

ASSETS = $(shell hack/tools.sh --print-assets)
CONTROLLER_GEN = $(ASSETS)/controller-gen
export KUBEBUILDER_ASSETS = $(ASSETS)

# Benchmark knobs: make bench ROLLOUTS=1000
ROLLOUTS ?= 100

.PHONY: all tools generate manifests verify lint test unit bench build plugin krew demo docker

all: build

tools: ## Build etcd, kube-apiserver, kube-controller-manager, kwok, prometheus, controller-gen (once per machine).
	hack/tools.sh all

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

manifests: $(CONTROLLER_GEN) ## Regenerate CRDs and RBAC from the Go types and markers.
	$(CONTROLLER_GEN) crd:maxDescLen=0,generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=sluice-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac
	@# The Helm chart carries copies (install/ checks they match).
	cp config/crd/bases/*.yaml charts/sluice/files/crds/
	cp config/rbac/role.yaml charts/sluice/files/rbac/role.yaml

verify: generate manifests ## Fail when generated files are stale.
	@git diff --exit-code -- api config/crd config/rbac charts/sluice/files || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }

lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit: ## Pure unit tests only (no control plane).
	$(GO) test ./plan/... ./revision/... ./traffic/... ./analysis/...

test: tools verify lint ## Unit, envtest and e2e tests against the real control plane.
	$(GO) test -timeout 14m -count=1 ./...

bench: tools ## The canary backlog benchmark on the fake cluster; ROLLOUTS=1000 for the large run.
	$(GO) test -timeout 30m -count=1 -run '^$$' -bench BenchmarkCanaryBacklog -benchtime 1x ./e2e/... -args -rollouts=$(ROLLOUTS)

build: ## Build the manager and the kubectl plugin into bin/.
	$(GO) build -o bin/manager .
	$(GO) build -o bin/kubectl-sluice ./cmd/kubectl-sluice

plugin: ## Build kubectl-sluice into bin/.
	$(GO) build -o bin/kubectl-sluice ./cmd/kubectl-sluice

krew: ## Release archives and the krew manifest in dist/: make krew VERSION=v0.1.0
	hack/krew.sh $(VERSION)

demo: tools ## The local demo on an embedded control plane; flags via ARGS, e.g. make demo ARGS=--keep
	$(GO) run ./cmd/sluice-demo $(ARGS)

docker: ## Build the manager image (needs a Docker engine).
	docker build -t sluice:dev .
