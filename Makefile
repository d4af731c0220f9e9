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
	@if [ -n "$$(git status --porcelain -- api config)" ]; then \
		echo "generated files are stale; run 'make generate manifests' and commit:"; git status --porcelain -- api config; git diff --stat -- api config; exit 1; fi

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl into bin/k8s (cached).
	hack/build-controlplane.sh

.PHONY: test
test: envtest vet ## Run all tests against a real kube-apiserver + etcd and the Graph emulator.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: build
build: ## Build the manager and the emulator.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/graphsim ./cmd/graphsim

##@ Run

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

$(CONTROLLER_GEN): hack/tools/go.mod
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: help
help: ## Show targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
