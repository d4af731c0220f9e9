# directory-operator. Everything builds from Go modules: no downloads besides
# the Go module proxy. Tools land in bin/ (gitignored) and are reused warm.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN            := $(CURDIR)/bin
K8S_BIN        := $(BIN)/k8s
CONTROLLER_GEN := $(BIN)/controller-gen
KUBECTL        := $(K8S_BIN)/kubectl
GO_TEST_FLAGS  ?= -timeout 30m
export KUBEBUILDER_ASSETS := $(K8S_BIN)

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=false paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(MAKE) --no-print-directory chart-files

CHART := charts/directory-operator

.PHONY: chart-files
chart-files: ## Copy the CRDs and RBAC rules from config/ into the Helm chart.
	rm -f $(CHART)/files/crds/*.yaml && cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/role.yaml config/rbac/leader_election_role.yaml $(CHART)/files/rbac/

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -l -w $$(git ls-files '*.go' | grep -v '^hack/')

.PHONY: vet
vet: ## go vet (default tags; the official-SDK code behind -tags sdk is vetted by vet-sdk).
	go vet ./...

# The official msgraph-sdk-go (its generated models take minutes and GBs to
# compile on 2 cores) is only used by the benchmark's naive baseline and the
# emulator's SDK conformance test. Both sit behind the sdk build tag, so the
# inner loop (go vet ./..., go test ./...) never compiles it.
SDK_TAGS := -tags sdk

.PHONY: vet-sdk
vet-sdk: ## go vet of the code behind the sdk build tag.
	go vet $(SDK_TAGS) ./test/bench ./internal/graphsim

.PHONY: conformance-sdk
conformance-sdk: ## The emulator driven by the official msgraph-sdk-go (CI).
	go test $(SDK_TAGS) -count=1 -run 'TestSDK' ./internal/graphsim

.PHONY: check-generated
check-generated: generate manifests ## Fail when generated files are stale (CI).
	@if [ -n "$$(git status --porcelain -- api config $(CHART))" ]; then \
		echo "generated files are stale; run 'make generate manifests' and commit:"; git status --porcelain -- api config $(CHART); git diff --stat -- api config $(CHART); exit 1; fi

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl into bin/k8s (cached).
	hack/build-controlplane.sh

.PHONY: test
test: envtest vet ## Run all tests against a real kube-apiserver + etcd and the Graph emulator.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: ## Only the controllers' TestUnit tests: fake ports, no envtest, no emulator (seconds).
	go test -count=1 -run Unit ./controllers/...

# test/chart is its own module so that Helm's SDK and the Prometheus server
# packages never enter the operator's module.
.PHONY: test-chart
test-chart: envtest ## Helm chart (lint, render, server-side dry run), alert rules and dashboard.
	cd test/chart && go vet ./... && go test $(GO_TEST_FLAGS) -count=1 ./...

.PHONY: build
build: ## Build the manager, the emulator and the kubectl plugin.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/graphsim ./cmd/graphsim
	go build -o $(BIN)/kubectl-entra ./cmd/kubectl-entra

# kubectl-entra as krew-style archives: bin/plugin/kubectl-entra_<version>_<os>_<arch>.tar.gz
# and the krew manifest bin/plugin/entra.yaml (sha256 of each archive).
# PLUGIN_URL is where the archives will be downloaded from.
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
PLUGIN_URL       ?= $(SOURCE)/releases/download/$(VERSION)

.PHONY: plugin
plugin: ## kubectl-entra archives per OS/arch and a krew manifest in bin/plugin/ (PLUGIN_PLATFORMS, PLUGIN_URL).
	hack/plugin.sh $(BIN)/plugin $(VERSION) $(PLUGIN_URL) $(SOURCE_DATE_EPOCH) $(PLUGIN_PLATFORMS)

.PHONY: install-plugin
install-plugin: ## go install kubectl-entra (then: kubectl entra --help).
	go install ./cmd/kubectl-entra

##@ Run

.PHONY: run
run: ## Run the manager against the current kubeconfig (apply config/crd first). ARGS=... adds flags.
	go run ./cmd/manager --metrics-bind-address=127.0.0.1:8080 --health-probe-bind-address=127.0.0.1:8081 $(ARGS)

.PHONY: demo
demo: envtest build ## Local control plane + Graph emulator + operator + samples, then kubectl get.
	go run ./hack/demo

.PHONY: bench
bench: envtest ## Full performance table (bench/results.md).
	go run $(SDK_TAGS) ./test/bench -out bench/results.md

.PHONY: bench-quick
bench-quick: envtest ## Small benchmark run (CI smoke test).
	go run $(SDK_TAGS) ./test/bench -quick -out bench/results.md

# The chaos suite runs the manager and graphsim binaries as processes under
# injected Graph faults, manager kill -9s and a kube-apiserver restart, then
# checks invariants (test/chaos/out/results.md); it exits non-zero when one
# fails. It is a main package, so `make test` never runs it. Flags: CHAOS_FLAGS
# (e.g. CHAOS_FLAGS="-seed 7 -fault-rate 0.05").
CHAOS_FLAGS ?=

.PHONY: chaos
chaos: envtest ## Full chaos scenario (~10 min on 2 cores): 300 users, 1,000-user batch, GroupSync of 800.
	go run ./test/chaos $(CHAOS_FLAGS)

.PHONY: chaos-quick
chaos-quick: envtest ## Scaled-down chaos scenario (~3 min), same invariants.
	go run ./test/chaos -quick $(CHAOS_FLAGS)

##@ Image

# The image reference. Its default is the one config/manager/kustomization.yaml
# deploys; the chart's values.yaml names the same (test/chart checks it).
IMG       ?= $(shell awk '/newName:/{n=$$2} /newTag:/{t=$$2} END{print n":"t}' config/manager/kustomization.yaml)
VERSION   ?= $(lastword $(subst :, ,$(IMG)))
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE    ?= https://github.com/directory-operator/directory-operator
# Comma-separated; several platforms give a multi-platform OCI index.
PLATFORMS ?= linux/$(shell go env GOARCH)
# Fixed creation time (the commit's), so the same source gives the same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_TOOL := $(BIN)/image-builder
comma := ,

.PHONY: image
image: $(IMAGE_TOOL) ## OCI image of the manager without a container daemon: bin/image/oci (layout), bin/image/image.tar.
	rm -rf $(BIN)/image && mkdir -p $(BIN)/image
	args=(); for p in $(subst $(comma), ,$(PLATFORMS)); do \
		out=$(BIN)/image/manager-$${p//\//-}; \
		CGO_ENABLED=0 GOOS=$${p%%/*} GOARCH=$${p#*/} go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $$out ./cmd/manager; \
		args+=("$$p=$$out"); done; \
	$(IMAGE_TOOL) build -out $(BIN)/image -tag $(IMG) -version $(VERSION) -revision $(REVISION) -source $(SOURCE) -created $(SOURCE_DATE_EPOCH) "$${args[@]}"

.PHONY: image-push
image-push: image ## Push the image to IMG (credentials from docker/podman login).
	$(IMAGE_TOOL) push -layout $(BIN)/image/oci $(IMG)

.PHONY: test-image
test-image: image ## Check the built image: config, no shell, the binary runs (CI).
	cd hack/tools && IMAGE_LAYOUT=$(BIN)/image/oci go test -count=1 ./image

$(IMAGE_TOOL): hack/tools/go.mod $(wildcard hack/tools/image/*.go)
	cd hack/tools && go build -o $(IMAGE_TOOL) ./image

$(CONTROLLER_GEN): hack/tools/go.mod
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: help
help: ## Show targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
