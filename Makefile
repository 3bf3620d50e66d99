# Every target bootstraps .venv itself, so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The other CPythons `make test` also runs the fast tier on (pyenv's or on PATH), each in its
# own .venv-X.Y; 3.11 is .venv above. One not found is skipped with a line saying so.
PYTHONS ?= 3.12 3.13

.PHONY: install run test test-fast test-pythons lint bench gate-eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cvbench run

test: $(STAMP)
	$(BIN)/pytest -q
	@$(MAKE) --no-print-directory test-pythons

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# The fast tier under every other CPython found (~35 s each on 2 cores, plus ~1.5 min each the
# first time, to install); the slow tier runs on 3.11 only.
test-pythons:
	@failed=; for v in $(PYTHONS); do \
	  py=$$(ls -d "$$(pyenv root 2>/dev/null)"/versions/$$v.*/bin/python$$v 2>/dev/null \
	        | grep -E "/$$v\.[0-9]+/bin/" | sort -V | tail -n 1); \
	  if [ -z "$$py" ] && python$$v -c '' 2>/dev/null; then py=$$(command -v python$$v); fi; \
	  if [ -z "$$py" ]; then echo "test-pythons: no Python $$v here (pyenv or PATH): skipped"; \
	    continue; fi; \
	  venv=.venv-$$v; \
	  if [ ! -f $$venv/.installed ] || [ pyproject.toml -nt $$venv/.installed ]; then \
	    echo "test-pythons: installing into $$venv ($$py)"; \
	    $$py -m venv $$venv && $$venv/bin/pip install --quiet --upgrade pip \
	      && $$venv/bin/pip install --quiet -e '.[dev]' && touch $$venv/.installed \
	      || { failed="$$failed $$v(install)"; continue; }; \
	  fi; \
	  echo "test-pythons: the fast tier on $$($$venv/bin/python -V)"; \
	  $$venv/bin/pytest -q -m "not slow" || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-pythons: failed on$$failed"; exit 1; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/cvbench run --workload all --models all

# The gate's false-alarm and detection rates on this machine (~7 min; not a test).
gate-eval: $(STAMP)
	$(BIN)/python scripts/gate_eval.py --pairs 10

clean:
	rm -rf $(VENV) $(VENV)-3.* build dist *.egg-info
