# security — known-vulnerability scan of the module with govulncheck (pinned). The
# repo-wide security tests (no secrets, API auth by default, no token in logs) are Go
# tests in tools/security and run with `go test ./...`.

GOVULNCHECK_VERSION := v1.9.0
GOVULNCHECK         := .tools/bin/govulncheck-$(GOVULNCHECK_VERSION)
GOVULNDB            ?= https://vuln.go.dev
VULNCHECK_TIMEOUT   ?= 5m
VULNCHECK_SKIPPED   := govulncheck skipped: vulnerability database unreachable

$(GOVULNCHECK):
	@mkdir -p $(dir $@)
	GOFLAGS= GOBIN=$(CURDIR)/.tools/bin $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@mv .tools/bin/govulncheck $@

# The database is probed first (curl, else python3), so an offline machine skips in
# seconds; a failure that names the database during the scan is a skip too. Any other
# failure (a vulnerability, a build error) fails the target.
.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) ## govulncheck ./... (pinned); skipped with a message when vuln.go.dev is unreachable
	@probe() { \
	  if command -v curl >/dev/null; then curl -fsS --max-time 10 -o /dev/null "$(GOVULNDB)/index/db.json"; \
	  else $(PYTHON) -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$(GOVULNDB)/index/db.json"; fi; \
	}; \
	if ! probe >/dev/null 2>&1; then echo "$(VULNCHECK_SKIPPED)"; exit 0; fi; \
	out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	rc=0; timeout $(VULNCHECK_TIMEOUT) $(GOVULNCHECK) -db $(GOVULNDB) ./... >$$out 2>&1 || rc=$$?; \
	if [ $$rc -eq 0 ]; then cat $$out; exit 0; fi; \
	if [ $$rc -ne 3 ] && grep -qE 'vuln\.go\.dev|fetching vulnerabilities|dial tcp|no such host|TLS handshake|timeout' $$out; then \
	  tail -n 3 $$out; echo "$(VULNCHECK_SKIPPED)"; exit 0; fi; \
	cat $$out; exit $$rc
