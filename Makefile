# Two commands do all the set-up on a fresh machine:
#   make demo   # builds .venv if needed, then runs `seekerlite demo`
#   make test   # builds .venv if needed, then runs the whole test suite
# Everything lives in .venv; delete it to start over.

PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.seekerlite-installed
# torch/torchvision first and pinned: on these machines both lie on local disk for pip (no multi-GB download).
TORCH   ?= torch==2.14.1 torchvision==0.29.1

.PHONY: venv demo test bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q $(TORCH)
	# sam2 ships as an sdist: build it against the torch above, CPU-only kernels.
	$(BIN)/python -c "import sam2" 2>/dev/null || SAM2_BUILD_CUDA=0 $(BIN)/python -m pip install -q --no-build-isolation sam2
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: venv
	$(BIN)/seekerlite demo

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/decode_benchmark.py

clean-venv:
	rm -rf $(VENV)
