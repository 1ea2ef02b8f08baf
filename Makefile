# branchpromote — PGXS build for PostgreSQL 15.
EXTENSION = branchpromote
MODULE_big = branchpromote
OBJS = \
	src/branchpromote.o \
	src/guc.o \
	src/names.o \
	src/planner.o \
	src/ledgerplan.o \
	src/ledger.o \
	src/twophase.o \
	src/catalog.o \
	src/clone.o \
	src/pgconn.o \
	src/storage_local.o \
	src/compute_local.o \
	src/process.o \
	src/requests.o \
	src/worker.o \
	src/apiutil.o \
	src/history.o \
	src/manifest.o \
	src/xactend.o \
	src/gate.o \
	src/api.o \
	src/api_history.o

DATA = sql/branchpromote--0.1.0.sql sql/branchpromote--0.1.0--0.2.0.sql
PGFILEDESC = "branchpromote - deploys as copy-on-write branch promotions"

# Regression tests: inputs in sql/, outputs in expected/ (the PGXS defaults).
REGRESS = setup create_project promote migrations history privileges
# The catalog lives in branchpromote.database_name (postgres): test there.
REGRESS_OPTS = --use-existing

# Isolation specs under test/.
ISOLATION = concurrent_promote migrate_vs_promote
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso --use-existing

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir) -Isrc
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lpq

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
CONTRIB_TESTDB = postgres
ISOLATION_TESTDB = postgres

# PGXS tracks no header dependencies: rebuild every object when any of our
# headers changes (a stale object with an old struct layout is a crash).
$(OBJS): $(wildcard src/*.h)

# Unit tests of the pure core (no server needed).
UNIT_SRCS = test/unit/test_core.c src/names.c src/planner.c src/ledgerplan.c src/history.c src/manifest.c
test/unit/test_core: $(UNIT_SRCS) src/names.h src/planner.h src/ledgerplan.h src/history.h src/manifest.h
	$(CC) -DFRONTEND -Wall -Wextra -Werror -Wno-unused-parameter -Isrc \
		-I$(shell $(PG_CONFIG) --includedir-server) -I$(shell $(PG_CONFIG) --includedir) \
		-o $@ $(UNIT_SRCS) -L$(shell $(PG_CONFIG) --pkglibdir) -lpgcommon -lpgport

unitcheck: test/unit/test_core
	test/unit/test_core

# pg_regress against a throwaway instance WITHOUT branchpromote preloaded.
installcheck-nopreload:
	$(pg_regress_installcheck) --temp-instance=tmp_nopreload --inputdir=test/nopreload --outputdir=output_nopreload nopreload

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=toomanyconfigs \
		--suppress='*:$(shell $(PG_CONFIG) --includedir-server)/*' \
		-I src -I $(shell $(PG_CONFIG) --includedir-server) src/*.c

.PHONY: unitcheck installcheck-nopreload cppcheck
EXTRA_CLEAN = test/unit/test_core output_iso output_nopreload tmp_nopreload
