# aigw-mtls-webhook
SHELL := /usr/bin/env bash
# The Go toolchain is go.mod's toolchain line (a release without the standard library's known
# vulnerabilities), exported to every recipe and hack/ script: the go command fetches it from the Go
# module proxy once (76 MB, about 10 seconds) when the machine's go is another version, whatever its
# own GOTOOLCHAIN says. The go line stays at the oldest Go the module builds with, so a plain
# `go vet` or `go test` on the machine's Go still works. `make GOTOOLCHAIN=...` overrides it.
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)
# The test tools built from source (kube-apiserver, etcd, helm, promtool, kustomize, gremlins) are
# not shipped: they build with the Go their own modules ask for (the machine's, when it is new enough).
TOOL_GO := GOTOOLCHAIN=auto
K8S_VERSION ?= 1.37.2
ENVTEST_DIR ?= $(CURDIR)/bin/k8s/$(K8S_VERSION)
NIC_VERSION ?= v5.5.4
NIC_CRDS_DIR ?= $(CURDIR)/test/crds/nginx
HELM ?= $(CURDIR)/bin/helm
PROMTOOL ?= $(CURDIR)/bin/promtool
KUSTOMIZE ?= $(CURDIR)/bin/kustomize
GREMLINS ?= $(CURDIR)/bin/gremlins
GOVULNCHECK ?= $(CURDIR)/bin/govulncheck
VULNDB_DIR ?= $(CURDIR)/bin/vulndb
# The vulnerability database's contents: bump to the newest pseudo-version of golang.org/x/vulndb
# (go list -m golang.org/x/vulndb@master) to check against newer vulnerabilities.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
# kustomize v5.8.2 and later need Go 1.27.
KUSTOMIZE_PKG := sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
GREMLINS_PKG := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
GOVULNCHECK_PKG := golang.org/x/vuln/cmd/govulncheck@v1.9.0
HELM_PKG := helm.sh/helm/v3/cmd/helm@v3.22.0
# Only where apt-get is missing (make promtool): Prometheus v3.x is Go module version v0.3xx.
PROMTOOL_PKG := github.com/prometheus/prometheus/cmd/promtool@v0.316.0
MUTATE_PKGS ?= ./internal/rules ./internal/certs
TEST_ENV := KUBEBUILDER_ASSETS=$(ENVTEST_DIR) NIC_CRDS_DIR=$(NIC_CRDS_DIR) HELM=$(HELM) PROMTOOL=$(PROMTOOL) KUSTOMIZE=$(KUSTOMIZE)
# nginx and openssl: $NGINX / $OPENSSL, else on the PATH, else Debian's packages unpacked into bin/.
# A tool that cannot be had fails the run, unless AIGW_TEST_ALLOW_MISSING=1 (its tests then skip).
DEB_TOOLS = nginx=$$(./hack/deb-tool.sh nginx) || [ "$$AIGW_TEST_ALLOW_MISSING" = 1 ] || exit 1; \
	openssl=$$(./hack/deb-tool.sh openssl) || [ "$$AIGW_TEST_ALLOW_MISSING" = 1 ] || exit 1; \
	export NGINX=$$nginx OPENSSL=$$openssl; echo "nginx: $${nginx:-missing}, openssl: $${openssl:-missing}"
FUZZTIME ?= 10s
# make test's short fuzzing: each target for this long, after go test has run every seed
# (make test TEST_FUZZTIME=1m fuzzes longer).
TEST_FUZZTIME ?= 5s
# go test starts packages in the order given: the end-to-end packages, which wait on the API server
# and on timers more than they compute, go first so that the rest runs beside them, not after them.
TEST_PKGS ?= ./test/e2e ./test/chart ./test/podengine ./test/check ./test/probe ./test/gatewayapi ./...
# Packages tested at once: twice CI's two cores, as the end-to-end packages leave them half idle.
TEST_PARALLEL ?= 4

.PHONY: all toolchain build docs test tools unit demo envtest crds helm promtool kustomize gremlins govulncheck vulncheck nginx openssl chart manifests dashboard podpolicy lint fuzz mutate bench docker clean

all: build

toolchain: ## the Go every recipe uses (go.mod's toolchain line, whatever the machine's go)
	@go version

build: ## the binary: bin/aigw-mtls-webhook
	CGO_ENABLED=0 go build -trimpath -o bin/aigw-mtls-webhook ./cmd/aigw-mtls-webhook

docs: ## the rule reference, docs/rules.md, from the rule catalogue (internal/rules/catalogue*.go); a test fails when it is not in step
	go run ./hack/rulesdoc docs/rules.md

test: tools lint ## every test, in random order (-shuffle=on; go test prints the seed to replay it with -shuffle=SEED): unit, fixtures, end to end on a real API server, real nginx and openssl, short fuzzing, vulncheck; fails on any skip hack/noskip/skips.txt does not allow
	@$(DEB_TOOLS); set -x; $(TEST_ENV) go run ./hack/noskip -count=1 -shuffle=on -p $(TEST_PARALLEL) $(TEST_PKGS)
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)
	$(MAKE) vulncheck

tools: ## every tool make test needs, got side by side (each is cached: later runs only check it)
	@$(MAKE) --no-print-directory -j4 envtest crds helm promtool kustomize

unit: ## the pure tests only (no API server)
	go test -shuffle=on ./patches/... ./internal/... ./webhook/... ./cmd/...

demo: envtest crds helm ## the seed's scenario on a local control plane started and stopped here
	@$(TEST_ENV) go run ./test/demo

envtest: ## kube-apiserver and etcd built from the Go module proxy (cached); prints their folder
	@$(TOOL_GO) ENVTEST_DIR=$(ENVTEST_DIR) K8S_VERSION=$(K8S_VERSION) ./hack/envtest/build.sh

crds: ## NGINX Ingress Controller v5.5.4 CRDs: kept in test/crds/nginx (SOURCE.txt, LICENSE); downloaded only when NIC_CRDS_DIR points elsewhere and is empty
	@if [ ! -e "$(NIC_CRDS_DIR)/k8s.nginx.org_virtualservers.yaml" ]; then \
		mkdir -p "$(NIC_CRDS_DIR)"; \
		for crd in virtualservers virtualserverroutes policies transportservers; do \
			curl -fsSL -o "$(NIC_CRDS_DIR)/k8s.nginx.org_$$crd.yaml" \
				"https://raw.githubusercontent.com/nginx/kubernetes-ingress/$(NIC_VERSION)/config/crd/bases/k8s.nginx.org_$$crd.yaml"; \
		done; \
	fi

helm: ## helm v3.22.0 built from the Go module proxy into bin/ (cached); prints its path
	@$(TOOL_GO) HELM=$(filter-out $(CURDIR)/bin/helm,$(HELM)) ./hack/go-install.sh helm $(HELM_PKG)

promtool: ## promtool: $PROMTOOL, else on the PATH, else Debian's prometheus package (Prometheus 2.42) unpacked into bin/ (about 20 seconds, once); without apt-get, Prometheus v3's promtool built from the Go module proxy (about ten minutes on two cores, once); prints its path
	@if [ -n "$(filter-out $(CURDIR)/bin/promtool,$(PROMTOOL))" ] || [ -x "$(CURDIR)/bin/promtool" ] || { command -v apt-get && command -v dpkg-deb; } >/dev/null; then \
		PROMTOOL=$(filter-out $(CURDIR)/bin/promtool,$(PROMTOOL)) ./hack/deb-tool.sh promtool; \
	else $(TOOL_GO) ./hack/go-install.sh promtool $(PROMTOOL_PKG) "about ten minutes on two cores"; fi

kustomize: ## kustomize v5.8.1 (what kubectl apply -k runs) built from the Go module proxy into bin/ (cached); prints its path
	@$(TOOL_GO) KUSTOMIZE=$(filter-out $(CURDIR)/bin/kustomize,$(KUSTOMIZE)) ./hack/go-install.sh kustomize $(KUSTOMIZE_PKG)

gremlins: ## gremlins v0.6.0 (mutation testing) built from the Go module proxy into bin/ (cached); prints its path
	@$(TOOL_GO) GREMLINS=$(filter-out $(CURDIR)/bin/gremlins,$(GREMLINS)) ./hack/go-install.sh gremlins $(GREMLINS_PKG) "about 10 seconds"

govulncheck: ## govulncheck v1.9.0 built from the Go module proxy into bin/ (cached); prints its path
	@GOVULNCHECK=$(filter-out $(CURDIR)/bin/govulncheck,$(GOVULNCHECK)) ./hack/go-install.sh govulncheck $(GOVULNCHECK_PKG) "about a minute"

vulncheck: ## govulncheck over every package against a database built offline from golang.org/x/vulndb@$(VULNDB_VERSION) (bin/vulndb); fails when the code calls a vulnerable function
	@govulncheck=$$(GOVULNCHECK=$(filter-out $(CURDIR)/bin/govulncheck,$(GOVULNCHECK)) ./hack/go-install.sh govulncheck $(GOVULNCHECK_PKG) "about a minute") && \
		db=$$(VULNDB_DIR=$(VULNDB_DIR) VULNDB_VERSION=$(VULNDB_VERSION) ./hack/vulndb.sh) && \
		set -x && $$govulncheck -db "file://$$db" ./...

nginx openssl: ## $NGINX / $OPENSSL, else on the PATH, else Debian's package unpacked into bin/ (no root needed); prints its path
	@./hack/deb-tool.sh $@

chart: helm kustomize ## lint and render the chart; check config/default is in step with it
	$(HELM) lint --strict charts/aigw-mtls-webhook
	$(TEST_ENV) go test -count=1 ./test/chart/

manifests: helm ## regenerate config/default from the chart
	$(TEST_ENV) go test ./test/chart -run TestConfigInStepWithChart -update -count=1

dashboard: ## write the chart's Grafana dashboard (charts/aigw-mtls-webhook/dashboards/aigw-mtls.json) from its generator, hack/dashboard
	go run ./hack/dashboard charts/aigw-mtls-webhook/dashboards/aigw-mtls.json

podpolicy: ## write the CEL of the chart's pod engine "policy" (charts/aigw-mtls-webhook/policies/pod-wiring.yaml) from patches/podpolicy.go
	go run ./hack/podpolicy charts/aigw-mtls-webhook/policies/pod-wiring.yaml

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

fuzz: ## every fuzz target of patches and webhook for $(FUZZTIME) each (one instrumented test binary per package, built once)
	@FUZZTIME=$(FUZZTIME) ./hack/fuzz.sh ./patches ./webhook

# The timeout is a multiple of the coverage run's time, which go test's cache makes tiny: a low
# coefficient reports mutants as timed out while their test binary still builds.
mutate: gremlins ## mutation testing of the rule set ($(MUTATE_PKGS)) with gremlins, each mutant against the package's tests; lists the mutants that live (several minutes; not part of make test)
	@$(DEB_TOOLS); for p in $(MUTATE_PKGS); do \
		echo "gremlins unleash $$p"; \
		$(GREMLINS) unleash --workers 2 --timeout-coefficient 100 --output-statuses lt $$p || exit 1; \
	done

bench: envtest crds ## micro-benchmarks, then the API-server, HTTPS and memory figures (BENCHMARKS.md)
	go test ./patches/... ./webhook/... -run '^$$' -bench . -benchmem
	AIGW_BENCH=1 go test ./webhook ./patches -run '^TestBenchFigures$$' -count=1 -v
	$(TEST_ENV) go run ./test/bench all

docker: ## container image (needs a Docker engine)
	docker build -t aigw-mtls-webhook:dev .

clean:
	rm -rf bin/aigw-mtls-webhook
