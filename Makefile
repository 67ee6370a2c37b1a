# typeahead: the two commands (make run, make test), plus bench and sanitizer runs, make install
# and make deb. Everything is built by CMake in $(BUILD); this file only orders the steps.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
LISTEN ?= 127.0.0.1:8080
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps configure build run test test-sanitize bench fuzz clean format format-check \
        install deb

all: build

deps:
	@deploy/install-deps build

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@deploy/run-sample $(BUILD) $(LISTEN)

# The tools, their man pages, the systemd units, /etc/default/typeahead and the state
# directories (cmake/TaInstall.cmake says where each goes). Into the running system (no
# DESTDIR, as root) it also creates the typeahead user and gives it its directories.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers "$(PREFIX)/lib/sysusers.d/typeahead.conf" && \
	  systemd-tmpfiles --create "$(PREFIX)/lib/tmpfiles.d/typeahead.conf" && \
	  echo "install: typeahead user and its directories ready; next: systemctl daemon-reload &&" \
	       "systemctl enable --now typeahead typeahead-nightly.timer typeahead-trending.timer"; fi

# A Debian package of the same files (deploy/make-deb), into $(BUILD)/deb/.
deb: build
	@deploy/make-deb $(BUILD) $(BUILD)/deb

test:
	@deploy/install-deps test
	@$(MAKE) --no-print-directory format-check
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTA_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize:
	$(MAKE) test BUILD=build-san CMAKE_FLAGS="-DTA_ASAN=ON -DTA_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug"

# Release without -Werror: make test leaves TA_WERROR=ON in the cache, and -O3 raises warnings
# (e.g. -Wformat-truncation) that -O2 does not; a benchmark run should not stop on them.
bench:
	@deploy/install-deps bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DTA_WERROR=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	tests/bench/run-all $(BUILD)

# libFuzzer targets (clang): make fuzz, then build-fuzz/tests/<module>/fuzz_<name> on a copy of
# tests/fuzz/corpus/<name> (docs/FUZZING.md)
fuzz:
	@deploy/install-deps bench
	CC=clang cmake -S . -B build-fuzz -DTA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf build build-san build-fuzz

# One C style, .clang-format at the root: format rewrites the tracked sources, format-check
# (part of make test) lists the files that differ and fails.
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(clang-format --dry-run $$(git ls-files '*.c' '*.h') 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | grep 'warning:' | cut -d: -f1 | sort -u | sed 's/^/format-check: not formatted: /'; \
	  echo "format-check: run make format"; exit 1; fi
