#!/usr/bin/env bash
# Builds kubectl-entra as krew-style archives: one tar.gz per OS/arch
# (the binary, plus LICENSE when the repository has one) and a krew plugin
# manifest naming each archive's URL and sha256. Archives are reproducible:
# fixed mtime (SOURCE_DATE_EPOCH), owner, order, and no gzip timestamp.
#
# Usage: hack/plugin.sh OUT_DIR VERSION URL_BASE SOURCE_DATE_EPOCH PLATFORM...
set -euo pipefail
out=$1 version=$2 url=$3 epoch=$4
shift 4
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out" && mkdir -p "$out"
platforms=()
for p in "$@"; do
  os=${p%%/*} arch=${p#*/}
  exe=kubectl-entra
  [[ $os == windows ]] && exe=kubectl-entra.exe
  stage=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$stage/$exe" "$root/cmd/kubectl-entra"
  files=("$exe")
  if [[ -f $root/LICENSE ]]; then cp "$root/LICENSE" "$stage/" && files+=(LICENSE); fi
  archive=kubectl-entra_${version}_${os}_${arch}.tar.gz
  tar -C "$stage" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -cf - "${files[@]}" | gzip -n -9 >"$out/$archive"
  rm -rf "$stage"
  sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  platforms+=("$os" "$arch" "$archive" "$sum" "$exe" "$([[ -f $root/LICENSE ]] && echo yes || echo no)")
  echo "$archive $sum"
done

{
  cat <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: entra
spec:
  version: ${version}
  homepage: https://github.com/directory-operator/directory-operator
  shortDescription: Plan and inspect directory-operator changes to Entra ID
  description: |
    kubectl entra plan shows what applying a folder of directory-operator
    manifests would do in Microsoft Entra ID (create, update field by field,
    adopt, delete/disable/orphan, batch outcomes) using read-only Graph calls;
    rows, export, undo and status cover day-to-day offboarding work.
  platforms:
YAML
  for ((i = 0; i < ${#platforms[@]}; i += 6)); do
    os=${platforms[i]} arch=${platforms[i+1]} archive=${platforms[i+2]} sum=${platforms[i+3]} exe=${platforms[i+4]} lic=${platforms[i+5]}
    cat <<YAML
  - selector:
      matchLabels:
        os: ${os}
        arch: ${arch}
    uri: ${url}/${archive}
    sha256: ${sum}
    bin: ${exe}
    files:
    - from: ${exe}
      to: .
YAML
    if [[ $lic == yes ]]; then printf '    - from: LICENSE\n      to: .\n'; fi
  done
} >"$out/entra.yaml"
echo "$out/entra.yaml"
