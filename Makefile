# orderflow: PGXS build.  See README.md for the two commands that matter.
EXTENSION = orderflow
EXTVERSION = 0.2.0

MODULE_big = orderflow
ASL_OBJS = src/asl_alloc.o src/asl_json.o src/asl_path.o src/asl_template.o \
	src/asl_intrinsic.o src/asl_choice.o src/asl_parse.o
SERVER_OBJS = src/orderflow.o src/jsonb_conv.o src/definition.o src/storage.o \
	src/task.o src/executor.o src/pool.o src/launcher.o src/worker.o \
	src/dbhooks.o src/api.o \
	src/callback.o src/control.o src/retention.o src/util.o src/privileges.o \
	src/version.o src/restore.o src/lambda.o src/result_writer.o
OBJS = $(ASL_OBJS) $(SERVER_OBJS)

# SQL scripts (README, "Upgrading"), as TimescaleDB splits them:
#   sql/schema/*.sql     run-once DDL of the current version (fresh install)
#   sql/functions/*.sql  functions, views and their grants: CREATE OR REPLACE,
#                        replayed at the end of every script
#   sql/updates/A--B.sql the table and data changes from version A to B
# built: orderflow--$(EXTVERSION).sql = schema + functions, and for every
# older version A that sql/updates/ starts from, orderflow--A--$(EXTVERSION).sql
# = the chain of updates from A to $(EXTVERSION) + functions (one step per
# ALTER EXTENSION UPDATE, so the replayed functions are always the library's).
# Released install scripts are frozen (DATA): CREATE EXTENSION ... VERSION
# '0.1.0' installs exactly what 0.1.0 installed.
SCHEMA_FILES = $(sort $(wildcard $(srcdir)/sql/schema/*.sql))
FUNCTION_FILES = $(sort $(wildcard $(srcdir)/sql/functions/*.sql))
UPDATE_FILES = $(sort $(wildcard $(srcdir)/sql/updates/*--*.sql))
UPDATE_FROM = $(sort $(foreach f,$(notdir $(UPDATE_FILES)),$(firstword $(subst --, ,$(basename $(f))))))
DATA = sql/$(EXTENSION)--0.1.0.sql
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql \
	$(foreach v,$(UPDATE_FROM),sql/$(EXTENSION)--$(v)--$(EXTVERSION).sql)

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -DOF_EXTVERSION='"$(EXTVERSION)"' -Wall -Werror -Wno-declaration-after-statement
SHLIB_LINK = -ljson-c

# pg_regress: inputs in sql/ (names without "--"), outputs in expected/
REGRESS = $(shell ls $(srcdir)/sql/*.sql 2>/dev/null | grep -v -- '--' | xargs -n1 basename 2>/dev/null | sed 's/\.sql$$//' | sort)
REGRESS_OPTS = --temp-config=$(srcdir)/test/orderflow.conf --load-extension=orderflow

ISOLATION = $(shell ls $(srcdir)/test/isolation/specs/*.spec 2>/dev/null | xargs -n1 basename 2>/dev/null | sed 's/\.spec$$//' | sort)
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --outputdir=output_iso --temp-config=$(srcdir)/test/orderflow.conf --load-extension=orderflow

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SCHEMA_FILES) $(FUNCTION_FILES)
	cat $^ > $@

# follows sql/updates/ from $* to $(EXTVERSION), one file per step
sql/$(EXTENSION)--%--$(EXTVERSION).sql: $(UPDATE_FILES) $(FUNCTION_FILES)
	@v='$*'; : > $@.tmp; \
	while [ "$$v" != '$(EXTVERSION)' ]; do \
	  f="$$(ls $(srcdir)/sql/updates/$$v--*.sql 2>/dev/null)"; \
	  if [ "$$(echo $$f | wc -w)" != 1 ]; then \
	    echo "sql/updates/ has no single script from version $$v" >&2; rm -f $@.tmp; exit 1; \
	  fi; \
	  echo "$@: $$f"; cat "$$f" >> $@.tmp; \
	  v="$${f##*--}"; v="$${v%.sql}"; \
	done; \
	cat $(FUNCTION_FILES) >> $@.tmp && mv $@.tmp $@

# The server-free unit tests of the ASL parser and evaluator (test/c).
.PHONY: check-c
check-c:
	$(MAKE) -C test/c check

# SQLSTATE -> stable ASL error name table, generated from the server's
# errcodes.h (see README, "Error names").
src/sqlstate_names.h: $(shell $(PG_CONFIG) --includedir-server)/utils/errcodes.h
	awk -f src/gen_sqlstate_names.awk $< > $@

src/task.o: src/sqlstate_names.h

# Every object depends on every header of src/ (PGXS tracks no header
# dependencies unless the server was configured with --enable-depend): a
# changed enum in storage.h must rebuild everything that uses it.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
EXTRA_CLEAN += src/sqlstate_names.h

# The benchmark of issue #7 (bench/run_bench.sh; figures in BENCHMARKS.md).
# BENCH_ARGS, e.g. "--tiny" or "--orders 5000 --skip-5m".
.PHONY: bench
bench:
	bash bench/run_bench.sh $(BENCH_ARGS)
