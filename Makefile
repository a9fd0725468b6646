# orderflow: PGXS build.  See README.md for the two commands that matter.
EXTENSION = orderflow
EXTVERSION = 0.1.0

MODULE_big = orderflow
ASL_OBJS = src/asl_alloc.o src/asl_json.o src/asl_path.o src/asl_template.o \
	src/asl_intrinsic.o src/asl_choice.o src/asl_parse.o
SERVER_OBJS = src/orderflow.o src/jsonb_conv.o src/definition.o src/storage.o \
	src/task.o src/executor.o src/pool.o src/launcher.o src/worker.o \
	src/dbhooks.o src/api.o \
	src/callback.o src/control.o src/retention.o src/util.o src/privileges.o \
	src/version.o
OBJS = $(ASL_OBJS) $(SERVER_OBJS)

# The install script is assembled from sql/install/*.sql, one file per concern
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

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

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard $(srcdir)/sql/install/*.sql))
	cat $^ > $@

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
