/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  Advance executions: claim due rows, run their states, record history.
 *
 * One call of OfRunDue() is one unit of durable work: it claims a batch
 * of due executions with FOR UPDATE SKIP LOCKED and moves each as far as it
 * can go right now (through Pass and Choice states, task after task) until
 * it finishes, parks on a due time (Wait, a scheduled retry) or has taken
 * OF_MAX_CHAIN transitions.  Everything it did commits with the caller's
 * transaction or not at all, so a crash never loses a committed step and
 * never repeats one.
 *
 * Each execution is advanced inside its own subtransaction, and each task
 * call in another one nested inside (task.c).  A task's failure is a
 * normal outcome (retry, catch or fail); a failure of orderflow itself
 * while advancing one execution fails only that execution, never the
 * batch.
 *
 * Input and output processing follows the ASL specification's order:
 * InputPath -> Parameters -> task -> ResultSelector -> ResultPath ->
 * OutputPath.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "orderflow.h"
#include "definition.h"
#include "jsonb_conv.h"
#include "storage.h"
#include "task.h"
#include "callback.h"
#include "lambda.h"
#include "result_writer.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
#include "storage/latch.h"

/* Most transitions one execution takes in one transaction */
#define OF_MAX_CHAIN 64

/* lock_timeout of a batch's later tasks (see batch_lock_timeout) */
#define OF_CONFLICT_LOCK_TIMEOUT_MS 50

/* Most roles a worker skips at once for their share of the pool (one per other worker) */
#define OF_MAX_SATURATED_ROLES 64

/* A task deferred for its role's share of the pool is due again after this */
#define OF_ROLE_SHARE_DEFER_MS 200

/* After this long, a batch claims no more rows and commits */
#define OF_BATCH_BUDGET_MS 200

/*
 * executions.phase: why a RUNNING execution is parked (NULL: it is not).
 * Children of a Map with MaxConcurrency also wait as 'queued' (or
 * 'queued_redrive') until OFQ_RELEASE_QUEUED starts them.
 */
#define PHASE_RETRY "retry"		/* waits for a retrier's interval */
#define PHASE_WAITING "waiting"	/* a Wait state */
#define PHASE_CHILDREN "children"	/* its Parallel/Map children run */
#define PHASE_CALLBACK "callback"	/* a .waitForTaskToken or activity task */
/* redrive_execution: resume a Parallel/Map's children, else start the state again */
#define PHASE_REDRIVE "redrive"

/* What running one state did to the execution */
typedef enum StepResult
{
	STEP_CONTINUE,				/* moved to another state, due now */
	STEP_PARKED,				/* waits for a due time */
	STEP_FINISHED				/* the execution is over */
} StepResult;

/* One claimed execution while it is being advanced */
typedef struct ExecRun
{
	/* identity, from the claimed row */
	pg_uuid_t	id;
	char		id_text[UUID_LEN * 2 + 5];
	pg_uuid_t	definition_id;
	OfDefinition *def;
	char	   *state_machine;
	int			version;
	char	   *name;
	Oid			owner;
	Jsonb	   *input;
	TimestampTz started_at;
	bool		has_timeout;
	TimestampTz timeout_at;

	/* as loaded, decoded by prepare_run() */
	char	   *loaded_state_name;
	Jsonb	   *loaded_state_input;

	/* Parallel branches and Map iterations are child executions */
	OfMachine  *machine;		/* the (sub-)machine whose states run here */
	bool		is_child;
	pg_uuid_t	parent_id;
	pg_uuid_t	root_id;
	char	   *parent_state;
	int			branch_index;
	int			parent_tag;
	int			children_tag;	/* tag of the children this one waits for */
	json_object *variables;		/* workflow variables (an object, or NULL) */
	Jsonb	   *loaded_variables;
	bool		root_loaded;	/* $$.Execution of a child is the root's */
	char	   *root_name;
	Jsonb	   *root_input;
	TimestampTz root_started_at;

	/* the state it is in */
	int			state_index;
	json_object *state_input;	/* raw input of the current state */
	TimestampTz entered_at;
	int			retry_count;
	int		   *attempts;		/* per retrier of the current state */
	int			n_attempts;
	const char *phase;			/* NULL or one of the PHASE_ names */
	bool		has_due;
	bool		deferred;		/* its task waits for its role's share of the pool */
	TimestampTz due_at;
	int			next_event_id;
	int			transitions;

	/* how it ended */
	const char *status;
	json_object *output;
	char	   *error;
	char	   *cause;
	TimestampTz stopped_at;

	/* json-c references to put when done (see track()) */
	json_object **owned;
	int			n_owned;
	int			size_owned;
	json_object *context;		/* $$, built on demand */
	struct JoinBatch *joins;	/* endings of children, applied at batch end */
	MemoryContext cxt;			/* where the run's own allocations live */
	json_object *exec_input;	/* $$.Execution.Input, built on demand */
} ExecRun;

static StepResult finish_children(ExecRun *run, OfState *state);
static void mark_batch_conflict(ExecRun *run);
static bool child_still_wanted(ExecRun *run);
static int	batch_lock_timeout(ExecRun *run);
static void notify_parent(ExecRun *run);
static OfState *find_state_anywhere(OfMachine *m, const char *name);

/* ---------------------------------------------------------------------
 * json-c bookkeeping
 * --------------------------------------------------------------------- */

/*
 * Remember a new json-c reference so that release_all() puts it.  Every
 * value the executor creates passes through here exactly once; that keeps
 * reference counts balanced whatever path the step takes.
 */
static json_object *
track(ExecRun *run, json_object *obj)
{
	if (obj == NULL)
		return NULL;
	if (run->n_owned == run->size_owned)
	{
		run->size_owned = Max(16, run->size_owned * 2);
		if (run->owned == NULL)
			run->owned = MemoryContextAlloc(run->cxt, sizeof(json_object *) * run->size_owned);
		else
			run->owned = repalloc(run->owned, sizeof(json_object *) * run->size_owned);
	}
	run->owned[run->n_owned++] = obj;
	return obj;
}

/* Put every tracked reference */
static void
release_all(ExecRun *run)
{
	for (int i = 0; i < run->n_owned; i++)
		json_object_put(run->owned[i]);
	run->n_owned = 0;
}

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

/* ISO 8601 UTC text of a timestamp, as Step Functions prints them */
static char *
format_iso_timestamp(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return pstrdup("1970-01-01T00:00:00.000Z");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (fsec / 1000));
}

/* Convert a json-c value to jsonb, enforcing orderflow.max_payload_size */
static Jsonb *
to_jsonb_checked(json_object *v, bool *too_large)
{
	Jsonb	   *jb = OfJsoncToJsonb(v);

	*too_large = (VARSIZE(jb) > (Size) of_max_payload_bytes);
	return jb;
}

/* The current state */
static OfState *
current_state(ExecRun *run)
{
	return &run->machine->states[run->state_index];
}

/* The "<Type>State" prefix of a state's history events */
static const char *
event_prefix(OfState *state)
{
	return of_state_type_name(state->type);
}

/* Record one history event with details given as json-c (consumed) */
static void
emit_event(ExecRun *run, const char *type, const char *state_name, json_object *details)
{
	Jsonb	   *jb = details ? OfJsoncToJsonb(details) : NULL;
	int			event_id = run->next_event_id++;

	json_object_put(details);
	OfBufferEvent(&run->id, event_id, event_id - 1, type, state_name,
				  GetCurrentTimestamp(), jb, run->owner);
}

/*
 * Record an event whose details are {key: value} for a value that is
 * jsonb already (a task's result, a state's output converted for its size
 * check): wrapping the existing jsonb saves converting it from json-c again.
 */
static void
emit_event_with_jsonb(ExecRun *run, const char *type, const char *state_name,
					  const char *key, Jsonb *value)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k;
	JsonbValue	v;
	JsonbValue *res;
	int			event_id = run->next_event_id++;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	pushJsonbValue(&ps, WJB_KEY, &k);
	if (value == NULL)
	{
		v.type = jbvNull;
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	else if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbExtractScalar(&value->root, &v);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &value->root;
		v.val.binary.len = VARSIZE(value) - VARHDRSZ;
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	OfBufferEvent(&run->id, event_id, event_id - 1, type, state_name,
				  GetCurrentTimestamp(), JsonbValueToJsonb(res), run->owner);
}

/* Details object {key: value} where value is borrowed */
static json_object *
details_with(const char *key, json_object *value)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, key, json_object_get(value));
	return d;
}

/* Details {"error": ..., "cause": ...} */
static json_object *
error_details(const char *error, const char *cause)
{
	json_object *d = json_object_new_object();

	if (error != NULL)
		json_object_object_add(d, "error", json_object_new_string(error));
	if (cause != NULL)
		json_object_object_add(d, "cause", json_object_new_string(cause));
	return d;
}

/* ---------------------------------------------------------------------
 * The context object ($$)
 * --------------------------------------------------------------------- */

/*
 * $$.Execution describes the execution a user started: for a Parallel
 * branch or Map iteration that is the root of the tree, read on demand.
 */
static void
load_root_info(ExecRun *run)
{
	Datum		arg;
	bool		isnull;
	HeapTuple	tup;

	if (run->root_loaded)
		return;
	run->root_loaded = true;
	if (!run->is_child)
	{
		run->root_id = run->id;
		run->root_name = run->name;
		run->root_input = run->input;
		run->root_started_at = run->started_at;
		return;
	}
	arg = UUIDPGetDatum(&run->root_id);
	OfExecQuery(OFQ_ROOT_INFO, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "orderflow: the root of execution %s is gone", run->id_text);
	tup = SPI_tuptable->vals[0];
	run->root_name = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_root_info_name, &isnull));
	run->root_input = DatumGetJsonbPCopy(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_root_info_input, &isnull));
	run->root_started_at = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_root_info_started_at, &isnull));
}

/* Build $$ for the current state (callback of OfEvalEnv) */
static json_object *
build_context(void *arg)
{
	ExecRun    *run = arg;
	json_object *ctx;
	json_object *exec;
	json_object *state;
	json_object *sm;
	char	   *role;

	if (run->context != NULL)
		return run->context;
	load_root_info(run);
	ctx = json_object_new_object();
	exec = json_object_new_object();
	state = json_object_new_object();
	sm = json_object_new_object();
	if (run->exec_input == NULL)
		run->exec_input = track(run, OfJsonbToJsonc(run->root_input));
	json_object_object_add(exec, "Id", json_object_new_string(
														  OfUuidText(&run->root_id)));
	json_object_object_add(exec, "Input", json_object_get(run->exec_input));
	json_object_object_add(exec, "Name", json_object_new_string(run->root_name));
	json_object_object_add(exec, "StartTime",
						   json_object_new_string(format_iso_timestamp(run->root_started_at)));
	role = GetUserNameFromId(run->owner, true);
	json_object_object_add(exec, "RoleArn", json_object_new_string(role ? role : ""));
	json_object_object_add(state, "Name", json_object_new_string(current_state(run)->name));
	json_object_object_add(state, "EnteredTime",
						   json_object_new_string(format_iso_timestamp(run->entered_at)));
	json_object_object_add(state, "RetryCount", json_object_new_int(run->retry_count));
	json_object_object_add(sm, "Id", json_object_new_string(psprintf("%s:%d", run->state_machine, run->version)));
	json_object_object_add(sm, "Name", json_object_new_string(run->state_machine));
	json_object_object_add(ctx, "Execution", exec);
	json_object_object_add(ctx, "State", state);
	json_object_object_add(ctx, "StateMachine", sm);
	run->context = track(run, ctx);
	return ctx;
}

/* An evaluation environment whose $ is `input` */
static void
init_env(OfEvalEnv *env, ExecRun *run, json_object *input)
{
	memset(env, 0, sizeof(*env));
	env->input = input;
	env->context = run->context;
	env->variables = run->variables;
	env->hash = OfHashForIntrinsic;
	env->random_uuid = OfUuidForIntrinsic;
	env->random_double = OfRandomForIntrinsic;
	env->build_context = build_context;
	env->build_context_arg = run;
	/* bounded evaluation: see OfEvalInterrupted, OfRaiseEvalInterrupt */
	env->interrupted = OfEvalInterrupted;
	env->max_bytes = (size_t) of_max_payload_bytes;
	env->max_bytes_name = "orderflow.max_payload_size";
}

/* ---------------------------------------------------------------------
 * Input and output processing
 * --------------------------------------------------------------------- */

/* InputPath / OutputPath: null gives {}, absent gives the value itself */
static bool
apply_filter_path(ExecRun *run, const OfPathField *field, const char *field_name,
				  json_object *value, json_object **out, OfError *err)
{
	OfEvalEnv	env;
	bool		found;
	json_object *result;

	if (!field->present || field->path == NULL)
	{
		if (field->present && field->is_null)
			*out = track(run, json_object_new_object());
		else
			*out = value;
		return true;
	}
	init_env(&env, run, value);
	if (!of_path_eval(field->path, &env, &result, &found, err))
		return false;
	track(run, result);
	if (!found)
		return of_fail(err, OF_ERR_RUNTIME,
					   "Invalid path '%s' : The %s could not find a value in the input",
					   of_path_text(field->path), field_name);
	*out = result;
	return true;
}

/* Parameters / ResultSelector */
static bool
apply_template(ExecRun *run, const OfTemplate *tmpl, json_object *value,
			   json_object **out, OfError *err)
{
	OfEvalEnv	env;
	json_object *result;

	if (tmpl == NULL)
	{
		*out = value;
		return true;
	}
	init_env(&env, run, value);
	if (!of_template_eval(tmpl, &env, &result, err))
		return false;
	*out = track(run, result);
	return true;
}

/* ResultPath: combine the result with the state's raw input */
static bool
apply_result_path(ExecRun *run, const OfPathField *field, json_object *raw,
				  json_object *result, json_object **out, OfError *err)
{
	json_object *combined;

	if (field->present && field->is_null)
	{
		*out = raw;
		return true;
	}
	if (!field->present || field->path == NULL)
	{
		*out = result;
		return true;
	}
	if (!of_path_set(field->path, raw, result, &combined, err))
		return false;
	*out = track(run, combined);
	return true;
}

/*
 * Assign: evaluate every variable against the old values ($ being
 * `value`, what the position defines), then store them all at once, so
 * that assignments in one Assign never see each other.
 */
static bool
apply_assign(ExecRun *run, const OfTemplate *assign, json_object *value, OfError *err)
{
	json_object *assigned;
	json_object *merged;

	if (assign == NULL)
		return true;
	if (!apply_template(run, assign, value, &assigned, err))
		return false;
	if (!json_object_is_type(assigned, json_type_object))
		return of_fail(err, OF_ERR_RUNTIME, "Assign must produce an object of variables");
	merged = track(run, json_object_new_object());
	if (run->variables != NULL)
	{
		json_object_object_foreach(run->variables, k, v)
			json_object_object_add(merged, k, json_object_get(v));
	}
	{
		json_object_object_foreach(assigned, k, v)
			json_object_object_add(merged, k, json_object_get(v));
	}
	run->variables = merged;
	return true;
}

/* ---------------------------------------------------------------------
 * Transitions and endings
 * --------------------------------------------------------------------- */

/* End the execution (SUCCEEDED, FAILED, TIMED_OUT) and record it */
static StepResult
finish_execution(ExecRun *run, const char *status, json_object *output,
				 const char *error, const char *cause)
{
	run->status = status;
	run->output = output;
	run->error = error ? pstrdup(error) : NULL;
	run->cause = cause ? pstrdup(cause) : NULL;
	run->stopped_at = GetCurrentTimestamp();
	run->has_due = false;
	if (run->phase != NULL && strcmp(run->phase, PHASE_CHILDREN) == 0)
		OfCancelDescendants(&run->id, run->children_tag, "States.Aborted",
							"the execution ended while this branch was running");
	if (strcmp(status, "SUCCEEDED") == 0)
		emit_event(run, "ExecutionSucceeded", NULL, details_with("output", output));
	else if (strcmp(status, "TIMED_OUT") == 0)
		emit_event(run, "ExecutionTimedOut", NULL, error_details(error, cause));
	else
		emit_event(run, "ExecutionFailed", NULL, error_details(error, cause));
	OfNotifyFinishedAtCommit();
	return STEP_FINISHED;
}

/* Fail the execution with an ASL error */
static StepResult
fail_execution(ExecRun *run, const char *error, const char *cause)
{
	OfRaiseEvalInterrupt(error);
	return finish_execution(run, "FAILED", NULL, error, cause && cause[0] ? cause : NULL);
}

/* Does the binding name a function a Task can call (now)? */
static bool
task_function_bound(const OfBinding *binding)
{
	return binding != NULL && binding->nargs > 0 && !binding->retset;
}

/*
 * A Task whose function is gone (dropped, or not restored with the rest of
 * a dump): fail the execution with orderflow.TaskFunctionMissing, which no
 * Retry or Catch sees, since only creating the function helps.  The worker
 * logs it once per execution (never a loop: the execution is over).
 */
static StepResult
fail_function_missing(ExecRun *run, OfState *state, const OfBinding *binding)
{
	const char *signature = binding ? binding->signature : "(unbound)";

	ereport(LOG,
			(errmsg("orderflow: execution %s failed: the function %s of Resource \"%s\" does not exist",
					OfUuidText(&run->id), signature, state->resource),
			 errhint("Create the function, then orderflow.redrive_execution() the execution.")));
	return fail_execution(run, OF_ERR_FUNCTION_MISSING,
						  psprintf("the function %s bound to Resource \"%s\" does not exist "
								   "(dropped, or missing from a restored dump); create it and "
								   "redrive the execution", signature, state->resource));
}

/* Leave the current state with `output`: go to next_index, or end */
static StepResult
transition(ExecRun *run, int next_index, json_object *output)
{
	OfState    *state = current_state(run);
	bool		too_large;
	Jsonb	   *jb = to_jsonb_checked(output, &too_large);

	if (too_large)
		return fail_execution(run, "States.DataLimitExceeded",
							  psprintf("The state output of %s is %u bytes, over orderflow.max_payload_size (%d bytes)",
									   state->name, VARSIZE(jb), of_max_payload_bytes));
	emit_event_with_jsonb(run, psprintf("%sStateExited", event_prefix(state)), state->name,
						  "output", jb);
	run->transitions++;
	if (next_index < 0)
		return finish_execution(run, "SUCCEEDED", output, NULL, NULL);
	run->state_index = next_index;
	run->state_input = output;
	run->phase = NULL;
	run->retry_count = 0;
	run->n_attempts = 0;
	return STEP_CONTINUE;
}

/* Next index of a state that transitions normally (-1 = End) */
static int
next_of(OfState *state)
{
	return state->end ? -1 : state->next_index;
}

/* Park the execution until `due` (capped by the execution's timeout) */
static StepResult
park_until(ExecRun *run, TimestampTz due, const char *phase)
{
	run->phase = phase;
	run->has_due = true;
	run->due_at = (run->has_timeout && run->timeout_at < due) ? run->timeout_at : due;
	return STEP_PARKED;
}

/* ---------------------------------------------------------------------
 * Retry and Catch
 * --------------------------------------------------------------------- */

/*
 * Does an ErrorEquals list match?  States.ALL matches everything and
 * States.TaskFailed everything but States.Timeout; States.Runtime is
 * never matched by a wildcard (it cannot be retried or caught at all:
 * the caller never gets here with it).
 */
static bool
error_equals_matches(const char **names, int n, const char *error)
{
	for (int i = 0; i < n; i++)
	{
		if (strcmp(names[i], error) == 0)
			return true;
		if (strcmp(names[i], OF_ERR_ALL) == 0)
			return true;
		if (strcmp(names[i], OF_ERR_TASK_FAILED) == 0 &&
			strcmp(error, OF_ERR_TIMEOUT) != 0)
			return true;
	}
	return false;
}

/* Seconds to wait before retry number `attempt` (0-based) of r */
static double
retry_delay_seconds(const OfRetrier *r, int attempt)
{
	double		delay = r->interval_seconds * pow(r->backoff_rate, attempt);

	if (r->max_delay_seconds > 0 && delay > r->max_delay_seconds)
		delay = r->max_delay_seconds;
	if (delay > 365.0 * 86400)
		delay = 365.0 * 86400;
	if (r->jitter_full)
		delay = pg_prng_double(&pg_global_prng_state) * delay;
	return delay;
}

/* Make sure the per-retrier attempt counters exist */
static void
ensure_attempts(ExecRun *run, OfState *state)
{
	if (run->n_attempts < state->n_retriers)
	{
		int		   *counts = palloc0(sizeof(int) * Max(state->n_retriers, 1));

		for (int i = 0; i < run->n_attempts; i++)
			counts[i] = run->attempts[i];
		run->attempts = counts;
		run->n_attempts = state->n_retriers;
	}
}

/* Try the state's retriers: returns true if a retry was scheduled */
static bool
try_retry(ExecRun *run, OfState *state, const char *error, const char *cause)
{
	ensure_attempts(run, state);
	for (int i = 0; i < state->n_retriers; i++)
	{
		const OfRetrier *r = &state->retriers[i];
		double		delay;
		json_object *d;

		if (!error_equals_matches(r->error_equals, r->n_error_equals, error))
			continue;
		/* only the first matching retrier counts, even when exhausted */
		if (run->attempts[i] >= r->max_attempts)
			return false;
		delay = retry_delay_seconds(r, run->attempts[i]);
		run->attempts[i]++;
		run->retry_count++;
		d = error_details(error, cause);
		json_object_object_add(d, "retryAttempt", json_object_new_int(run->retry_count));
		json_object_object_add(d, "retryDelaySeconds", of_json_new_number(delay));
		emit_event(run, "RetryScheduled", state->name, d);
		park_until(run, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													(int64) (delay * 1000.0)),
				   PHASE_RETRY);
		return true;
	}
	return false;
}

/* Try the state's catchers: returns the step result, or -1 if none matched */
static int
try_catch(ExecRun *run, OfState *state, const char *error, const char *cause)
{
	for (int i = 0; i < state->n_catchers; i++)
	{
		const OfCatcher *c = &state->catchers[i];
		json_object *errobj;
		json_object *output;
		OfError		err;

		if (!error_equals_matches(c->error_equals, c->n_error_equals, error))
			continue;
		errobj = track(run, json_object_new_object());
		json_object_object_add(errobj, "Error", json_object_new_string(error));
		if (cause != NULL)
			json_object_object_add(errobj, "Cause", json_object_new_string(cause));
		if (!apply_assign(run, c->assign, errobj, &err) ||
			!apply_result_path(run, &c->result_path, run->state_input, errobj, &output, &err))
			return fail_execution(run, err.error, err.cause);
		emit_event(run, "CatchMatched", state->name, error_details(error, cause));
		return transition(run, c->next_index, output);
	}
	return -1;
}

/*
 * A state failed with `error`: retry it, catch it, or fail the execution.
 * States.Runtime is neither retried nor caught, as on AWS.
 */
static StepResult
handle_state_error(ExecRun *run, OfState *state, const char *error, const char *cause)
{
	int			caught;

	OfRaiseEvalInterrupt(error);
	if (cause != NULL && cause[0] == '\0')
		cause = NULL;
	if (strcmp(error, OF_ERR_RUNTIME) == 0)
		return fail_execution(run, error, cause);
	if (try_retry(run, state, error, cause))
		return STEP_PARKED;
	caught = try_catch(run, state, error, cause);
	if (caught >= 0)
		return (StepResult) caught;
	return fail_execution(run, error, cause);
}

/*
 * The tail every state with a result shares (Task, the parked task of a
 * callback or activity, Parallel, Map): ResultSelector, Assign, ResultPath
 * over raw (the state's input), OutputPath, then on to the next state; a
 * failure on the way is the state's error.
 */
static StepResult
finish_with_result(ExecRun *run, OfState *state, json_object *raw, json_object *result)
{
	json_object *output;
	OfError		err;

	if (!apply_template(run, state->result_selector, result, &result, &err) ||
		!apply_assign(run, state->assign_template, result, &err) ||
		!apply_result_path(run, &state->result_path, raw, result, &output, &err) ||
		!apply_filter_path(run, &state->output_path, "OutputPath", output, &output, &err))
		return handle_state_error(run, state, err.error, err.cause);
	return transition(run, next_of(state), output);
}

/* ---------------------------------------------------------------------
 * State types
 * --------------------------------------------------------------------- */

/* Pass: Result or the (filtered) input, through ResultPath and OutputPath */
static StepResult
run_pass(ExecRun *run, OfState *state)
{
	json_object *raw = run->state_input;
	json_object *effective;
	json_object *output;
	OfError		err;

	if (!apply_filter_path(run, &state->input_path, "InputPath", raw, &effective, &err) ||
		!apply_template(run, state->parameters, effective, &effective, &err))
		return handle_state_error(run, state, err.error, err.cause);
	if (state->has_result)
		effective = state->result;
	if (!apply_assign(run, state->assign_template, effective, &err) ||
		!apply_result_path(run, &state->result_path, raw, effective, &output, &err) ||
		!apply_filter_path(run, &state->output_path, "OutputPath", output, &output, &err))
		return handle_state_error(run, state, err.error, err.cause);
	return transition(run, next_of(state), output);
}

/*
 * A positive number of seconds given literally or by a path into the raw
 * input (TimeoutSeconds/TimeoutSecondsPath, HeartbeatSeconds/...Path).
 */
static bool
seconds_from(ExecRun *run, int64 literal, const OfPath *path, const char *field,
			 json_object *raw, int64 *secs, OfError *err)
{
	OfEvalEnv	env;
	json_object *v;
	bool		found;

	*secs = literal;
	if (path == NULL)
		return true;
	init_env(&env, run, raw);
	if (!of_path_eval(path, &env, &v, &found, err))
		return false;
	track(run, v);
	if (!found || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
		return of_fail(err, OF_ERR_RUNTIME, "%s '%s' must select a positive integer",
					   field, of_path_text(path));
	*secs = Min(json_object_get_int64(v), (int64) INT_MAX / 1000);
	return true;
}

/* TimeoutSeconds or TimeoutSecondsPath of a Task, in milliseconds */
static bool
task_timeout_ms(ExecRun *run, OfState *state, json_object *raw, int64 *ms, OfError *err)
{
	int64		secs;

	if (!seconds_from(run, state->timeout_seconds, state->timeout_seconds_path,
					  "TimeoutSecondsPath", raw, &secs, err))
		return false;
	*ms = secs * 1000;
	return true;
}

/*
 * A task may run at most until the execution's own deadline (the state
 * machine's TimeoutSeconds): its timeout is capped by the time left.
 */
static int64
bounded_timeout(ExecRun *run, int64 timeout_ms)
{
	int64		left_ms;

	if (!run->has_timeout)
		return timeout_ms;
	left_ms = Max((run->timeout_at - GetCurrentTimestamp() + 999) / 1000, 1);
	return (timeout_ms > 0) ? Min(timeout_ms, left_ms) : left_ms;
}

/*
 * Has the execution's own deadline passed?  (With a few milliseconds of
 * slack: a task cancelled at the deadline may be stopped a hair early,
 * since timers count whole milliseconds.)
 */
static bool
execution_deadline_passed(ExecRun *run)
{
	return run->has_timeout && GetCurrentTimestamp() >= run->timeout_at - 5000;
}

/* End the execution TIMED_OUT (its TimeoutSeconds passed) */
static StepResult
time_out_execution(ExecRun *run)
{
	return finish_execution(run, "TIMED_OUT", NULL, OF_ERR_TIMEOUT,
							"The execution ran longer than the state machine's TimeoutSeconds");
}

/*
 * Deadlocks, serialization failures and lock timeouts in a task are most
 * often an artifact of batching: the batch's transaction still holds the
 * row locks earlier steps took, and another worker's batch holds others.
 * They are not the task's failure, so they never reach Retry/Catch: the
 * step is rolled back (its subtransaction already is), scheduled again a
 * moment later, and the batch commits as soon as it can to let the other
 * side go on.  Each such retry is recorded (TaskConflict), so a task that
 * conflicts forever ends at orderflow.max_history_events.
 */
static bool
is_lock_conflict(const char *error)
{
	return strcmp(error, "Postgres.DeadlockDetected") == 0 ||
		strcmp(error, "Postgres.SerializationFailure") == 0 ||
		strcmp(error, "Postgres.LockNotAvailable") == 0;
}

/* Schedule the step again shortly, without counting an ASL retry */
static StepResult
retry_after_conflict(ExecRun *run, OfState *state, OfTaskOutcome *outcome)
{
	double		delay_ms = 10 + pg_prng_double(&pg_global_prng_state) * 90;

	emit_event(run, "TaskConflict", state->name, error_details(outcome->error, outcome->cause));
	mark_batch_conflict(run);
	return park_until(run, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) delay_ms),
					  PHASE_RETRY);
}

/* The context argument for two-argument task functions */
static Jsonb *
context_for_task(ExecRun *run)
{
	if (run->context == NULL)
		build_context(run);
	return OfJsoncToJsonb(run->context);
}

/* ---------------------------------------------------------------------
 * The Lambda integration (arn:aws:states:::lambda:invoke; see lambda.c)
 * --------------------------------------------------------------------- */

/*
 * The function a lambda:invoke Task calls and its input (the Payload), from
 * the state's evaluated Parameters.  A static FunctionName was bound when
 * the version was created; a FunctionName.$ is resolved now, for the
 * execution's owner and only among the registrations that owner may use,
 * so an execution's input cannot reach another role's functions.  Returns
 * false with *failed set when the task cannot be invoked.
 */
static bool
lambda_prepare(ExecRun *run, OfState *state, json_object *effective, OfBinding *target,
			   json_object **payload, const char **version, StepResult *failed)
{
	json_object *v;
	const char *text;
	const char *qualifier = NULL;
	const char *problem;
	OfLambdaFunction f;

	if (!json_object_object_get_ex(effective, "FunctionName", &v) ||
		!json_object_is_type(v, json_type_string))
	{
		*failed = handle_state_error(run, state, OF_ERR_LAMBDA_INVALID,
									 "FunctionName.$ must select a string, the function to invoke");
		return false;
	}
	text = json_object_get_string(v);
	if (json_object_object_get_ex(effective, "Qualifier", &v) &&
		json_object_is_type(v, json_type_string))
		qualifier = json_object_get_string(v);
	problem = OfLambdaParseFunctionName(text, qualifier, &f);
	if (problem != NULL)
	{
		*failed = handle_state_error(run, state, OF_ERR_LAMBDA_INVALID,
									 psprintf("FunctionName \"%.256s\"%s: %s", text,
											  strlen(text) > 256 ? "..." : "", problem));
		return false;
	}
	if (version != NULL)
		*version = OfLambdaExecutedVersion(&f);
	memset(target, 0, sizeof(*target));
	if (json_object_object_get_ex(state->parameters_src, "FunctionName", NULL))
	{
		const OfBinding *b = OfFindBinding(run->def, OfLambdaBindingKey(text, qualifier));

		if (!task_function_bound(b))
		{
			*failed = fail_function_missing(run, state, b);
			return false;
		}
		*target = *b;
	}
	else
	{
		target->resource = text;
		target->fn = OfFindLambdaFunction(run->owner, text, &f, &target->nargs, &problem);
		if (!OidIsValid(target->fn))
		{
			*failed = handle_state_error(run, state, OF_ERR_LAMBDA_NOT_FOUND,
										 psprintf("Function not found: %.256s%s (Service: AWSLambda; Status Code: 404; "
												  "Error Code: ResourceNotFoundException; Request ID: %s)",
												  f.unqualified ? f.unqualified : f.name,
												  problem ? psprintf("; %s", problem) : "",
												  OfLambdaRequestId()));
			return false;
		}
		target->signature = OfFunctionSignature(target->fn);
	}
	if (!json_object_object_get_ex(effective, "Payload", payload))
		*payload = track(run, json_object_new_object());
	return true;
}

/*
 * A lambda:invoke task failed: give the error the name and cause AWS
 * would.  The function's own error keeps its name, with the cause as a
 * Lambda error payload; what the engine suffered (SQLSTATE classes 53,
 * 58, XX: resources, system, internal) is Lambda.ServiceException, which
 * Retry can match as AWS recommends.  Timeouts and denied EXECUTE stay
 * as they are.
 */
static void
lambda_outcome(OfTaskOutcome *outcome)
{
	int			category = ERRCODE_TO_CATEGORY(outcome->sqlerrcode);

	if (outcome->timeout != OF_TIMEOUT_NONE || outcome->sqlerrcode == 0 ||
		strcmp(outcome->error, OF_ERR_PERMISSIONS) == 0)
		return;
	if (category == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_IO_ERROR) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR))
	{
		outcome->cause = psprintf("%s: %s (Service: AWSLambda; Status Code: 500; Error Code: ServiceException; "
								  "Request ID: %s)", outcome->error,
								  outcome->cause ? outcome->cause : "", OfLambdaRequestId());
		outcome->error = pstrdup(OF_ERR_LAMBDA_SERVICE);
		return;
	}
	outcome->cause = OfLambdaErrorCause(outcome->error, outcome->cause, OfLambdaRequestId());
}

/*
 * Call a task's function with the execution's limits.  Returns true with
 * the outcome when it succeeded; otherwise *failed is what the step does
 * next: the execution timed out, a lock conflict is retried, or the task's
 * error goes to Retry/Catch (with TaskFailed or TaskTimedOut recorded).
 */
static bool
call_task(ExecRun *run, OfState *state, const OfBinding *binding, Jsonb *task_input,
		  int64 timeout_ms, OfTaskOutcome *outcome, StepResult *failed)
{
	/* a task without TimeoutSeconds gets orderflow.default_task_timeout */
	bool		by_default = (timeout_ms <= 0 && of_default_task_timeout_ms > 0);

	OfCallTask(&run->id, binding->fn, binding->nargs, run->owner, task_input,
			   binding->nargs == 2 ? context_for_task(run) : NULL,
			   bounded_timeout(run, by_default ? of_default_task_timeout_ms : timeout_ms),
			   batch_lock_timeout(run), outcome);
	if (outcome->advisory_locks_released > 0)
		emit_event(run, "AdvisoryLocksReleased", state->name,
				   details_with("count", json_object_new_int(outcome->advisory_locks_released)));
	if (outcome->ok)
		return true;
	if (by_default && (outcome->timeout == OF_TIMEOUT_CANCELLED ||
					   outcome->timeout == OF_TIMEOUT_CANCEL_IGNORED))
		outcome->cause = psprintf("the task did not finish within orderflow.default_task_timeout (%d ms)%s",
								  of_default_task_timeout_ms,
								  outcome->timeout == OF_TIMEOUT_CANCEL_IGNORED ? OF_CANCEL_IGNORED_NOTE : "");
	if (OfIsLambdaInvoke(state->resource) && !is_lock_conflict(outcome->error))
		lambda_outcome(outcome);
	if (execution_deadline_passed(run))
		*failed = time_out_execution(run);
	else if (is_lock_conflict(outcome->error))
		*failed = retry_after_conflict(run, state, outcome);
	else
	{
		emit_event(run, strcmp(outcome->error, OF_ERR_TIMEOUT) == 0 ? "TaskTimedOut" : "TaskFailed",
				   state->name, error_details(outcome->error, outcome->cause));
		*failed = handle_state_error(run, state, outcome->error, outcome->cause);
	}
	return false;
}

/* ---------------------------------------------------------------------
 * Parked tasks: .waitForTaskToken callbacks and activities
 *
 * The task is scheduled (callback: the function is called with
 * $$.Task.Token; activity: a row is queued for get_activity_task), a
 * task_tokens row describes it, and the execution parks with phase
 * 'callback', due at the earlier of its HeartbeatSeconds and
 * TimeoutSeconds deadlines (or not at all).  send_task_* records the
 * outcome in that row and makes the execution due; resume_parked_task
 * then processes it like a task result.  See callback.c.
 * --------------------------------------------------------------------- */

/* While set, OfRunDue claims only this execution tree (OfRunExecutionTree) */
static pg_uuid_t *sync_root = NULL;

/* Claim the due rows of sync_root's tree: args are OFQ_CLAIM_DUE's */
static void
claim_tree(Datum *args)
{
	Datum		v[3];

	v[0] = UUIDPGetDatum(sync_root);
	v[1] = args[0];
	v[2] = args[1];
	OfExecQuery(OFQ_CLAIM_TREE, v, NULL, false, 0);
}

/* HeartbeatSeconds or HeartbeatSecondsPath of a Task (0 = none) */
static bool
task_heartbeat_seconds(ExecRun *run, OfState *state, json_object *raw, int64 *secs, OfError *err)
{
	return seconds_from(run, state->heartbeat_seconds, state->heartbeat_seconds_path,
						"HeartbeatSecondsPath", raw, secs, err);
}

/* What history shows instead of a task token (README, "Callbacks") */
#define OF_TOKEN_PLACEHOLDER "<task token>"

/* A copy of text with every occurrence of token replaced by the placeholder */
static json_object *
redacted_string(const char *text, const char *token)
{
	StringInfoData buf;
	const char *p = text;
	const char *hit;
	size_t		len = strlen(token);
	json_object *out;

	initStringInfo(&buf);
	while ((hit = strstr(p, token)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, OF_TOKEN_PLACEHOLDER);
		p = hit + len;
	}
	appendStringInfoString(&buf, p);
	out = json_object_new_string_len(buf.data, buf.len);
	pfree(buf.data);
	return out;
}

/* A copy of v (new reference) in which no string contains token */
static json_object *
redact_token(json_object *v, const char *token)
{
	json_object *out;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	switch (json_object_get_type(v))
	{
		case json_type_string:
			if (strstr(json_object_get_string(v), token) == NULL)
				return json_object_get(v);
			return redacted_string(json_object_get_string(v), token);
		case json_type_array:
			out = json_object_new_array();
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_array_add(out, redact_token(json_object_array_get_idx(v, i), token));
			return out;
		case json_type_object:
			out = json_object_new_object();
			json_object_object_foreach(v, key, child)
			{
				json_object *k = strstr(key, token) ? redacted_string(key, token) : NULL;

				json_object_object_add(out, k ? json_object_get_string(k) : key,
									   redact_token(child, token));
				json_object_put(k);
			}
			return out;
		default:
			return json_object_get(v);
	}
}

/*
 * The value to record in history for what a callback task was given or
 * returned: a task token is a bearer credential (whoever holds it may
 * complete the task), and history is readable by more roles than the
 * execution's owner, so it is never written there.
 */
static json_object *
without_token(ExecRun *run, json_object *v, const char *token)
{
	char	   *text;
	bool		found;

	if (v == NULL || token == NULL)
		return v;
	text = of_json_to_string(v);
	found = text != NULL && strstr(text, token) != NULL;
	free(text);
	return found ? track(run, redact_token(v, token)) : v;
}

/* Park for a task: until its deadline, or until send_task_* wakes it */
static StepResult
park_for_task(ExecRun *run, bool has_deadline, TimestampTz deadline)
{
	if (has_deadline)
		return park_until(run, deadline, PHASE_CALLBACK);
	run->phase = PHASE_CALLBACK;
	run->has_due = run->has_timeout;
	run->due_at = run->timeout_at;
	return STEP_PARKED;
}

/* Start a parked task: call the callback function, or queue the activity task */
static StepResult
schedule_parked_task(ExecRun *run, OfState *state, OfResourceKind kind, const char *activity)
{
	json_object *raw = run->state_input;
	json_object *effective;
	const OfBinding *binding = NULL;
	OfBinding	lambda_fn;
	json_object *task_arg;
	StepResult	not_invoked;
	OfError		err;
	int64		timeout_ms;
	int64		hb_secs;
	char	   *token = NULL;
	bytea	   *hash = NULL;
	Jsonb	   *task_input;
	bool		too_large;
	json_object *d;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline = 0;
	bool		has_deadline = false;
	int			task_id;
	Datum		v[12];
	char		n[12];

	if (kind == OF_RESOURCE_CALLBACK)
	{
		json_object *task = json_object_new_object();

		/* $$.Task.Token, for Parameters and the function's context */
		token = OfNewTaskToken(&run->id, &hash);
		if (run->context == NULL)
			build_context(run);
		json_object_object_add(task, "Token", json_object_new_string(token));
		json_object_object_add(run->context, "Task", task);
	}
	if (!apply_filter_path(run, &state->input_path, "InputPath", raw, &effective, &err) ||
		!apply_template(run, state->parameters, effective, &effective, &err) ||
		!task_timeout_ms(run, state, raw, &timeout_ms, &err) ||
		!task_heartbeat_seconds(run, state, raw, &hb_secs, &err))
		return handle_state_error(run, state, err.error, err.cause);
	task_arg = effective;
	if (OfIsLambdaInvoke(state->resource))
	{
		/* lambda:invoke.waitForTaskToken: the Payload carries $$.Task.Token */
		if (!lambda_prepare(run, state, effective, &lambda_fn, &task_arg, NULL, &not_invoked))
			return not_invoked;
		binding = &lambda_fn;
	}
	else if (kind == OF_RESOURCE_CALLBACK)
	{
		binding = OfFindBinding(run->def, state->resource);
		if (!task_function_bound(binding))
			return fail_function_missing(run, state, binding);
	}
	task_input = to_jsonb_checked(task_arg, &too_large);
	if (too_large)
		return handle_state_error(run, state, "States.DataLimitExceeded",
								  psprintf("the task input is %u bytes, over orderflow.max_payload_size",
										   VARSIZE(task_input)));
	task_id = run->next_event_id;
	d = details_with(kind == OF_RESOURCE_ACTIVITY ? "input" : "parameters",
					 without_token(run, effective, token));
	json_object_object_add(d, "resource", json_object_new_string(state->resource));
	if (timeout_ms > 0)
		json_object_object_add(d, "timeoutInSeconds", json_object_new_int64(timeout_ms / 1000));
	if (hb_secs > 0)
		json_object_object_add(d, "heartbeatInSeconds", json_object_new_int64(hb_secs));
	emit_event(run, kind == OF_RESOURCE_ACTIVITY ? "ActivityScheduled" : "TaskScheduled",
			   state->name, d);

	if (kind == OF_RESOURCE_CALLBACK)
	{
		OfTaskOutcome outcome;
		json_object *result;

		StepResult	failed;

		if (!call_task(run, state, binding, task_input, timeout_ms, &outcome, &failed))
			return failed;
		/* the function's own result is only recorded: the token's result counts */
		if (outcome.output != NULL && VARSIZE(outcome.output) > (Size) of_max_payload_bytes)
			return handle_state_error(run, state, OF_ERR_DATA_LIMIT,
									  psprintf("the task result is %u bytes, over orderflow.max_payload_size",
											   VARSIZE(outcome.output)));
		result = outcome.output ? track(run, OfJsonbToJsonc(outcome.output)) : NULL;
		emit_event(run, "TaskSubmitted", state->name,
				   details_with("output", without_token(run, result, token)));
	}

	/* at most one open task per execution row */
	v[0] = UUIDPGetDatum(&run->id);
	v[1] = TimestampTzGetDatum(now);
	OfExecQuery(OFQ_TOKEN_CANCEL_OPEN, v, NULL, false, 0);

	memset(n, ' ', sizeof(n));
	v[0] = UUIDPGetDatum(&run->id);
	v[1] = Int32GetDatum(task_id);
	v[2] = hash ? PointerGetDatum(hash) : (n[2] = 'n', (Datum) 0);
	v[3] = CStringGetTextDatum(kind == OF_RESOURCE_ACTIVITY ? "scheduled" : "started");
	v[4] = CStringGetTextDatum(state->name);
	v[5] = ObjectIdGetDatum(run->owner);
	v[6] = activity ? CStringGetTextDatum(activity) : (n[6] = 'n', (Datum) 0);
	v[7] = kind == OF_RESOURCE_ACTIVITY ? JsonbPGetDatum(task_input) : (n[7] = 'n', (Datum) 0);
	v[8] = hb_secs > 0 ? Int32GetDatum((int32) hb_secs) : (n[8] = 'n', (Datum) 0);
	if (timeout_ms > 0)
	{
		deadline = TimestampTzPlusMilliseconds(now, timeout_ms);
		has_deadline = true;
		v[9] = TimestampTzGetDatum(deadline);
	}
	else
		n[9] = 'n', v[9] = (Datum) 0;
	v[10] = TimestampTzGetDatum(now);
	v[11] = kind == OF_RESOURCE_CALLBACK ? TimestampTzGetDatum(now) : (n[11] = 'n', (Datum) 0);
	OfExecQuery(OFQ_TOKEN_INSERT, v, n, false, 0);

	if (kind == OF_RESOURCE_ACTIVITY)
		OfNotifyActivityAtCommit();
	else if (hb_secs > 0)
	{
		TimestampTz hb_deadline = TimestampTzPlusMilliseconds(now, hb_secs * 1000);

		if (!has_deadline || hb_deadline < deadline)
			deadline = hb_deadline;
		has_deadline = true;
	}
	return park_for_task(run, has_deadline, deadline);
}

/* A parked task is due: process its outcome, time it out, or park again */
static StepResult
resume_parked_task(ExecRun *run, OfState *state)
{
	Datum		v[4];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			task_id;
	char	   *status;
	bool		is_activity;
	const char *prefix;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline = 0;
	bool		has_deadline = false;
	const char *timeout_error = NULL;
	Datum		d;

	v[0] = UUIDPGetDatum(&run->id);
	OfExecQuery(OFQ_TOKEN_OPEN, v, NULL, false, 1);
	if (SPI_processed == 0)
		return fail_execution(run, OF_ERR_RUNTIME,
							  psprintf("the parked task of state \"%s\" is gone", state->name));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	task_id = DatumGetInt32(SPI_getbinval(tup, desc, Anum_token_open_task_id, &isnull));
	status = TextDatumGetCString(SPI_getbinval(tup, desc, Anum_token_open_status, &isnull));
	(void) SPI_getbinval(tup, desc, Anum_token_open_activity, &isnull);
	is_activity = !isnull;
	prefix = is_activity ? "Activity" : "Task";

	if (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0)
	{
		char	   *worker = SPI_getvalue(tup, desc, Anum_token_open_worker_name);
		char	   *error = SPI_getvalue(tup, desc, Anum_token_open_error);
		char	   *cause = SPI_getvalue(tup, desc, Anum_token_open_cause);
		Jsonb	   *output = NULL;

		d = SPI_getbinval(tup, desc, Anum_token_open_output, &isnull);
		if (!isnull)
			output = DatumGetJsonbPCopy(d);
		v[1] = Int32GetDatum(task_id);
		v[2] = CStringGetTextDatum("consumed");
		v[3] = TimestampTzGetDatum(now);
		OfExecQuery(OFQ_TOKEN_SET_STATUS, v, NULL, false, 0);
		if (is_activity)
		{
			json_object *sd = json_object_new_object();

			if (worker != NULL)
				json_object_object_add(sd, "workerName", json_object_new_string(worker));
			emit_event(run, "ActivityStarted", state->name, sd);
		}
		if (strcmp(status, "succeeded") == 0)
		{
			json_object *result = output ? track(run, OfJsonbToJsonc(output)) : NULL;

			emit_event(run, psprintf("%sSucceeded", prefix), state->name,
					   details_with("output", result));
			return finish_with_result(run, state, run->state_input, result);
		}
		if (error == NULL)
			error = pstrdup(OF_ERR_TASK_FAILED);
		emit_event(run, psprintf("%sFailed", prefix), state->name, error_details(error, cause));
		return handle_state_error(run, state, error, cause);
	}

	/* still waiting: has a deadline passed? */
	d = SPI_getbinval(tup, desc, Anum_token_open_timeout_at, &isnull);
	if (!isnull)
	{
		deadline = DatumGetTimestampTz(d);
		has_deadline = true;
		if (now >= deadline)
			timeout_error = OF_ERR_TIMEOUT;
	}
	d = SPI_getbinval(tup, desc, Anum_token_open_heartbeat_seconds, &isnull);
	if (!isnull && timeout_error == NULL && strcmp(status, "started") == 0)
	{
		bool		beat_null;
		TimestampTz beat = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_token_open_last_heartbeat, &beat_null));
		TimestampTz hb_deadline;

		if (beat_null)
			beat = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_token_open_created_at, &beat_null));
		hb_deadline = TimestampTzPlusMilliseconds(beat, (int64) DatumGetInt32(d) * 1000);
		if (now >= hb_deadline)
			timeout_error = OF_ERR_HEARTBEAT;
		if (!has_deadline || hb_deadline < deadline)
			deadline = hb_deadline;
		has_deadline = true;
	}
	if (timeout_error != NULL)
	{
		const char *cause = strcmp(timeout_error, OF_ERR_TIMEOUT) == 0
			? "the task was not completed within its TimeoutSeconds"
			: "no heartbeat arrived within the task's HeartbeatSeconds";

		if (is_activity && strcmp(status, "started") == 0)
		{
			json_object *sd = json_object_new_object();
			char	   *worker = SPI_getvalue(tup, desc, Anum_token_open_worker_name);

			if (worker != NULL)
				json_object_object_add(sd, "workerName", json_object_new_string(worker));
			emit_event(run, "ActivityStarted", state->name, sd);
		}
		v[1] = Int32GetDatum(task_id);
		v[2] = CStringGetTextDatum("timed_out");
		v[3] = TimestampTzGetDatum(now);
		OfExecQuery(OFQ_TOKEN_SET_STATUS, v, NULL, false, 0);
		emit_event(run, psprintf("%sTimedOut", prefix), state->name,
				   error_details(timeout_error, cause));
		return handle_state_error(run, state, timeout_error, cause);
	}
	return park_for_task(run, has_deadline, deadline);
}

/* A Task whose Resource is a callback or an activity */
static StepResult
run_parked_task(ExecRun *run, OfState *state, OfResourceKind kind, const char *name)
{
	if (run->phase != NULL && strcmp(run->phase, PHASE_CALLBACK) == 0)
		return resume_parked_task(run, state);
	return schedule_parked_task(run, state, kind, kind == OF_RESOURCE_ACTIVITY ? name : NULL);
}

/* Task: call the bound SQL function and process its result */
static StepResult
run_task(ExecRun *run, OfState *state)
{
	json_object *raw = run->state_input;
	json_object *effective;
	json_object *result;
	const OfBinding *binding = OfFindBinding(run->def, state->resource);
	OfBinding	lambda_fn;
	json_object *task_arg;
	const char *lambda_version = NULL;
	StepResult	failed;
	OfTaskOutcome outcome;
	OfError		err;
	int64		timeout_ms;
	bool		too_large;
	Jsonb	   *task_input;
	json_object *d;
	char	   *parked_name;
	OfResourceKind kind = OfClassifyResource(state->resource, &parked_name);

	if (kind != OF_RESOURCE_FUNCTION)
		return run_parked_task(run, state, kind, parked_name);
	if (!apply_filter_path(run, &state->input_path, "InputPath", raw, &effective, &err) ||
		!apply_template(run, state->parameters, effective, &effective, &err) ||
		!task_timeout_ms(run, state, raw, &timeout_ms, &err))
		return handle_state_error(run, state, err.error, err.cause);
	task_arg = effective;
	if (OfIsLambdaInvoke(state->resource))
	{
		/* the function gets the Payload; the result is Lambda's response */
		if (!lambda_prepare(run, state, effective, &lambda_fn, &task_arg, &lambda_version, &failed))
			return failed;
		binding = &lambda_fn;
	}
	else if (!task_function_bound(binding))
		return fail_function_missing(run, state, binding);
	task_input = to_jsonb_checked(task_arg, &too_large);
	if (too_large)
		return handle_state_error(run, state, "States.DataLimitExceeded",
								  psprintf("the task input is %u bytes, over orderflow.max_payload_size",
										   VARSIZE(task_input)));
	d = details_with("parameters", effective);
	json_object_object_add(d, "resource", json_object_new_string(state->resource));
	if (timeout_ms > 0)
		json_object_object_add(d, "timeoutInSeconds", json_object_new_int64(timeout_ms / 1000));
	emit_event(run, "TaskScheduled", state->name, d);

	if (!call_task(run, state, binding, task_input, timeout_ms, &outcome, &failed))
		return failed;
	if (outcome.output != NULL && VARSIZE(outcome.output) > (Size) of_max_payload_bytes)
		return handle_state_error(run, state, "States.DataLimitExceeded",
								  psprintf("the task result is %u bytes, over orderflow.max_payload_size",
										   VARSIZE(outcome.output)));
	result = outcome.output ? track(run, OfJsonbToJsonc(outcome.output)) : NULL;
	if (lambda_version != NULL)
	{
		result = track(run, OfLambdaResult(result, lambda_version, OfLambdaRequestId()));
		emit_event(run, "TaskSucceeded", state->name, details_with("output", result));
	}
	else
		emit_event_with_jsonb(run, "TaskSucceeded", state->name, "output", outcome.output);
	return finish_with_result(run, state, raw, result);
}

/* Choice: the first matching rule's Next, else Default */
static StepResult
run_choice(ExecRun *run, OfState *state)
{
	json_object *effective;
	json_object *output;
	OfEvalEnv	env;
	OfError		err;
	int			next = state->default_index;
	bool		matched = false;

	if (!apply_filter_path(run, &state->input_path, "InputPath", run->state_input, &effective, &err))
		return handle_state_error(run, state, err.error, err.cause);
	init_env(&env, run, effective);
	for (int i = 0; i < state->n_choices && !matched; i++)
	{
		env.context = run->context;
		if (!of_choice_eval(state->choices[i], &env, &matched, &err))
			return handle_state_error(run, state, err.error, err.cause);
		if (matched)
		{
			next = state->choices[i]->next_index;
			if (!apply_assign(run, state->choices[i]->assign, effective, &err))
				return handle_state_error(run, state, err.error, err.cause);
		}
	}
	if (!matched && next < 0)
		return handle_state_error(run, state, OF_ERR_NO_CHOICE,
								  psprintf("No Choice rule matched and there is no Default in state '%s'",
										   state->name));
	if (!apply_assign(run, state->assign_template, effective, &err) ||
		!apply_filter_path(run, &state->output_path, "OutputPath", effective, &output, &err))
		return handle_state_error(run, state, err.error, err.cause);
	return transition(run, next, output);
}

/* When a Wait state ends, from Seconds/SecondsPath/Timestamp/TimestampPath */
static bool
wait_due_time(ExecRun *run, OfState *state, json_object *effective,
			  TimestampTz *due, OfError *err)
{
	OfEvalEnv	env;
	json_object *v;
	bool		found;
	int64_t		usec;
	const OfPath *path = state->seconds_path ? state->seconds_path : state->timestamp_path;

	if (state->has_seconds)
	{
		*due = TimestampTzPlusMilliseconds(run->entered_at, state->seconds * 1000);
		return true;
	}
	if (state->timestamp != NULL)
		usec = state->timestamp_usec;
	else
	{
		init_env(&env, run, effective);
		if (!of_path_eval(path, &env, &v, &found, err))
			return false;
		track(run, v);
		if (state->seconds_path != NULL)
		{
			if (!found || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
				return of_fail(err, OF_ERR_RUNTIME,
							   "SecondsPath '%s' must select a non-negative integer",
							   of_path_text(path));
			*due = TimestampTzPlusMilliseconds(run->entered_at,
											   Min(json_object_get_int64(v), (int64) 100 * 365 * 86400) * 1000);
			return true;
		}
		if (!found || !json_object_is_type(v, json_type_string) ||
			!of_parse_timestamp(json_object_get_string(v), &usec))
			return of_fail(err, OF_ERR_RUNTIME,
						   "TimestampPath '%s' must select an RFC 3339 timestamp",
						   of_path_text(path));
	}
	/* Unix epoch microseconds to PostgreSQL's 2000-01-01 epoch */
	*due = (TimestampTz) (usec - ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
	return true;
}

/* Wait: park until the due time, then pass the input on */
static StepResult
run_wait(ExecRun *run, OfState *state)
{
	json_object *effective;
	json_object *output;
	OfError		err;
	TimestampTz due;

	if (!apply_filter_path(run, &state->input_path, "InputPath", run->state_input, &effective, &err))
		return handle_state_error(run, state, err.error, err.cause);
	if (run->phase == NULL)
	{
		if (!wait_due_time(run, state, effective, &due, &err))
			return handle_state_error(run, state, err.error, err.cause);
		if (due > GetCurrentTimestamp())
			return park_until(run, due, PHASE_WAITING);
	}
	if (!apply_assign(run, state->assign_template, effective, &err) ||
		!apply_filter_path(run, &state->output_path, "OutputPath", effective, &output, &err))
		return handle_state_error(run, state, err.error, err.cause);
	return transition(run, next_of(state), output);
}

/* Succeed: end the execution with the (filtered) input */
static StepResult
run_succeed(ExecRun *run, OfState *state)
{
	json_object *output;
	OfError		err;

	if (!apply_filter_path(run, &state->input_path, "InputPath", run->state_input, &output, &err) ||
		!apply_assign(run, state->assign_template, output, &err) ||
		!apply_filter_path(run, &state->output_path, "OutputPath", output, &output, &err))
		return handle_state_error(run, state, err.error, err.cause);
	return transition(run, -1, output);
}

/* Evaluate ErrorPath/CausePath of a Fail state to a string */
static bool
fail_field(ExecRun *run, const OfExpr *expr, const char *literal, const char **out, OfError *err)
{
	OfEvalEnv	env;
	json_object *v;

	*out = literal;
	if (expr == NULL)
		return true;
	init_env(&env, run, run->state_input);
	if (!of_expr_eval(expr, &env, &v, err))
		return false;
	track(run, v);
	if (!json_object_is_type(v, json_type_string))
		return of_fail(err, OF_ERR_RUNTIME, "ErrorPath and CausePath must select a string");
	*out = json_object_get_string(v);
	return true;
}

/* Fail: end the execution with Error and Cause */
static StepResult
run_fail(ExecRun *run, OfState *state)
{
	const char *error;
	const char *cause;
	OfError		err;

	if (!fail_field(run, state->error_path, state->error, &error, &err) ||
		!fail_field(run, state->cause_path, state->cause, &cause, &err))
		return fail_execution(run, err.error, err.cause);
	return fail_execution(run, error, cause);
}

/* ---------------------------------------------------------------------
 * Children: Parallel branches and Map iterations
 *
 * A Parallel or Map state inserts one child execution per branch or item
 * (Map: only MaxConcurrency of them due at once, the rest 'queued') and
 * parks with phase 'children'.  Each child is claimed and advanced like
 * any execution, by any worker.  When a child ends it locks its parent
 * row, starts the next queued sibling, and wakes the parent when the
 * last child is done or a failure decides the outcome; locking the parent
 * serializes the siblings' endings, so the join happens exactly once.
 * --------------------------------------------------------------------- */

/* See orderflow.h: abort the running descendants of an execution */
void
OfCancelDescendants(pg_uuid_t *parent_id, int tag, const char *error, const char *cause)
{
	Datum		v[5];
	char		n[5] = {' ', tag > 0 ? ' ' : 'n', ' ', ' ', ' '};
	bool		isnull;
	int64		count;

	v[0] = UUIDPGetDatum(parent_id);
	v[1] = Int32GetDatum(tag);
	v[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	v[3] = CStringGetTextDatum(error);
	v[4] = CStringGetTextDatum(cause);
	/* one statement aborts them and writes their ExecutionAborted events */
	OfExecQuery(OFQ_CANCEL_DESCENDANTS, v, n, false, 0);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_count_count, &isnull));
	if (tag <= 0)
		OfExecQuery(OFQ_DELETE_PARENT_COUNTERS, v, NULL, false, 0);
	if (count > 0)
		OfNotifyFinishedAtCommit();
}

/* Counts of a parent's children: still running, failed, all */
static void
child_counts(pg_uuid_t *parent_id, int tag, int64 *running, int64 *failed, int64 *total,
			 int *tol_count, double *tol_pct)
{
	Datum		args[2];
	bool		isnull;
	HeapTuple	tup;

	args[0] = UUIDPGetDatum(parent_id);
	args[1] = Int32GetDatum(tag);
	OfExecQuery(OFQ_CHILD_COUNTS, args, NULL, false, 1);
	*running = *failed = *total = 0;
	*tol_count = 0;
	*tol_pct = 0;
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	*running = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_child_counts_pending, &isnull));
	*failed = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_child_counts_failed, &isnull));
	*total = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_child_counts_total, &isnull));
	*tol_count = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_child_counts_tolerated_count, &isnull));
	*tol_pct = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_child_counts_tolerated_percentage, &isnull));
}

/*
 * Has a Map exceeded its tolerated failures (or a Parallel failed at all)?
 * The thresholds are the ones fixed when the Map started (join_counters).
 */
static bool
failures_decide(OfState *state, int64 failed, int64 total, int tol_count, double tol_pct)
{
	if (failed == 0)
		return false;
	if (state == NULL || state->type != OF_STATE_MAP)
		return true;
	if (tol_count > 0 && failed > tol_count)
		return true;
	if (tol_pct > 0 && 100.0 * failed / Max(total, 1) > tol_pct)
		return true;
	return tol_count == 0 && tol_pct == 0;
}

/* Make an execution due now */
static void
wake_execution(pg_uuid_t *id)
{
	Datum		args[2];

	args[0] = UUIDPGetDatum(id);
	args[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	OfExecQuery(OFQ_WAKE, args, NULL, false, 0);
	OfWakeWorkersAtCommit();
}

/*
 * Children's endings are not counted one by one: each batch collects them
 * per parent (JoinBatch) and applies them just before it commits, with one
 * locked read and one UPDATE of the join counters per parent.  Holding the
 * counters' row lock only for that moment is what lets many workers end
 * the iterations of one big Map at the same time; applying the parents in
 * a fixed order keeps two batches from deadlocking on them.
 */
typedef struct JoinDelta
{
	pg_uuid_t	parent_id;
	int			parent_tag;
	OfState    *parent_state;	/* the Parallel/Map state (cached definition) */
	int			ended;
	int			failed;
} JoinDelta;

typedef struct JoinBatch
{
	JoinDelta  *deltas;
	int			n;
	int			size;
	MemoryContext cxt;
	bool		conflict;		/* a task hit a lock conflict: commit soon */
	int			tasks_called;	/* task calls so far in this batch */
} JoinBatch;

/*
 * The lock_timeout of a task call: none for the batch's first task (its
 * transaction holds no locks of earlier tasks, so it cannot close a
 * deadlock cycle and may wait as long as it must); a short one for later
 * tasks, so that two batches waiting on each other's locks find out in
 * OF_CONFLICT_LOCK_TIMEOUT_MS instead of deadlock_timeout, and retry.
 */
static int
batch_lock_timeout(ExecRun *run)
{
	if (run->joins == NULL)
		return 0;
	return (run->joins->tasks_called++ > 0) ? OF_CONFLICT_LOCK_TIMEOUT_MS : 0;
}

/* Make the batch stop claiming and commit (see retry_after_conflict) */
static void
mark_batch_conflict(ExecRun *run)
{
	if (run->joins != NULL)
		run->joins->conflict = true;
}

/* A child ended: remember it for its parent's join counters */
static void
notify_parent(ExecRun *run)
{
	JoinBatch  *jb = run->joins;
	JoinDelta  *d = NULL;

	if (strcmp(run->status, "ABORTED") == 0 || jb == NULL)
		return;					/* cancelled: the parent has moved on */
	for (int i = 0; i < jb->n && d == NULL; i++)
	{
		if (memcmp(&jb->deltas[i].parent_id, &run->parent_id, sizeof(pg_uuid_t)) == 0 &&
			jb->deltas[i].parent_tag == run->parent_tag)
			d = &jb->deltas[i];
	}
	if (d == NULL)
	{
		if (jb->n == jb->size)
		{
			jb->size = Max(8, jb->size * 2);
			jb->deltas = jb->deltas
				? repalloc(jb->deltas, sizeof(JoinDelta) * jb->size)
				: MemoryContextAlloc(jb->cxt, sizeof(JoinDelta) * jb->size);
		}
		d = &jb->deltas[jb->n++];
		memset(d, 0, sizeof(*d));
		memcpy(&d->parent_id, &run->parent_id, sizeof(pg_uuid_t));
		d->parent_tag = run->parent_tag;
		d->parent_state = run->def ? find_state_anywhere(run->def->machine, run->parent_state) : NULL;
	}
	d->ended++;
	if (strcmp(run->status, "SUCCEEDED") != 0)
		d->failed++;
}

/* Order deltas by parent, so batches lock counter rows in the same order */
static int
compare_deltas(const void *a, const void *b)
{
	const JoinDelta *x = a;
	const JoinDelta *y = b;
	int			c = memcmp(&x->parent_id, &y->parent_id, sizeof(pg_uuid_t));

	return c != 0 ? c : (x->parent_tag > y->parent_tag) - (x->parent_tag < y->parent_tag);
}

/*
 * Start up to `count` queued iterations of a Map (MaxConcurrency) from
 * item `from` on; returns the item after the last one started (`from`
 * when none was).  See OFQ_RELEASE_QUEUED for why it counts children.
 */
static int
release_queued(JoinDelta *d, int from, int count)
{
	Datum		args[5];
	bool		isnull;
	Datum		last;

	args[0] = UUIDPGetDatum(&d->parent_id);
	args[1] = Int32GetDatum(d->parent_tag);
	args[2] = Int32GetDatum(from);
	args[3] = Int32GetDatum(count);
	args[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	OfExecQuery(OFQ_RELEASE_QUEUED, args, NULL, false, 0);
	last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						 Anum_release_queued_last, &isnull);
	if (isnull)
		return from;
	OfWakeWorkersAtCommit();
	return DatumGetInt32(last) + 1;
}

/* Apply one parent's delta; wake it when the join (or a failure) is due */
static void
apply_join_delta(JoinDelta *d)
{
	Datum		args[5];
	bool		isnull;
	HeapTuple	tup;
	int			pending,
				failed,
				total,
				next_queued,
				new_next,
				tol_count;
	double		tol_pct;

	args[0] = UUIDPGetDatum(&d->parent_id);
	args[1] = Int32GetDatum(d->parent_tag);
	OfExecQuery(OFQ_LOCK_COUNTERS, args, NULL, false, 1);
	if (SPI_processed == 0)
		return;					/* the parent joined or failed already */
	tup = SPI_tuptable->vals[0];
	pending = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_pending, &isnull)) - d->ended;
	failed = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_failed, &isnull)) + d->failed;
	total = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_total, &isnull));
	next_queued = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_next_queued, &isnull));
	tol_count = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_tolerated_count, &isnull));
	tol_pct = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_counters_tolerated_percentage, &isnull));
	/* one queued iteration starts per ended one; none once the Map fails */
	new_next = next_queued;
	if (next_queued < total && d->ended > 0 &&
		!failures_decide(d->parent_state, failed, total, tol_count, tol_pct))
		new_next = release_queued(d, next_queued, d->ended);
	args[2] = Int32GetDatum(pending);
	args[3] = Int32GetDatum(failed);
	args[4] = Int32GetDatum(new_next);
	OfExecQuery(OFQ_UPDATE_COUNTERS, args, NULL, false, 0);
	if (pending <= 0 || failures_decide(d->parent_state, failed, total, tol_count, tol_pct))
		wake_execution(&d->parent_id);
}

/* Apply the batch's children endings to their parents */
static void
apply_join_batch(JoinBatch *jb)
{
	if (jb->n > 1)
		qsort(jb->deltas, jb->n, sizeof(JoinDelta), compare_deltas);
	for (int i = 0; i < jb->n; i++)
		apply_join_delta(&jb->deltas[i]);
	jb->n = 0;
}

/* Create the join counters of a Parallel/Map entry */
static void
insert_counters(ExecRun *run, int total, int started, int tol_count, double tol_pct)
{
	Datum		args[6];

	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	args[2] = Int32GetDatum(total);
	args[3] = Int32GetDatum(started);
	args[4] = Int32GetDatum(tol_count);
	args[5] = Float8GetDatum(tol_pct);
	OfExecQuery(OFQ_INSERT_COUNTERS, args, NULL, false, 0);
}


/* Forget the join counters of the current entry */
static void
delete_counters(ExecRun *run)
{
	Datum		args[2];

	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	OfExecQuery(OFQ_DELETE_COUNTERS, args, NULL, false, 0);
}

/* Insert one child execution with the given input */
static void
insert_child(ExecRun *run, OfState *state, int index, Jsonb *input, bool queued)
{
	Datum		v[10];
	char		n[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	OfMachine  *m = state->type == OF_STATE_PARALLEL ? state->branches[index] : state->iterator;

	OfRandomUuid(id);
	v[0] = UUIDPGetDatum(id);
	v[1] = JsonbPGetDatum(input);
	v[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	v[3] = CStringGetTextDatum(m->start_at);
	v[4] = CStringGetTextDatum(state->name);
	v[5] = Int32GetDatum(index);
	v[6] = Int32GetDatum(run->children_tag);
	v[7] = BoolGetDatum(queued);
	v[8] = UUIDPGetDatum(&run->id);
	v[9] = run->variables ? JsonbPGetDatum(OfJsoncToJsonb(run->variables)) : (Datum) 0;
	n[9] = run->variables ? ' ' : 'n';
	OfExecQuery(OFQ_INSERT_CHILD, v, n, false, 0);
}

/* Park the parent until its children wake it (or its timeout) */
static StepResult
wait_for_children(ExecRun *run)
{
	run->phase = PHASE_CHILDREN;
	run->has_due = run->has_timeout;
	run->due_at = run->timeout_at;
	OfWakeWorkersAtCommit();
	return STEP_PARKED;
}

/* The effective input of a Parallel or Map state: InputPath, then Parameters */
static bool
children_input(ExecRun *run, OfState *state, json_object **effective, OfError *err)
{
	if (!apply_filter_path(run, &state->input_path, "InputPath", run->state_input, effective, err))
		return false;
	if (state->type == OF_STATE_PARALLEL)
		return apply_template(run, state->parameters, *effective, effective, err);
	return true;
}

/* Start the branches of a Parallel state */
static StepResult
start_parallel(ExecRun *run, OfState *state)
{
	json_object *effective;
	OfError		err;

	if (!children_input(run, state, &effective, &err))
		return handle_state_error(run, state, err.error, err.cause);
	run->children_tag = run->next_event_id;
	emit_event(run, "ParallelStateStarted", state->name,
			   details_with("branches", json_object_new_int(state->n_branches)));
	{
		Jsonb	   *input = OfJsoncToJsonb(effective);

		for (int i = 0; i < state->n_branches; i++)
			insert_child(run, state, i, input, false);
	}
	insert_counters(run, state->n_branches, state->n_branches, 0, 0);
	return wait_for_children(run);
}

/* The $$ of an ItemSelector: the state's context plus Map.Item */
static json_object *
item_context(ExecRun *run, int index, json_object *value)
{
	json_object *ctx = run->context ? run->context : build_context(run);
	json_object *map = json_object_new_object();
	json_object *item = json_object_new_object();

	json_object_object_add(item, "Index", json_object_new_int(index));
	json_object_object_add(item, "Value", json_object_get(value));
	json_object_object_add(map, "Item", item);
	json_object_object_add(ctx, "Map", map);
	return ctx;
}

/* The input of iteration `index`: the item through ItemSelector */
static bool
item_input(ExecRun *run, OfState *state, json_object *effective, int index,
		   json_object *value, json_object **out, OfError *err)
{
	OfEvalEnv	env;

	if (state->item_selector == NULL)
	{
		*out = json_object_get(value);
		return true;
	}
	init_env(&env, run, effective);
	env.context = item_context(run, index, value);
	return of_template_eval(state->item_selector, &env, out, err);
}


/* The items of a Map state, from ItemsPath (default $) */
static bool
map_items(ExecRun *run, OfState *state, json_object *effective, json_object **items, OfError *err)
{
	OfEvalEnv	env;
	bool		found = true;
	json_object *v = effective;

	if (state->items_path != NULL)
	{
		init_env(&env, run, effective);
		if (!of_path_eval(state->items_path, &env, &v, &found, err))
			return false;
		track(run, v);
	}
	if (!found || !json_object_is_type(v, json_type_array))
		return of_fail(err, OF_ERR_RUNTIME,
					   "Invalid path '%s': the ItemsPath of a Map state must select an array",
					   state->items_path ? of_path_text(state->items_path) : "$");
	*items = v;
	return true;
}

/*
 * Where a Map's items come from: the array ItemsPath selects, or the rows
 * of an ItemReader function read through a cursor, a batch at a time, so
 * that a reader over a big table never holds all rows in memory.
 */
typedef struct ItemSource
{
	json_object *array;			/* array source */
	int			n;
	Portal		portal;			/* ItemReader source */
	SPITupleTable *batch;
	uint64		batch_n;
	uint64		batch_pos;
	Oid			owner;
	int64		max_items;		/* ReaderConfig.MaxItems, 0 = all */
	int64		produced;
	int64		read;			/* items read so far (orderflow.max_map_items) */
	bool		too_many;		/* one more than orderflow.max_map_items was read */
	Size		too_big;		/* bytes of a row over orderflow.max_payload_size */
	int64		too_big_row;	/* its position (0-based) */
	int			next_index;		/* array source: next element */
	int			max_concurrency;	/* items started at once (0 = all) */
	json_object *pending;		/* ItemBatcher: an item left for the next batch */
	bool		has_pending;
} ItemSource;

#define READER_FETCH 1000

/* The reader query, "SELECT r FROM reader($1) AS r" (open_item_reader): its one column */
enum
{
	Anum_item_reader_r = 1
};

/* Fetch the next batch of reader rows, as the execution's owner */
static void
fetch_reader_batch(ItemSource *src)
{
	OfUserCode	uc;
	int64		count;

	if (src->batch != NULL)
		SPI_freetuptable(src->batch);
	/* never past row max_map_items + 1, nor past ReaderConfig.MaxItems */
	count = Min(READER_FETCH, (int64) of_max_map_items + 1 - src->read);
	if (src->max_items > 0)
		count = Min(count, src->max_items - src->produced);
	OfEnterUserCode(src->owner, &uc);
	SPI_cursor_fetch(src->portal, true, Max(count, 1));
	OfLeaveUserCode(&uc);
	src->batch = SPI_tuptable;
	src->batch_n = SPI_processed;
	src->batch_pos = 0;
}

/* The next item (a new reference), or false when there are no more */
static bool
next_item(ItemSource *src, json_object **item)
{
	bool		isnull;
	Datum		d;

	if (src->has_pending)
	{
		src->has_pending = false;
		*item = src->pending;
		return true;
	}
	if (src->portal == NULL)
	{
		if (src->next_index >= src->n)
			return false;
		*item = json_object_get(json_object_array_get_idx(src->array, src->next_index++));
		return true;
	}
	if (src->too_many || src->too_big > 0 ||
		(src->max_items > 0 && src->produced >= src->max_items))
		return false;
	if (src->batch == NULL || src->batch_pos >= src->batch_n)
	{
		fetch_reader_batch(src);
		if (src->batch_n == 0)
			return false;
	}
	/* item max_map_items + 1 exists: stop reading, the Map fails */
	if (++src->read > of_max_map_items)
	{
		src->too_many = true;
		return false;
	}
	d = SPI_getbinval(src->batch->vals[src->batch_pos++], src->batch->tupdesc, Anum_item_reader_r,
					  &isnull);
	/* measured before it is converted: a 1 GB row must not reach json-c */
	if (!isnull && VARSIZE_ANY(DatumGetPointer(d)) > (Size) of_max_payload_bytes)
	{
		src->too_big = VARSIZE_ANY(DatumGetPointer(d));
		src->too_big_row = src->produced;
		return false;
	}
	src->produced++;
	*item = isnull ? NULL : OfJsonbToJsonc(DatumGetJsonbP(d));
	return true;
}

/* An ItemBatcher limit (0 = none) */
static int64
batcher_limit(OfState *state, const char *field)
{
	json_object *v;

	if (state->item_batcher == NULL ||
		!json_object_object_get_ex(state->item_batcher, field, &v))
		return 0;
	return Max(json_object_get_int64(v), 1);
}

/* Serialized size of an item, for MaxInputBytesPerBatch */
static size_t
item_bytes(json_object *item)
{
	char	   *text = of_json_to_string(item);
	size_t		len = text ? strlen(text) : 4;

	free(text);
	return len;
}

/*
 * The next unit of work: an item, or with an ItemBatcher a batch
 * {"Items": [...], "BatchInput": ...} of at most MaxItemsPerBatch items
 * (default 100 when only a byte limit is given) and MaxInputBytesPerBatch
 * bytes (a single larger item still makes a batch of its own).
 */
static bool
next_unit(OfState *state, ItemSource *src, json_object **unit)
{
	int64		max_items = batcher_limit(state, "MaxItemsPerBatch");
	int64		max_bytes = batcher_limit(state, "MaxInputBytesPerBatch");
	json_object *list;
	json_object *batch_input = NULL;
	json_object *item;
	size_t		bytes = 0;

	if (state->item_batcher == NULL)
		return next_item(src, unit);
	if (max_items == 0)
		max_items = 100;		/* a byte limit alone still closes a batch at 100 items */
	list = json_object_new_array();
	while ((int64) json_object_array_length(list) < max_items && next_item(src, &item))
	{
		size_t		size = max_bytes > 0 ? item_bytes(item) : 0;

		if (max_bytes > 0 && json_object_array_length(list) > 0 &&
			(int64) (bytes + size) > max_bytes)
		{
			src->pending = item;
			src->has_pending = true;
			break;
		}
		bytes += size;
		json_object_array_add(list, item);
	}
	if (json_object_array_length(list) == 0)
	{
		json_object_put(list);
		return false;
	}
	*unit = json_object_new_object();
	json_object_object_add(*unit, "Items", list);
	if (json_object_object_get_ex(state->item_batcher, "BatchInput", &batch_input))
		json_object_object_add(*unit, "BatchInput", json_object_get(batch_input));
	return true;
}

/* Open the cursor over an ItemReader function: fn(parameters) */
static bool
open_item_reader(ExecRun *run, OfState *state, json_object *effective, ItemSource *src,
				 OfError *err)
{
	json_object *resource = NULL;
	json_object *params = NULL;
	json_object *config = NULL;
	json_object *max_items = NULL;
	json_object *args;
	const OfBinding *binding;
	OfTemplate *tmpl;
	SPIPlanPtr	plan;
	Oid			argtype = JSONBOID;
	Datum		arg;
	char	   *sql;
	OfUserCode	uc;

	json_object_object_get_ex(state->item_reader, "Resource", &resource);
	binding = resource ? OfFindBinding(run->def, json_object_get_string(resource)) : NULL;
	if (binding == NULL || binding->nargs != 1 || !binding->retset)
		return of_fail(err, OF_ERR_ITEM_READER, "the ItemReader function %s does not exist",
					   binding ? binding->signature : "(unbound)");
	args = track(run, json_object_new_object());
	if (json_object_object_get_ex(state->item_reader, "Parameters", &params))
	{
		tmpl = of_template_compile(params, "", NULL, NULL);
		if (tmpl == NULL || !apply_template(run, tmpl, effective, &args, err))
			return tmpl ? false : of_fail(err, OF_ERR_RUNTIME, "invalid ItemReader Parameters");
	}
	if (json_object_object_get_ex(state->item_reader, "ReaderConfig", &config) &&
		json_object_object_get_ex(config, "MaxItems", &max_items))
		src->max_items = json_object_get_int64(max_items);
	sql = psprintf("SELECT r FROM %s($1) AS r",
				   quote_qualified_identifier(get_namespace_name(get_func_namespace(binding->fn)),
											  get_func_name(binding->fn)));
	arg = JsonbPGetDatum(OfJsoncToJsonb(args));
	src->owner = run->owner;

	/* checked at every Map start: a REVOKE takes effect at the next one */
	OfCheckExecute(binding->fn, run->owner, "ItemReader functions");
	/*
	 * Planned and opened as the owner too: planning runs user code (a
	 * LANGUAGE sql reader is inlined into this query), so planning it as
	 * the worker's superuser would run its body as superuser.
	 */
	OfEnterUserCode(run->owner, &uc);
	plan = SPI_prepare(sql, 1, &argtype);
	if (plan == NULL)
		elog(ERROR, "orderflow: could not prepare the ItemReader query");
	src->portal = SPI_cursor_open(NULL, plan, &arg, NULL, true);
	OfLeaveUserCode(&uc);
	return true;
}

/*
 * The input of a Map iteration as jsonb, or NULL (with err) when it is over
 * orderflow.max_payload_size: checked per item as the children are made,
 * so one iteration cannot carry more than any state input may.
 */
static Jsonb *
checked_item_input(OfState *state, int index, json_object *input, OfError *err)
{
	bool		too_large;
	Jsonb	   *jb = to_jsonb_checked(input, &too_large);

	if (!too_large)
		return jb;
	(void) of_fail(err, "States.DataLimitExceeded",
				   "the input of Map %s %d is %u bytes, over orderflow.max_payload_size",
				   state->item_batcher ? "batch" : "item", index, VARSIZE(jb));
	return NULL;
}

/* Insert one child per item; false (with err) if an item fails ItemSelector */
static bool
insert_items(ExecRun *run, OfState *state, json_object *effective, ItemSource *src,
			 int *count, OfError *err)
{
	MemoryContext item_cxt = AllocSetContextCreate(CurrentMemoryContext, "orderflow map item",
												   ALLOCSET_SMALL_SIZES);
	MemoryContext old = CurrentMemoryContext;
	json_object *item;
	int			i;

	/* build $$ once, outside the per-item context that is reset below */
	if (state->item_selector != NULL)
		build_context(run);
	for (i = 0; next_unit(state, src, &item); i++)
	{
		json_object *input = NULL;
		bool		queued = src->max_concurrency > 0 && i >= src->max_concurrency;
		bool		ok;

		CHECK_FOR_INTERRUPTS();
		/* one small context per item keeps a 100,000-item map's memory flat */
		MemoryContextSwitchTo(item_cxt);
		ok = item_input(run, state, effective, i, item, &input, err);
		json_object_put(item);
		if (ok)
		{
			PG_TRY();
			{
				Jsonb	   *jb = checked_item_input(state, i, input, err);

				ok = (jb != NULL);
				if (ok)
					insert_child(run, state, i, jb, queued);
			}
			PG_FINALLY();
			{
				json_object_put(input);
			}
			PG_END_TRY();
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(item_cxt);
		if (!ok)
		{
			MemoryContextDelete(item_cxt);
			return false;
		}
	}
	MemoryContextDelete(item_cxt);
	if (src->too_many)
		return of_fail(err, "States.DataLimitExceeded",
					   "the ItemReader returned more than %d items (orderflow.max_map_items)",
					   of_max_map_items);
	if (src->too_big > 0)
		return of_fail(err, "States.DataLimitExceeded",
					   "row %lld of the ItemReader is %zu bytes, over orderflow.max_payload_size (%d bytes)",
					   (long long) src->too_big_row, src->too_big, of_max_payload_bytes);
	*count = i;
	return true;
}

/*
 * Create the children inside a subtransaction, so that a Map that fails
 * while they are made (an item over the payload limit, an ItemSelector
 * error, too many items) leaves no half-created iterations.  With an
 * ItemReader, a reader function that raises fails the state with
 * States.ItemReaderFailed (retryable and catchable); for an items array an
 * unexpected error is raised again after the rollback.
 */
static bool
insert_items_atomically(ExecRun *run, OfState *state, json_object *effective,
						ItemSource *src, int *count, OfError *err)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		reading = state->item_reader != NULL;
	bool		ok = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		ok = (!reading || open_item_reader(run, state, effective, src, err)) &&
			insert_items(run, state, effective, src, count, err);
		if (src->portal != NULL)
		{
			/* closing runs the reader's executor shutdown: as its owner too */
			OfUserCode	uc;

			OfEnterUserCode(src->owner, &uc);
			SPI_cursor_close(src->portal);
			OfLeaveUserCode(&uc);
		}
		if (ok)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (reading)
			OfReleaseUserAdvisoryLocks();
		if (!reading)
			ReThrowError(edata);
		ok = of_fail(err, OF_ERR_ITEM_READER, "%s", edata->message);
	}
	PG_END_TRY();
	/* what the ItemReader's code locked for its session goes with it */
	if (reading)
		OfReleaseUserAdvisoryLocks();
	return ok;
}

/* A Map's MaxConcurrency and tolerated failures, literal or from *Path */
typedef struct MapLimits
{
	int			max_concurrency;
	int			tolerated_count;
	double		tolerated_percentage;
} MapLimits;

/* Read one of the *Path limits from the Map's effective input */
static bool
limit_from_path(ExecRun *run, const OfPath *path, json_object *effective, double max,
				bool integral, double *out, OfError *err)
{
	OfEvalEnv	env;
	json_object *v;
	bool		found;

	init_env(&env, run, effective);
	if (!of_path_eval(path, &env, &v, &found, err))
		return false;
	track(run, v);
	if (!found || !of_json_is_number(v) || of_json_number(v) < 0 || of_json_number(v) > max ||
		(integral && !json_object_is_type(v, json_type_int)))
		return of_fail(err, OF_ERR_RUNTIME, "'%s' must select a %s from 0 to %g",
					   of_path_text(path), integral ? "whole number" : "number", max);
	*out = of_json_number(v);
	return true;
}

/* Fix a Map's limits when it starts */
static bool
map_limits(ExecRun *run, OfState *state, json_object *effective, MapLimits *limits, OfError *err)
{
	double		d;

	limits->max_concurrency = state->max_concurrency;
	limits->tolerated_count = state->tolerated_failure_count;
	limits->tolerated_percentage = state->tolerated_failure_percentage;
	if (state->max_concurrency_path != NULL)
	{
		if (!limit_from_path(run, state->max_concurrency_path, effective, INT_MAX, true, &d, err))
			return false;
		limits->max_concurrency = (int) d;
	}
	if (state->tolerated_failure_count_path != NULL)
	{
		if (!limit_from_path(run, state->tolerated_failure_count_path, effective, INT_MAX, true, &d, err))
			return false;
		limits->tolerated_count = (int) d;
	}
	if (state->tolerated_failure_percentage_path != NULL &&
		!limit_from_path(run, state->tolerated_failure_percentage_path, effective, 100, false,
						 &limits->tolerated_percentage, err))
		return false;
	return true;
}

/* Start the iterations of a Map state */
static StepResult
start_map(ExecRun *run, OfState *state)
{
	json_object *effective;
	OfError		err;
	int			n = 0;
	bool		ok;
	MapLimits	limits;
	ItemSource	src = {0};

	if (!children_input(run, state, &effective, &err) ||
		!map_limits(run, state, effective, &limits, &err))
		return handle_state_error(run, state, err.error, err.cause);
	run->children_tag = run->next_event_id;
	emit_event(run, "MapStateStarted", state->name, NULL);
	src.max_concurrency = limits.max_concurrency;
	if (state->item_reader != NULL)
		ok = insert_items_atomically(run, state, effective, &src, &n, &err);
	else
	{
		ok = map_items(run, state, effective, &src.array, &err);
		if (ok)
		{
			src.n = json_object_array_length(src.array);
			if (src.n > of_max_map_items)
				ok = of_fail(&err, "States.DataLimitExceeded",
							 "the items array has %d items, over orderflow.max_map_items (%d)",
							 src.n, of_max_map_items);
			else
				ok = insert_items_atomically(run, state, effective, &src, &n, &err);
		}
	}
	if (!ok)
		return handle_state_error(run, state, err.error, err.cause);
	if (n == 0)
		return finish_children(run, state);
	insert_counters(run, n, limits.max_concurrency > 0 ? Min(n, limits.max_concurrency) : n,
					limits.tolerated_count, limits.tolerated_percentage);
	return wait_for_children(run);
}

/*
 * The outputs of all children, in branch/item order, as a json-c array.
 * Their stored sizes are added up as they are read (OFQ_CHILD_RESULTS):
 * over orderflow.max_payload_size the state fails with
 * States.DataLimitExceeded before the results are converted.
 */
static bool
collect_results(ExecRun *run, json_object **out, OfError *err)
{
	Datum		args[3];
	json_object *results = track(run, json_object_new_array());
	uint64		n;
	SPITupleTable *tuptable;
	bool		isnull;

	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	args[2] = Int64GetDatum(of_max_payload_bytes);
	OfExecQuery(OFQ_CHILD_RESULTS, args, NULL, false, 0);
	n = SPI_processed;
	tuptable = SPI_tuptable;
	if (n > 0 &&
		DatumGetInt64(SPI_getbinval(tuptable->vals[n - 1], tuptable->tupdesc, Anum_child_results_running, &isnull)) >
		of_max_payload_bytes)
		return of_fail(err, OF_ERR_DATA_LIMIT,
					   "the results of the %s's branches or iterations are over orderflow.max_payload_size (%d bytes)",
					   current_state(run)->type == OF_STATE_MAP ? "Map" : "Parallel",
					   of_max_payload_bytes);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		char	   *status = TextDatumGetCString(SPI_getbinval(tup, tuptable->tupdesc, Anum_child_results_status, &isnull));
		Datum		result = SPI_getbinval(tup, tuptable->tupdesc, Anum_child_results_output, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (strcmp(status, "SUCCEEDED") == 0)
			json_object_array_add(results, isnull ? NULL : OfJsonbToJsonc(DatumGetJsonbP(result)));
		else
		{
			/* a tolerated Map failure: its error in the iteration's place */
			json_object *e = json_object_new_object();
			char	   *error = SPI_getvalue(tup, tuptable->tupdesc, Anum_child_results_error);
			char	   *cause = SPI_getvalue(tup, tuptable->tupdesc, Anum_child_results_cause);

			if (error)
				json_object_object_add(e, "Error", json_object_new_string(error));
			if (cause)
				json_object_object_add(e, "Cause", json_object_new_string(cause));
			json_object_array_add(results, e);
		}
	}
	*out = results;
	return true;
}

/* The first failed child's error and cause */
static void
first_child_failure(ExecRun *run, char **error, char **cause)
{
	Datum		args[2];

	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	OfExecQuery(OFQ_FIRST_CHILD_FAILURE, args, NULL, false, 1);
	*error = NULL;
	*cause = NULL;
	if (SPI_processed > 0)
	{
		*error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_first_child_failure_error);
		*cause = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_first_child_failure_cause);
	}
	if (*error == NULL)
		*error = pstrdup(OF_ERR_BRANCH_FAILED);
}

/*
 * A Map with a ResultWriter: its results go to the bound target a page at
 * a time (result_writer.c), never collected here, and its result is the
 * summary AWS returns (or, WriterConfig only, the transformed results).
 */
static bool
write_results(ExecRun *run, OfState *state, json_object **out, OfError *err)
{
	OfMapRun	map_run;
	char	   *target = OfResultWriterTarget(state->result_writer);

	map_run.parent_id = &run->id;
	map_run.parent_id_text = run->id_text;
	map_run.tag = run->children_tag;
	map_run.owner = run->owner;
	map_run.state_machine = run->state_machine;
	map_run.state_name = state->name;
	if (!OfWriteMapResults(&map_run, state->result_writer,
						   target ? OfFindBinding(run->def, target) : NULL, out, err))
		return false;
	track(run, *out);
	return true;
}

/* All children are done and none failed too often: process the results */
static StepResult
finish_children(ExecRun *run, OfState *state)
{
	json_object *result = NULL;
	OfError		err;
	bool		collected = state->type == OF_STATE_MAP && state->result_writer != NULL
		? write_results(run, state, &result, &err)
		: collect_results(run, &result, &err);

	delete_counters(run);
	run->phase = NULL;
	if (!collected)
	{
		emit_event(run, psprintf("%sStateFailed", event_prefix(state)), state->name,
				   error_details(err.error, err.cause));
		return handle_state_error(run, state, err.error, err.cause);
	}
	emit_event(run, psprintf("%sStateSucceeded", event_prefix(state)), state->name, NULL);
	return finish_with_result(run, state, run->state_input, result);
}

/* The parent was woken: join, fail, or keep waiting */
static StepResult
join_children(ExecRun *run, OfState *state)
{
	int64		running,
				failed,
				total;
	int			tol_count;
	double		tol_pct;

	child_counts(&run->id, run->children_tag, &running, &failed, &total, &tol_count, &tol_pct);
	if (failures_decide(state, failed, total, tol_count, tol_pct))
	{
		char	   *error;
		char	   *cause;
		bool		tolerance = state->type == OF_STATE_MAP && (tol_count > 0 || tol_pct > 0);

		first_child_failure(run, &error, &cause);
		OfCancelDescendants(&run->id, run->children_tag, "States.Aborted",
							"another branch or iteration failed");
		delete_counters(run);
		run->phase = NULL;
		emit_event(run, psprintf("%sStateFailed", event_prefix(state)), state->name,
				   error_details(error, cause));
		if (tolerance)
			return handle_state_error(run, state, OF_ERR_EXCEED_TOLERATED,
									  psprintf("%lld of %lld iterations failed, more than tolerated",
											   (long long) failed, (long long) total));
		return handle_state_error(run, state, error, cause);
	}
	if (running > 0)
		return wait_for_children(run);
	return finish_children(run, state);
}

/*
 * Redrive (control.c) of an execution that ended in a Parallel or Map
 * whose entry had made its children: did it?  Then redrive_children runs
 * again only those that did not succeed; else the state starts again.
 */
static bool
children_to_resume(ExecRun *run, OfState *state)
{
	Datum		args[2];

	if ((state->type != OF_STATE_PARALLEL && state->type != OF_STATE_MAP) ||
		run->children_tag <= 0)
		return false;
	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	OfExecQuery(OFQ_CHILDREN_EXIST, args, NULL, true, 1);
	return SPI_processed > 0;
}

/* The StartAt of each branch of a Parallel (of the iterator of a Map), as text[] */
static Datum
start_states(OfState *state)
{
	int			n = state->type == OF_STATE_PARALLEL ? state->n_branches : 1;
	Datum	   *names = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		names[i] = CStringGetTextDatum(state->type == OF_STATE_PARALLEL
									   ? state->branches[i]->start_at : state->iterator->start_at);
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * As AWS redrives an Inline Map or Parallel: the branches and iterations
 * that failed, timed out, were aborted or never started run again (each
 * resuming its own nested Parallel/Map the same way), the succeeded ones
 * keep their outputs, so the state's result is in item order as if it had
 * never failed.  The items are not read again (ItemsPath, ItemReader,
 * ItemSelector made the children's inputs once); MaxConcurrency and the
 * tolerated failures are evaluated again, as when the Map started.  No
 * user code runs here: the children run as their owner when claimed.
 */
static StepResult
redrive_children(ExecRun *run, OfState *state)
{
	json_object *effective;
	OfError		err;
	MapLimits	limits = {0};
	Datum		args[8];
	char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			total;
	int			rerun;
	int			first_queued;
	int			redrives;

	run->phase = NULL;
	if (!children_input(run, state, &effective, &err) ||
		(state->type == OF_STATE_MAP && !map_limits(run, state, effective, &limits, &err)))
		return handle_state_error(run, state, err.error, err.cause);
	args[0] = UUIDPGetDatum(&run->id);
	args[1] = Int32GetDatum(run->children_tag);
	args[2] = Int32GetDatum(limits.max_concurrency);
	args[3] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[4] = TimestampTzGetDatum(run->timeout_at);
	if (!run->has_timeout)
		n[4] = 'n';
	args[5] = start_states(state);
	args[6] = BoolGetDatum(state->type == OF_STATE_MAP);
	args[7] = run->variables ? JsonbPGetDatum(OfJsoncToJsonb(run->variables)) : (Datum) 0;
	n[7] = run->variables ? ' ' : 'n';
	OfExecQuery(OFQ_REDRIVE_CHILDREN, args, n, false, 1);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	total = (int) DatumGetInt64(SPI_getbinval(tup, desc, Anum_redrive_children_total, &isnull));
	rerun = (int) DatumGetInt64(SPI_getbinval(tup, desc, Anum_redrive_children_rerun, &isnull));
	first_queued = DatumGetInt32(SPI_getbinval(tup, desc, Anum_redrive_children_first_queued, &isnull));
	if (isnull)
		first_queued = total;
	redrives = DatumGetInt32(SPI_getbinval(tup, desc, Anum_redrive_children_redrive_count, &isnull));
	if (rerun > 0)
		OfWakeWorkersAtCommit();
	if (state->type == OF_STATE_MAP)
	{
		json_object *d = json_object_new_object();

		json_object_object_add(d, "redriveCount", json_object_new_int(redrives));
		emit_event(run, "MapRunRedriven", state->name, d);
	}
	if (rerun == 0)
		return finish_children(run, state);	/* it failed after they all succeeded */
	args[2] = Int32GetDatum(total);
	args[3] = Int32GetDatum(rerun);
	args[4] = Int32GetDatum(first_queued);
	args[5] = Int32GetDatum(limits.tolerated_count);
	args[6] = Float8GetDatum(limits.tolerated_percentage);
	OfExecQuery(OFQ_REDRIVE_COUNTERS, args, NULL, false, 0);
	return wait_for_children(run);
}

/* Parallel and Map: start children, or join them when woken */
static StepResult
run_with_children(ExecRun *run, OfState *state)
{
	if (run->phase != NULL && strcmp(run->phase, PHASE_CHILDREN) == 0)
		return join_children(run, state);
	if (run->phase != NULL && strcmp(run->phase, PHASE_REDRIVE) == 0)
		return redrive_children(run, state);
	if (state->type == OF_STATE_PARALLEL)
		return start_parallel(run, state);
	return start_map(run, state);
}

/* Run the current state once */
static StepResult
run_state(ExecRun *run)
{
	OfState    *state = current_state(run);

	/* redriven: only a Parallel/Map with children resumes, the rest starts again */
	if (run->phase != NULL && strcmp(run->phase, PHASE_REDRIVE) == 0 &&
		!children_to_resume(run, state))
		run->phase = NULL;
	if (run->phase == NULL)
	{
		run->entered_at = GetCurrentTimestamp();
		/* a new entry has no children yet: a redrive must not resume an earlier one's */
		run->children_tag = 0;
		run->context = NULL;
		emit_event(run, psprintf("%sStateEntered", event_prefix(state)), state->name,
				   details_with("input", run->state_input));
	}
	run->context = NULL;		/* $$.State changes between attempts */
	switch (state->type)
	{
		case OF_STATE_PASS:
			return run_pass(run, state);
		case OF_STATE_TASK:
			return run_task(run, state);
		case OF_STATE_CHOICE:
			return run_choice(run, state);
		case OF_STATE_WAIT:
			return run_wait(run, state);
		case OF_STATE_SUCCEED:
			return run_succeed(run, state);
		case OF_STATE_FAIL:
			return run_fail(run, state);
		case OF_STATE_PARALLEL:
		case OF_STATE_MAP:
			return run_with_children(run, state);
	}
	return fail_execution(run, OF_ERR_RUNTIME, "unknown state type");
}

/*
 * May the current state call its task function in this worker now?  Only
 * a Task that is about to call a function asks (not an activity, not a
 * parked callback being resumed): orderflow.max_workers_per_role.  A Map
 * with an ItemReader or a ResultWriter Resource asks too: its step runs
 * the owner's reader or writer, which may take as long as a task, and the
 * admission keeps this worker counted for the owner until the batch ends.
 */
static bool
task_admitted(ExecRun *run)
{
	OfState    *state = current_state(run);
	char	   *name;

	if (state->type == OF_STATE_MAP &&
		(state->item_reader != NULL ||
		 (state->result_writer != NULL &&
		  json_object_object_get_ex(state->result_writer, "Resource", NULL))))
		return OfRoleShareAdmit(run->owner);
	if (state->type != OF_STATE_TASK ||
		(run->phase != NULL && strcmp(run->phase, PHASE_CALLBACK) == 0) ||
		OfClassifyResource(state->resource, &name) == OF_RESOURCE_ACTIVITY)
		return true;
	return OfRoleShareAdmit(run->owner);
}

/* Move one execution as far as it can go now */
static void
advance_execution(ExecRun *run)
{
	for (int chain = 0; chain < OF_MAX_CHAIN; chain++)
	{
		StepResult	r;

		CHECK_FOR_INTERRUPTS();
		if (execution_deadline_passed(run))
		{
			time_out_execution(run);
			return;
		}
		/* an endless cycle must not write history (and hold a worker) forever */
		if (run->next_event_id > of_max_history_events)
		{
			fail_execution(run, OF_ERR_RUNTIME,
						   psprintf("the execution has written %d history events, the limit orderflow.max_history_events is %d",
									run->next_event_id - 1, of_max_history_events));
			return;
		}
		if (!task_admitted(run))
		{
			/*
			 * No step and no event: due again a little later, and marked so
			 * that claims skip it while its role stays at its share
			 */
			run->deferred = true;
			run->has_due = true;
			run->due_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), OF_ROLE_SHARE_DEFER_MS);
			return;
		}
		r = run_state(run);
		if (r != STEP_CONTINUE)
			return;
	}
	/* a long chain: let others have a turn, continue in the next batch */
	run->has_due = true;
	run->due_at = GetCurrentTimestamp();
}

/* ---------------------------------------------------------------------
 * Loading and saving claimed executions
 * --------------------------------------------------------------------- */

/* Copy a jsonb column of the current SPI row */
static Jsonb *
get_jsonb(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* Copy a text column of the current SPI row */
static char *
get_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Read the retrier_attempts int[] column */
static void
get_attempts(ExecRun *run, HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	int			n;

	run->n_attempts = 0;
	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(d), INT4OID, 4, true, TYPALIGN_INT,
					  &elems, NULL, &n);
	run->attempts = palloc0(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		run->attempts[i] = DatumGetInt32(elems[i]);
	run->n_attempts = n;
}

/* The columns that link a child execution to its parent, and its variables */
static void
get_child_columns(ExecRun *run, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, Anum_claimed_parent_id, &isnull);

	run->is_child = !isnull;
	if (run->is_child)
	{
		memcpy(&run->parent_id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
		memcpy(&run->root_id, DatumGetUUIDP(SPI_getbinval(tup, desc, Anum_claimed_root_id, &isnull)),
			   sizeof(pg_uuid_t));
		run->parent_state = get_text(tup, desc, Anum_claimed_parent_state);
		run->branch_index = DatumGetInt32(SPI_getbinval(tup, desc, Anum_claimed_branch_index, &isnull));
		run->parent_tag = DatumGetInt32(SPI_getbinval(tup, desc, Anum_claimed_parent_tag, &isnull));
	}
	d = SPI_getbinval(tup, desc, Anum_claimed_children_tag, &isnull);
	run->children_tag = isnull ? 0 : DatumGetInt32(d);
	run->loaded_variables = get_jsonb(tup, desc, Anum_claimed_variables);
}

/* Fill an ExecRun from one claimed row (OF_CLAIMED_COLUMNS, storage.c) */
static void
load_run(ExecRun *run, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;

	memset(run, 0, sizeof(*run));
	memcpy(&run->id, DatumGetUUIDP(SPI_getbinval(tup, desc, Anum_claimed_id, &isnull)),
		   sizeof(pg_uuid_t));
	strlcpy(run->id_text, OfUuidText(&run->id),
			sizeof(run->id_text));
	memcpy(&run->definition_id,
		   DatumGetUUIDP(SPI_getbinval(tup, desc, Anum_claimed_definition_id, &isnull)),
		   sizeof(pg_uuid_t));
	run->state_machine = get_text(tup, desc, Anum_claimed_state_machine);
	run->version = DatumGetInt32(SPI_getbinval(tup, desc, Anum_claimed_version, &isnull));
	run->name = get_text(tup, desc, Anum_claimed_name);
	run->owner = DatumGetObjectId(SPI_getbinval(tup, desc, Anum_claimed_owner, &isnull));
	run->input = get_jsonb(tup, desc, Anum_claimed_input);
	run->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_claimed_started_at, &isnull));
	run->loaded_state_name = get_text(tup, desc, Anum_claimed_current_state);
	run->loaded_state_input = get_jsonb(tup, desc, Anum_claimed_state_input);
	run->entered_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_claimed_state_entered_at,
														&isnull));
	run->retry_count = DatumGetInt32(SPI_getbinval(tup, desc, Anum_claimed_retry_count, &isnull));
	get_attempts(run, tup, desc, Anum_claimed_retrier_attempts);
	run->phase = get_text(tup, desc, Anum_claimed_phase);
	run->next_event_id = DatumGetInt32(SPI_getbinval(tup, desc, Anum_claimed_next_event_id, &isnull));
	run->timeout_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_claimed_timeout_at, &isnull));
	run->has_timeout = !isnull;
	run->status = "RUNNING";
	get_child_columns(run, tup, desc);
}

/* Find a state by name anywhere in a machine, branches and iterators included */
static OfState *
find_state_anywhere(OfMachine *m, const char *name)
{
	int			i = of_machine_find_state(m, name);

	if (i >= 0)
		return &m->states[i];
	for (i = 0; i < m->n_states; i++)
	{
		OfState    *st = &m->states[i];
		OfState    *found = NULL;

		for (int b = 0; b < st->n_branches && found == NULL; b++)
			found = find_state_anywhere(st->branches[b], name);
		if (found == NULL && st->iterator != NULL)
			found = find_state_anywhere(st->iterator, name);
		if (found != NULL)
			return found;
	}
	return NULL;
}

/* A child runs the branch (Parallel) or iterator (Map) of its parent state */
static bool
find_child_machine(ExecRun *run)
{
	OfState    *parent = find_state_anywhere(run->def->machine, run->parent_state);

	if (parent == NULL)
		return false;
	if (parent->type == OF_STATE_PARALLEL)
	{
		if (run->branch_index < 0 || run->branch_index >= parent->n_branches)
			return false;
		run->machine = parent->branches[run->branch_index];
	}
	else if (parent->type == OF_STATE_MAP && parent->iterator != NULL)
		run->machine = parent->iterator;
	else
		return false;
	return true;
}

/*
 * Is the parent still waiting for this child?  A parent that failed,
 * was stopped or moved on cancels its children, but a child locked by a
 * worker at that moment is skipped; it ends itself here instead.
 */
static bool
child_still_wanted(ExecRun *run)
{
	Datum		args[2];
	bool		isnull;
	bool		wanted;

	args[0] = UUIDPGetDatum(&run->parent_id);
	args[1] = Int32GetDatum(run->parent_tag);
	OfExecQuery(OFQ_PARENT_WAITING, args, NULL, false, 1);
	wanted = SPI_processed > 0 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_parent_waiting_waiting, &isnull)) &&
		!isnull;
	if (!wanted)
	{
		run->status = "ABORTED";
		run->error = pstrdup("States.Aborted");
		run->cause = pstrdup("the parent Parallel or Map state no longer waits for this branch");
		run->stopped_at = GetCurrentTimestamp();
		run->has_due = false;
		emit_event(run, "ExecutionAborted", NULL, error_details(run->error, run->cause));
	}
	return wanted;
}

/* Find the loaded state in the run's machine and decode its input */
static void
resolve_state(ExecRun *run)
{
	char	   *state_name = run->loaded_state_name;
	Jsonb	   *state_input = run->loaded_state_input;

	run->state_index = state_name ? of_machine_find_state(run->machine, state_name) : -1;
	run->state_input = state_input ? track(run, OfJsonbToJsonc(state_input)) : NULL;
	run->variables = run->loaded_variables ? track(run, OfJsonbToJsonc(run->loaded_variables)) : NULL;
}

/* Resolve the definition and decode the state input of a loaded run */
static bool
prepare_run(ExecRun *run)
{
	run->state_index = -1;
	run->cxt = CurrentMemoryContext;
	run->def = OfGetDefinition(&run->definition_id);
	run->machine = run->def->machine;
	if (run->is_child && !child_still_wanted(run))
	{
		/* aborted: it keeps the state it was in, where a redrive resumes it */
		if (find_child_machine(run))
			resolve_state(run);
		return false;
	}
	if (run->is_child && !find_child_machine(run))
	{
		fail_execution(run, OF_ERR_RUNTIME,
					   psprintf("state \"%s\" of state machine %s has no branch %d",
								run->parent_state, run->state_machine, run->branch_index));
		return false;
	}
	resolve_state(run);
	if (run->state_index < 0)
	{
		fail_execution(run, OF_ERR_RUNTIME,
					   psprintf("state \"%s\" is not in version %d of state machine %s",
								run->loaded_state_name ? run->loaded_state_name : "",
								run->version, run->state_machine));
		return false;
	}
	return true;
}

/* The retrier_attempts array to store */
static Datum
attempts_datum(ExecRun *run, bool *isnull)
{
	Datum	   *elems;

	*isnull = (run->n_attempts == 0);
	if (*isnull)
		return (Datum) 0;
	elems = palloc(sizeof(Datum) * run->n_attempts);
	for (int i = 0; i < run->n_attempts; i++)
		elems[i] = Int32GetDatum(run->attempts[i]);
	return PointerGetDatum(construct_array(elems, run->n_attempts, INT4OID, 4, true, TYPALIGN_INT));
}

/* Write the execution row back */
static void
save_run(ExecRun *run)
{
	Datum		v[18];
	char		n[18];
	bool		finished = strcmp(run->status, "RUNNING") != 0;
	bool		isnull;

	memset(n, ' ', sizeof(n));
	v[0] = UUIDPGetDatum(&run->id);
	v[1] = CStringGetTextDatum(run->status);
	if (finished && strcmp(run->status, "SUCCEEDED") == 0)
		v[2] = JsonbPGetDatum(OfJsoncToJsonb(run->output));
	else
		n[2] = 'n';
	v[3] = run->error ? CStringGetTextDatum(run->error) : (n[3] = 'n', (Datum) 0);
	v[4] = run->cause ? CStringGetTextDatum(run->cause) : (n[4] = 'n', (Datum) 0);
	v[5] = TimestampTzGetDatum(run->stopped_at);
	n[5] = finished ? ' ' : 'n';
	v[6] = CStringGetTextDatum(current_state(run)->name);
	v[7] = JsonbPGetDatum(OfJsoncToJsonb(run->state_input));
	v[8] = TimestampTzGetDatum(run->entered_at);
	v[9] = Int32GetDatum(run->retry_count);
	v[10] = attempts_datum(run, &isnull);
	n[10] = isnull ? 'n' : ' ';
	v[11] = run->phase ? CStringGetTextDatum(run->phase) : (n[11] = 'n', (Datum) 0);
	v[12] = TimestampTzGetDatum(run->due_at);
	n[12] = (run->has_due && !finished) ? ' ' : 'n';
	v[13] = Int32GetDatum(run->next_event_id);
	v[14] = Int32GetDatum(run->transitions);
	v[15] = Int32GetDatum(run->children_tag);
	v[16] = run->variables ? JsonbPGetDatum(OfJsoncToJsonb(run->variables)) : (Datum) 0;
	n[16] = run->variables ? ' ' : 'n';
	v[17] = BoolGetDatum(run->deferred);
	OfExecQuery(OFQ_UPDATE_EXECUTION, v, n, false, 0);
}

/* Save a run that could not even be prepared (its state is unknown) */
static void
save_broken_run(ExecRun *run)
{
	Datum		v[18];
	char		n[18];

	memset(n, 'n', sizeof(n));
	v[0] = UUIDPGetDatum(&run->id);
	n[0] = ' ';
	v[1] = CStringGetTextDatum(run->status);
	n[1] = ' ';
	v[3] = CStringGetTextDatum(run->error ? run->error : OF_ERR_RUNTIME);
	n[3] = ' ';
	v[4] = run->cause ? CStringGetTextDatum(run->cause) : (Datum) 0;
	n[4] = run->cause ? ' ' : 'n';
	v[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	n[5] = ' ';
	v[9] = Int32GetDatum(0);
	n[9] = ' ';
	v[13] = Int32GetDatum(run->next_event_id);
	n[13] = ' ';
	v[14] = Int32GetDatum(0);
	n[14] = ' ';
	v[17] = BoolGetDatum(false);
	n[17] = ' ';
	OfExecQuery(OFQ_UPDATE_EXECUTION, v, n, false, 0);
}

/*
 * Advance one claimed execution inside a subtransaction.  If orderflow
 * itself fails on it (a bug, a value jsonb cannot store, ...), that
 * execution is failed with States.Runtime and the batch goes on.
 */
static void
process_run(ExecRun *run)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			mark = OfEventMark();
	int			first_event = run->next_event_id;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		if (prepare_run(run))
			advance_execution(run);
		/* a parent that failed or stopped meanwhile cancels the branch here */
		if (run->is_child && strcmp(run->status, "RUNNING") == 0)
			(void) child_still_wanted(run);
		if (run->state_index >= 0)
			save_run(run);
		else
			save_broken_run(run);
		if (run->is_child && strcmp(run->status, "RUNNING") != 0)
			notify_parent(run);
		release_all(run);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		release_all(run);
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		OfTruncateEvents(mark);
		ereport(WARNING,
				(errmsg("orderflow: execution %s failed inside the engine: %s",
						run->id_text, edata->message)));
		run->next_event_id = first_event;
		run->status = "FAILED";
		run->error = pstrdup(OF_ERR_RUNTIME);
		run->cause = psprintf("orderflow could not advance the execution: %s", edata->message);
		emit_event(run, "ExecutionFailed", NULL, error_details(run->error, run->cause));
		save_broken_run(run);
		if (run->is_child)
			notify_parent(run);
		OfNotifyFinishedAtCommit();
	}
	PG_END_TRY();
}

/* How long until the next due work, in ms (-1 if none) */
/*
 * The roles at their share of the pool for this worker, as an oid[]: the
 * claim and the idle sleep skip their executions (deferring them one by
 * one at every claim would be a busy loop of updates while they wait).
 */
static Datum
saturated_roles(void)
{
	Oid			roles[OF_MAX_SATURATED_ROLES];
	Datum		elems[OF_MAX_SATURATED_ROLES];
	int			n = OfSaturatedRoles(roles, OF_MAX_SATURATED_ROLES);

	for (int i = 0; i < n; i++)
		elems[i] = ObjectIdGetDatum(roles[i]);
	return PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

static long
next_due_ms(void)
{
	bool		isnull;
	TimestampTz due;
	long		secs;
	int			usecs;
	Datum		arg = saturated_roles();

	OfExecQuery(OFQ_NEXT_DUE, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		return -1;
	due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_next_due_due_at, &isnull));
	TimestampDifference(GetCurrentTimestamp(), due, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}

/* ---------------------------------------------------------------------
 * Reentrancy: what a task may do while its batch runs in this backend
 *
 * A task runs inside the batch's transaction, with the batch's rows
 * locked and its history events buffered (storage.c).  API functions a
 * task calls must not advance executions themselves (run_pending,
 * start_sync_execution), wait for what the batch itself must first commit
 * (wait_for_execution, get_activity_task), or change an execution the
 * batch is advancing; the others flush only the events they buffered
 * (OfFlushEventsFrom).
 * --------------------------------------------------------------------- */

/* > 0 while OfRunDue or OfRunExecutionTree runs in this backend */
static int	engine_depth = 0;

/* The executions the running batch claimed: their trees and machines */
typedef struct HeldSet
{
	int			n;
	int			size;
	pg_uuid_t  *roots;			/* top-level execution of each claimed row */
	char	  **machines;
} HeldSet;

static HeldSet held = {0};

/* Remember a claimed row (in the batch's memory context) */
static void
hold(ExecRun *run)
{
	if (held.n == held.size)
	{
		held.size = Max(64, held.size * 2);
		if (held.roots == NULL)
		{
			held.roots = palloc(sizeof(pg_uuid_t) * held.size);
			held.machines = palloc(sizeof(char *) * held.size);
		}
		else
		{
			held.roots = repalloc(held.roots, sizeof(pg_uuid_t) * held.size);
			held.machines = repalloc(held.machines, sizeof(char *) * held.size);
		}
	}
	held.roots[held.n] = run->is_child ? run->root_id : run->id;
	held.machines[held.n] = run->state_machine;
	held.n++;
}

/* See orderflow.h */
bool
OfEngineActive(void)
{
	return engine_depth > 0;
}

/* See orderflow.h */
void
OfRefuseInsideTask(const char *function, const char *hint)
{
	if (engine_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside a task", function),
				 errdetail("The orderflow engine is advancing executions in this session's transaction."),
				 errhint("%s", hint)));
}

/* See orderflow.h */
void
OfCheckNotHeldByBatch(pg_uuid_t *id)
{
	bool		isnull;
	pg_uuid_t	root;
	Datum		arg = UUIDPGetDatum(id);

	if (engine_depth == 0 || held.n == 0)
		return;
	OfExecQuery(OFQ_EXECUTION_ROOT, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		return;
	memcpy(&root, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_execution_root_root_id, &isnull)),
		   sizeof(pg_uuid_t));
	for (int i = 0; i < held.n; i++)
	{
		if (memcmp(&held.roots[i], &root, sizeof(pg_uuid_t)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("execution %s is being advanced by the task's own batch", OfUuidText(id)),
					 errdetail("A task cannot stop or redrive an execution that its batch holds, nor one of the same execution tree."),
					 errhint("Fail the task instead (orderflow.raise_error), or stop the execution from another session.")));
	}
}

/* See orderflow.h */
void
OfCheckStateMachineNotHeld(const char *name)
{
	for (int i = 0; engine_depth > 0 && i < held.n; i++)
	{
		if (strcmp(held.machines[i], name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("state machine \"%s\" has executions the task's own batch is advancing", name),
					 errdetail("A task cannot abort executions of its own batch."),
					 errhint("Delete the state machine from another session.")));
	}
}

/* Claim the next chunk of due rows: this tree, this role's, or anyone's */
static void
claim_due(Datum *args, Oid role)
{
	if (sync_root != NULL)
		claim_tree(args);
	else if (OidIsValid(role))
	{
		args[2] = ObjectIdGetDatum(role);
		OfExecQuery(OFQ_CLAIM_DUE_FOR_ROLE, args, NULL, false, 0);
	}
	else
	{
		args[2] = saturated_roles();
		OfExecQuery(OFQ_CLAIM_DUE, args, NULL, false, 0);
	}
}

/* OfRunDue's body; role: see OfRunDueForRole */
static int
run_due(int max_executions, Oid role, long *next_due)
{
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"orderflow batch",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext step_cxt = AllocSetContextCreate(batch_cxt,
												   "orderflow step",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	Datum		args[3];
	ExecRun    *runs;
	JoinBatch	joins = {0};
	int			n;
	int			transitions = 0;
	int			claimed = 0;
	int			chunk = 1;
	TimestampTz batch_start = GetCurrentTimestamp();

	OfConnectSpi();
	joins.cxt = batch_cxt;
	OfDefinitionCacheBatchBegin();	/* ends at transaction end if we throw */

	/*
	 * Claim in growing chunks (1, 2, 4, ... up to max_executions): under
	 * load the batch soon works on many rows per transaction, yet a slow
	 * task locks few others behind it, and once the batch has run for
	 * OF_BATCH_BUDGET_MS it stops claiming and commits.  Rows stay locked
	 * until then, which is what keeps two workers off one execution.
	 */
	while (claimed < max_executions)
	{
		int			want = Min(chunk, max_executions - claimed);

		args[0] = TimestampTzGetDatum(GetCurrentTimestamp());
		args[1] = Int32GetDatum(want);
		claim_due(args, role);
		n = (int) SPI_processed;
		MemoryContextSwitchTo(batch_cxt);
		runs = palloc0(sizeof(ExecRun) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			load_run(&runs[i], SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			runs[i].joins = &joins;
			hold(&runs[i]);
		}

		/*
		 * Read-only statements (the parent a child checks, a join's
		 * results) use the active snapshot: under READ COMMITTED take one
		 * that sees what this claim saw, not the transaction's first one,
		 * which may predate the commit that made these rows due.
		 */
		if (!IsolationUsesXactSnapshot())
		{
			CommandCounterIncrement();
			PushActiveSnapshot(GetTransactionSnapshot());
		}
		for (int i = 0; i < n && !joins.conflict; i++)
		{
			MemoryContextSwitchTo(step_cxt);
			process_run(&runs[i]);
			transitions += Max(runs[i].transitions, 1);
			MemoryContextReset(step_cxt);
		}
		if (!IsolationUsesXactSnapshot())
			PopActiveSnapshot();
		claimed += n;
		if (n < want || joins.conflict ||
			GetCurrentTimestamp() - batch_start > OF_BATCH_BUDGET_MS * 1000)
			break;
		chunk *= 2;
	}
	MemoryContextSwitchTo(batch_cxt);
	apply_join_batch(&joins);
	OfFlushEvents();
	*next_due = (claimed == 0) ? next_due_ms() : 0;
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
	OfDefinitionCacheBatchEnd();
	return transitions;
}

/* See orderflow.h */
int
OfRunDueForRole(int max_executions, Oid role, long *next_due)
{
	HeldSet		outer = held;
	int			transitions;

	engine_depth++;
	memset(&held, 0, sizeof(held));
	PG_TRY();
	{
		transitions = run_due(max_executions, role, next_due);
	}
	PG_FINALLY();
	{
		/* the held set lived in the batch's memory, gone now */
		held = outer;
		engine_depth--;
	}
	PG_END_TRY();
	return transitions;
}

/* See orderflow.h */
int
OfRunDue(int max_executions, long *next_due)
{
	return OfRunDueForRole(max_executions, InvalidOid, next_due);
}

/* ---------------------------------------------------------------------
 * Synchronous runs (start_sync_execution, control.c)
 * --------------------------------------------------------------------- */

/* See orderflow.h */
void
OfRunExecutionTree(pg_uuid_t *root_id)
{
	OfConnectSpi();
	engine_depth++;
	PG_TRY();
	{
		sync_root = root_id;
		for (;;)
		{
			Datum		arg = UUIDPGetDatum(root_id);
			bool		isnull;
			TimestampTz due;
			long		secs;
			int			usecs;
			long		unused;
			int			steps;

			CHECK_FOR_INTERRUPTS();

			/*
			 * The tree's rows are this transaction's own writes: a snapshot
			 * that sees the previous batch's changes (read-only statements
			 * use the active snapshot), also under REPEATABLE READ.
			 */
			CommandCounterIncrement();
			PushCopiedSnapshot(GetActiveSnapshot());
			UpdateActiveSnapshotCommandId();
			/* OfRunDue claims only this tree's due rows while sync_root is set */
			steps = OfRunDue(of_batch_size, &unused);
			PopActiveSnapshot();
			if (steps > 0)
				continue;
			/* nothing due now: done, or sleep until a retry is due */
			OfExecQuery(OFQ_TREE_NEXT_DUE, &arg, NULL, false, 1);
			due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, Anum_next_due_due_at, &isnull));
			if (isnull)
				break;
			TimestampDifference(GetCurrentTimestamp(), due, &secs, &usecs);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(1, secs * 1000 + usecs / 1000), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	PG_FINALLY();
	{
		sync_root = NULL;
		engine_depth--;
	}
	PG_END_TRY();
	SPI_finish();
}
