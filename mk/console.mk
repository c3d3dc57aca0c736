# console — the web console's browser tests need Chromium (Debian's package), driven by
# chromedp from `go test` (cmd/orderflow/internal/console). `make test` installs it when
# missing, as it installs the other tools; under CI=true a browser that cannot be
# installed fails the run (the test fails rather than skips without one).
# Included by the main Makefile (`-include mk/*.mk`).

CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

.PHONY: tools-browser
tools-browser: ## install headless Chromium (apt) when missing, for the console's browser tests
	@if [ -z "$(CHROMIUM)" ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian package) for the console's browser tests"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	  fi; \
	  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	    echo "chromium is not installed and could not be installed (apt-get install chromium)"; \
	    [ "$$CI" != "true" ] || exit 1; }; \
	fi
