# The command surface of the project: `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The control plane `make test` starts for the tests (apart from a developer's own `up`).
CLUSTER_DIR ?= $(CURDIR)/.dev-cluster-test
DEV_CLUSTER := $(BIN)/gatekeeper dev-cluster

.PHONY: test test-fast lint typecheck pytest demo bench clean services cluster-up cluster-down \
	image nodes-up nodes-down e2e

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,helm]'
	$(BIN)/pip install --quiet --ignore-requires-python opa-golib-python-bindings
	touch $(STAMP)

services:
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-package.sh chromium /usr/bin/chromium "the dashboard's browser tests"
	bash scripts/ensure-package.sh openssh-server /usr/sbin/sshd "the SSH private-repository tests"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Builds kube-apiserver once per machine (cached), starts the plane, runs the tests against it,
# and stops it whatever happened: on success, failure or interruption.
pytest: $(STAMP) services
	@trap '$(DEV_CLUSTER) down --state-dir "$(CLUSTER_DIR)"' EXIT; trap 'exit 130' INT TERM; \
	$(DEV_CLUSTER) up --state-dir "$(CLUSTER_DIR)" && \
	GATEKEEPER_TEST_CLUSTER_DIR="$(CLUSTER_DIR)" $(BIN)/pytest -n 2 --dist loadgroup

cluster-up: $(STAMP)
	$(DEV_CLUSTER) up --state-dir "$(CLUSTER_DIR)"

cluster-down: $(STAMP)
	$(DEV_CLUSTER) down --state-dir "$(CLUSTER_DIR)"

test: lint typecheck pytest

# A plane with a real node (kubelet, containerd...: docs/dev-cluster.md); root only, one per
# machine. Its state directory must be short (the kubelet's socket paths).
NODES_DIR ?= $(CURDIR)/.dev-cluster-nodes
nodes-up: $(STAMP)
	$(DEV_CLUSTER) up --with-nodes --state-dir "$(NODES_DIR)"

nodes-down: $(STAMP)
	$(DEV_CLUSTER) down --state-dir "$(NODES_DIR)"

# The container image, built offline on Debian (docs/image.md; the Containerfile builds the
# same elsewhere), then loaded into the node of the plane in NODES_DIR if one runs.
IMAGE_ARCHIVE ?= build/image/gitops-gatekeeper.tar
image: $(STAMP)
	bash scripts/build-image.sh "$(IMAGE_ARCHIVE)" "$(BIN)/python"
	@if $(DEV_CLUSTER) status --state-dir "$(NODES_DIR)" >/dev/null 2>&1; then \
		$(DEV_CLUSTER) load-image "$(IMAGE_ARCHIVE)" --state-dir "$(NODES_DIR)"; \
	else echo "no plane runs in $(NODES_DIR) (make nodes-up): the image was not loaded"; fi

# The chart installed on a plane with a real node, from the image just built (tests/e2e: sync
# of a signed commit by the reconciler Pods, kubectl edit refused, automatic rollback on a
# failing readiness probe, webhook Pods deleted under failurePolicy Fail, upgrade, uninstall).
# Root only; builds the node binaries once per machine. `make test` runs it too (building the
# image inside the run); this target is the same tests alone.
e2e: $(STAMP) services
	bash scripts/build-image.sh "$(IMAGE_ARCHIVE)" "$(BIN)/python"
	GK_TEST_IMAGE_ARCHIVE="$(CURDIR)/$(IMAGE_ARCHIVE)" CI=true $(BIN)/pytest tests/e2e \
		tests/integration/devcluster/test_devcluster_nodes.py -v

# The unit tier: pure logic only (no PostgreSQL, no cluster, no network, nothing marked slow),
# for a quick check; `make test` runs these and everything else.
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit -n 2 -q -m "not integration and not postgres and not cluster and not slow"

# The end-to-end scenario in .demo/ on its own control plane (built once per machine, cached),
# then the auditors' dashboard on its result until Ctrl-C. `make demo DEMO_FLAGS=--no-dashboard`
# (or GATEKEEPER_DEMO_NO_DASHBOARD=1) ends after the report instead.
DEMO_FLAGS ?=
demo: $(STAMP)
	$(BIN)/gatekeeper demo $(DEMO_FLAGS)

# Every benchmark, each beside its floor in the same run, then docs/performance.md from their
# JSON (kept in bench/results/). The admission and sync figures use a plane of their own.
BENCH_RESULTS ?= bench/results
BENCH_CLUSTER_DIR ?= $(CURDIR)/.dev-cluster-bench
bench: $(STAMP) services
	-bash scripts/ensure-package.sh wrk /usr/bin/wrk "bench/admission.py's wrk figures"
	mkdir -p $(BENCH_RESULTS)
	$(BIN)/python bench/audit_store.py --events 20000 --json > $(BENCH_RESULTS)/audit_store.json
	$(BIN)/python bench/provenance.py --commits 10000 --json > $(BENCH_RESULTS)/provenance.json
	@trap '$(DEV_CLUSTER) down --state-dir "$(BENCH_CLUSTER_DIR)"' EXIT; trap 'exit 130' INT TERM; \
	$(DEV_CLUSTER) up --state-dir "$(BENCH_CLUSTER_DIR)" && \
	$(BIN)/python bench/admission.py --json --cluster-dir "$(BENCH_CLUSTER_DIR)" \
		> $(BENCH_RESULTS)/admission.json && \
	$(BIN)/python bench/sync.py --objects 10000 --json --cluster-dir "$(BENCH_CLUSTER_DIR)" \
		> $(BENCH_RESULTS)/sync.json
	$(BIN)/python bench/report.py $(BENCH_RESULTS) docs/performance.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
