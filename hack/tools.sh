#!/usr/bin/env bash
# hack/tools.sh builds the real binaries sluice's tests and demo run against
# (etcd, kube-apiserver, kube-controller-manager, kwok, prometheus,
# controller-gen) from the Go module proxy, once per machine.
#
# Binaries land in $SLUICE_TOOLS_DIR (default ~/.cache/sluice/tools) as
# <name>-<version>/<binary>; a tool already present is skipped, so a second
# run takes a second. The last line printed is the KUBEBUILDER_ASSETS
# directory for envtest.
#
# Usage: hack/tools.sh [etcd|kube|kwok|prometheus|controller-gen|helm|kustomize|argocd-crd|all]...
#        hack/tools.sh --print-assets   (print the assets dir, build nothing)
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
CONTROLLER_TOOLS_VERSION=${CONTROLLER_TOOLS_VERSION:-v0.23.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.1}
ARGOCD_VERSION=${ARGOCD_VERSION:-v3.6.1}

TOOLS_DIR=${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

staging_version() { echo "v0${KUBE_VERSION#v1}"; } # v1.37.2 -> v0.37.2
assets_dir() { echo "$TOOLS_DIR/envtest-$KUBE_VERSION-etcd-$ETCD_VERSION"; }

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# present NAME-VERSION BINARY...: true when every binary is already built.
present() {
  local dir=$TOOLS_DIR/$1; shift
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# scratch_module NAME: an empty, private build module under the cache.
scratch_module() {
  local d=$TOOLS_DIR/.build/$1
  rm -rf "$d" && mkdir -p "$d" && echo "$d"
}

build_etcd() {
  local out=$TOOLS_DIR/etcd-$ETCD_VERSION
  if present "etcd-$ETCD_VERSION" etcd; then log "etcd $ETCD_VERSION present"; return; fi
  log "building etcd $ETCD_VERSION (about 1.5 min on 2 cores)"
  local m; m=$(scratch_module etcd)
  # etcd's server module carries replace directives, so `go install` refuses
  # it; a two-line main in our own module builds it from published modules.
  cat >"$m/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$m" && go mod init sluice.dev/tools/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 && go mod tidy >&2 &&
    go build -trimpath -ldflags='-s -w' -o "$out.tmp/etcd" .)
  mv "$out.tmp" "$out"
  log "etcd ready: $out/etcd"
}

build_kube() {
  local name=kubernetes-$KUBE_VERSION
  if present "$name" kube-apiserver kube-controller-manager; then log "kube-apiserver and kube-controller-manager $KUBE_VERSION present"; return; fi
  log "building kube-apiserver and kube-controller-manager $KUBE_VERSION (about 10 min cold on 2 cores)"
  local m; m=$(scratch_module kube)
  local sv; sv=$(staging_version)
  (
    cd "$m"
    go mod init sluice.dev/tools/kube >/dev/null 2>&1
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them to
    # ./staging; map each to its published version instead.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    local staging
    staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
    log "mapping $(echo "$staging" | wc -l) staging modules to $sv"
    {
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      for s in $staging; do echo "	$s => $s $sv"; done
      echo ")"
    } >>go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
    go mod tidy >&2
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
    mkdir -p "$TOOLS_DIR/$name.tmp"
    for cmd in kube-apiserver kube-controller-manager; do
      log "  go build $cmd"
      go build -trimpath -ldflags="$ld" -o "$TOOLS_DIR/$name.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$TOOLS_DIR/$name" && mv "$TOOLS_DIR/$name.tmp" "$TOOLS_DIR/$name"
  log "kubernetes binaries ready: $TOOLS_DIR/$name"
}

# go_install NAME VERSION PKG BINARY: a plain `go install` into the cache.
go_install() {
  local name=$1 version=$2 pkg=$3 bin=$4
  if present "$name-$version" "$bin"; then log "$name $version present"; return; fi
  log "building $name $version"
  GOBIN=$TOOLS_DIR/$name-$version.tmp go install -trimpath -ldflags='-s -w' "$pkg@$version"
  rm -rf "$TOOLS_DIR/$name-$version" && mv "$TOOLS_DIR/$name-$version.tmp" "$TOOLS_DIR/$name-$version"
  log "$name ready: $TOOLS_DIR/$name-$version/$bin"
}

build_kwok() {
  go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok kwok
  # kwok exits with "no stages found" without Stage documents; the ones that
  # ship in its module make nodes Ready and pods Running/Ready at once.
  local out=$TOOLS_DIR/kwok-$KWOK_VERSION/stages.yaml
  [ -s "$out" ] && return
  local dir; dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  for f in "$dir"/kustomize/stage/node/fast/*.yaml "$dir"/kustomize/stage/node/heartbeat/*.yaml "$dir"/kustomize/stage/pod/fast/*.yaml; do
    case $(basename "$f") in kustomization.yaml) continue ;; esac
    echo "---"; cat "$f"
  done >"$out.tmp" && mv "$out.tmp" "$out"
}
build_prometheus() { go_install prometheus "$PROMETHEUS_VERSION" github.com/prometheus/prometheus/cmd/prometheus prometheus; }
build_helm() { go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm; }
build_kustomize() { go_install kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 kustomize; }

# build_argocd_crd copies Argo CD's real Application CRD out of the argo-cd
# module zip. sluice does not import argo-cd (it cannot build beside
# k8s.io 0.37); the zip is only read, so its Go version does not matter.
build_argocd_crd() {
  local out=$TOOLS_DIR/argocd-$ARGOCD_VERSION/application-crd.yaml
  if [ -s "$out" ]; then log "argocd CRD $ARGOCD_VERSION present"; return; fi
  log "fetching Argo CD $ARGOCD_VERSION's Application CRD (a 58 MB module zip)"
  local m; m=$(scratch_module argocd)
  # `go mod download` refuses the module's go line but has fetched the zip
  # by then; the zip path is what we want.
  local zip; zip=$(cd "$m" && GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/.*"Zip": "\(.*\)".*/\1/p' || true)
  [ -s "$zip" ] || { echo "argo-cd $ARGOCD_VERSION module zip not downloaded" >&2; exit 1; }
  cat >"$m/main.go" <<'GO'
package main

import (
	"archive/zip"
	"io"
	"os"
	"strings"
)

// Usage: unzip ZIP SUFFIX: write the one entry ending in SUFFIX to stdout.
func main() {
	r, err := zip.OpenReader(os.Args[1])
	if err != nil {
		panic(err)
	}
	for _, f := range r.File {
		if strings.HasSuffix(f.Name, os.Args[2]) {
			rc, err := f.Open()
			if err != nil {
				panic(err)
			}
			io.Copy(os.Stdout, rc)
			return
		}
	}
	os.Exit(1)
}
GO
  mkdir -p "$(dirname "$out")"
  (cd "$m" && go mod init sluice.dev/tools/unzip >/dev/null 2>&1 && go run . "$zip" /manifests/crds/application-crd.yaml) >"$out.tmp"
  mv "$out.tmp" "$out"
  log "argocd CRD ready: $out"
}
build_controller_gen() { go_install controller-gen "$CONTROLLER_TOOLS_VERSION" sigs.k8s.io/controller-tools/cmd/controller-gen controller-gen; }

# link_assets gathers etcd and kube-apiserver in one directory, the layout
# envtest's KUBEBUILDER_ASSETS expects.
link_assets() {
  local d; d=$(assets_dir)
  mkdir -p "$d"
  ln -sf "$TOOLS_DIR/etcd-$ETCD_VERSION/etcd" "$d/etcd"
  for b in kube-apiserver kube-controller-manager; do
    ln -sf "$TOOLS_DIR/kubernetes-$KUBE_VERSION/$b" "$d/$b"
  done
  ln -sf "$TOOLS_DIR/kwok-$KWOK_VERSION/kwok" "$d/kwok"
  ln -sf "$TOOLS_DIR/prometheus-$PROMETHEUS_VERSION/prometheus" "$d/prometheus"
  ln -sf "$TOOLS_DIR/controller-gen-$CONTROLLER_TOOLS_VERSION/controller-gen" "$d/controller-gen"
  ln -sf "$TOOLS_DIR/helm-$HELM_VERSION/helm" "$d/helm"
  ln -sf "$TOOLS_DIR/kustomize-$KUSTOMIZE_VERSION/kustomize" "$d/kustomize"
  ln -sf "$TOOLS_DIR/argocd-$ARGOCD_VERSION/application-crd.yaml" "$d/argocd-application-crd.yaml"
}

main() {
  if [ "${1:-}" = --print-assets ]; then assets_dir; return; fi
  mkdir -p "$TOOLS_DIR"
  [ $# -eq 0 ] && set -- all
  for t in "$@"; do
    case $t in
    etcd) build_etcd ;;
    kube) build_kube ;;
    kwok) build_kwok ;;
    prometheus) build_prometheus ;;
    controller-gen) build_controller_gen ;;
    helm) build_helm ;;
    kustomize) build_kustomize ;;
    argocd-crd) build_argocd_crd ;;
    all) build_controller_gen; build_argocd_crd; build_etcd; build_kube; build_kwok; build_prometheus; build_helm; build_kustomize ;;
    *) echo "unknown tool $t" >&2; exit 2 ;;
    esac
  done
  link_assets
  log "KUBEBUILDER_ASSETS=$(assets_dir)"
  assets_dir
}

main "$@"
