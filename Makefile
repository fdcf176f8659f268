# connectorhub — one entry point for building, testing and generating.
#
#   make run        all-in-one hub (embedded NATS, local keyring, registry on :7400)
#   make test       every workspace module's tests, with a real Vault dev server
#   make generate   regenerate proto/gen with buf and local plugins
#   make lint       buf lint + go vet
#   make bench      benchmarks whose figures go into the README
#   make images     the one image (FROM scratch) and the compose stand-ins

SHELL := /bin/bash
export GOTOOLCHAIN := local

BIN            := $(CURDIR)/.bin
BUF_VERSION    := v1.75.0
PROTOC_GEN_GO  := v1.36.12
PROTOC_GEN_GRPC := v1.6.2
VAULT_BIN      := $(CURDIR)/tools/vault/bin/vault
MODULES         = $(shell go list -m -f '{{.Dir}}')
GO_TEST_FLAGS  ?= -count=1 -timeout 5m

.PHONY: run test generate check-generated lint bench tools vault fmt images image standins e2e nats-image

# Container engine: podman or docker, whichever is present.
ENGINE         ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE          ?= localhost/connectorhub:dev
IMAGE_CONTEXT  := $(CURDIR)/deploy/image/.context
CA_BUNDLE      ?= /etc/ssl/certs/ca-certificates.crt

run:
	go build -o $(BIN)/hub ./cmd/hub && exec $(BIN)/hub --data-dir $(CURDIR)/.data $(ARGS)

# The Vault dev server used by pkg/secrets tests is built from HashiCorp's Go
# module in tools/vault (its own module, outside go.work). Go's build cache makes
# the second build take seconds.
vault: $(VAULT_BIN)
$(VAULT_BIN): tools/vault/go.mod tools/vault/main.go
	cd tools/vault && GOWORK=off CGO_ENABLED=0 go build -ldflags "-s -w" -o $(VAULT_BIN) .

# Every module is tested even when an earlier one fails; the target fails if any did.
test: vault
	@failed=""; for dir in $(MODULES); do \
		echo "=== $$dir"; \
		(cd $$dir && CONNECTORHUB_VAULT_BIN=$(VAULT_BIN) CONNECTORHUB_REQUIRE_VAULT=1 go test $(GO_TEST_FLAGS) ./...) || failed="$$failed $$dir"; \
	done; \
	echo "=== deploy/kubernetes/check (own module, GOWORK=off)"; \
	(cd deploy/kubernetes/check && GOWORK=off go test $(GO_TEST_FLAGS) ./...) || failed="$$failed deploy/kubernetes/check"; \
	echo "=== e2e, deploy/compose/nats-server (own modules, GOWORK=off): build and vet only, so a go.mod the workspace outgrew fails here"; \
	(cd e2e && GOWORK=off go vet ./...) || failed="$$failed e2e"; \
	(cd deploy/compose/nats-server && GOWORK=off go vet ./...) || failed="$$failed deploy/compose/nats-server"; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

# The README's figures (cmd/bench: discovery, scale on poller child
# processes, registry, writeback; 3 repetitions, ~30 min on a loaded 2-core
# machine; BENCH_ARGS=-quick for one short repetition, -parts to pick), then
# the Go benchmarks of every module.
bench:
	go run ./cmd/bench $(BENCH_ARGS)
	@set -e; for dir in $(MODULES); do \
		(cd $$dir && go test -run '^$$' -bench . -benchmem ./...); \
	done

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
$(BIN)/buf:
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC)

generate: tools
	PATH=$(BIN):$$PATH buf generate

# Fails when proto/gen is not what `make generate` produces.
check-generated: generate
	@git diff --exit-code --stat -- proto/gen || { echo "proto/gen is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto/gen)" || { echo "proto/gen has untracked files: run make generate and commit"; exit 1; }

lint: tools
	PATH=$(BIN):$$PATH buf lint
	@set -e; for dir in $(MODULES); do (cd $$dir && go vet ./...); done

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '/gen/')

# The one image: static binaries built here (nothing can be pulled, not even
# golang), the host's CA bundle, FROM scratch, UID 65532. The context is
# git-ignored; `$(ENGINE) image ls $(IMAGE)` gives its size. BUILDAH_FORMAT=docker
# (read by podman, ignored by docker) keeps the image's HEALTHCHECK, which the
# OCI format drops.
image:
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/data
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(IMAGE_CONTEXT)/hub ./cmd/hub
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(IMAGE_CONTEXT)/hubctl ./cmd/hubctl
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/ca-certificates.crt
	BUILDAH_FORMAT=docker $(ENGINE) build -f deploy/image/Containerfile -t $(IMAGE) $(IMAGE_CONTEXT)

# Local stand-ins for the official images docker-compose.yml names, where
# nothing can be pulled: nats-server from its Go module (deploy/compose/
# nats-server, outside go.work) and Vault from `make vault`, each a static
# binary FROM scratch, tagged with the official names.
NATS_IMAGE     := docker.io/library/nats:2.15.2
VAULT_IMAGE    := docker.io/hashicorp/vault:1.21.0
STANDIN_CONTEXT := $(CURDIR)/deploy/compose/standins/.context
standins: vault
	rm -rf $(STANDIN_CONTEXT) && mkdir -p $(STANDIN_CONTEXT)/data
	cd deploy/compose/nats-server && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(STANDIN_CONTEXT)/nats-server .
	cp $(VAULT_BIN) $(STANDIN_CONTEXT)/vault
	$(ENGINE) build -f deploy/compose/standins/nats.Containerfile -t $(NATS_IMAGE) $(STANDIN_CONTEXT)
	$(ENGINE) build -f deploy/compose/standins/vault.Containerfile -t $(VAULT_IMAGE) $(STANDIN_CONTEXT)

images: image

# The end-to-end test on real containers (e2e/, its own module outside
# go.work): the one image, a nats-server image built from the Go module,
# then testcontainers-go over the engine's Docker-compatible socket
# (podman: podman system service unix:///tmp/podman.sock, see .ci/run).
NATS_IMAGE     ?= localhost/connectorhub-nats:e2e
NATS_CONTEXT   := $(CURDIR)/e2e/natsimage/.context
E2E_DOCKER_HOST ?= unix:///tmp/podman.sock

nats-image:
	rm -rf $(NATS_CONTEXT) && mkdir -p $(NATS_CONTEXT)/data
	cd e2e && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(NATS_CONTEXT)/nats-server github.com/nats-io/nats-server/v2
	$(ENGINE) build -f e2e/natsimage/Containerfile -t $(NATS_IMAGE) $(NATS_CONTEXT)

e2e: image nats-image
	cd e2e && GOWORK=off DOCKER_HOST=$${DOCKER_HOST:-$(E2E_DOCKER_HOST)} TESTCONTAINERS_RYUK_DISABLED=true \
		TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 E2E_HUB_IMAGE=$(IMAGE) E2E_NATS_IMAGE=$(NATS_IMAGE) \
		go test -count=1 -timeout 20m -v -run TestKillANATSNodeAndAPollerMidRun .
