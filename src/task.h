/*-------------------------------------------------------------------------
 *
 * task.h
 *	  Calling a Task's SQL function safely.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_TASK_H
#define OF_TASK_H

#include "orderflow.h"

#include "utils/uuid.h"

/* SQLSTATE of orderflow.raise_error(): class OF, "orderflow" */
#define ERRCODE_OF_TASK_ERROR MAKE_SQLSTATE('O','F','0','0','1')

/* Longest Error / Cause kept, as Step Functions' limits */
#define OF_MAX_ERROR_LEN 256
#define OF_MAX_CAUSE_LEN 32768

/*
 * The hard bound of a task's timeout in a pool worker: a task still
 * running this long after its timeout fired (it caught the cancel) ends
 * its worker with FATAL.  max(OF_TASK_KILL_GRACE_MIN_MS, 10% of the
 * timeout).  Short, because a task that honours the cancel returns within
 * milliseconds of it; the grace only covers a task that caught it and
 * cleans up.
 */
#define OF_TASK_KILL_GRACE_MIN_MS	2000
#define OF_TASK_KILL_GRACE_PERCENT	10

/* How an outcome is a timeout, if it is one */
typedef enum OfTimeoutKind
{
	OF_TIMEOUT_NONE,			/* not a timeout (or the task raised one) */
	OF_TIMEOUT_CANCELLED,		/* cancelled at its timeout */
	OF_TIMEOUT_CANCEL_IGNORED,	/* caught the cancel, ended later */
	OF_TIMEOUT_WORKER_ENDED		/* ignored it until its worker ended */
} OfTimeoutKind;

/* Added to the cause of OF_TIMEOUT_CANCEL_IGNORED */
#define OF_CANCEL_IGNORED_NOTE	" and ignored the cancel"

typedef struct OfTaskOutcome
{
	bool		ok;
	Jsonb	   *output;			/* ok: the result (JSON null for SQL NULL) */
	char	   *error;			/* !ok: the ASL error name */
	char	   *cause;			/* !ok: the cause, or NULL */
	OfTimeoutKind timeout;		/* !ok: is it States.Timeout, and how */
	int			sqlerrcode;		/* !ok: the SQL error the task raised, else 0 */
	int			advisory_locks_released;	/* session-level ones it left */
} OfTaskOutcome;

/*
 * Call fn(input [, context]) as `owner`, in a subtransaction, with the
 * pinned search_path and, if timeout_ms > 0, a timeout; lock_timeout_ms > 0
 * sets lock_timeout for the call.  Never raises for
 * what the task does: failures come back in the outcome with the task's
 * writes rolled back.  A task that returns after its timeout fired (it
 * caught the cancel) is a timeout all the same.  In a pool worker, a task
 * still running OfTaskKillGraceMs() after its timeout ends the worker
 * (FATAL) and lists `execution`: the next call for it does not call the
 * task but returns States.Timeout (OF_TIMEOUT_WORKER_ENDED).  Session-level
 * advisory locks the task left are released after it
 * (outcome->advisory_locks_released says how many).
 */
extern void OfCallTask(const pg_uuid_t *execution, Oid fn, int nargs, Oid owner,
					   Jsonb *input, Jsonb *context, int64 timeout_ms,
					   int lock_timeout_ms, OfTaskOutcome *outcome);

/* The hard bound's grace after a timeout of timeout_ms (see above) */
extern int	OfTaskKillGraceMs(int64 timeout_ms);

/* The ASL error name for a SQL error (raise_error's name, or from SQLSTATE) */
extern const char *OfErrorNameForSqlstate(int sqlerrcode);

#endif
