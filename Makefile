# sidecar — build, run and test. Plain make, out-of-tree objects.
#   make run    install missing Debian packages, build, run on the example
#   make test   install missing Debian packages, build, run every test
#   make asan   the whole suite under AddressSanitizer + UBSan
#   make deb    the Debian package, in build/deb/

PKG_CONFIG ?= pkg-config
CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS := yaml-0.1 libcurl libmicrohttpd jansson
TEST_PKGS := criterion jansson yaml-0.1

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-align -Wvla
OPT ?= -O2 -g
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN ?=
CFLAGS_ALL := -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(HARDEN) $(WARN) \
	-I. -DSIDECAR_VERSION='"$(VERSION)"' -MMD -MP $(SAN) $(CPPFLAGS) $(CFLAGS)
# libev ships no .pc on Debian 12: plain -lev.
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lev -lm
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS))
TEST_LIBS = $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))
LDFLAGS_ALL := -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)

LIB_SRCS := $(wildcard conf/*.c) $(wildcard probes/*.c) \
	$(filter-out sidecar/main.c,$(wildcard sidecar/*.c))
OBJ := $(BUILD)/obj
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJ)/%.o)
UNIT_SRCS := $(wildcard test/unit/*.c)
ITEST_SRCS := $(wildcard test/integration/*.c)
HELPER_SRCS := $(wildcard test/helpers/*.c)

BIN := $(BUILD)/sidecar
UNIT_BIN := $(BUILD)/test/unit-tests
ITEST_BIN := $(BUILD)/test/integration-tests
HELPER_BINS := $(HELPER_SRCS:test/helpers/%.c=$(BUILD)/test/%)

# Criterion runs tests in parallel; keep the integration suite at 2 jobs.
TEST_JOBS ?= 2

.PHONY: all deps test-deps run test unit itest packaging-check deb asan bench \
	clean install format format-check
# Keep intermediate objects (the helpers'): no rebuilds, no 'rm' noise
# after the test summary.
.SECONDARY:

all: $(BIN)

deps:
	@sh scripts/deps.sh

test-deps:
	@sh scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN) run -c sidecar.yaml.example

test: test-deps
	@$(MAKE) --no-print-directory format-check packaging-check unit itest

unit: $(UNIT_BIN)
	cd test && ../$(UNIT_BIN) -j$(TEST_JOBS) --short-filename

itest: $(BIN) $(ITEST_BIN) $(HELPER_BINS)
	SIDECAR_BIN=$(abspath $(BIN)) SIDECAR_HELPERS=$(abspath $(BUILD)/test) \
	    SIDECAR_SRC=$(CURDIR) \
	    ./$(ITEST_BIN) -j$(TEST_JOBS) --short-filename

asan: test-deps
	@LSAN_OPTIONS=suppressions=$(abspath test/lsan.supp):print_suppressions=0 \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    $(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all" unit itest

# Benchmarks print figures; they are not tests. BENCH_SECONDS=60 by default.
bench: test-deps
	@$(MAKE) --no-print-directory all $(BUILD)/test/fakehttp
	bench/probes
	bench/http

$(BIN): $(OBJ)/sidecar/main.o $(BUILD)/libsidecar.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/libsidecar.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(UNIT_BIN): $(UNIT_SRCS:%.c=$(OBJ)/%.o) $(BUILD)/libsidecar.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(ITEST_BIN): $(ITEST_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test/%: $(OBJ)/test/helpers/%.o
	$(CC) $(LDFLAGS_ALL) -o $@ $^

$(OBJ)/test/%.o: test/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sidecar
	install -D -m 0644 packaging/man/sidecar.8 $(DESTDIR)$(MANDIR)/man8/sidecar.8
	install -D -m 0644 packaging/man/sidecar.yaml.5 \
	    $(DESTDIR)$(MANDIR)/man5/sidecar.yaml.5

# The Debian package, built by dpkg-buildpackage from a staged copy of the
# sources with packaging/debian as debian/, then checked by lintian. Our
# make's command-line variables (BUILD=, OPT=) are not the package's: the
# inner build gets no MAKEFLAGS.
DEB_DIR := $(BUILD)/deb
DEB := $(DEB_DIR)/sidecar_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb
DEB_SRCS := Makefile VERSION LICENSE README.md sidecar.yaml.example conf \
	probes sidecar packaging

deb:
	@sh scripts/deps.sh deb
	@$(MAKE) --no-print-directory $(DEB)

$(DEB): $(DEB_SRCS) $(shell find $(DEB_SRCS) -type f 2>/dev/null)
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	cp -R $(DEB_SRCS) $(DEB_DIR)/src/
	cp -R packaging/debian $(DEB_DIR)/src/debian
	cp packaging/sidecar.service $(DEB_DIR)/src/debian/sidecar.service
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 \
	    || { tail -n 40 ../build.log; exit 1; }
	lintian --fail-on error,warning $(DEB)
	@echo "deb: $(DEB)"

# What `make test` checks of packaging/: the package, the man pages, the
# Dockerfile, the Kubernetes manifests.
packaging-check: $(BIN) $(DEB)
	test/packaging/check-deb $(DEB) $(VERSION)
	test/packaging/check-man $(BIN)
	test/packaging/check-docker $(BIN)
	test/packaging/check-k8s $(BIN) $(BUILD)/k8s

format:
	clang-format -i $(wildcard */*.c */*.h test/*/*.c test/*/*.h)

format-check:
	clang-format --dry-run -Werror $(wildcard */*.c */*.h test/*/*.c test/*/*.h)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
