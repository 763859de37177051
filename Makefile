# odoobot — the front door. `make` alone lists the targets.
SHELL   := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin/odoobot

.DEFAULT_GOAL := help
.PHONY: help run test e2e bench build lint deps sandbox-start sandbox-stop

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## start the sandbox host and the bot in it with the terminal adapter (real Odoo 19 when a source is at hand): type /odoo create demo http
	scripts/run.sh

test: ## run every test (unit, PostgreSQL, nginx, systemd sandbox end to end); installs what is missing
	scripts/test.sh

e2e: deps ## run only the end-to-end tests inside the sandbox host
	scripts/e2e.sh

bench: deps ## run the benchmarks (creation timings, template clone, costs as instances grow, Slack ack latency)
	scripts/bench.sh

build: ## build bin/odoobot
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/odoobot

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

deps: ## install the Debian packages the tests and the sandbox need
	scripts/deps.sh
