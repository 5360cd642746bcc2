# The two commands: `make demo` and `make test`. Each sets itself up on a fresh Debian machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Debian packages the tests talk to: a real broker and its clients, and the telephony stacks we
# interoperate with, and the C toolchain the openr2 interop test builds its shim with (installed
# when we are root; tests that need one skip with a reason otherwise); the Chinese font printable
# reports are drawn with, poppler's pdftoppm that renders their PDF pages and chromium (headless)
# that renders their HTML; librsvg2-bin (rsvg-convert) to rasterise printed SVG code sheets for
# the barcode decoder.
DEBS    = mosquitto mosquitto-clients libopenr2-dev libpri-dev gcc binutils fonts-wqy-microhei poppler-utils chromium librsvg2-bin

.PHONY: demo test test-all bench bench-quick system-deps venv clean

# tmux: the station console's end-to-end test drives it in a real terminal
DEBS   += tmux
# SIPp (sip-tester) and baresip: the SIP peers the telephony tests call through our B2BUA
DEBS   += sip-tester baresip
# Kamailio: the SIP dispatcher in front of two telephony workers in tests/test_telephony_kamailio.py
DEBS   += kamailio
# espeak-ng and sox: the IVR makes its prompts with them (docs/ivr.md)
DEBS   += espeak-ng sox
# Dovecot: the real IMAP server `scanhub mail poll` reads from in tests/test_mail_imap.py
DEBS   += dovecot-imapd
# the web console's browser tests drive the same chromium (Playwright, executable_path) and
# screenshot it with the same Chinese font; nothing more to install

demo: venv system-deps
	$(BIN)/scanhub demo

# The layers (import-linter contracts in pyproject.toml, docs/architecture.md) are part of the tests.
test: venv system-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -ra

# Everything, including the long soak tests.
test-all: venv system-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -ra -m ''

# Benchmarks (bench/harness.py: subject and baseline in interleaved rounds). `bench` is full size
# (about 40 minutes); `bench-quick` runs each with --quick (a few minutes in all).
# Before/after a change: $(BIN)/python bench/ab.py --ref <rev> -- capture.py --quick
BENCHES = capture drain devices e1 gun_image monitor telephony kb stations crm dialer

bench: venv system-deps
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py || exit 1; done
	$(BIN)/python bench/telephony.py --section dtmf

bench-quick: venv system-deps
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py --quick || exit 1; done
	$(BIN)/python bench/telephony.py --section dtmf --quick

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "scanhub needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: install the venv module (apt-get install python3-venv)"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them will skip"; \
	  else \
	    echo "note: missing Debian packages:$$missing (run: sudo apt-get install$$missing);" \
	         "tests that need them will skip"; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
