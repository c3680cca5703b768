# `make run` starts the whole product; `make test` runs the whole suite. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast dataset themes screenshots clean

install: $(STAMP)

# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml; pip (not uv/poetry) takes
# them from the machine's local wheel cache when it has one.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) is required (Python 3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: install
	$(VENV)/bin/effigies up

# Three test sessions side by side (pytest-xdist), each with its own database, Redis database,
# workers and API server; a test module stays in one session (its module fixtures are built once).
TEST_WORKERS ?= 3
# --durations: the 20 slowest tests close every run (issue 16's 10-minute goal: where the time goes).

test: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

test-fast: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not browser and not slow"

# Training sets (Node.js >= 18 + npm needed only here): `make dataset` builds all four into
# var/datasets/<name>; `make dataset-pixel-heroes` (or `make dataset NAMES=emoji-folk`) builds one.
# (dataset-% and theme-% stay out of .PHONY: make skips pattern rules for phony targets.)
DATASETS := galactic-droids pixel-heroes emoji-folk arcane-sigils
NAMES ?= $(DATASETS)

dataset: $(addprefix dataset-,$(NAMES))

dataset-%: install
	$(PY) scripts/build_dataset.py $* --out var/datasets/$*

# A shipped theme from scratch: dataset -> training (resumable: run it again after an
# interruption) -> export, ATTRIBUTION.txt, training pHashes and metrics into
# effigies/themes/pretrained/<name>. Hours of CPU; `make themes` does all four.
themes: $(addprefix theme-,$(NAMES))

theme-%: dataset-%
	$(VENV)/bin/effigies train --theme $*
	@if [ "$*" != "pixel-heroes" ]; then $(MAKE) --no-print-directory dataset-large-$* && \
		$(VENV)/bin/effigies train --theme $* --stage upscaler; fi
	$(PY) scripts/ship_theme.py $*

# 256 px renders of a share of a theme's sources, the upscaler's targets (same file names as
# the 64 px set; a few minutes each on one core: 1,016-1,200 images are enough for its ~31k weights).
LARGE_ARGS_galactic-droids := --count 1200
LARGE_ARGS_emoji-folk := --variants 2
LARGE_ARGS_arcane-sigils := --variants 1 --count 1200

dataset-large-%: install
	$(PY) scripts/build_dataset.py $* --size 256 $(LARGE_ARGS_$*) --out var/datasets/$*-256

clean:
	rm -rf $(VENV) *.egg-info

# Refresh README's screenshots from a real run of the browser tests (tests/e2e): the folder is
# emptied first, so a picture no test takes any more does not linger (git shows what changed).
screenshots: install
	rm -f docs/screenshots/*.png
	EE_SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/e2e
