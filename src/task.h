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

/* SQLSTATE of orderflow.raise_error(): class OF, "orderflow" */
#define ERRCODE_OF_TASK_ERROR MAKE_SQLSTATE('O','F','0','0','1')

/* Longest Error / Cause kept, as Step Functions' limits */
#define OF_MAX_ERROR_LEN 256
#define OF_MAX_CAUSE_LEN 32768

typedef struct OfTaskOutcome
{
	bool		ok;
	Jsonb	   *output;			/* ok: the result (JSON null for SQL NULL) */
	char	   *error;			/* !ok: the ASL error name */
	char	   *cause;			/* !ok: the cause, or NULL */
	int			advisory_locks_released;	/* session-level ones it left */
} OfTaskOutcome;

/*
 * Call fn(input [, context]) as `owner`, in a subtransaction, with the
 * pinned search_path and, if timeout_ms > 0, a timeout; lock_timeout_ms > 0
 * sets lock_timeout for the call.  Never raises for
 * what the task does: failures come back in the outcome with the task's
 * writes rolled back.  Session-level advisory locks the task left are
 * released after it (outcome->advisory_locks_released says how many).
 */
extern void OfCallTask(Oid fn, int nargs, Oid owner, Jsonb *input, Jsonb *context,
					   int64 timeout_ms, int lock_timeout_ms, OfTaskOutcome *outcome);

/* The ASL error name for a SQL error (raise_error's name, or from SQLSTATE) */
extern const char *OfErrorNameForSqlstate(int sqlerrcode);

#endif
