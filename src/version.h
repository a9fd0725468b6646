/*-------------------------------------------------------------------------
 *
 * version.h
 *	  Which version of orderflow's SQL objects this database holds, and
 *	  whether the loaded library serves it.
 *
 * The library serves only the SQL objects of its own version
 * (OF_EXTVERSION, from the Makefile's EXTVERSION): after a new library is
 * installed, a database still at an older version is refused, by the SQL
 * functions with an ERROR whose hint says to run ALTER EXTENSION orderflow
 * UPDATE, and by the workers, which leave it alone until it is updated.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_VERSION_H
#define OF_VERSION_H

#ifndef OF_EXTVERSION
#error "OF_EXTVERSION must be defined (the Makefile passes -DOF_EXTVERSION)"
#endif

typedef enum OfSchemaStatus
{
	OF_SCHEMA_ABSENT,			/* no extension orderflow in this database */
	OF_SCHEMA_CURRENT,			/* installed at the library's version */
	OF_SCHEMA_OTHER				/* installed at another version */
} OfSchemaStatus;

/*
 * The state of the extension in the current database.  Needs a transaction
 * (reads pg_extension through its index, without SPI).  When version is
 * not NULL and the extension is installed, *version is its version
 * (palloc'd in the current memory context).
 */
extern OfSchemaStatus OfGetSchemaStatus(char **version);

/*
 * ERROR unless the extension is installed at the library's version: the
 * guard of every SQL-callable function (a library newer than the SQL
 * objects must not run its queries against the older tables).  Returns the
 * extension's owner, read from the same row.
 */
extern Oid	OfRequireCurrentSchema(void);

#endif							/* OF_VERSION_H */
