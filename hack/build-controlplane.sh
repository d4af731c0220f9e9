#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the pinned modules under hack/
# into bin/k8s, the directory envtest and `make demo` use. There is no download
# site for envtest binaries here, so we compile them (kube-apiserver ~4 min
# cold on 2 cores). A stamp file records the pinned versions so warm runs skip
# the build entirely, and a change of pin rebuilds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/k8s"
mkdir -p "$out"

kube_version=$(awk '/k8s.io\/kubernetes v/ {print $3; exit}' "$root/hack/kube/go.mod")
etcd_version=$(grep -o "go.etcd.io/etcd/server/v3 v[0-9.]*" "$root/hack/etcd/go.mod" | head -1 | cut -d" " -f2)
stamp="kube-apiserver=$kube_version etcd=$etcd_version script=$(sha256sum "$0" | cut -c1-12)"

if [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" \
      && -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  exit 0
fi

minor=$(echo "$kube_version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/client-go/pkg/version.gitVersion=$kube_version"

echo ">> building etcd $etcd_version into $out"
(cd "$root/hack/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
echo ">> building kube-apiserver $kube_version into $out (several minutes when cold)"
(cd "$root/hack/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
echo ">> building kubectl $kube_version into $out"
(cd "$root/hack/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl)
echo "$stamp" > "$out/.stamp"
