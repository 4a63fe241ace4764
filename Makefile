# ClipShot: two commands on a fresh machine.
#   make run    install what is missing, build in release, start the daemon
#   make test   install what is missing, run the whole suite
# Every install step checks first, so a second run costs nothing.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
ORT_VERSION := 1.31.1
ORT_STAMP := $(VENV)/.onnxruntime-$(ORT_VERSION)
# The obs-websocket client library the tests drive the daemon with.
OBSWS_VERSION := 1.8.0
OBSWS_STAMP := $(VENV)/.obsws-python-$(OBSWS_VERSION)
WINDOWS_TARGET := x86_64-pc-windows-gnu
# The dashboard's tools (tsc, Playwright's driver), from ui/package-lock.json.
UI_STAMP := ui/node_modules/.installed
# The benchmarks' Python side: the game the highlight evaluation records
# (engine, Freedoom, bots), and numpy/Pillow for the inference peer.
VIZDOOM_VERSION := 1.3.2
VIZDOOM_STAMP := $(VENV)/.bench-tools-vizdoom-$(VIZDOOM_VERSION)

# ONNX Runtime's shared library, from the PyPI wheel (never a build-time
# download), found when a command runs (the venv may be minutes old); one
# set in the environment wins.
ORT_ENV = ORT_DYLIB_PATH="$${ORT_DYLIB_PATH:-$$(ls $(CURDIR)/$(VENV)/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1)}"

.PHONY: run test deps deps-test onnxruntime models test-clients ui-deps build lint unit windows-check bench bench-quick bench-deps bench-highlights vizdoom vizdoom-recording fmt clean

run: deps onnxruntime models
	$(CARGO) build --release -p clipshot
	$(ORT_ENV) ./target/release/clipshot serve $(ARGS)

test: deps-test onnxruntime models test-clients ui-deps lint unit windows-check

deps:
	scripts/install-deps.sh

deps-test:
	scripts/install-deps.sh --test

onnxruntime: $(ORT_STAMP)

$(ORT_STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check onnxruntime==$(ORT_VERSION)
	touch $@

# The shipped models' files, fetched from their registry packages and
# checked against the sha256 in each models/*/model.json. Runs every time: a
# file that is there and matches costs a hash (a deleted one comes back).
models: $(ORT_STAMP)
	$(VENV)/bin/python scripts/fetch-models.py

test-clients: $(OBSWS_STAMP)

$(OBSWS_STAMP): $(ORT_STAMP)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check obsws-python==$(OBSWS_VERSION)
	touch $@

# Only the tests need these: the dashboard is plain ES modules, embedded in
# the binary as they are, so `make run` builds without Node.
ui-deps: $(UI_STAMP)

$(UI_STAMP): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: ui-deps
	$(CARGO) fmt --all --check
	cd ui && ./node_modules/.bin/tsc -p .
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(ORT_ENV) $(CARGO) test --workspace --locked

# The Windows capture crate is type-checked for Windows on every run.
# Type-checks the Windows code: the WGC crate and the GStreamer adapter's
# appsrc bridge. PKG_CONFIG_ALLOW_CROSS lets GStreamer's -sys build scripts
# read this machine's .pc files; a check links nothing, so that is enough.
windows-check:
	PKG_CONFIG_ALLOW_CROSS=1 $(CARGO) clippy -p clipshot-capture-windows -p clipshot-gst --target $(WINDOWS_TARGET) --locked -- -D warnings

# The benchmark programs, run one after another by clipshot-bench, which
# merges what they measured into target/bench/report.json and report.md and
# draws target/bench/plots (each program's output: target/bench/logs).
# BENCH names some of them (`make bench BENCH=record_path`); the others'
# earlier results stay in the report. `clipshot-bench --list` names them all.
BENCH ?=
# The labelled ViZDoom recording (20 minutes of deathmatch; on 2 cores it
# takes about as long to record), made once and kept: the highlight
# evaluation scores it, and the record-path and latency benches play it
# through capture.file. A run of other programs alone does not need it.
EVAL_DIR := $(or $(CLIPSHOT_EVAL_DIR),target/eval/vizdoom)
VIZDOOM_RECORDING := $(EVAL_DIR)/labels.json
BENCH_NEEDS_RECORDING := $(if $(BENCH),$(filter highlights record_path latency,$(BENCH)),all)

bench: deps-test bench-deps onnxruntime models vizdoom $(if $(BENCH_NEEDS_RECORDING),vizdoom-recording)
	$(CARGO) build --release -p clipshot
	$(ORT_ENV) $(CARGO) run --release -p clipshot-benches --bin clipshot-bench -- $(BENCH)

# The same with the programs' short variants: minutes, not hours, and the
# figures only indicative.
bench-quick: deps-test bench-deps onnxruntime models vizdoom
	$(CARGO) build --release -p clipshot
	$(ORT_ENV) $(CARGO) run --release -p clipshot-benches --bin clipshot-bench -- --quick $(BENCH)

# The report's plots draw their text with DejaVu Sans.
bench-deps:
	scripts/install-deps.sh --bench

# Highlight detection against a real game's labels: records 20 minutes of
# ViZDoom deathmatch once (target/eval/vizdoom), then scores it.
bench-highlights: deps-test bench-deps onnxruntime models vizdoom vizdoom-recording
	$(ORT_ENV) $(CARGO) run --release -p clipshot-benches --bin clipshot-bench -- highlights

vizdoom: $(VIZDOOM_STAMP)

vizdoom-recording: $(VIZDOOM_RECORDING)

# generate.py writes labels.json last, so an interrupted recording is made again.
$(VIZDOOM_RECORDING): | $(VIZDOOM_STAMP)
	$(VENV)/bin/python benches/vizdoom/generate.py --minutes 20 --out $(EVAL_DIR)

$(VIZDOOM_STAMP): $(ORT_STAMP)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check vizdoom==$(VIZDOOM_VERSION) numpy pillow
	touch $@

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) ui/node_modules
