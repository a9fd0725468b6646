/*-------------------------------------------------------------------------
 *
 * callback.c
 *	  Task tokens and activities: send_task_success/failure/heartbeat,
 *	  create_activity, delete_activity, get_activity_task.
 *
 * A Task whose Resource ends in ".waitForTaskToken" calls its function
 * with $$.Task.Token and then parks (phase 'callback'); an activity Task
 * queues a row that get_activity_task() hands to one worker with a fresh
 * token.  Either way a row of orderflow.task_tokens describes the parked
 * task, and the executor (executor.c, run_parked_task) processes what
 * send_task_* wrote there, exactly like a task result.
 *
 * A token is base64url(execution id || 32 random bytes): the execution id
 * finds the row without a global index (the table's key starts with it),
 * and only the SHA-256 of the secret is stored, so reading the table does
 * not give anyone a usable token.
 *
 * Lock order: the execution row first, then its task row.  The executor
 * does the same (it claims the execution, then locks the task), so the two
 * never deadlock, and two send_task_success calls with one token are
 * serialized by the execution's row lock: the second sees the task done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "callback.h"
#include "storage.h"
#include "version.h"
#include "task.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define OF_TOKEN_RAW_LEN (UUID_LEN + OF_TOKEN_SECRET_LEN)
#define OF_ACTIVITY_PREFIX "activity:"
#define OF_ACTIVITY_ARN_PREFIX "arn:aws:states:"
#define OF_ACTIVITY_ARN_PART ":activity:"
#define OF_MAX_ACTIVITY_NAME_LEN 80


/* ---------------------------------------------------------------------
 * Resources and tokens
 * --------------------------------------------------------------------- */

/* See callback.h */
OfResourceKind
OfClassifyResource(const char *resource, char **name)
{
	size_t		len = strlen(resource);
	size_t		suffix_len = strlen(OF_CALLBACK_SUFFIX);

	if (strncmp(resource, OF_ACTIVITY_PREFIX, strlen(OF_ACTIVITY_PREFIX)) == 0)
	{
		if (name)
			*name = pstrdup(resource + strlen(OF_ACTIVITY_PREFIX));
		return OF_RESOURCE_ACTIVITY;
	}
	if (strncmp(resource, OF_ACTIVITY_ARN_PREFIX, strlen(OF_ACTIVITY_ARN_PREFIX)) == 0)
	{
		/* arn:aws:states:REGION:ACCOUNT:activity:NAME */
		const char *rest = resource + strlen(OF_ACTIVITY_ARN_PREFIX);
		const char *p = strchr(rest, ':');

		if (p != NULL)
			p = strchr(p + 1, ':');
		if (p != NULL && strncmp(p, OF_ACTIVITY_ARN_PART, strlen(OF_ACTIVITY_ARN_PART)) == 0)
		{
			if (name)
				*name = pstrdup(p + strlen(OF_ACTIVITY_ARN_PART));
			return OF_RESOURCE_ACTIVITY;
		}
	}
	if (len > suffix_len && strcmp(resource + len - suffix_len, OF_CALLBACK_SUFFIX) == 0)
	{
		if (name)
			*name = pnstrdup(resource, len - suffix_len);
		return OF_RESOURCE_CALLBACK;
	}
	if (name)
		*name = pstrdup(resource);
	return OF_RESOURCE_FUNCTION;
}

/* SHA-256 of a token's secret, as a bytea */
static bytea *
secret_hash(const uint8 *secret)
{
	bytea	   *hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, secret, OF_TOKEN_SECRET_LEN) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(hash), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "orderflow: could not compute a SHA-256 hash");
	pg_cryptohash_free(ctx);
	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return hash;
}

/* base64url text (no padding) of execution id || secret */
static char *
encode_token(const pg_uuid_t *execution_id, const uint8 *secret)
{
	char		raw[OF_TOKEN_RAW_LEN];
	char	   *out = palloc(pg_b64_enc_len(OF_TOKEN_RAW_LEN) + 1);
	int			n;

	memcpy(raw, execution_id->data, UUID_LEN);
	memcpy(raw + UUID_LEN, secret, OF_TOKEN_SECRET_LEN);
	n = pg_b64_encode(raw, OF_TOKEN_RAW_LEN, out, pg_b64_enc_len(OF_TOKEN_RAW_LEN));
	if (n < 0)
		elog(ERROR, "orderflow: could not encode a task token");
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++)
	{
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/* Split a token into execution id and secret; false if malformed */
static bool
decode_token(const char *token, pg_uuid_t *execution_id, uint8 *secret)
{
	size_t		len = strlen(token);
	char		buf[128];
	char		raw[128];
	int			n;

	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = token[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
		buf[i] = c;
	}
	buf[len] = '\0';
	n = pg_b64_decode(buf, (int) len, raw, sizeof(raw));
	if (n != OF_TOKEN_RAW_LEN)
		return false;
	memcpy(execution_id->data, raw, UUID_LEN);
	memcpy(secret, raw + UUID_LEN, OF_TOKEN_SECRET_LEN);
	return true;
}

/* See callback.h */
char *
OfNewTaskToken(pg_uuid_t *execution_id, bytea **hash)
{
	uint8		secret[OF_TOKEN_SECRET_LEN];

	if (!pg_strong_random(secret, sizeof(secret)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random task token")));
	*hash = secret_hash(secret);
	return encode_token(execution_id, secret);
}

/* See callback.h */
void
OfCancelTasks(pg_uuid_t *execution_id)
{
	Datum		v[2];

	v[0] = UUIDPGetDatum(execution_id);
	v[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	OfExecQuery(OFQ_TOKEN_CANCEL_TREE, v, NULL, false, 0);
}

/* ---------------------------------------------------------------------
 * send_task_success / send_task_failure / send_task_heartbeat
 * --------------------------------------------------------------------- */

typedef enum TokenAction
{
	TOKEN_SUCCESS,
	TOKEN_FAILURE,
	TOKEN_HEARTBEAT
} TokenAction;

/* The error for a token that matches no task (never says which part is wrong) */
static void
no_such_task(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("task token does not match any task"),
			 errhint("Pass the token exactly as $$.Task.Token or get_activity_task() gave it.")));
}

/* Why a task in this status cannot take the call */
static void
task_not_open(const char *status)
{
	if (strcmp(status, "timed_out") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task timed out"),
				 errdetail("Its HeartbeatSeconds or TimeoutSeconds ran out before the call."),
				 errhint("The state's Retry or Catch decided what happened next; a retried task has a new token.")));
	if (strcmp(status, "canceled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task was canceled"),
				 errdetail("The execution was stopped or left the state before the call."),
				 errhint("Nothing waits for this token any more.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("task token was already used"),
			 errdetail("The task was completed with send_task_success or send_task_failure before."),
			 errhint("A task token completes its task once.")));
}

/* Common body of send_task_success/failure/heartbeat */
static void
token_call(text *token_text, TokenAction action, Jsonb *output,
		   const char *error, const char *cause)
{
	char	   *token = text_to_cstring(token_text);
	pg_uuid_t	execution_id;
	uint8		secret[OF_TOKEN_SECRET_LEN];
	bytea	   *hash;
	OfOwnerSwitch sw;
	Datum		v[7];
	char		n[7];
	bool		isnull;
	HeapTuple	tup;
	char	   *exec_status;
	Oid			exec_owner;
	int			task_id;
	char	   *task_status;
	Oid			activity_owner = InvalidOid;
	TimestampTz now = GetCurrentTimestamp();

	if (!decode_token(token, &execution_id, secret))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid task token"),
				 errdetail("A task token is 64 characters of base64url."),
				 errhint("Pass the token exactly as $$.Task.Token or get_activity_task() gave it.")));
	hash = secret_hash(secret);

	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	/* the execution row first: the executor takes the same order */
	v[0] = UUIDPGetDatum(&execution_id);
	OfExecQuery(OFQ_LOCK_EXECUTION, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		OfRestoreIdentity(&sw);
		no_such_task();
	}
	tup = SPI_tuptable->vals[0];
	exec_status = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_status, &isnull));
	exec_owner = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_owner, &isnull));

	v[1] = PointerGetDatum(hash);
	OfExecQuery(OFQ_TOKEN_FIND, v, NULL, false, 1);
	if (SPI_processed == 0)
	{
		OfRestoreIdentity(&sw);
		no_such_task();
	}
	tup = SPI_tuptable->vals[0];
	task_id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_token_find_task_id, &isnull));
	task_status = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_token_find_status, &isnull));
	v[2] = SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_token_find_activity_owner, &isnull);
	if (!isnull)
		activity_owner = DatumGetObjectId(v[2]);
	OfRestoreIdentity(&sw);

	/* the execution's owner, or for an activity task the activity's owner */
	if (!has_privs_of_role(GetUserId(), exec_owner) &&
		!(OidIsValid(activity_owner) && has_privs_of_role(GetUserId(), activity_owner)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for this task token"),
				 errdetail("Only the role that started the execution (or a role with its privileges) may complete its tasks; for an activity task, the activity's owner may too."),
				 errhint("Complete the task as the role that started its execution, or as the owner of its activity.")));
	if (strcmp(exec_status, "RUNNING") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the execution of this task is not running"),
				 errdetail("Its status is %s.", exec_status),
				 errhint("Nothing waits for this token any more.")));
	if (strcmp(task_status, "started") != 0)
		task_not_open(task_status);

	OfBecomeExtensionOwner(&sw);
	memset(n, ' ', sizeof(n));
	v[0] = UUIDPGetDatum(&execution_id);
	v[1] = Int32GetDatum(task_id);
	if (action == TOKEN_HEARTBEAT)
	{
		v[2] = TimestampTzGetDatum(now);
		OfExecQuery(OFQ_TOKEN_HEARTBEAT, v, NULL, false, 0);
	}
	else
	{
		v[2] = CStringGetTextDatum(action == TOKEN_SUCCESS ? "succeeded" : "failed");
		v[3] = output ? JsonbPGetDatum(output) : (n[3] = 'n', (Datum) 0);
		v[4] = error ? CStringGetTextDatum(error) : (n[4] = 'n', (Datum) 0);
		v[5] = cause ? CStringGetTextDatum(cause) : (n[5] = 'n', (Datum) 0);
		v[6] = TimestampTzGetDatum(now);
		OfExecQuery(OFQ_TOKEN_COMPLETE, v, n, false, 0);
		/* the execution is due now: a worker processes the result */
		v[1] = TimestampTzGetDatum(now);
		OfExecQuery(OFQ_WAKE, v, NULL, false, 0);
		OfWakeWorkersAtCommit();
	}
	OfRestoreIdentity(&sw);
	SPI_finish();
}

/* Refuse an over-long error or cause */
static char *
checked_text(FunctionCallInfo fcinfo, int arg, const char *what, int max)
{
	char	   *s;

	if (PG_ARGISNULL(arg))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(arg));
	if ((int) strlen(s) > max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long: %zu bytes", what, strlen(s)),
				 errdetail("The limit is %d bytes.", max)));
	return s;
}

/* A NULL token is an error, not a no-op */
static text *
token_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("task token must not be NULL")));
	return PG_GETARG_TEXT_PP(0);
}

PG_FUNCTION_INFO_V1(orderflow_send_task_success);

/* send_task_success(token, output): complete a parked task with a result */
Datum
orderflow_send_task_success(PG_FUNCTION_ARGS)
{
	text	   *token = token_arg(fcinfo);
	Jsonb	   *output;

	OfRequireCurrentSchema();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("task output must not be NULL"),
				 errhint("Pass 'null'::jsonb for a JSON null result.")));
	output = PG_GETARG_JSONB_P(1);
	if (VARSIZE(output) > (Size) of_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("task output is too large: %u bytes", VARSIZE(output)),
				 errdetail("The limit orderflow.max_payload_size is %d bytes.", of_max_payload_bytes),
				 errhint("Pass a reference (for example a row id) instead, or raise orderflow.max_payload_size.")));
	token_call(token, TOKEN_SUCCESS, output, NULL, NULL);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_send_task_failure);

/* send_task_failure(token, error, cause): fail a parked task */
Datum
orderflow_send_task_failure(PG_FUNCTION_ARGS)
{
	text	   *token = token_arg(fcinfo);
	char	   *error = checked_text(fcinfo, 1, "error", OF_MAX_ERROR_LEN);
	char	   *cause = checked_text(fcinfo, 2, "cause", OF_MAX_CAUSE_LEN);

	OfRequireCurrentSchema();
	token_call(token, TOKEN_FAILURE, NULL, error, cause);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_send_task_heartbeat);

/* send_task_heartbeat(token): restart the task's HeartbeatSeconds clock */
Datum
orderflow_send_task_heartbeat(PG_FUNCTION_ARGS)
{
	OfRequireCurrentSchema();
	token_call(token_arg(fcinfo), TOKEN_HEARTBEAT, NULL, NULL, NULL);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Activities
 * --------------------------------------------------------------------- */

/* Refuse empty, over-long or odd activity names */
static void
check_activity_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > OF_MAX_ACTIVITY_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity name must be 1 to %d characters long", OF_MAX_ACTIVITY_NAME_LEN)));
	for (const char *p = name; *p; p++)
	{
		if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == ':')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("activity name must not contain spaces, colons or control characters")));
	}
}

/*
 * The owner of an activity, or InvalidOid; *deleted tells a tombstone
 * (SPI connected, as extension owner)
 */
static Oid
activity_owner(const char *name, bool *deleted)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;

	OfExecQuery(OFQ_ACTIVITY_FIND, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		return InvalidOid;
	*deleted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_deleted, &isnull));
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_owner, &isnull));
}

/* The refusal for a role without the activity owner's privileges */
static void
not_activity_owner(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of activity %s", name),
			 errdetail("Only its owner (or a role with the owner's privileges, or a superuser) may do this; the name of a deleted activity stays with its owner."),
			 errhint("Choose another activity name, or ask its owner.")));
}

/* Error out unless the (live) activity exists and the caller acts for its owner */
static void
check_activity_access(const char *name)
{
	OfOwnerSwitch sw;
	Oid			owner;
	bool		deleted = false;

	OfBecomeExtensionOwner(&sw);
	owner = activity_owner(name, &deleted);
	OfRestoreIdentity(&sw);
	if (OidIsValid(owner) && !has_privs_of_role(GetUserId(), owner))
		not_activity_owner(name);
	if (!OidIsValid(owner) || deleted)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("activity \"%s\" does not exist", name),
				 errhint("Create it with orderflow.create_activity('%s').", name)));
}

PG_FUNCTION_INFO_V1(orderflow_create_activity);

/* create_activity(name): idempotent for its owner, as CreateActivity is */
Datum
orderflow_create_activity(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OfOwnerSwitch sw;
	Datum		v[2];

	OfRequireCurrentSchema();
	check_activity_name(name);
	OfConnectSpi();
	v[0] = CStringGetTextDatum(name);
	v[1] = ObjectIdGetDatum(GetUserId());
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_ACTIVITY_INSERT, v, NULL, false, 0);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
	{
		/* taken: fine for its owner; a deleted one is revived by its owner only */
		bool		deleted = false;
		Oid			owner;

		OfBecomeExtensionOwner(&sw);
		owner = activity_owner(name, &deleted);
		OfRestoreIdentity(&sw);
		if (!has_privs_of_role(GetUserId(), owner))
			not_activity_owner(name);
		if (deleted)
		{
			OfBecomeExtensionOwner(&sw);
			OfExecQuery(OFQ_ACTIVITY_REVIVE, v, NULL, false, 0);
			OfRestoreIdentity(&sw);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_delete_activity);

/* delete_activity(name): its queued tasks stay until they time out */
Datum
orderflow_delete_activity(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OfOwnerSwitch sw;
	Datum		arg = CStringGetTextDatum(name);

	OfRequireCurrentSchema();
	OfConnectSpi();
	check_activity_access(name);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_ACTIVITY_DELETE, &arg, NULL, false, 0);
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_VOID();
}

/* Try to take one task of an activity; true and the row if one was there */
static bool
claim_activity_task(const char *activity, const char *worker_name,
					char **token, Jsonb **input)
{
	OfOwnerSwitch sw;
	Datum		v[4];
	char		n[4] = {' ', ' ', ' ', ' '};
	uint8		secret[OF_TOKEN_SECRET_LEN];
	pg_uuid_t	execution_id;
	bool		isnull;
	HeapTuple	tup;
	Datum		hb;
	TimestampTz now = GetCurrentTimestamp();
	bool		found;

	if (!pg_strong_random(secret, sizeof(secret)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random task token")));
	v[0] = CStringGetTextDatum(activity);
	v[1] = PointerGetDatum(secret_hash(secret));
	v[2] = worker_name ? CStringGetTextDatum(worker_name) : (n[2] = 'n', (Datum) 0);
	v[3] = TimestampTzGetDatum(now);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_ACTIVITY_CLAIM, v, n, false, 1);
	found = SPI_processed > 0;
	if (found)
	{
		tup = SPI_tuptable->vals[0];
		memcpy(execution_id.data,
			   DatumGetUUIDP(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_activity_claim_execution_id, &isnull))->data,
			   UUID_LEN);
		*input = DatumGetJsonbPCopy(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_activity_claim_input, &isnull));
		hb = SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_activity_claim_heartbeat_seconds, &isnull);
		if (!isnull)
		{
			/* the heartbeat clock starts now: be due by its deadline */
			v[0] = UUIDPGetDatum(&execution_id);
			v[1] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(now, (int64) DatumGetInt32(hb) * 1000));
			OfExecQuery(OFQ_ACTIVITY_CLAIMED_WAKE, v, NULL, false, 0);
			OfWakeWorkersAtCommit();
		}
		*token = encode_token(&execution_id, secret);
	}
	OfRestoreIdentity(&sw);
	return found;
}

PG_FUNCTION_INFO_V1(orderflow_get_activity_task);

/*
 * get_activity_task(activity, worker_name, wait): one task of the activity
 * (token and input), or no row after `wait`.  Sleeps on a condition
 * variable that commits queuing an activity task broadcast (worker.c), so
 * it neither polls nor misses a task.  The claim commits with the caller's
 * transaction: call it in autocommit mode, or commit right after.
 */
Datum
orderflow_get_activity_task(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *activity;
	char	   *worker_name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz deadline;
	char	   *token = NULL;
	Jsonb	   *input = NULL;
	bool		found = false;

	OfRequireCurrentSchema();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("activity name must not be NULL")));
	activity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OfRefuseInsideTask("orderflow.get_activity_task()",
					   "Activity tasks are taken by workers outside the database; a task that needs another step's result can be a callback task (.waitForTaskToken).");
	InitMaterializedSRF(fcinfo, 0);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("get_activity_task cannot see new tasks in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in autocommit mode (READ COMMITTED).")));
	if (worker_name != NULL && strlen(worker_name) > 256)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("worker name must be at most 256 characters long")));

	if (PG_ARGISNULL(2))
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 60000);
	else
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   PG_GETARG_DATUM(2)));
	OfConnectSpi();
	check_activity_access(activity);
	for (;;)
	{
		long		secs;
		int			usecs;
		TimestampTz now;

		/* each statement takes a new snapshot: commits made meanwhile count */
		found = claim_activity_task(activity, worker_name, &token, &input);
		now = GetCurrentTimestamp();
		if (found || now >= deadline)
			break;
		TimestampDifference(now, deadline, &secs, &usecs);
		OfWaitForActivity(secs * 1000 + usecs / 1000 + 1);
	}

	if (found)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(token);
		values[1] = JsonbPGetDatum(input);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
