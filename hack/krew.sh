#!/usr/bin/env bash
# hack/krew.sh VERSION: builds kubectl-sluice archives for linux and darwin
# (amd64, arm64) into dist/ and writes dist/sluice.yaml, the krew plugin
# manifest with their sha256 sums. RELEASE_URL is where the archives will be
# published (default: GitHub releases of sluice-dev/sluice).
set -euo pipefail
version=${1:?usage: hack/krew.sh VERSION (for example v0.1.0)}
url=${RELEASE_URL:-https://github.com/sluice-dev/sluice/releases/download/$version}
cd "$(dirname "$0")/.."
rm -rf dist && mkdir -p dist
platforms=""
for os in linux darwin; do
  for arch in amd64 arm64; do
    dir=dist/kubectl-sluice-$os-$arch
    mkdir -p "$dir"
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$dir/kubectl-sluice" ./cmd/kubectl-sluice
    cp LICENSE "$dir/" 2>/dev/null || true
    tar -C "$dir" -czf "$dir.tar.gz" .
    sum=$(sha256sum "$dir.tar.gz" | cut -d' ' -f1)
    platforms+="  - selector:
      matchLabels: {os: $os, arch: $arch}
    uri: $url/kubectl-sluice-$os-$arch.tar.gz
    sha256: $sum
    bin: kubectl-sluice
"
    echo "built $dir.tar.gz" >&2
  done
done
cat >dist/sluice.yaml <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: sluice
spec:
  version: $version
  homepage: https://github.com/sluice-dev/sluice
  shortDescription: Drive sluice progressive-delivery Rollouts on Istio
  description: |
    Promote, abort, retry, pause, resume, approve and watch sluice Rollouts
    (canary, blue/green, A/B testing, dark launch) the way kubectl rollout
    works for Deployments.
  platforms:
$platforms
YAML
echo "wrote dist/sluice.yaml" >&2
