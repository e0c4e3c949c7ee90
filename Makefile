# ringcap: `make demo` and `make test` are all a fresh machine needs.
# Every tool is pinned and installed into .tools/ (Zig from PyPI, Bun and Deno from npm);
# Debian packages come from apt when missing.

ZIG_VERSION  := 0.17.1
BUN_VERSION  := 1.4.5
DENO_VERSION := 2.9.6
APT_PACKAGES := libpcap0.8 tcpdump tshark iproute2 procps chromium nfdump softflowd
# A second real collector for the flow export tests and the README's recipe, built with Go
# (on the machine: /usr/local/go) from the Go module proxy into .tools/goflow2.
GOFLOW2_VERSION := v2.2.6
GO           ?= $(shell command -v go || echo /usr/local/go/bin/go)
# Test-only npm packages (installed into .tools, never into the published package).
NPM_TEST     := playwright-core@1.64.1 parse-prometheus-text-format@1.1.1

TOOLS   := $(CURDIR)/.tools
ZIG     := PYTHONPATH=$(TOOLS)/zig python3 -m ziglang
BUN     := $(TOOLS)/node_modules/.bin/bun
DENO    := $(TOOLS)/node_modules/.bin/deno
LIB     := zig-out/lib/libringcap.so
# The benchmark's native loops: built for the host beside LIB, never packaged.
BENCH_LIB := zig-out/lib/libringcap_bench.so
ZIG_SRC := build.zig $(wildcard zig/*.zig zig/bench/*.zig)
NPM_TEST_STAMP := $(TOOLS)/.npm-test-$(subst @,-,$(subst /,_,$(subst $(eval) ,+,$(NPM_TEST))))

export PATH := $(TOOLS)/node_modules/.bin:$(PATH)

.PHONY: all tools apt build cross test test-zig test-bun test-deno demo bench pack clean

all: build

tools: $(TOOLS)/.zig-$(ZIG_VERSION) $(TOOLS)/.js-$(BUN_VERSION)-$(DENO_VERSION) $(NPM_TEST_STAMP) $(TOOLS)/.goflow2-$(GOFLOW2_VERSION) apt

$(TOOLS)/.zig-$(ZIG_VERSION):
	rm -rf $(TOOLS)/zig
	python3 -m pip install --quiet --disable-pip-version-check --target $(TOOLS)/zig ziglang==$(ZIG_VERSION)
	$(ZIG) version | grep -qx '$(ZIG_VERSION)'
	touch $@

$(TOOLS)/.js-$(BUN_VERSION)-$(DENO_VERSION):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && printf '{"private":true}\n' > package.json && \
	  npm install --silent --no-audit --no-fund --save-exact bun@$(BUN_VERSION) deno@$(DENO_VERSION)
	$(BUN) --version | grep -qx '$(BUN_VERSION)'
	touch $@

$(NPM_TEST_STAMP): $(TOOLS)/.js-$(BUN_VERSION)-$(DENO_VERSION)
	cd $(TOOLS) && npm install --silent --no-audit --no-fund --save-exact $(NPM_TEST)
	touch $@

$(TOOLS)/.goflow2-$(GOFLOW2_VERSION):
	@test -x "$(GO)" || { echo "GoFlow2 (a test collector) is built with Go: install Go (https://go.dev/dl) or set GO=/path/to/go"; exit 1; }
	rm -rf $(TOOLS)/goflow2
	GOBIN=$(TOOLS)/goflow2/bin GOPATH=$(TOOLS)/goflow2/go GOMODCACHE=$(TOOLS)/goflow2/mod GOCACHE=$(TOOLS)/goflow2/cache GOFLAGS=-modcacherw \
	  $(GO) install github.com/netsampler/goflow2/v2/cmd/goflow2@$(GOFLOW2_VERSION)
	rm -rf $(TOOLS)/goflow2/cache $(TOOLS)/goflow2/mod
	test -x $(TOOLS)/goflow2/bin/goflow2
	touch $@

# Installs only what is missing, so a machine that has everything never touches the network.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: $(LIB) $(BENCH_LIB)

# One `zig build` makes both libraries.
$(LIB) $(BENCH_LIB) &: $(ZIG_SRC) $(TOOLS)/.zig-$(ZIG_VERSION)
	$(ZIG) build

cross: prebuilt/x86_64-linux/libringcap.so

prebuilt/x86_64-linux/libringcap.so: $(ZIG_SRC) $(TOOLS)/.zig-$(ZIG_VERSION)
	$(ZIG) build -Dcross=true

test: tools build cross
	bash test/run-all.sh

demo: tools build
	$(BUN) examples/demo.ts

bench: tools build
	$(BUN) bench/run.ts $(BENCH_ARGS)

pack: tools cross
	npm pack --silent

clean:
	rm -rf zig-out .zig-cache prebuilt/*-linux
