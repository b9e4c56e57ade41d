# Tool versions and recipes. Every binary lands in bin/ under a path keyed by
# its version, so a second `make tools` finds it and rebuilds nothing. The
# hack/tools module holds the pins (and the replace directives that
# k8s.io/kubernetes needs) so that they never reach the main module.

KUBE_VERSION       ?= v1.37.2
HELM_VERSION       ?= v3.22.0
CONTROLLER_GEN_VERSION ?= v0.23.0
KWOK_VERSION       ?= v0.8.0
PROTOCOMPILE_VERSION ?= v0.14.1

TOOLS_DIR  := $(CURDIR)/hack/tools
BIN        := $(CURDIR)/bin
KUBE_BIN   := $(BIN)/k8s/$(KUBE_VERSION)

KUBE_MAJOR := $(word 1,$(subst ., ,$(patsubst v%,%,$(KUBE_VERSION))))
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))

# The version ldflags that make the servers report v1.37.2 instead of
# v0.0.0-master, which kubectl and helm cannot parse.
KUBE_LDFLAGS := -s -w $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(KUBE_VERSION) -X $(p).gitMajor=$(KUBE_MAJOR) -X $(p).gitMinor=$(KUBE_MINOR) \
	-X $(p).gitTreeState=clean -X $(p).buildDate=1970-01-01T00:00:00Z)

HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	$(foreach p,helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil,\
	-X $(p).k8sVersionMajor=$(KUBE_MAJOR) -X $(p).k8sVersionMinor=$(KUBE_MINOR))

TOOLS_GO := cd $(TOOLS_DIR) && CGO_ENABLED=0 go

ETCD            := $(KUBE_BIN)/etcd
KUBE_APISERVER  := $(KUBE_BIN)/kube-apiserver
KUBE_CONTROLLER_MANAGER := $(KUBE_BIN)/kube-controller-manager
KUBE_SCHEDULER  := $(KUBE_BIN)/kube-scheduler
KUBECTL         := $(KUBE_BIN)/kubectl
KUBELET         := $(KUBE_BIN)/kubelet
HELM            := $(BIN)/helm-$(HELM_VERSION)
CONTROLLER_GEN  := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
KWOK            := $(BIN)/kwok/$(KWOK_VERSION)/kwok
PROTOGEN        := $(BIN)/protogen-$(PROTOCOMPILE_VERSION)

# What the envtest suites need: storage, the API server and kubectl.
ENVTEST_TOOLS := $(ETCD) $(KUBE_APISERVER) $(KUBECTL)

$(ETCD): $(TOOLS_DIR)/go.mod
	@echo ">> building etcd (pinned by kube $(KUBE_VERSION))"
	$(TOOLS_GO) build -trimpath -ldflags '-s -w' -o $@ ./cmd/etcd

$(KUBE_BIN)/%: $(TOOLS_DIR)/go.mod
	@echo ">> building $* $(KUBE_VERSION) (cold: kube-apiserver 10-15 min, the others 3-7 min each)"
	$(TOOLS_GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$*

$(HELM): $(TOOLS_DIR)/go.mod
	@echo ">> building helm $(HELM_VERSION)"
	$(TOOLS_GO) build -trimpath -ldflags '$(HELM_LDFLAGS)' -o $@ helm.sh/helm/v3/cmd/helm
	ln -sf $(notdir $@) $(BIN)/helm

$(CONTROLLER_GEN): $(TOOLS_DIR)/go.mod
	@echo ">> building controller-gen $(CONTROLLER_GEN_VERSION)"
	$(TOOLS_GO) build -trimpath -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen
	ln -sf $(notdir $@) $(BIN)/controller-gen

# protogen turns the Mesos .proto files into Go: protocompile parses them and
# protoc-gen-go's generator (google.golang.org/protobuf, pinned in
# hack/protogen at the version of the main module) writes the code. No protoc
# needed. It is its own module, like kwok below: going through hack/tools
# would move that module's pins and so rebuild every other tool.
PROTOGEN_DIR := $(CURDIR)/hack/protogen
$(PROTOGEN): $(PROTOGEN_DIR)/go.mod $(PROTOGEN_DIR)/main.go
	@echo ">> building protogen (protocompile $(PROTOCOMPILE_VERSION))"
	cd $(PROTOGEN_DIR) && CGO_ENABLED=0 go build -trimpath -o $@ .
	ln -sf $(notdir $@) $(BIN)/protogen

# kwok fakes the scale suite's nodes (test/scale). It is built with its own
# go.mod, pinned by the version alone: going through hack/tools would move
# shared dependencies and so rebuild every other tool.
$(KWOK):
	@echo ">> building kwok $(KWOK_VERSION)"
	GOBIN=$(dir $@) CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

# What the local cluster's nodes need besides the kubelet: containerd, runc,
# the CNI plugins, a static busybox (the busybox image) and iptables, from
# Debian's packages. The script installs only what is missing.
NODE_PACKAGES := containerd runc containernetworking-plugins busybox-static iptables

.PHONY: node-packages
node-packages: ## Install the nodes' Debian packages (containerd, runc, CNI plugins, busybox-static, iptables) if missing.
	@hack/debian-packages.sh "the local cluster" $(NODE_PACKAGES)

# The e2e tests drive the console's pages in a headless Chromium, Debian's.
BROWSER_PACKAGES := chromium

.PHONY: browser
browser: ## Install the headless browser of the console's e2e tests (Debian's chromium) if missing.
	@hack/debian-packages.sh "the console's browser tests" $(BROWSER_PACKAGES)
