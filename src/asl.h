/*-------------------------------------------------------------------------
 *
 * asl.h
 *	  The Amazon States Language model: parsed definitions, JSONPath,
 *	  payload templates, intrinsic functions and Choice rules.
 *
 * Everything declared here is plain C over json-c.  It never calls into
 * the PostgreSQL server and never raises by itself (no ereport/longjmp):
 * problems are returned as values.  Only the allocator the server plugs
 * in may raise (of_alloc is palloc there: out of memory); an interrupt is
 * only polled (the interrupted callback) and processed by the caller.  That keeps json-c's malloc'd objects safe from
 * non-local exits, and lets test/c/ and the fuzz harness build these files
 * without a server (compile with -DOF_STANDALONE).
 *
 * Memory: the definition model (OfMachine and everything it points to) is
 * allocated with of_alloc(); in the server that is palloc in the caller's
 * current memory context (the definition cache keeps one context per
 * definition), standalone it is an arena freed by of_arena_free_all().
 * json-c values follow json-c's reference counting: every function that
 * returns a json_object * returns a NEW reference the caller must put.
 * A NULL json_object * is the JSON value null, as in json-c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_ASL_H
#define OF_ASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef OF_STANDALONE
/*
 * PostgreSQL declares an SQL-callable function json_object() in
 * fmgrprotos.h, which clashes with json-c's type of the same name.  Declare
 * the function under another name first; the include guard then keeps the
 * clashing declaration out of every file that includes this header right
 * after postgres.h (server files must do so).
 */
#define json_object pg_sql_json_object
#include "utils/fmgrprotos.h"
#undef json_object
#endif

#include <json-c/json.h>

/* ------------------------------------------------------------------
 * Allocation
 * ------------------------------------------------------------------ */
extern void *of_alloc(size_t size);		/* zeroed; never returns NULL */
extern char *of_strdup(const char *s);
extern char *of_psprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));
#ifdef OF_STANDALONE
extern void of_arena_free_all(void);
#endif

/* ------------------------------------------------------------------
 * Errors raised by evaluation (ASL error name plus a cause)
 * ------------------------------------------------------------------ */
#define OF_ERR_ALL				"States.ALL"
#define OF_ERR_RUNTIME			"States.Runtime"
#define OF_ERR_TIMEOUT			"States.Timeout"
#define OF_ERR_HEARTBEAT		"States.HeartbeatTimeout"
#define OF_ERR_TASK_FAILED		"States.TaskFailed"
#define OF_ERR_PERMISSIONS		"States.Permissions"
#define OF_ERR_RESULT_PATH		"States.ResultPathMatchFailure"
#define OF_ERR_PARAMETER_PATH	"States.ParameterPathFailure"
#define OF_ERR_BRANCH_FAILED	"States.BranchFailed"
#define OF_ERR_NO_CHOICE		"States.NoChoiceMatched"
#define OF_ERR_INTRINSIC		"States.IntrinsicFailure"
#define OF_ERR_EXCEED_TOLERATED	"States.ExceedToleratedFailureThreshold"
#define OF_ERR_ITEM_READER		"States.ItemReaderFailed"
#define OF_ERR_RESULT_WRITER	"States.ResultWriterFailed"
#define OF_ERR_DATA_LIMIT		"States.DataLimitExceeded"
/*
 * Not an ASL error: the function a Task Resource is bound to (by signature)
 * does not exist (dropped, or missing after a restore).  Like States.Runtime
 * it fails the execution and is never retried nor caught: only creating the
 * function (then redrive_execution) helps.
 */
#define OF_ERR_FUNCTION_MISSING	"orderflow.TaskFunctionMissing"
/*
 * Not an ASL error: evaluation stopped because env->interrupted() said so.
 * The caller must not record it; in the server it processes the pending
 * interrupt (CHECK_FOR_INTERRUPTS), which raises the cancel or terminate.
 */
#define OF_ERR_INTERRUPTED		"orderflow.Interrupted"

typedef struct OfError
{
	char		error[128];		/* ASL error name, e.g. "States.Runtime" */
	char		cause[1024];	/* human-readable cause ("" = none) */
} OfError;

/* Fill err (which may be NULL) and return false: `return of_fail(err, ...)` */
extern bool of_fail(OfError *err, const char *error, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------
 * JSONPath  (asl_path.c)
 *
 * Syntax accepted: a root `$` (state input), `$$` (context object) or
 * `$name` (workflow variable), followed by steps:
 *   .name   ['name']  ["name"]   [n]  [-n]  [*]  .*  [a,b,...]  [start:end]
 *   ..name (deep scan)   [?(@.x <op> literal)] filters with == != < <= > >=
 * A "reference path" (ResultPath, *Path comparison operands, Catch
 * ResultPath, ...) may only use .name, ['name'] and [n] steps.
 * ------------------------------------------------------------------ */
typedef enum OfPathRoot
{
	OF_ROOT_INPUT,				/* $ */
	OF_ROOT_CONTEXT,			/* $$ */
	OF_ROOT_VARIABLE			/* $name */
} OfPathRoot;

typedef struct OfPath OfPath;	/* opaque, defined in asl_path.c */

/*
 * Compile a path.  Returns NULL and fills err (error = "States.Runtime" is
 * irrelevant here; err->cause says what is wrong and at which character)
 * when the text is not a path, or when reference_only and the path is not
 * a reference path.
 */
extern OfPath *of_path_compile(const char *text, bool reference_only, OfError *err);
extern const char *of_path_text(const OfPath *path);
extern OfPathRoot of_path_root(const OfPath *path);
extern const char *of_path_variable(const OfPath *path);	/* $name → "name" */
extern bool of_path_is_definite(const OfPath *path);	/* no wildcard/filter/slice/union/scan */
extern bool of_path_uses_context(const OfPath *path);	/* root is $$ (NULL: false) */

/* Where paths find their roots. */
typedef struct OfEvalEnv
{
	json_object *input;			/* $   (borrowed) */
	json_object *context;		/* $$  (borrowed; NULL = build on demand) */
	json_object *variables;		/* $x  (borrowed object of variables, may be NULL) */
	/* called once, the first time $$ is needed and context is NULL */
	json_object *(*build_context) (void *arg);
	void	   *build_context_arg;
	/* for States.Hash and States.UUID: filled by the server, or by tests */
	bool		(*hash) (const char *algorithm, const char *data, size_t len,
						 char *hex_out, size_t hex_out_size);
	void		(*random_uuid) (char out[37]);
	double		(*random_double) (void);	/* in [0, 1) */

	/*
	 * Bounds (see "Bounded evaluation" below).  interrupted (NULL: never) is
	 * polled in every loop over user data; when it returns true the
	 * evaluation frees what it built and fails with OF_ERR_INTERRUPTED.  It
	 * must not longjmp: json-c memory is malloc'd.  max_bytes (0: no limit)
	 * bounds every value built while evaluating (a string, an array, a path's
	 * list of matches, a template's output), measured as its compact JSON
	 * text and checked while it grows: over it, States.DataLimitExceeded.
	 */
	bool		(*interrupted) (void);
	size_t		max_bytes;
	const char *max_bytes_name; /* for messages, e.g. a setting (NULL: none) */
} OfEvalEnv;

/* ------------------------------------------------------------------
 * Bounded evaluation  (asl_alloc.c, asl_json.c)
 * ------------------------------------------------------------------ */

/*
 * A path expression visits at most this many nodes in one evaluation
 * (every value a step looks at or selects, also the values a ".." scan
 * passes through); more fails with States.DataLimitExceeded.  Without it
 * "$..*..*" grows with the cube of the input's depth.
 */
#define OF_PATH_MAX_NODES		1000000

/* true (with err filled: OF_ERR_INTERRUPTED) when env says to stop */
extern bool of_interrupted(const OfEvalEnv *env, OfError *err);

/*
 * Check a size against env->max_bytes: false with States.DataLimitExceeded
 * ("<what> ... is over the limit of N bytes") when over it.
 */
extern bool of_within_budget(const OfEvalEnv *env, size_t bytes, const char *what,
							 OfError *err);

/*
 * The length of v's compact JSON text, approximately (strings are counted
 * without escapes, doubles as up to 17 digits), or a value > limit as soon
 * as the count passes limit: the walk stops there, so it costs at most
 * about limit steps.
 */
extern size_t of_json_size(json_object *v, size_t limit);

/*
 * Add the size of v (borrowed) to *used, a result's running size, and check
 * it with of_within_budget.  Costs nothing without a budget.
 */
extern bool of_budget_add_value(const OfEvalEnv *env, size_t *used, json_object *v,
								const char *what, OfError *err);

/*
 * Evaluate a path.  On success *result is a new reference (NULL for JSON
 * null) and *found says whether anything matched at all.  A definite path
 * yields the value it selects; an indefinite one yields an array of all
 * matches (possibly empty, then *found is false).  Returns false only for
 * errors that are not "no match" (for example $$ unavailable).
 */
extern bool of_path_eval(const OfPath *path, const OfEvalEnv *env,
						 json_object **result, bool *found, OfError *err);

/*
 * ResultPath: return a new value that is a deep copy of `raw` with
 * `value` (borrowed) placed at `path`, creating missing objects.  Fails with
 * States.ResultPathMatchFailure when a step lands on a non-object (or an
 * array index out of range).  path NULL means "$" (the result replaces the
 * input).
 */
extern bool of_path_set(const OfPath *path, json_object *raw, json_object *value,
						json_object **result, OfError *err);

/* ------------------------------------------------------------------
 * Intrinsic functions  (asl_intrinsic.c)
 *
 * An OfExpr is what stands after a "key.$": either a path or an intrinsic
 * call like States.Format('{} {}', $.a, States.ArrayLength($.b)).
 * ------------------------------------------------------------------ */
typedef struct OfExpr OfExpr;	/* opaque, defined in asl_intrinsic.c */

extern OfExpr *of_expr_compile(const char *text, OfError *err);
extern bool of_expr_is_intrinsic(const OfExpr *expr);
/* Result is a new reference.  Bad arguments fail with States.Runtime. */
extern bool of_expr_eval(const OfExpr *expr, const OfEvalEnv *env,
						 json_object **result, OfError *err);
/* true when the expression (or a path inside it) reads $$ */
extern bool of_expr_uses_context(const OfExpr *expr);

/* ------------------------------------------------------------------
 * Payload templates: Parameters, ResultSelector, ItemSelector  (asl_template.c)
 * ------------------------------------------------------------------ */
typedef struct OfTemplate OfTemplate;	/* opaque */

/*
 * Compile a payload template (any JSON value; objects are scanned for keys
 * ending in ".$", recursively, also inside arrays).  Problems are reported
 * through `report` with a JSON location below `location` (for example
 * "/States/A/Parameters/foo.$"); returns NULL if any were found.
 */
typedef void (*OfReportFn) (void *arg, const char *severity, const char *code,
							const char *location, const char *message);
extern OfTemplate *of_template_compile(json_object *payload, const char *location,
									   OfReportFn report, void *report_arg);
/*
 * Evaluate: result is a new reference.  A path that matches nothing fails
 * with States.Runtime (the spec's States.ParameterPathFailure is reported
 * by AWS as States.Runtime; see README).
 */
extern bool of_template_eval(const OfTemplate *tmpl, const OfEvalEnv *env,
							 json_object **result, OfError *err);
extern bool of_template_uses_context(const OfTemplate *tmpl);

/* ------------------------------------------------------------------
 * JSON helpers  (asl_json.c)
 * ------------------------------------------------------------------ */
extern bool of_json_equal(json_object *a, json_object *b);	/* deep, numbers by value */
extern json_object *of_json_new_number(double d);	/* integral → int64, else shortest repr */
extern bool of_json_is_number(json_object *v);
extern double of_json_number(json_object *v);
/* compact serialization (no spaces), caller frees with free() */
extern char *of_json_to_string(json_object *v);
/* parse text; depth-limited; NULL + err on failure (*out NULL is also "null") */
extern bool of_json_parse(const char *text, size_t len, int max_depth,
						  json_object **out, OfError *err);

/*
 * Parse an RFC 3339 timestamp ("2024-01-01T10:00:00.5+02:00", zone required)
 * to microseconds since the Unix epoch.
 */
extern bool of_parse_timestamp(const char *text, int64_t *usec_out);

/* ------------------------------------------------------------------
 * Choice rules  (asl_choice.c)
 * ------------------------------------------------------------------ */
typedef enum OfChoiceOp
{
	OF_OP_AND, OF_OP_OR, OF_OP_NOT,
	OF_OP_STRING_EQ, OF_OP_STRING_LT, OF_OP_STRING_GT, OF_OP_STRING_LE, OF_OP_STRING_GE,
	OF_OP_STRING_MATCHES,
	OF_OP_NUMERIC_EQ, OF_OP_NUMERIC_LT, OF_OP_NUMERIC_GT, OF_OP_NUMERIC_LE, OF_OP_NUMERIC_GE,
	OF_OP_BOOLEAN_EQ,
	OF_OP_TIMESTAMP_EQ, OF_OP_TIMESTAMP_LT, OF_OP_TIMESTAMP_GT, OF_OP_TIMESTAMP_LE, OF_OP_TIMESTAMP_GE,
	OF_OP_IS_NULL, OF_OP_IS_PRESENT, OF_OP_IS_NUMERIC, OF_OP_IS_STRING,
	OF_OP_IS_BOOLEAN, OF_OP_IS_TIMESTAMP
} OfChoiceOp;

typedef struct OfChoiceRule OfChoiceRule;
struct OfChoiceRule
{
	OfChoiceOp	op;
	const char *op_name;		/* e.g. "NumericLessThanPath" */
	OfPath	   *variable;		/* comparisons and type tests */
	bool		operand_is_path;	/* the *Path form */
	json_object *operand;		/* literal operand (borrowed from the definition) */
	OfPath	   *operand_path;	/* *Path operand */
	OfChoiceRule **children;	/* And/Or: n; Not: 1 */
	int			n_children;
	const char *next;			/* top-level rules only */
	int			next_index;
	OfTemplate *assign;			/* Assign of a top-level rule; $ is the input */
};

/*
 * Evaluate a rule against env (input = the Choice state's effective input).
 * A Variable that matches nothing fails with States.Runtime, except under
 * IsPresent.  Wrong JSON types compare false.
 */
extern bool of_choice_eval(const OfChoiceRule *rule, const OfEvalEnv *env,
						   bool *matched, OfError *err);
/*
 * StringMatches with * wildcards and \* \\ escapes.  Linear in the lengths
 * of text and pattern (literal segments found left to right with a linear
 * substring search), so it needs no interrupt checks.
 */
extern bool of_string_matches(const char *text, const char *pattern);

/* ------------------------------------------------------------------
 * Definitions  (asl_parse.c)
 * ------------------------------------------------------------------ */
typedef enum OfStateType
{
	OF_STATE_TASK, OF_STATE_PASS, OF_STATE_CHOICE, OF_STATE_WAIT,
	OF_STATE_SUCCEED, OF_STATE_FAIL, OF_STATE_PARALLEL, OF_STATE_MAP
} OfStateType;

extern const char *of_state_type_name(OfStateType type);	/* "Task", ... */

/* An optional path field that may also be JSON null (InputPath: null). */
typedef struct OfPathField
{
	bool		present;		/* the key is in the definition */
	bool		is_null;		/* ... with the value null */
	OfPath	   *path;			/* compiled, when present and not null */
} OfPathField;

typedef struct OfRetrier
{
	const char **error_equals;
	int			n_error_equals;
	double		interval_seconds;	/* default 1 */
	int			max_attempts;	/* default 3; 0 = never retry */
	double		backoff_rate;	/* default 2.0 */
	double		max_delay_seconds;	/* 0 = no cap */
	bool		jitter_full;	/* JitterStrategy FULL */
} OfRetrier;

typedef struct OfCatcher
{
	const char **error_equals;
	int			n_error_equals;
	const char *next;
	int			next_index;
	OfPathField result_path;	/* default $ */
	OfTemplate *assign;			/* Assign: $ is the error output */
} OfCatcher;

typedef struct OfMachine OfMachine;

typedef struct OfState
{
	const char *name;
	OfStateType type;
	const char *location;		/* "/States/Name" (with branch prefix) */
	const char *comment;

	/* transitions */
	const char *next;			/* NULL when End or terminal */
	int			next_index;		/* index into machine->states, -1 none */
	bool		end;

	/* input/output processing */
	OfPathField input_path;
	OfPathField output_path;
	OfPathField result_path;
	OfTemplate *parameters;		/* Parameters (Task, Pass, Parallel, Map legacy) */
	json_object *parameters_src;	/* Parameters as written (borrowed; Task, Pass, Parallel) */
	OfTemplate *result_selector;
	json_object *result;		/* Pass Result (borrowed) */
	bool		has_result;
	json_object *assign;		/* Assign (borrowed) */
	OfTemplate *assign_template;	/* Assign, compiled: variables to set */

	/* Task */
	const char *resource;
	int64_t		timeout_seconds;	/* 0 = none */
	OfPath	   *timeout_seconds_path;
	int64_t		heartbeat_seconds;	/* 0 = none */
	OfPath	   *heartbeat_seconds_path;
	OfRetrier  *retriers;
	int			n_retriers;
	OfCatcher  *catchers;
	int			n_catchers;

	/* Choice */
	OfChoiceRule **choices;
	int			n_choices;
	const char *default_next;
	int			default_index;

	/* Wait */
	bool		has_seconds;
	int64_t		seconds;
	OfPath	   *seconds_path;
	const char *timestamp;		/* literal Timestamp */
	int64_t		timestamp_usec;
	OfPath	   *timestamp_path;

	/* Fail */
	const char *error;
	const char *cause;
	OfExpr	   *error_path;		/* ErrorPath (path or intrinsic) */
	OfExpr	   *cause_path;

	/* Parallel */
	OfMachine **branches;
	int			n_branches;

	/* Map */
	OfMachine  *iterator;		/* ItemProcessor / Iterator */
	OfPath	   *items_path;
	OfTemplate *item_selector;	/* ItemSelector or legacy Parameters */
	int			max_concurrency;	/* 0 = no limit */
	json_object *item_reader;	/* raw ItemReader (borrowed) */
	json_object *item_batcher;	/* raw ItemBatcher (borrowed) */
	json_object *result_writer;	/* raw ResultWriter (borrowed), checked */
	double		tolerated_failure_percentage;
	int			tolerated_failure_count;
	OfPath	   *max_concurrency_path;	/* the *Path forms, read from the Map's input */
	OfPath	   *tolerated_failure_count_path;
	OfPath	   *tolerated_failure_percentage_path;

	/* true when any path/template of this state reads $$ */
	bool		uses_context;
} OfState;

struct OfMachine
{
	const char *start_at;
	int			start_index;
	OfState    *states;
	int			n_states;
	int64_t		timeout_seconds;	/* top-level TimeoutSeconds, 0 = none */
	const char *comment;
	const char *location_prefix;	/* "" top level, "/States/P/Branches/0" ... */
	const char **sorted_names;	/* for of_machine_find_state */
	int		   *sorted_index;
	json_object *doc;			/* the parsed document (owned only at top level) */
};

/* index of the state, or -1 */
extern int	of_machine_find_state(const OfMachine *m, const char *name);

/*
 * Resource resolution is the server's business: the parser asks this
 * callback about every Task Resource.  It returns true if the resource can
 * be run and may store an opaque handle; when it returns false it explains
 * why in `message` (for example "function conf.nope(jsonb) does not exist").
 */
typedef bool (*OfResolveFn) (void *arg, const char *resource,
							 char *message, size_t message_size);

typedef struct OfParseOptions
{
	OfReportFn	report;			/* every problem goes here (required) */
	void	   *report_arg;
	OfResolveFn resolve;		/* may be NULL: resources are not checked */
	void	   *resolve_arg;
	int			max_depth;		/* JSON nesting limit, 0 = default 512 */
	/* polled in the loops over states; true: report INTERRUPTED, fail */
	bool		(*interrupted) (void);
} OfParseOptions;

/*
 * Parse and validate a definition given as JSON text.  Every problem is
 * reported (severity "ERROR" or "WARNING", a stable code such as
 * "MISSING_FIELD", the JSON location such as
 * "/States/CheckInventory/Retry/0/BackoffRate", and a message).  Returns the
 * machine when there were no ERRORs, else NULL.  The returned machine owns
 * `doc` (json_object_put it with of_machine_free).
 */
extern OfMachine *of_machine_parse(const char *json_text, size_t len,
								   const OfParseOptions *opts);
extern void of_machine_free(OfMachine *m);	/* puts the json-c document */

#endif							/* OF_ASL_H */
