# aigw-mtls-webhook
SHELL := /usr/bin/env bash
K8S_VERSION ?= 1.37.2
ENVTEST_DIR ?= $(CURDIR)/bin/k8s/$(K8S_VERSION)
NIC_VERSION ?= v5.5.4
NIC_CRDS_DIR ?= $(CURDIR)/test/crds/nginx
HELM ?= $(CURDIR)/bin/helm
PROMTOOL ?= $(CURDIR)/bin/promtool
TEST_ENV := KUBEBUILDER_ASSETS=$(ENVTEST_DIR) NIC_CRDS_DIR=$(NIC_CRDS_DIR) HELM=$(HELM) PROMTOOL=$(PROMTOOL)
FUZZTIME ?= 10s

.PHONY: all build test unit demo envtest crds helm promtool chart manifests lint fuzz bench docker clean

all: build

build: ## the binary: bin/aigw-mtls-webhook
	CGO_ENABLED=0 go build -trimpath -o bin/aigw-mtls-webhook ./cmd/aigw-mtls-webhook

test: envtest crds helm promtool lint ## every test: unit, fixtures, end to end on a real API server, short fuzzing
	$(TEST_ENV) go test -count=1 ./...
	$(MAKE) fuzz

unit: ## the pure tests only (no API server)
	go test ./patches/... ./webhook/... ./cmd/...

demo: envtest crds helm ## the seed's scenario on a local control plane started and stopped here
	@$(TEST_ENV) go run ./test/demo

envtest: ## kube-apiserver and etcd built from the Go module proxy (cached); prints their folder
	@ENVTEST_DIR=$(ENVTEST_DIR) K8S_VERSION=$(K8S_VERSION) ./hack/envtest/build.sh

crds: ## NGINX Ingress Controller v5.5.4 CRDs: kept in test/crds/nginx (SOURCE.txt, LICENSE); downloaded only when NIC_CRDS_DIR points elsewhere and is empty
	@if [ ! -e "$(NIC_CRDS_DIR)/k8s.nginx.org_virtualservers.yaml" ]; then \
		mkdir -p "$(NIC_CRDS_DIR)"; \
		for crd in virtualservers virtualserverroutes policies transportservers; do \
			curl -fsSL -o "$(NIC_CRDS_DIR)/k8s.nginx.org_$$crd.yaml" \
				"https://raw.githubusercontent.com/nginx/kubernetes-ingress/$(NIC_VERSION)/config/crd/bases/k8s.nginx.org_$$crd.yaml"; \
		done; \
	fi

helm: ## helm v3.22.0 built from the Go module proxy into bin/ (cached); prints its path
	@./hack/helm.sh

promtool: ## promtool (Prometheus v3) built from the Go module proxy into bin/ (cached); prints its path
	@if [ "$(PROMTOOL)" = "$(CURDIR)/bin/promtool" ]; then ./hack/promtool.sh; else echo "$(PROMTOOL)"; fi

chart: helm ## lint and render the chart; check config/default is in step with it
	$(HELM) lint --strict charts/aigw-mtls-webhook
	$(TEST_ENV) go test -count=1 ./test/chart/

manifests: helm ## regenerate config/default from the chart
	$(TEST_ENV) go test ./test/chart -run TestConfigInStepWithChart -update -count=1

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

fuzz: ## each fuzz target for $(FUZZTIME)
	go test ./patches -run '^$$' -fuzz '^FuzzSetAIGWTLS$$' -fuzztime $(FUZZTIME)
	go test ./patches -run '^$$' -fuzz '^FuzzPatchVirtualServer$$' -fuzztime $(FUZZTIME)
	@for f in FuzzMutatePod FuzzMutateConfigMap FuzzMutateVirtualServer FuzzMutateVirtualServerRoute \
		FuzzValidatePolicy FuzzValidateVirtualServer FuzzValidateVirtualServerRoute FuzzValidateCertificate \
		FuzzMutateIngress FuzzValidateIngress FuzzReviewGuard; do \
		echo "go test ./webhook -run '^$$' -fuzz '^$$f\$$' -fuzztime $(FUZZTIME)"; \
		go test ./webhook -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

bench: envtest crds ## micro-benchmarks, then the API-server, HTTPS and memory figures (BENCHMARKS.md)
	go test ./patches/... ./webhook/... -run '^$$' -bench . -benchmem
	AIGW_BENCH=1 go test ./webhook ./patches -run '^TestBenchFigures$$' -count=1 -v
	$(TEST_ENV) go run ./test/bench all

docker: ## container image (needs a Docker engine)
	docker build -t aigw-mtls-webhook:dev .

clean:
	rm -rf bin/aigw-mtls-webhook
