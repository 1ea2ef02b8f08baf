# branchpromote — PGXS build for PostgreSQL 15.
EXTENSION = branchpromote
MODULE_big = branchpromote
OBJS = \
	src/branchpromote.o \
	src/walcut.o \
	src/guc.o \
	src/names.o \
	src/planner.o \
	src/ledgerplan.o \
	src/ledger.o \
	src/jsonstr.o \
	src/schemafp.o \
	src/schemaread.o \
	src/migcheck.o \
	src/twophase.o \
	src/catalog.o \
	src/catalog_project.o \
	src/catalog_masking.o \
	src/catalog_timeline.o \
	src/catalog_compute.o \
	src/catalog_deploy.o \
	src/catalog_history.o \
	src/clone.o \
	src/defrag.o \
	src/local_defrag.o \
	src/pgconn.o \
	src/storage_local.o \
	src/compute_local.o \
	src/localuser.o \
	src/process.o \
	src/requests.o \
	src/worker.o \
	src/jobs.o \
	src/api_result.o \
	src/api_access.o \
	src/api_provision.o \
	src/api_compute.o \
	src/history.o \
	src/manifest.o \
	src/xactend.o \
	src/gate.o \
	src/api.o \
	src/api_schema.o \
	src/api_recovery.o \
	src/api_mask.o \
	src/maskapply.o \
	src/masking.o \
	src/drivers.o \
	src/local.o \
	src/digest.o \
	src/tenantconn.o \
	src/reconcile_items.o \
	src/reconcile_starts.o \
	src/reconcile_requests.o \
	src/reconcile_computes.o \
	src/reconcile_twophase.o \
	src/reconcile_idle.o \
	src/reconcile_timelines.o \
	src/reconcile_jobs.o \
	src/reconcile_snapshots.o \
	src/reconcile_retention.o \
	src/reconcile_manifests.o \
	src/api_history.o \
	src/api_stray.o \
	src/journal.o \
	src/pgwire.o \
	src/proxystats.o \
	src/proxysock.o \
	src/proxyroute.o \
	src/proxytls.o \
	src/proxy.o

DATA = sql/branchpromote--0.1.0.sql sql/branchpromote--0.1.0--0.2.0.sql \
	sql/branchpromote--0.2.0--0.3.0.sql sql/branchpromote--0.3.0--0.4.0.sql \
	sql/branchpromote--0.4.0--0.5.0.sql sql/branchpromote--0.5.0--0.6.0.sql \
	sql/branchpromote--0.6.0--0.7.0.sql sql/branchpromote--0.7.0--0.8.0.sql
PGFILEDESC = "branchpromote - deploys as copy-on-write branch promotions"

# The privileged helper of the local drivers (computes as their own OS
# user): a plain C program installed beside postgres.
SCRIPTS_built = src/helper/branchpromote_helper

# Regression tests: inputs in sql/, outputs in expected/ (the PGXS defaults).
REGRESS = setup create_project promote migrations history privileges
# The catalog lives in branchpromote.database_name (postgres): test there.
REGRESS_OPTS = --use-existing

# Isolation specs under test/.
ISOLATION = concurrent_promote migrate_vs_promote manifests_vs_drop
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso --use-existing

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir) -Isrc
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lpq -lssl -lcrypto -pthread

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
CONTRIB_TESTDB = postgres
ISOLATION_TESTDB = postgres

src/helper/branchpromote_helper: src/helper/branchpromote_helper.c src/defrag.c src/defrag.h
	$(CC) -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -o $@ src/helper/branchpromote_helper.c src/defrag.c

# PGXS tracks no header dependencies: rebuild every object when any of our
# headers changes (a stale object with an old struct layout is a crash).
$(OBJS): $(wildcard src/*.h)

# Unit tests of the pure core (no server needed).
UNIT_SRCS = test/unit/test_core.c src/names.c src/planner.c src/ledgerplan.c src/history.c src/manifest.c \
	src/jsonstr.c src/schemafp.c src/masking.c
test/unit/test_core: $(UNIT_SRCS) test/unit/check.h src/names.h src/planner.h src/ledgerplan.h src/history.h src/manifest.h \
		src/jsonstr.h src/schemafp.h src/masking.h
	$(CC) -DFRONTEND -Wall -Wextra -Werror -Wno-unused-parameter -Isrc \
		-I$(shell $(PG_CONFIG) --includedir-server) -I$(shell $(PG_CONFIG) --includedir) \
		-o $@ $(UNIT_SRCS) -L$(shell $(PG_CONFIG) --pkglibdir) -lpgcommon -lpgport

test/unit/test_pgwire: test/unit/test_pgwire.c test/unit/check.h src/pgwire.c src/pgwire.h
	$(CC) -Wall -Wextra -Werror -Isrc -o $@ test/unit/test_pgwire.c src/pgwire.c

# A libpq client for the proxy's TAP test (test/t/014_proxy.pl).
test/tools/pidcheck: test/tools/pidcheck.c
	$(CC) -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) -o $@ $< \
		-L$(shell $(PG_CONFIG) --libdir) -lpq
installcheck: test/tools/pidcheck test/tools/defragrace

# defrag.c's rewrite against a writer thread (test/t/021_defragment.pl).
test/tools/defragrace: test/tools/defragrace.c src/defrag.c src/defrag.h
	$(CC) -O2 -Wall -Wextra -Werror -Isrc -pthread -o $@ test/tools/defragrace.c src/defrag.c

unitcheck: test/unit/test_core test/unit/test_pgwire
	test/unit/test_core
	test/unit/test_pgwire

# libFuzzer target for the wire-protocol parser (clang, libclang-rt-14-dev).
# fuzzcheck runs it for FUZZ_SECONDS on a copy of the seed corpus in a
# temporary directory; a crash, leak or sanitizer report fails it and keeps
# that directory (the input is printed).
FUZZ_SECONDS ?= 30
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -Isrc
test/fuzz/fuzz_pgwire: test/fuzz/fuzz_pgwire.c src/pgwire.c src/pgwire.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_pgwire.c src/pgwire.c

fuzzcheck: test/fuzz/fuzz_pgwire
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/fuzz_pgwire.XXXXXX") && \
	mkdir "$$dir/corpus" && cp test/fuzz/corpus/* "$$dir/corpus/" && \
	if test/fuzz/fuzz_pgwire -max_total_time=$(FUZZ_SECONDS) -max_len=12000 \
		-print_final_stats=1 -artifact_prefix="$$dir/" "$$dir/corpus" >"$$dir/log" 2>&1; then \
		grep -E '^#[0-9]+[[:space:]]+DONE|^Done |^stat::(number_of_executed_units|average_exec_per_sec)' "$$dir/log"; rm -rf "$$dir"; \
	else \
		sed -n '/ERROR: \|runtime error\|deadly signal/,/^SUMMARY/p' "$$dir/log" | head -n 40; \
		tail -n 12 "$$dir/log"; \
		echo "fuzz_pgwire failed; log and inputs kept in $$dir"; \
		for f in "$$dir"/crash-* "$$dir"/leak-* "$$dir"/timeout-* "$$dir"/oom-*; do \
			[ -f "$$f" ] && { echo "reproduce: make test/fuzz/fuzz_pgwire && test/fuzz/fuzz_pgwire $$f"; od -A d -c "$$f" | head -20; }; \
		done; \
		exit 1; \
	fi

# pg_regress against a throwaway instance WITHOUT branchpromote preloaded.
installcheck-nopreload:
	$(pg_regress_installcheck) --temp-instance=tmp_nopreload --inputdir=test/nopreload --outputdir=output_nopreload nopreload

# One preprocessor configuration: the one this build compiles (pg_config.h's
# own defines), not cppcheck's guesses at others (WIN32, __cplusplus, ...),
# which took 7 of the suite's ~18 minutes (62 s now) and found nothing here.
cppcheck:
	cppcheck --quiet -j $(shell nproc) --max-configs=1 --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=toomanyconfigs \
		--suppress='*:$(shell $(PG_CONFIG) --includedir-server)/*' \
		-I src -I $(shell $(PG_CONFIG) --includedir-server) src/*.c
	@# no include or call circle between the modules of src/ (after a build: it reads the objects)
	perl test/tools/cycles.pl
	@# server code lists directories with AllocateDir/ReadDir (an ERROR releases the handle),
	@# but for code that raises no ERROR while one is open, marked "raw:" (clone.c's walk)
	@! grep -n '[^a-zA-Z_]\(opendir\|readdir\|closedir\)(' src/*.c | grep -v '/\* raw: ' || \
		{ echo 'raw opendir/readdir/closedir in server code: use AllocateDir/ReadDir/FreeDir'; exit 1; }

.PHONY: unitcheck fuzzcheck installcheck-nopreload cppcheck
EXTRA_CLEAN = src/helper/branchpromote_helper test/tools/pidcheck test/tools/defragrace test/unit/test_core test/unit/test_pgwire test/fuzz/fuzz_pgwire output_iso output_nopreload tmp_nopreload
