/*-------------------------------------------------------------------------
 *
 * version.c
 *	  The installed version of the extension, read from pg_extension.
 *
 * Read on every call, not cached: ALTER EXTENSION UPDATE and DROP
 * EXTENSION change it under running workers, and one index probe of a
 * tiny catalog costs less than keeping a cache of it right.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "version.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

/*
 * The extension's row in pg_extension: its status and, when asked for and
 * installed, its version and owner.
 */
static OfSchemaStatus
read_extension(char **version, Oid *owner)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	OfSchemaStatus status = OF_SCHEMA_ABSENT;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("orderflow"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);
		char	   *installed = isnull ? pstrdup("") : TextDatumGetCString(d);

		status = strcmp(installed, OF_EXTVERSION) == 0 ? OF_SCHEMA_CURRENT : OF_SCHEMA_OTHER;
		if (version)
			*version = installed;
		if (owner)
			*owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return status;
}

/* See version.h */
OfSchemaStatus
OfGetSchemaStatus(char **version)
{
	return read_extension(version, NULL);
}

/* See version.h */
Oid
OfRequireCurrentSchema(void)
{
	char	   *installed = NULL;
	Oid			owner = InvalidOid;

	switch (read_extension(&installed, &owner))
	{
		case OF_SCHEMA_CURRENT:
			return owner;
		case OF_SCHEMA_ABSENT:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"orderflow\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION orderflow;")));
			break;
		case OF_SCHEMA_OTHER:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("orderflow's SQL objects in this database are at version %s, its library is at version %s",
							installed, OF_EXTVERSION),
					 errdetail("The library serves only the SQL objects of its own version."),
					 errhint("Run ALTER EXTENSION orderflow UPDATE;")));
			break;
	}
	return InvalidOid;			/* not reached */
}
