# uketsuke — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export UKETSUKE_HOME ?= ./var

.PHONY: run test peers lint bench soak clean

# What running needs (the daemon with its fax OCR) and, for the tests, the test tools besides.
$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[ocr]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(BIN)/python -m pip install -q -e '.[test,ocr]'
	touch $@

## make run: install, create or upgrade the schema, start the daemon on the embedded defaults
run: $(VENV)/.installed-run
	$(BIN)/uketsuke migrate
	exec $(BIN)/uketsuke run

## peers: the real servers the tests talk to (Dovecot, Tesseract, fonts), where we may install
peers:
	bash tests/peers/install-peers.sh

## make test: install what the tests need, then the whole suite
test: $(VENV)/.installed-test peers
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

## make bench: the parser against the stdlib, R3 split accuracy, command start-up, idle memory,
## then intake end to end (SMTP, IMAP, 25 MB; ~5 min), then beside django-helpdesk 2.6 (~3 min)
bench: $(VENV)/.installed-test peers
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/split_accuracy.py
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/idle_rss.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/intake.py --n 2000 --db both
	$(BIN)/python bench/peers.py --n 2000 --reps 3

soak: $(VENV)/.installed-test peers
	UKETSUKE_SOAK=1 $(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
