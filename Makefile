# kubemesos — the two commands a newcomer runs:
#
#   make demo   start a local control plane, install kubemesos, run the sample
#   make test   every test: unit, envtest integration and e2e
#
# Everything else (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kubectl, helm, controller-gen) is built from source
# into bin/ by `make tools`, keyed by version; the local cluster's nodes also
# take containerd, runc and the CNI plugins from Debian (`make node-packages`).

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include hack/tools.mk

GO        ?= go
GOFLAGS_MAIN :=
# Test binaries run at a time. The envtest packages spend much of their
# time waiting on their API servers: on 2 cores, two at a time kept the CPU
# busy 55 % of the time (the unit and envtest phase 391 s), three 70 %
# (276 to 335 s) and four all of it, where each package slowed (335 s).
TEST_PARALLEL ?= 3
KUBEBUILDER_ASSETS := $(KUBE_BIN)
export KUBEBUILDER_ASSETS

LOCALCLUSTER_DIR ?= $(CURDIR)/.localcluster
KUBECONFIG_LOCAL := $(LOCALCLUSTER_DIR)/kubeconfig

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kubemesos/kubemesos/internal/version.Version=$(VERSION)

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/kubemesos, the kubectl plugin bin/kubectl-mesos (with bin/kubectl_complete-mesos) and bin/montecarloarea (and the local cluster's bin/localcluster, bin/pause and the e2e tests' bin/mesos-go-executor and bin/mesos-go-scheduler).
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_MAIN) -trimpath -ldflags '$(LDFLAGS)' -o bin/kubemesos .
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_MAIN) -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-mesos ./cmd/kubectl-mesos
	install -m 0755 cmd/kubectl-mesos/kubectl_complete-mesos bin/kubectl_complete-mesos
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_MAIN) -trimpath -o bin/montecarloarea ./examples/montecarloarea
	cd test/mesoscompat && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/mesos-go-executor ./cmd/mesos-go-executor && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/mesos-go-scheduler ./cmd/mesos-go-scheduler
	cd hack/localcluster && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/localcluster . && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/pause ./pause

# The krew archives of kubectl mesos: one per os/arch of KREW_PLATFORMS
# (this machine's by default), served from KREW_URI_BASE (bin/ itself by
# default; a release sets its download address and every platform).
KREW_PLATFORMS ?= $(shell $(GO) env GOOS)/$(shell $(GO) env GOARCH)
KREW_URI_BASE ?= file://$(CURDIR)/bin
KREW_VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null)

.PHONY: kubectl-mesos-krew
kubectl-mesos-krew: ## Pack bin/kubectl-mesos_<os>_<arch>.tar.gz and write bin/mesos.yaml, the krew manifest with their uri and sha256 (kubectl krew install --manifest=bin/mesos.yaml).
	@set -e; archives=""; for p in $(KREW_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; dir=bin/krew/$${os}_$${arch}; mkdir -p $$dir; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(GOFLAGS_MAIN) -trimpath -ldflags '$(LDFLAGS)' -o $$dir/kubectl-mesos ./cmd/kubectl-mesos; \
	  install -m 0755 cmd/kubectl-mesos/kubectl_complete-mesos $$dir/kubectl_complete-mesos; \
	  tar -C $$dir --owner=0 --group=0 --mtime=@0 -czf bin/kubectl-mesos_$${os}_$${arch}.tar.gz kubectl-mesos kubectl_complete-mesos; \
	  archives="$$archives $$p=bin/kubectl-mesos_$${os}_$${arch}.tar.gz"; \
	done; \
	$(GO) run ./hack/krew/render -manifest hack/krew/mesos.yaml -version '$(KREW_VERSION)' -uri-base '$(KREW_URI_BASE)' $$archives > bin/mesos.yaml
	@echo ">> bin/mesos.yaml: kubectl krew install --manifest=bin/mesos.yaml"

.PHONY: tools
tools: $(ENVTEST_TOOLS) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBELET) $(HELM) $(CONTROLLER_GEN) $(PROTOGEN) $(KWOK) ## Build every tool into bin/ (only what is missing).

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=kubemesos-master paths=./controllers/... output:rbac:dir=config/rbac/master
	$(CONTROLLER_GEN) rbac:roleName=kubemesos-agent paths=./agent/... output:rbac:dir=config/rbac/agent
	hack/sync-chart.sh

# The Mesos v1 wire types (api/mesos/v1), relative to api/.
MESOS_PROTOS := mesos/v1/mesos.proto mesos/v1/scheduler/scheduler.proto mesos/v1/executor/executor.proto

.PHONY: generate
generate: $(CONTROLLER_GEN) $(PROTOGEN) ## Generate the deepcopy functions and the Mesos protobuf Go code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(PROTOGEN) -proto_path api -go_out api $(MESOS_PROTOS)

##@ Test

.PHONY: test
test: verify unit-and-integration bench-master-small test-mesoscompat test-monitoring e2e ## Run every test (unit, envtest integration, chart, bench-master's small run, Mesos conformance, dashboard and alert rules, e2e).

.PHONY: verify
verify: $(CONTROLLER_GEN) $(PROTOGEN) ## Check formatting, vet, and that generated files are current.
	@echo ">> gofmt"
	@out=$$(find . -name '*.go' -not -path './bin/*' -not -path './.localcluster/*' -print0 | xargs -0 gofmt -l); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@echo ">> go vet"
	$(GO) vet $(GOFLAGS_MAIN) ./...
	cd hack/localcluster && $(GO) vet ./...
	@echo ">> generated files are current"
	hack/verify-generated.sh

# go test runs the packages it is given in their order, TEST_PARALLEL at a
# time: the longest (the scale suite's small run, about 200 s) goes first,
# so that the others run beside it instead of after it. Giving the next
# four longest first as well (controllers, agent, Mesos API, scheduler SDK)
# ran the three heaviest envtest suites together from the start: the scale
# suite took 271 s and the phase 372 s, against 202 to 252 s and 276 to
# 335 s in this order (2026-11-29, warm).
TEST_FIRST := ./test/scale

.PHONY: unit-and-integration
unit-and-integration: $(ENVTEST_TOOLS) $(KUBE_SCHEDULER) $(KWOK) $(HELM) ## Run the unit, envtest integration and chart tests (the scale suite's small run included).
	@echo ">> go test (envtest binaries from $(KUBEBUILDER_ASSETS), helm $(HELM), kwok $(KWOK))"
	HELM_BIN=$(HELM) KWOK_BIN=$(KWOK) $(GO) test $(GOFLAGS_MAIN) -p $(TEST_PARALLEL) -count=1 $(TEST_FIRST) ./...
	cd hack/localcluster && $(GO) test -count=1 ./...
	cd hack/protogen && $(GO) test -count=1 ./...

.PHONY: test-mesoscompat
test-mesoscompat: ## Check the Mesos v1 types against mesos-go's definitions and generated code (module test/mesoscompat).
	@echo ">> Mesos wire conformance (test/mesoscompat)"
	cd test/mesoscompat && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: test-monitoring
test-monitoring: $(HELM) ## Check the chart's Grafana dashboard and alert rules with Prometheus's parsers and against the registered metrics (module test/monitoring).
	@echo ">> dashboard and alert rules (test/monitoring)"
	cd test/monitoring && $(GO) vet ./... && HELM_BIN=$(HELM) $(GO) test -count=1 ./...

.PHONY: e2e
# The e2e test's Mesos framework library (npm mesos-framework, pinned with
# its dependencies by the lockfile), which also goes into the image of its
# executor: installed again only when the lockfile changes.
MESOS_FRAMEWORK_JS := test/e2e/mesosframework/node_modules/.package-lock.json
$(MESOS_FRAMEWORK_JS): test/e2e/mesosframework/package-lock.json
	@echo ">> npm ci (test/e2e/mesosframework)"
	cd test/e2e/mesosframework && npm ci --ignore-scripts --no-audit --no-fund

e2e: build $(HELM) $(MESOS_FRAMEWORK_JS) browser cluster-up ## Run the e2e tests on the local cluster (helm-installs kubemesos), then the fault campaign's short run, then stop it.
	@echo ">> e2e tests on the local cluster ($(KUBECONFIG_LOCAL))"
	rc=0; KUBECONFIG=$(KUBECONFIG_LOCAL) HELM_BIN=$(HELM) $(GO) test $(GOFLAGS_MAIN) -tags e2e -count=1 -timeout 25m -v -skip 'TestChaos$$' ./test/e2e || rc=$$?; \
	  if [ $$rc = 0 ]; then \
	    echo ">> the fault campaign's short run (TestChaos: a fault of each kind)"; \
	    KUBECONFIG=$(KUBECONFIG_LOCAL) HELM_BIN=$(HELM) $(GO) test $(GOFLAGS_MAIN) -tags e2e -count=1 -timeout 25m -v -run 'TestChaos$$' ./test/e2e || rc=$$?; \
	  fi; \
	  hack/cluster-down.sh "$(LOCALCLUSTER_DIR)"; exit $$rc

# The fault campaign's default run: the faults of each kind that issue 15
# asks for. CHAOS_SEED replays a run; CHAOS_DURATION stops injecting after
# that long (0: when the plan is done).
CHAOS_FAULTS ?= leader-kill=100,leader-pause=20,agent-restart=100,agent-pause=20,node-partition=20,apiserver-restart=10,executor-crash=20,scheduler-kill=20,scheduler-pause=10,etcd-stall=20,etcd-slow-disk=20
CHAOS_SEED ?=
CHAOS_DURATION ?= 0
CHAOS_DIR ?= $(CURDIR)/.chaos

.PHONY: chaos
chaos: build $(HELM) $(MESOS_FRAMEWORK_JS) cluster-up ## Run the fault campaign on the local cluster (CHAOS_FAULTS, CHAOS_SEED, CHAOS_DURATION; record and report in .chaos/), then stop it.
	rc=0; KUBECONFIG=$(KUBECONFIG_LOCAL) HELM_BIN=$(HELM) KUBEMESOS_CHAOS_FAULTS='$(CHAOS_FAULTS)' KUBEMESOS_CHAOS_SEED='$(CHAOS_SEED)' \
	  KUBEMESOS_CHAOS_DURATION='$(CHAOS_DURATION)' KUBEMESOS_CHAOS_DIR='$(CHAOS_DIR)' \
	  $(GO) test $(GOFLAGS_MAIN) -tags e2e -count=1 -timeout 6h -v -run 'TestChaos$$' ./test/e2e || rc=$$?; \
	  hack/cluster-down.sh "$(LOCALCLUSTER_DIR)"; exit $$rc

.PHONY: screenshots
screenshots: build $(HELM) $(MESOS_FRAMEWORK_JS) browser cluster-up ## Render the console's pages on the local cluster into docs/images (the e2e browser test), then stop it.
	rc=0; KUBECONFIG=$(KUBECONFIG_LOCAL) HELM_BIN=$(HELM) KUBEMESOS_SCREENSHOT_DIR=$(CURDIR)/docs/images \
	  $(GO) test $(GOFLAGS_MAIN) -tags e2e -count=1 -timeout 15m -v -run 'TestConsoleInBrowser' ./test/e2e || rc=$$?; \
	  hack/cluster-down.sh "$(LOCALCLUSTER_DIR)"; exit $$rc

.PHONY: bench
bench: ## Run the Go benchmarks and print a table (BENCHTIME=3s, BENCH_PKGS=./controllers/...).
	hack/bench.sh

.PHONY: fuzz
fuzz: ## Run every Go fuzz target for a budget of executions and print a table (FUZZ_EXECS=1000000 each, FUZZ_PARALLEL=1 worker, FUZZ_MATCH=regexp of <package>.<FuzzName>).
	hack/fuzz.sh

BENCH_SCALE_FLAGS ?=

.PHONY: bench-scale
bench-scale: $(ENVTEST_TOOLS) $(KUBE_SCHEDULER) $(KWOK) ## Scale suite: kubemesos against kube-scheduler on kwok nodes with hollow agents; prints the tables, writes docs/images/scale.svg (BENCH_SCALE_FLAGS='-help' lists the flags).
	KWOK_BIN=$(KWOK) $(GO) run $(GOFLAGS_MAIN) ./test/scale/benchscale $(BENCH_SCALE_FLAGS)

# Larger runs: make bench-master BENCH_MASTER_FLAGS='-memory-agents 1000,5000 -memory-tasks 0,10000,50000'
# (go run ./test/scale/master -h lists the flags).
BENCH_MASTER_FLAGS ?=

.PHONY: bench-master
bench-master: build $(ENVTEST_TOOLS) ## Measure the master as a process on envtest: memory (P4), failover (P5), an agent's memory, the API server's write rate; prints tables (BENCH_MASTER_FLAGS).
	$(GO) run ./test/scale/master $(BENCH_MASTER_FLAGS)

# Every phase of bench-master at a tiny size, as part of make test: it
# checks that each phase runs to its end (every wait met, every process
# alive), not how fast. Failover runs with the short Lease only: the
# default one is the same path, 15 s slower.
BENCH_MASTER_SMALL_FLAGS := -write-clients 2 -write-duration 1s -fanout-watches 0,20 -frameworks 2 \
  -memory-agents 20 -memory-tasks 0,200 -settle 2s -failover-agents 20 -failover-tasks 100 -failover-reps 1 \
  -failover-default-reps 0 -agent-tasks 20 -agent-executors 2

.PHONY: bench-master-small
bench-master-small: build $(ENVTEST_TOOLS) ## Run every phase of bench-master at a tiny size (part of make test).
	@echo ">> bench-master's small run (every phase, tiny sizes)"
	rm -rf $(CURDIR)/.bench-master-small && $(GO) run $(GOFLAGS_MAIN) ./test/scale/master $(BENCH_MASTER_SMALL_FLAGS) -out $(CURDIR)/.bench-master-small

##@ Local cluster and demo

CLUSTER_NODES ?= 3

.PHONY: cluster-up
# The npm packages of test/e2e/mesosframework go into the image of the npm
# library's executor (hack/localcluster/images.go), built with the others.
cluster-up: build node-packages $(ENVTEST_TOOLS) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBELET) $(MESOS_FRAMEWORK_JS) ## Start the local cluster: control plane and 3 real nodes (kubeconfig in .localcluster/kubeconfig).
	hack/cluster-up.sh "$(LOCALCLUSTER_DIR)" $(CLUSTER_NODES)

.PHONY: cluster-down
cluster-down: ## Stop the local control plane and every process it started.
	hack/cluster-down.sh "$(LOCALCLUSTER_DIR)"

.PHONY: demo
demo: build $(HELM) cluster-up ## Start the local cluster, helm-install kubemesos, run MonteCarloArea, print the area.
	hack/demo.sh "$(KUBECTL)" "$(HELM)" "$(KUBECONFIG_LOCAL)"
