/*-------------------------------------------------------------------------
 *
 * definition.h
 *	  Validating, storing and caching state machine definitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_DEFINITION_H
#define OF_DEFINITION_H

#include "orderflow.h"
#include "lambda.h"

#include "nodes/pg_list.h"
#include "utils/uuid.h"

/*
 * A Task (or ItemReader) Resource bound to a SQL function.  A version
 * stores the function's signature (text, see OfFunctionSignature), never
 * its OID: OIDs change in a dump and restore.  The signature is resolved
 * to fn when the definition is loaded into a backend's cache, and again
 * after any change to pg_proc (a DROP, a CREATE OR REPLACE, a new
 * function), so a binding never names a dropped function.
 */
typedef struct OfBinding
{
	const char *resource;
	const char *signature;		/* e.g. fulfillment.process_order(jsonb) */
	Oid			fn;				/* InvalidOid: no such function (now) */
	int			nargs;			/* 1: (input), 2: (input, context); 0 if !fn */
	bool		retset;			/* RETURNS SETOF jsonb (an ItemReader) */
	Oid			table;			/* a ResultWriter bound to a table (signature
								 * "TABLE schema.name"), else InvalidOid */
} OfBinding;

/* The prefix of a binding's or registration's text that names a table */
#define OF_TABLE_BINDING_PREFIX "TABLE "

/* One parsed, immutable version of a state machine */
typedef struct OfDefinition
{
	pg_uuid_t	id;				/* hash key: state_machine_versions.definition_id */
	MemoryContext cxt;			/* owns everything below */
	const char *state_machine;
	int			version;
	OfMachine  *machine;
	OfBinding  *bindings;
	int			n_bindings;
	uint64		resolved_at;	/* the pg_proc generation of the bindings */
} OfDefinition;

/* One validation problem, as validate_definition() returns it */
typedef struct OfProblem
{
	char	   *severity;
	char	   *code;
	char	   *location;
	char	   *message;
	char	   *hint;			/* the fix, or NULL (not a validate_definition column) */
} OfProblem;

/*
 * Validate a definition; returns the list of OfProblem (empty = valid).
 * When resources_out is not NULL and the definition is valid, it receives
 * the Resource -> function signature map to store with the version.  Resources
 * are checked for the current user (EXECUTE privilege).  SPI must be
 * connected.
 */
extern List *OfValidateDefinition(Jsonb *definition, Jsonb **resources_out);

/* Raise an ERROR listing every problem (for create/update) */
extern void OfReportProblems(List *problems, const char *what);

/*
 * Get a cached parsed definition, loading it on first use (SPI connected).
 * The pointer stays valid until the end of the current batch (see
 * OfDefinitionCacheBatchBegin); outside a batch, until the next call.
 */
extern OfDefinition *OfGetDefinition(pg_uuid_t *id);

/*
 * Bracket a batch (OfRunDue): no cached definition is dropped in between,
 * since the batch holds pointers into them; at the end of the outermost
 * batch the cache shrinks to orderflow.definition_cache_size.
 */
extern void OfDefinitionCacheBatchBegin(void);
extern void OfDefinitionCacheBatchEnd(void);
extern const OfBinding *OfFindBinding(const OfDefinition *def, const char *resource);

/*
 * The text a binding stores for fn: schema-qualified name and argument
 * types, which regprocedurein resolves with search_path = pg_catalog.
 */
extern char *OfFunctionSignature(Oid fn);

/*
 * The function a Lambda FunctionName names for `role`: the first of its
 * registration strings (OfLambdaRegistrationKeys) registered by the role,
 * by a role whose privileges it has, or by a superuser (the rule of
 * register_resource).  InvalidOid when none is; *problem says why when a
 * registration exists but cannot serve (ambiguous, dropped, not a task
 * function).  *nargs: 1 or 2.  SPI connected.
 */
extern Oid	OfFindLambdaFunction(Oid role, const char *text, const OfLambdaFunction *f,
								 int *nargs, const char **problem);

/* Resolve a stored signature (InvalidOid if it names no function now) */
extern Oid	OfResolveSignature(const char *signature);

/* "TABLE schema.name": how a table binding is stored */
extern char *OfTableSignature(Oid rel);

/* Resolve a stored "schema.table" name (InvalidOid if it names no table now) */
extern Oid	OfResolveTable(const char *name);

/*
 * The Resource string a Map's ResultWriter is bound by (register_resource):
 * "arn:aws:s3:::BUCKET/PREFIX" ("arn:aws:s3:::BUCKET" without a Prefix), or
 * NULL when it names no target (WriterConfig only).
 */
extern char *OfResultWriterTarget(json_object *result_writer);

/*
 * Why rel cannot receive ResultWriter rows inserted as role, or NULL: a
 * table (or partitioned table) with columns key text and body jsonb on
 * which role has INSERT.
 */
extern const char *OfResultTableProblem(Oid rel, Oid role);

#endif
