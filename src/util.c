/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers the SQL-callable functions share: acting as the
 *	  extension owner, connecting SPI, and random execution ids.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "orderflow.h"
#include "storage.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

/*
 * Act as the extension owner for orderflow's own reads and writes: users
 * have no write privileges on orderflow's tables, so the API functions check
 * the caller's rights themselves and then switch, the way pg_cron does.
 */
void
OfBecomeExtensionOwner(OfOwnerSwitch *sw)
{
	bool		isnull;
	Oid			owner;

	OfExecQuery(OFQ_EXTENSION_OWNER, NULL, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"orderflow\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION orderflow;")));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(owner, sw->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Return to the caller's identity */
void
OfRestoreIdentity(OfOwnerSwitch *sw)
{
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}

/* Connect SPI or fail */
void
OfConnectSpi(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "orderflow: SPI_connect failed");
}

/* Fill id with a random (version 4) UUID */
void
OfRandomUuid(pg_uuid_t *id)
{
	if (!pg_strong_random(id->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random id")));
	id->data[6] = (id->data[6] & 0x0f) | 0x40;
	id->data[8] = (id->data[8] & 0x3f) | 0x80;
}

/* The text form of a UUID */
char *
OfUuidText(pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}
