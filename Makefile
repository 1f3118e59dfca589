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

PKGS := yaml-0.1 jansson libcares
# libcurl and libmicrohttpd: their headers only. probes/curlapi.c dlopens
# libcurl for the first http probe, api/mhdapi.c libmicrohttpd when run
# starts its server: status and check never map them nor their trees.
DL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl libmicrohttpd)
TEST_PKGS := criterion jansson yaml-0.1

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-align -Wvla
OPT ?= -O2 -g
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN ?=
CFLAGS_ALL := -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(HARDEN) $(WARN) \
	-I. -DSIDECAR_VERSION='"$(VERSION)"' -MMD -MP $(SAN) $(DL_CFLAGS) \
	$(CPPFLAGS) $(CFLAGS)
# libev ships no .pc on Debian 12: plain -lev.
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lev -lm
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS))
TEST_LIBS = $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))
LDFLAGS_ALL := -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)

# The layers, bottom up (docs/ARCHITECTURE.md); cli/main.c is the program.
LAYERS := base proc conf probes sidecar api cli
LIB_SRCS := $(filter-out cli/main.c,$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
OBJ := $(BUILD)/obj
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJ)/%.o)
UNIT_SRCS := $(wildcard test/unit/*.c)
ITEST_SRCS := $(wildcard test/integration/*.c)
HELPER_SRCS := $(wildcard test/helpers/*.c)

BIN := $(BUILD)/sidecar
STRIPPED := $(BUILD)/stripped/sidecar
UNIT_BIN := $(BUILD)/test/unit-tests
ITEST_BIN := $(BUILD)/test/integration-tests
# A libcurl.so.4 without libcurl's functions: LD_LIBRARY_PATH at its folder
# makes sidecar's dlopen of libcurl fail (test/integration/test_libcurl.c).
FAKECURL := $(BUILD)/test/fakecurl/libcurl.so.4
# The same for libmicrohttpd (test/integration/test_libmicrohttpd.c).
FAKEMHD := $(BUILD)/test/fakemhd/libmicrohttpd.so.12
HELPER_BINS := $(HELPER_SRCS:test/helpers/%.c=$(BUILD)/test/%)

# Criterion runs tests in parallel; keep the integration suite at 2 jobs.
TEST_JOBS ?= 2

.PHONY: all deps test-deps run test unit itest browser-test packaging-check \
	deb asan bench \
	clean install stripped image-test format format-check layers-check
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
	@$(MAKE) --no-print-directory format-check layers-check packaging-check \
	    fuzz-smoke soak unit itest browser-test image-test SOAK_SECONDS=120

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

# The status page (GET /) in Debian's headless chromium, driven by
# playwright-core from test/browser/package-lock.json: test/browser/run.
# Its screenshots (light, dark, narrow, events) are left in
# $(BUILD)/artifacts/.
browser-test: $(BIN) $(BUILD)/test/fakesvc
	test/browser/run $(BIN) $(BUILD)/test $(BUILD)/artifacts

# Benchmarks print figures; they are not tests. BENCH_SECONDS=60 by default.
bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(BUILD)/test/fakehttp \
	    $(BUILD)/bench/httpwire $(BENCH_TOOLS)
	$(BUILD)/bench/httpwire
	$(BUILD)/bench/curlfloor 50
	bench/probes
	bench/http
	bench/events
	bench/compare

# The CPU cost of the native http probe's parser, per run (bench/httpwire.c).
$(BUILD)/bench/httpwire: $(OBJ)/bench/httpwire.o $(BUILD)/libsidecar.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BIN): $(OBJ)/cli/main.o $(BUILD)/libsidecar.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/libsidecar.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(UNIT_BIN): $(UNIT_SRCS:%.c=$(OBJ)/%.o) $(BUILD)/libsidecar.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(TEST_LIBS)

$(ITEST_BIN): $(ITEST_SRCS:%.c=$(OBJ)/%.o) | $(FAKECURL) $(FAKEMHD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS)

$(FAKECURL): test/fakelib/libcurl.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -o $@ $<

$(FAKEMHD): test/fakelib/libmicrohttpd.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -o $@ $<

$(BUILD)/test/%: $(OBJ)/test/helpers/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

# Stand-alone bench programs, each one file: curlfloor (the RSS of libcurl
# loaded and initialised, alone), stamp (bench/compare's service),
# checkfloor and answerfloor (the floors under the probe mix and /readyz).
BENCH_TOOLS := $(addprefix $(BUILD)/bench/,curlfloor stamp checkfloor answerfloor)
$(BENCH_TOOLS): $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $<
$(BUILD)/bench/stamp: LDFLAGS_ALL += -static

# The schema's rows, printed for test/packaging/check-man.
KEYS_BIN := $(BUILD)/test/cfg-keys
$(KEYS_BIN): $(OBJ)/test/packaging/cfg_keys.o $(BUILD)/libsidecar.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OBJ)/test/%.o: test/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# Fuzzing (issue 6): libFuzzer harnesses test/fuzz/fuzz_<name>.c, built by
# clang with ASan + UBSan into build-fuzz/ (never build/) with the same
# sources as the library. test/fuzz/run does the running and the summary.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_JOBS=2]  each target for N seconds on
#       a scratch copy of its corpus (build-fuzz/corpus/<name>)
#   make fuzz-smoke [FUZZ_SMOKE_SECONDS=5]     replays test/fuzz/regressions/
#       and the seeds, then runs each target briefly; fails on any finding
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_JOBS ?= 2
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g $(WARN) -I. \
	-DSIDECAR_VERSION='"$(VERSION)"' -MMD -MP $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link
FUZZ_NAMES := $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-smoke fuzz-build

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) test/fuzz/run fuzz $(FUZZ_BUILD) \
	    $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) test/fuzz/run smoke $(FUZZ_BUILD) \
	    $(FUZZ_SMOKE_SECONDS) $(FUZZ_NAMES)

$(FUZZ_BUILD)/libsidecar.a: $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/test/fuzz/fuzz_%.o \
	    $(FUZZ_BUILD)/libsidecar.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ_BUILD)/obj/test/fuzz/%.o: test/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(TEST_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# api/page.c takes the status page's files (api/ui/) in with .incbin, which
# -MMD does not see: every build of it depends on them.
$(OBJ)/api/page.o $(FUZZ_BUILD)/obj/api/page.o: $(wildcard api/ui/*)

# Soak and valgrind (issue 6); `make test` runs a 2-minute soak.
#   make soak [SOAK_SECONDS=600]  bench/soak: services restarting every
#       second, probes flipping, wrk on the endpoint; fails on a zombie that
#       outlives a sample, on growth of RSS, descriptors or children, or
#       when sidecar dies (the rules are in the script's header)
#   make valgrind  the integration suite with every sidecar process under
#       memcheck: built without sanitizers into build-valgrind/, started
#       through a wrapper as SIDECAR_BIN (the harness execs $SIDECAR_BIN
#       with argv[0] = that path; the wrapper execs valgrind, same pid).
#       One log per process in build-valgrind/vg/, named after the test's
#       directory; sidecar's forked children are checked up to their exec
#       (--trace-children=no: the services and probes are not ours). Fails
#       on a failing test, or a log with an error or a definite or indirect
#       leak (a summary that says so, or any stack trace but that of
#       "Process terminating with default action of signal N", which a
#       child killed before its exec shows: an error in a process that was
#       SIGKILLed before its summary counts too).
#       VG_EXCLUDE: the tests whose timing cannot hold when sidecar runs
#       20-50 times slower, or that the wrapper script changes.
SOAK_SECONDS ?= 600
VG_BUILD := build-valgrind
VG_LOGS := $(VG_BUILD)/vg
VG_JOBS ?= 2
VG_OPTS := --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--track-fds=no --trace-children=no --num-callers=30 \
	--suppressions=$(abspath test/valgrind.supp)
VG_EXCLUDE :=
# Probe timeouts of 90-100 ms, or "duration_ms < 50": the first HTTP or
# TCP probe run of a sidecar under memcheck takes longer than that.
VG_EXCLUDE += probes_net/http_200_passes
VG_EXCLUDE += probes_net/expect_body_must_be_in_the_body
VG_EXCLUDE += probes_net/expect_status_takes_codes_and_ranges
VG_EXCLUDE += probes_net/head_and_post_methods
VG_EXCLUDE += probes_net/a_hanging_target_fails_at_the_timeout
VG_EXCLUDE += probes_net/a_black_holed_target_does_not_delay_other_probes
# A TLS handshake under memcheck (OpenSSL, the CA store read) takes
# longer than the 450-800 ms probe timeouts these use.
VG_EXCLUDE += grpc/tls_is_verified_unless_insecure
VG_EXCLUDE += probes_net/https_probes_verify_follow_and_send_as_kubelet
# Counts runs in a fixed 3.5 s window from the start (memcheck's start-up
# alone takes ~1 s) and wants p99 lateness < 100 ms.
VG_EXCLUDE += probes/two_hundred_probes_keep_their_schedule
# Measure from h_start(): failing within 0.39 s of a 200 ms ttl; 4 crashes
# 200 ms apart not over before the first /readyz answer.
VG_EXCLUDE += probes/a_ttl_probe_without_pushes_fails_after_its_ttl
VG_EXCLUDE += http/an_essential_service_gone_fatal_fails_liveness
# A 0.4 s probe times out at 0.9 s when fork + exec from a process under
# memcheck is slow, and leaves an 's' without its 'e'.
VG_EXCLUDE += probes/the_exec_bulkhead_caps_concurrent_probes
# The drain timer counts from the loop's cached time (ev_now), the log's
# "draining" line from the real clock: under memcheck one loop iteration
# takes milliseconds, and a 600 ms drain looks 598 ms long. (The backoff
# had the same, fixed by ev_now_update() in 7a3c9b4.)
VG_EXCLUDE += http/sigterm_drains_readiness_before_stopping_anything
# Act as soon as the service's own file has a line, a race the slow parent
# loses: "service started" not read yet (pid_of() does not wait), or the
# service still "starting" (its exec status pipe not read yet), so the
# signal is dropped as the README says.
VG_EXCLUDE += faults/a_stopped_service_stays_up_and_still_stops
# Lowers sidecar's RLIMIT_NOFILE from outside (prlimit): memcheck keeps its
# own descriptors above the limit it saw at start-up, and can no longer
# open the log of a forked child.
VG_EXCLUDE += faults/out_of_descriptors_the_endpoint_recovers
# At exit sidecar flushes its log for at most 5 s (LOG_CLOSE_TIMEOUT_S):
# the 64 Ki lines a full pipe of newlines holds, each a 150-byte object,
# take longer under memcheck beside another test (256931 of 262144 once).
VG_EXCLUDE += logs/a_burst_of_empty_lines_is_paced_per_line_and_loses_nothing
# Gives sidecar a PWD that is not its cwd; the /bin/sh wrapper that starts
# memcheck puts the true one back before sidecar sees it.
VG_EXCLUDE += newuser_small/a_pwd_that_is_not_the_cwd_is_not_passed_on
vg_empty :=
vg_space := $(vg_empty) $(vg_empty)
VG_FILTER := !($(subst $(vg_space),|,$(strip $(VG_EXCLUDE))))

.PHONY: soak valgrind

soak: test-deps
	@$(MAKE) -s --no-print-directory $(BIN) $(BUILD)/test/fakehttp \
	    $(BUILD)/test/fakesvc
	SOAK_SECONDS=$(SOAK_SECONDS) SIDECAR_BIN=$(abspath $(BIN)) \
	    SIDECAR_HELPERS=$(abspath $(BUILD)/test) bench/soak

valgrind: test-deps
	@$(MAKE) -s --no-print-directory BUILD=$(VG_BUILD) OPT="-O1 -g" SAN= \
	    $(VG_BUILD)/sidecar $(VG_BUILD)/test/integration-tests \
	    $(VG_BUILD)/test/fakesvc $(VG_BUILD)/test/fakehttp
	@rm -rf $(VG_LOGS) && mkdir -p $(VG_LOGS) && chmod 1777 $(VG_LOGS)
	@printf '%s\n' '#!/bin/sh' 't=$${SIDECAR_TEST_DIR##*/}' \
	    'exec valgrind $(VG_OPTS) \' \
	    '    --log-file=$(abspath $(VG_LOGS))/$${t:-cli}.%p.log \' \
	    '    $(abspath $(VG_BUILD)/sidecar) "$$@"' \
	    >$(VG_BUILD)/sidecar-vg && chmod 755 $(VG_BUILD)/sidecar-vg
	@echo "valgrind: excluded: $(strip $(VG_EXCLUDE))"
	@SIDECAR_BIN=$(abspath $(VG_BUILD)/sidecar-vg) \
	    SIDECAR_HELPERS=$(abspath $(VG_BUILD)/test) SIDECAR_SRC=$(CURDIR) \
	    ./$(VG_BUILD)/test/integration-tests -j$(VG_JOBS) --short-filename \
	    --filter='$(VG_FILTER)'; suite=$$?; \
	cd $(VG_LOGS) && awk -v files=$$(ls | wc -l) ' \
	    FNR == 1 { n = split(FILENAME, a, "."); pid[FILENAME] = a[n - 1]; \
	        ours[a[n - 1]] = 1 } \
	    /Parent PID:/ { parent[FILENAME] = $$NF } \
	    /ERROR SUMMARY:|(definitely|indirectly) lost:|no leaks are possible/ { \
	        line = $$0; sub(/^==[0-9]+== +/, "", line); seen[line]++ } \
	    /ERROR SUMMARY:/ { done[FILENAME] = 1; if ($$4 != "0") bad++ } \
	    /(definitely|indirectly) lost:/ { if ($$4 != "0") bad++ } \
	    /Process terminating with default action/ { quiet = 1 } \
	    /^==[0-9]+== $$/ { quiet = 0 } \
	    /^==[0-9]+== +at 0x/ && !quiet && !(FILENAME in traced) { \
	        traced[FILENAME] = 1; bad++ } \
	    END { for (f in pid) { if (parent[f] in ours) { k++; kd += (f in done) } \
	              else { p++; pd += (f in done) } } \
	        printf "valgrind: %d sidecar processes under memcheck: %d ran to " \
	            "exit, %d were SIGKILLed (no summary)\n", p, pd, p - pd; \
	        printf "valgrind: %d forked children of theirs: %d ended " \
	            "before exec (summary), %d exec'\''d; %d empty logs\n", \
	            k, kd, k - kd, files - p - k; \
	        for (l in seen) \
	            printf "valgrind: %5d x %s\n", seen[l], l | "sort -k4"; \
	        close("sort -k4"); \
	        if (bad) printf "valgrind: FAILED, %d errors or leaks: grep -lE " \
	            "\"SUMMARY: [1-9]|lost: [1-9]| at 0x\" $(VG_LOGS)/*.log\n", \
	            bad; \
	        exit (bad > 0) }' *.log; logs=$$?; \
	test $$suite -eq 0 && test $$logs -eq 0

# The binary as the container image ships it: stripped, with its debug
# symbols in sidecar.debug beside it, found by gdb through the build-id and
# the debuglink (where the Debian package keeps them in sidecar-dbgsym).
stripped: $(STRIPPED)

$(STRIPPED): $(BIN)
	@mkdir -p $(@D)
	objcopy --only-keep-debug $< $@.debug
	objcopy --strip-unneeded --add-gnu-debuglink=$@.debug $< $@

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
DEB_SRCS := Makefile VERSION LICENSE README.md sidecar.yaml.example \
	$(LAYERS) packaging

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

# packaging/Dockerfile built and run for real, with the engine that runs
# or Debian's dockerd started for the test (root); without either it says
# why on one line and passes. About 1 minute, 2 with a new base image.
image-test: test-deps
	test/packaging/image-test

# What `make test` checks of packaging/: the package, the man pages, the
# Dockerfile, the Kubernetes manifests.
packaging-check: $(BIN) $(KEYS_BIN) $(STRIPPED) $(DEB)
	test/packaging/check-deb $(DEB) $(VERSION)
	test/packaging/check-man $(BIN) $(KEYS_BIN)
	test/packaging/check-docker $(STRIPPED)
	test/packaging/check-k8s $(BIN) $(BUILD)/k8s

# No include points up a layer (LAYERS, bottom up) or closes a cycle.
layers-check:
	test/packaging/check-layers $(LAYERS)

format:
	clang-format -i $(wildcard */*.c */*.h test/*/*.c test/*/*.h)

format-check:
	clang-format --dry-run -Werror $(wildcard */*.c */*.h test/*/*.c test/*/*.h)

clean:
	rm -rf build build-asan build-fuzz build-valgrind

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
