/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Delete finished executions older than orderflow.retention, with their
 *	  descendants, history and tasks, a small batch per transaction.
 *
 * The pool calls OfPurgeExpired() every few seconds (worker.c,
 * of_maybe_purge); orderflow.purge_expired() does the same on demand.
 * Each batch is one statement (storage.c, OFQ_PURGE) that picks the
 * oldest finished top-level executions with SKIP LOCKED, so it never waits
 * on an execution somebody works on and holds its row locks only for the
 * batch.  A purged name can be used again: the uniqueness of execution
 * names per state machine lasts as long as the execution is kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "orderflow.h"
#include "storage.h"
#include "version.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* Remove finished top-level executions stopped before cutoff (SPI connected) */
static int64
purge_before(TimestampTz cutoff, int max_executions)
{
	Datum		v[2];
	bool		isnull;
	Datum		d;

	v[0] = TimestampTzGetDatum(cutoff);
	v[1] = Int32GetDatum(max_executions);
	OfExecQuery(OFQ_PURGE, v, NULL, false, 0);
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_count_count, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/* See orderflow.h */
int64
OfPurgeExpired(int max_executions)
{
	int64		purged;

	if (of_retention_s <= 0)
		return 0;
	OfConnectSpi();
	purged = purge_before(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   -(int64) of_retention_s * 1000),
						   max_executions);
	SPI_finish();
	return purged;
}

PG_FUNCTION_INFO_V1(orderflow_purge_expired);

/*
 * purge_expired(older_than, max_executions): delete one batch of finished
 * top-level executions stopped longer ago than older_than (default
 * orderflow.retention); returns how many.  Not granted to PUBLIC.
 */
Datum
orderflow_purge_expired(PG_FUNCTION_ARGS)
{
	int			max_executions = PG_ARGISNULL(1) ? 1000 : PG_GETARG_INT32(1);
	TimestampTz cutoff;
	int64		purged;

	OfRequireCurrentSchema();
	if (max_executions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_executions must be positive")));
	if (PG_ARGISNULL(0))
	{
		if (of_retention_s <= 0)
			PG_RETURN_INT64(0);
		cutoff = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											 -(int64) of_retention_s * 1000);
	}
	else
		cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														 TimestampTzGetDatum(GetCurrentTimestamp()),
														 PG_GETARG_DATUM(0)));
	OfConnectSpi();
	purged = purge_before(cutoff, max_executions);
	SPI_finish();
	PG_RETURN_INT64(purged);
}
