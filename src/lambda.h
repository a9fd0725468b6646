/*-------------------------------------------------------------------------
 *
 * lambda.h
 *	  The Lambda optimized integration: Tasks whose Resource is
 *	  "arn:aws:states:::lambda:invoke" (or its .waitForTaskToken form) and
 *	  whose Parameters name the function (FunctionName) and its input
 *	  (Payload).  What a FunctionName means, how it is validated, which
 *	  registrations (register_resource) can serve it, and how results and
 *	  errors are shaped as AWS shapes them.  No catalog access here:
 *	  definition.c resolves, executor.c runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_LAMBDA_H
#define OF_LAMBDA_H

#include "orderflow.h"

#include "nodes/pg_list.h"

#define OF_LAMBDA_INVOKE "arn:aws:states:::lambda:invoke"

/* Prefix of the binding key a version stores for a static FunctionName */
#define OF_LAMBDA_BINDING_PREFIX "lambda:"

/* Error names, as Step Functions reports them for lambda:invoke */
#define OF_ERR_LAMBDA_NOT_FOUND	"Lambda.ResourceNotFoundException"
#define OF_ERR_LAMBDA_SERVICE	"Lambda.ServiceException"
#define OF_ERR_LAMBDA_INVALID	"Lambda.InvalidParameterValueException"

/* A FunctionName taken apart */
typedef struct OfLambdaFunction
{
	const char *name;			/* the function's name */
	const char *qualifier;		/* version or alias, NULL for none */
	bool		qualifier_in_text;	/* in FunctionName, not a Qualifier parameter */
	const char *region;			/* full ARN only, else NULL */
	const char *account;		/* full or partial ARN, else NULL */
	const char *unqualified;	/* the full ARN without qualifier, or NULL */
} OfLambdaFunction;

/* Is this Task Resource the Lambda integration (either form)? */
extern bool OfIsLambdaInvoke(const char *resource);

/*
 * Parse a FunctionName (name, partial ARN ACCOUNT:function:NAME, or full
 * ARN arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME, each with an
 * optional :QUALIFIER) and an optional separate Qualifier parameter.
 * Returns NULL and fills *f, or a message saying what is wrong.
 */
extern const char *OfLambdaParseFunctionName(const char *text, const char *qualifier,
											  OfLambdaFunction *f);

/*
 * The register_resource strings that can serve a FunctionName, best
 * first: the FunctionName as written (with the Qualifier parameter
 * appended), the unqualified full ARN, NAME:QUALIFIER, NAME.
 */
extern List *OfLambdaRegistrationKeys(const char *text, const OfLambdaFunction *f);

/* The key a version's bindings use for a static FunctionName */
extern char *OfLambdaBindingKey(const char *text, const char *qualifier);

/* What the result's ExecutedVersion says: a numeric qualifier, else $LATEST */
extern const char *OfLambdaExecutedVersion(const OfLambdaFunction *f);

/*
 * Check a lambda:invoke Task's Parameters (json-c object, may be NULL).
 * Problems go to report (location below `location`, e.g.
 * "/States/A/Parameters/FunctionName").  On success *function_name is the
 * static FunctionName or NULL when it is dynamic (FunctionName.$), and
 * *qualifier the static Qualifier parameter or NULL.
 */
extern bool OfLambdaCheckParameters(json_object *params, const char *location,
									OfReportFn report, void *report_arg,
									const char **function_name, const char **qualifier);

/* A fresh request id (a UUID's text) for one invocation */
extern char *OfLambdaRequestId(void);

/*
 * The state's result: {"ExecutedVersion", "Payload", "SdkHttpMetadata",
 * "SdkResponseMetadata", "StatusCode": 200}.  Takes a reference to payload
 * (NULL: JSON null).
 */
extern json_object *OfLambdaResult(json_object *payload,
										  const char *executed_version,
										  const char *request_id);

/*
 * The cause of a function error as Step Functions shows it: the text of
 * {"errorMessage": cause, "errorType": error, "requestId": id, "stackTrace": []}.
 */
extern char *OfLambdaErrorCause(const char *error, const char *cause, const char *request_id);

#endif
