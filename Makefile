# Two commands set up everything on a fresh Debian machine and run:
#   make demo   the main job on the embedded default (the simulated model)
#   make test   the tests
PY := .venv/bin/python

.PHONY: setup demo test bench clean

setup:
	@bash cluster/setup.sh test

demo: setup
	$(PY) -m cluster.cli rollout --suite core --split train --harness harnesses/minimal.yaml --model sim --profile minimax --attempts 2 --progress
	$(PY) -m cluster.cli rollout --suite core --split train --harness harnesses/reference/minimax.yaml --model sim --profile minimax --attempts 2 --progress

test: setup
	$(PY) -m pytest tests

bench: setup
	$(PY) benchmarks/rollout_bench.py

clean:
	rm -rf runs .pytest_cache
