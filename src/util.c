/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers the SQL-callable functions share: acting as the
 *	  extension owner, connecting SPI, and random execution ids.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "orderflow.h"
#include "storage.h"
#include "version.h"

#include "common/cryptohash.h"
#include "common/md5.h"
#include "common/pg_prng.h"
#include "common/sha1.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

/*
 * Act as the extension owner for orderflow's own reads and writes: users
 * have no write privileges on orderflow's tables, so the API functions check
 * the caller's rights themselves and then switch, the way pg_cron does.
 * The SQL-callable functions check the schema version on entry; checking
 * again here covers every other path to the tables, and the same index
 * probe of pg_extension gives the owner.
 */
void
OfBecomeExtensionOwner(OfOwnerSwitch *sw)
{
	Oid			owner = OfRequireCurrentSchema();

	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(owner, sw->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Return to the caller's identity */
void
OfRestoreIdentity(OfOwnerSwitch *sw)
{
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}

/* See orderflow.h */
void
OfEnterUserCode(Oid owner, OfUserCode *uc)
{
	GetUserIdAndSecContext(&uc->save_userid, &uc->save_sec_context);
	SetUserIdAndSecContext(owner, uc->save_sec_context | SECURITY_RESTRICTED_OPERATION);
	uc->nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", of_task_search_path,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* See orderflow.h: the settings the code changed are undone too */
void
OfLeaveUserCode(OfUserCode *uc)
{
	AtEOXact_GUC(false, uc->nest_level);
	SetUserIdAndSecContext(uc->save_userid, uc->save_sec_context);
}

/*
 * See orderflow.h.  A pool worker takes no advisory locks of its own, so
 * every session-level one it holds was left by user code: kept, it would
 * let the next role's code in this worker take the "same" lock at once
 * (they are reentrant per session) and block everybody else's until the
 * worker exits.  A client's session (run_pending, start_sync_execution)
 * may hold its own, so nothing is released there.
 */
void
OfReleaseUserAdvisoryLocks(void)
{
	if (OfIsPoolWorker())
		LockReleaseSession(USER_LOCKMETHOD);
}

/* See orderflow.h: checked at every call, so a REVOKE takes effect at once */
void
OfCheckExecute(Oid fn, Oid owner, const char *what)
{
	if (pg_proc_aclcheck(fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", get_func_name(fn)),
				 errdetail("%s run with the privileges of the role that started the execution.", what),
				 errhint("The function's owner can GRANT EXECUTE on it to that role.")));
}

/* Connect SPI or fail */
void
OfConnectSpi(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "orderflow: SPI_connect failed");
}

/* Fill id with a random (version 4) UUID */
void
OfRandomUuid(pg_uuid_t *id)
{
	if (!pg_strong_random(id->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random id")));
	id->data[6] = (id->data[6] & 0x0f) | 0x40;
	id->data[8] = (id->data[8] & 0x3f) | 0x80;
}

/* The text form of a UUID */
char *
OfUuidText(pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

/*
 * States.Hash for the evaluator (OfEvalEnv.hash): PostgreSQL's own
 * cryptohash (OpenSSL underneath on Debian), lower-case hex.  Returns false
 * for an unknown algorithm or a failure, which the evaluator reports as
 * States.Runtime.
 */
bool
OfHashForIntrinsic(const char *algorithm, const char *data, size_t len,
				   char *hex_out, size_t hex_out_size)
{
	static const struct
	{
		const char *name;
		pg_cryptohash_type type;
		int			digest_len;
	}			algorithms[] = {
		{"MD5", PG_MD5, MD5_DIGEST_LENGTH},
		{"SHA-1", PG_SHA1, SHA1_DIGEST_LENGTH},
		{"SHA-256", PG_SHA256, PG_SHA256_DIGEST_LENGTH},
		{"SHA-384", PG_SHA384, PG_SHA384_DIGEST_LENGTH},
		{"SHA-512", PG_SHA512, PG_SHA512_DIGEST_LENGTH},
	};
	uint8		digest[PG_SHA512_DIGEST_LENGTH];

	for (int i = 0; i < (int) lengthof(algorithms); i++)
	{
		pg_cryptohash_ctx *ctx;
		bool		ok;

		if (strcmp(algorithms[i].name, algorithm) != 0)
			continue;
		if (hex_out_size < (size_t) algorithms[i].digest_len * 2 + 1)
			return false;
		ctx = pg_cryptohash_create(algorithms[i].type);
		ok = ctx != NULL &&
			pg_cryptohash_init(ctx) == 0 &&
			pg_cryptohash_update(ctx, (const uint8 *) data, len) == 0 &&
			pg_cryptohash_final(ctx, digest, sizeof(digest)) == 0;
		pg_cryptohash_free(ctx);
		if (!ok)
			return false;
		for (int b = 0; b < algorithms[i].digest_len; b++)
			snprintf(hex_out + 2 * b, 3, "%02x", digest[b]);
		return true;
	}
	return false;
}

/* States.UUID for the evaluator: a random version 4 UUID as text */
void
OfUuidForIntrinsic(char out[37])
{
	pg_uuid_t	id;

	OfRandomUuid(&id);
	strlcpy(out, OfUuidText(&id), 37);
}

/* States.MathRandom for the evaluator: a double in [0, 1) */
double
OfRandomForIntrinsic(void)
{
	return pg_prng_double(&pg_global_prng_state);
}

/*
 * The ASL library's interrupt poll (OfEvalEnv.interrupted and
 * OfParseOptions.interrupted): true when a cancel or terminate is pending
 * that CHECK_FOR_INTERRUPTS() would act on now.  It only reads flags and
 * never raises: the library first unwinds and frees its json-c (malloc'd)
 * memory, then the caller raises the interrupt with OfRaiseEvalInterrupt.
 */
bool
OfEvalInterrupted(void)
{
	return InterruptPending && InterruptHoldoffCount == 0 && CritSectionCount == 0 &&
		(ProcDiePending || (QueryCancelPending && QueryCancelHoldoffCount == 0));
}

/*
 * After an evaluation failed with `error`: when the interrupt poll stopped
 * it, process the pending interrupt now (terminate, cancel); should that
 * not raise, fail anyway, because the evaluation has no result.
 */
void
OfRaiseEvalInterrupt(const char *error)
{
	if (error == NULL || strcmp(error, OF_ERR_INTERRUPTED) != 0)
		return;
	CHECK_FOR_INTERRUPTS();
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("orderflow evaluation was interrupted")));
}

#if PG_VERSION_NUM < 150000
/* See orderflow.h: a tuplestore result in the caller's per-query memory */
void
OfInitMaterializedSRF(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(old);
}
#endif
