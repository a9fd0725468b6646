/*-------------------------------------------------------------------------
 *
 * callback.h
 *	  Task tokens (.waitForTaskToken callbacks), activities, execution
 *	  control and retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_CALLBACK_H
#define OF_CALLBACK_H

#include "orderflow.h"

#include "utils/uuid.h"

/* Suffix of a Task Resource that waits for send_task_success/failure */
#define OF_CALLBACK_SUFFIX ".waitForTaskToken"

/* What a Task Resource string stands for */
typedef enum OfResourceKind
{
	OF_RESOURCE_FUNCTION,		/* call a SQL function, use its result */
	OF_RESOURCE_CALLBACK,		/* call it, then wait for the task token */
	OF_RESOURCE_ACTIVITY		/* queue for get_activity_task() */
} OfResourceKind;

/*
 * Classify a Resource.  For a callback *name gets the resource without
 * the suffix; for an activity, the activity's name ("activity:NAME" or
 * "arn:aws:states:REGION:ACCOUNT:activity:NAME").  name may be NULL.
 */
extern OfResourceKind OfClassifyResource(const char *resource, char **name);

/* Length of a task token's text */
#define OF_TOKEN_SECRET_LEN 32

/*
 * A new task token for an execution: the text handed out and the hash
 * stored (a bytea of the SHA-256 of its secret).
 */
extern char *OfNewTaskToken(pg_uuid_t *execution_id, bytea **hash);

/* Cancel the open tasks of an execution and its descendants (SPI connected) */
extern void OfCancelTasks(pg_uuid_t *execution_id);

#endif
