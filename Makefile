# upsync's single entry point. `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test browser lint unit e2e chaos sandbox bench bench-timing bench-lift bench-chaos bench-report bench-revenue report-screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)            ## the sandbox + one cycle against Salesforce and HubSpot, tasks printed
	$(BIN)/upsync demo

test: lint browser $(STAMP)  ## everything CI runs: lint, types, import contracts, all tests
	$(BIN)/pytest

browser:                  ## Debian's Chromium, for the test that opens the HTML report (installed once, if missing)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)            ## the fast tests (seconds): pure logic and the store
	$(BIN)/pytest -m "not e2e"

e2e: $(STAMP)
	$(BIN)/pytest -m e2e

chaos: $(STAMP)           ## the chaos suite alone (CI's 20 kills, replicas, lost state); UPSYNC_CHAOS_SEED=N replays
	$(BIN)/pytest -m chaos

sandbox: $(STAMP)         ## serve the stand-ins on the ports config.toml names
	$(BIN)/upsync sandbox

bench: $(STAMP)           ## the benchmarks (bench/RESULTS.md); installs their extras first
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.rules
	$(BIN)/python -m bench.revenue
	$(BIN)/python -m bench.sql_usage --json bench/results/sql-usage.json  # needs PostgreSQL (UPSYNC_TEST_POSTGRES_URL)

bench-timing: $(STAMP)    ## 61 days on a world that moves, both CRMs, three variants: windows hit, tasks outside (bench/RESULTS.md)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for crm in salesforce hubspot; do for v in 0 1 2; do $(BIN)/python -m bench.timing --crm $$crm --variant $$v || exit 1; done; done

bench-lift: $(STAMP)      ## the report's lift against the world's planted effect (0.40 vs 0.15) and with none (0.25 vs 0.25); CRM=hubspot to vary
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.lift --crm $(or $(CRM),salesforce) --p-task 0.4 --p-base 0.15; a=$$?; \
	$(BIN)/python -m bench.lift --crm $(or $(CRM),salesforce) --p-task 0.25 --p-base 0.25; b=$$?; \
	exit $$(( a > b ? a : b ))

bench-chaos: $(STAMP)     ## 100 kill -9 per CRM, lost state, 2 and 3 replicas (bench/RESULTS.md); SEED=N to vary
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.chaos --kills 100 --seed $(or $(SEED),1) --json bench/results/chaos.json

bench-report: $(STAMP)   ## the HTML report at 100,000 accounts: build time, peak RSS, page size, browser open time (needs chromium)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.report --json bench/results/report.json

report-screenshot: $(STAMP)  ## docs/report.png, the README's picture of the report, from synthetic demo-sized data
	$(BIN)/python -m bench.report --screenshot docs/report.png

bench-revenue: $(STAMP)   ## revenue measures M1–M9 at 100,000 accounts × 24 months: wall and peak RSS per part (bench/RESULTS.md)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.revenue --accounts $(or $(ACCOUNTS),100000)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache state.db* .sandbox
