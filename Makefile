# slipway build. `make run` and `make test` are all the set-up there is: both first run
# scripts/bootstrap, which installs whatever Debian packages are missing.
#
#   make [MODE=debug|release|asan|tsan|fuzz]   build bin/slipway for that mode under build/MODE/
#   make run                              bootstrap, build (release), serve on :8080
#   make test                             bootstrap, build (asan), run every test
#   make fuzz                             build the libFuzzer harnesses (clang)
#   make format                           apply .clang-format to the tree

MODE ?= debug
B ?= build/$(MODE)

PKGS := libmicrohttpd jansson libcurl libcrypto sqlite3 libpq libargon2 libgit2 libfyaml libsodium libarchive zlib libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wformat=2 -Wimplicit-fallthrough -Wno-missing-field-initializers
CFLAGS_COMMON := -std=c17 -D_GNU_SOURCE -Iinclude -Isrc $(WARN) $(PKG_CFLAGS) \
                 -DSLIPWAY_VERSION='"$(VERSION)"' -DSLIPWAY_COMMIT='"$(COMMIT)"' -MMD -MP
LDLIBS := $(PKG_LIBS) -lpthread -lm

ifeq ($(MODE),debug)
CC ?= gcc
CFLAGS := $(CFLAGS_COMMON) -O1 -g
else ifeq ($(MODE),release)
CFLAGS := $(CFLAGS_COMMON) -O2 -g -DNDEBUG
else ifeq ($(MODE),asan)
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS := $(CFLAGS_COMMON) -O1 -g $(SAN)
LDFLAGS += $(SAN)
else ifeq ($(MODE),tsan)
SAN := -fsanitize=thread -fno-omit-frame-pointer
CFLAGS := $(CFLAGS_COMMON) -O1 -g $(SAN)
LDFLAGS += $(SAN)
else ifeq ($(MODE),fuzz)
CC := clang
SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
CFLAGS := $(CFLAGS_COMMON) -O1 -g $(SAN)
LDFLAGS += -fsanitize=fuzzer,address,undefined
else
$(error MODE must be debug, release, asan, tsan or fuzz)
endif

# Modules in dependency order; each is src/<mod>/*.c with include/<mod>/<mod>.h.
MODULES ?= base auth gql http obs store flow oci rt pkg bld reg ingress dep gateway
LIB_SRC := $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)) $(EXTRA_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
# Schemas are compiled in: scripts/embed turns schema/*.graphql (the gateway's) and
# schema/*.schema.json (the packager's values files) into C.
SCHEMA_SDL := $(sort $(wildcard schema/*.graphql))
SCHEMA_JSON := $(sort $(wildcard schema/*.schema.json))
ifneq ($(filter gateway,$(MODULES)),)
LIB_OBJ += $(B)/gen/schema.o
endif
ifneq ($(filter pkg,$(MODULES)),)
LIB_OBJ += $(B)/gen/pkg-schema.o
endif
LIB := $(B)/libslipway.a
BIN := $(B)/bin/slipway

UNIT_MODS := $(patsubst tests/unit/%/,%,$(filter %/,$(wildcard tests/unit/*/)))
UNIT_BINS := $(UNIT_MODS:%=$(B)/tests/unit-%)
TEST_TOOLS := $(patsubst tests/tools/%.c,$(B)/tests/%,$(wildcard tests/tools/*.c))
FUZZ_NAMES := $(notdir $(patsubst %/,%,$(filter %/,$(wildcard fuzz/*/))))
FUZZ_BINS := $(FUZZ_NAMES:%=$(B)/fuzz/fuzz_%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(B)/fuzz/replay_%)

# Object files named only in prerequisites are kept between builds.
.SECONDARY:
.SECONDEXPANSION:

.PHONY: all bin run test unit fuzz replay bootstrap format check-deps clean one tools
all: bin
bin: $(BIN) dashboard

# The web dashboard (docs/dashboard.md): its node_modules from its lock file, then the
# production build into dashboard/dist, which slipway serves. Each step runs only when what it
# reads changed, so `make bin` costs nothing more once the dashboard is built.
DASH_SRC := $(shell find dashboard/src dashboard/public -type f 2>/dev/null) \
	dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json dashboard/package.json
.PHONY: dashboard
dashboard: dashboard/dist/index.html
dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund
dashboard/dist/index.html: dashboard/node_modules/.package-lock.json $(DASH_SRC)
	cd dashboard && npm run build

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(B)/gen/schema.c: $(SCHEMA_SDL) scripts/embed
	@mkdir -p $(@D)
	@echo "  EMBED   $(SCHEMA_SDL)"
	@scripts/embed $@ gw_schema gateway/gw-int.h $(SCHEMA_SDL)
$(B)/gen/pkg-schema.c: $(SCHEMA_JSON) scripts/embed
	@mkdir -p $(@D)
	@echo "  EMBED   $(SCHEMA_JSON)"
	@scripts/embed $@ pkg_schema pkg/pkg-int.h $(SCHEMA_JSON)
$(B)/gen/%.o: $(B)/gen/%.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

CLI_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard src/cli-*.c)) $(B)/gen/completion.o
# `slipway completion bash|zsh` prints these, compiled in.
COMPLETION := scripts/completion/slipway.bash scripts/completion/slipway.zsh
$(B)/gen/completion.c: $(COMPLETION) scripts/embed
	@mkdir -p $(@D)
	@echo "  EMBED   $(COMPLETION)"
	@scripts/embed $@ cli_completion cli-projects.h $(COMPLETION)
$(BIN): $(B)/src/main.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: one binary per module, the runner forks each TEST with a timeout and prints TAP.
UNIT_SUPPORT := $(B)/tests/unit/runner.o $(B)/tests/unit/dbtest.o
$(B)/tests/unit-%: $$(addprefix $(B)/,$$(addsuffix .o,$$(basename $$(wildcard tests/unit/$$*/*.c)))) $(UNIT_SUPPORT) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# One test file on its own (while a module is half-built):
#   make MODULES=base EXTRA_SRC=src/http/ws.c TEST_FILE=tests/unit/http/test_ws.c B=build/x one
one: $(B)/tests/one
$(B)/tests/one: $(TEST_FILE:%.c=$(B)/%.o) $(B)/tests/unit/runner.o $(B)/tests/unit/dbtest.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Small programs the integration tests drive (a test server for the http module, …).
$(B)/tests/%: $(B)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz harnesses: libFuzzer binaries in MODE=fuzz, corpus replayers in every other mode.
ifeq ($(MODE),fuzz)
$(B)/fuzz/fuzz_%: $(B)/fuzz/%/fuzz_$$*.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
fuzz: $(FUZZ_BINS)
else
$(B)/fuzz/replay_%: $(B)/fuzz/%/fuzz_$$*.o $(B)/fuzz/replay.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
fuzz:
	$(MAKE) MODE=fuzz fuzz
endif
replay: $(REPLAY_BINS)

unit: $(UNIT_BINS)

bootstrap:
	@scripts/bootstrap

run: bootstrap
	@$(MAKE) --no-print-directory MODE=release bin
	@mkdir -p data
	build/release/bin/slipway serve --data-dir=./data

test: bootstrap
	@$(MAKE) --no-print-directory MODE=asan bin unit replay tools
	@$(MAKE) --no-print-directory MODE=tsan unit
	@$(MAKE) --no-print-directory MODE=release bin
	@scripts/test

tools: $(TEST_TOOLS)

check-deps:
	@scripts/check-deps

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(B) -name '*.d' 2>/dev/null)
