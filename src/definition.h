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

#include "nodes/pg_list.h"
#include "utils/uuid.h"

/* A Task Resource bound to a SQL function when the version was stored */
typedef struct OfBinding
{
	const char *resource;
	Oid			fn;
	int			nargs;			/* 1: (input), 2: (input, context) */
} OfBinding;

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
} OfDefinition;

/* One validation problem, as validate_definition() returns it */
typedef struct OfProblem
{
	char	   *severity;
	char	   *code;
	char	   *location;
	char	   *message;
} OfProblem;

/*
 * Validate a definition; returns the list of OfProblem (empty = valid).
 * When resources_out is not NULL and the definition is valid, it receives
 * the Resource -> function OID map to store with the version.  Resources
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

#endif
