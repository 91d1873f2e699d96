# The two entry points of the README. Each does all set-up it needs on a fresh machine.
.PHONY: test setup release

setup:
	bash scripts/setup.sh

release: setup
	swift build -c release

## make test: install dependencies, build, run every test (unit, conformance, CLI, Python interop).
test: setup
	swift build --build-tests
	swift test --skip-build
	python3 scripts/check_python_interop.py .build/debug/ep
