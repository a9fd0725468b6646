/*-------------------------------------------------------------------------
 *
 * privileges.c
 *	  Privileges on state machines (issue 10): grant_state_machine,
 *	  revoke_state_machine, has_state_machine_privilege, and the checks
 *	  start/stop/redrive make.
 *
 * A state machine's owner (and every role with the owner's privileges, and
 * superusers) has every privilege on it and on every execution of it.
 * Other roles need a grant, recorded in orderflow.state_machine_privileges
 * (grantee 0 = PUBLIC):
 *   START    start_execution, start_sync_execution (the execution then
 *            belongs to the starter and its tasks run as the starter)
 *   READ     see the machine's executions and their history (row level
 *            security, describe_execution, list_executions, wait_for_...)
 *   STOP     stop_execution of any of its executions
 *   REDRIVE  redrive_execution of any of its executions
 * The owner of an execution may always read, stop and redrive it.
 *
 * The table is written as the extension owner after the caller's rights
 * are checked here, like every other table of orderflow.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "privileges.h"
#include "storage.h"
#include "version.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#define OF_PRIV_START	0x1
#define OF_PRIV_READ	0x2
#define OF_PRIV_STOP	0x4
#define OF_PRIV_REDRIVE 0x8

static const char *const privilege_names[] = {"START", "READ", "STOP", "REDRIVE"};

/* The bit of one privilege name (case-insensitive, trimmed), or 0 */
static int
privilege_bit(const char *word)
{
	for (int i = 0; i < lengthof(privilege_names); i++)
	{
		if (pg_strcasecmp(word, privilege_names[i]) == 0)
			return 1 << i;
	}
	return 0;
}

/* Strip blanks at both ends, in place */
static char *
trimmed(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* "START, read" or "ALL" -> bit set; raise on anything else */
static int
parse_privileges(const char *list)
{
	char	   *copy = pstrdup(list);
	int			bits = 0;
	char	   *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		char	   *word = trimmed(tok);
		int			bit = pg_strcasecmp(word, "ALL") == 0 ? 0xF : privilege_bit(word);

		if (bit == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown state machine privilege \"%s\"", word),
					 errhint("Use a comma-separated list of START, READ, STOP and REDRIVE, or ALL.")));
		bits |= bit;
	}
	if (bits == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no state machine privilege given"),
				 errhint("Use a comma-separated list of START, READ, STOP and REDRIVE, or ALL.")));
	return bits;
}

/* One privilege name, canonical; raise if unknown */
static const char *
single_privilege(const char *name)
{
	char	   *word = trimmed(pstrdup(name));
	int			bit = privilege_bit(word);

	if (bit == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown state machine privilege \"%s\"", word),
				 errhint("Use START, READ, STOP or REDRIVE.")));
	for (int i = 0; i < lengthof(privilege_names); i++)
	{
		if (bit == (1 << i))
			return privilege_names[i];
	}
	return NULL;				/* not reached */
}

/*
 * Look a state machine up as the extension owner: its owner, whether it
 * was deleted, and the grantees of privilege.  False if there is no row.
 */
static bool
machine_privilege_row(const char *state_machine, const char *privilege,
					  Oid *owner, bool *deleted, Oid **grantees, int *ngrantees)
{
	OfOwnerSwitch sw;
	Datum		v[2];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum	   *elems;
	int			n;

	v[0] = CStringGetTextDatum(state_machine);
	v[1] = CStringGetTextDatum(privilege);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_PRIV_MACHINE, v, NULL, true, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	*owner = DatumGetObjectId(SPI_getbinval(tup, desc, Anum_priv_machine_owner, &isnull));
	*deleted = DatumGetBool(SPI_getbinval(tup, desc, Anum_priv_machine_deleted, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, Anum_priv_machine_grantees, &isnull)),
					  OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &n);
	*grantees = palloc(sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*grantees)[i] = DatumGetObjectId(elems[i]);
	*ngrantees = n;
	return true;
}

/* See privileges.h */
bool
OfHasStateMachinePrivilege(const char *state_machine, const char *privilege, Oid role)
{
	Oid			owner;
	bool		deleted;
	Oid		   *grantees;
	int			n;

	if (!machine_privilege_row(state_machine, privilege, &owner, &deleted, &grantees, &n) ||
		deleted)
		return false;
	if (has_privs_of_role(role, owner))
		return true;
	for (int i = 0; i < n; i++)
	{
		if (grantees[i] == InvalidOid || has_privs_of_role(role, grantees[i]))
			return true;
	}
	return false;
}

/* See privileges.h */
void
OfCheckStartPrivilege(const char *state_machine)
{
	Oid			caller = GetUserId();

	if (!OfHasStateMachinePrivilege(state_machine, "START", caller))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for state machine \"%s\"", state_machine),
				 errdetail("Starting a state machine needs the START privilege on it."),
				 errhint("Its owner can grant START with orderflow.grant_state_machine(%s, 'START', %s).",
						 quote_literal_cstr(state_machine),
						 quote_literal_cstr(GetUserNameFromId(caller, false)))));
}

/* See privileges.h */
void
OfCheckExecutionPrivilege(pg_uuid_t *execution, Oid exec_owner, const char *privilege)
{
	Oid			caller = GetUserId();
	Datum		arg = UUIDPGetDatum(execution);
	OfOwnerSwitch sw;
	bool		isnull;
	char	   *state_machine;

	if (has_privs_of_role(caller, exec_owner))
		return;
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_PRIV_EXECUTION_MACHINE, &arg, NULL, true, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		state_machine = NULL;
	else
		state_machine = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, Anum_priv_execution_machine_state_machine, &isnull));
	if (state_machine != NULL &&
		OfHasStateMachinePrivilege(state_machine, privilege, caller))
		return;
	/* an execution the caller may not see does not exist for it */
	if (state_machine == NULL ||
		!OfHasStateMachinePrivilege(state_machine, "READ", caller))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("execution %s does not exist", OfUuidText(execution))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for execution %s", OfUuidText(execution)),
			 errdetail("Only the role that started it, or a role with the %s privilege on state machine \"%s\", may do this.",
					   privilege, state_machine),
			 errhint("The state machine's owner can grant it with orderflow.grant_state_machine(%s, '%s', %s).",
					 quote_literal_cstr(state_machine), privilege,
					 quote_literal_cstr(GetUserNameFromId(caller, false)))));
}

/* ---------------------------------------------------------------------
 * grant_state_machine, revoke_state_machine, has_state_machine_privilege
 * --------------------------------------------------------------------- */

/* Common body of grant and revoke */
static void
change_privileges(FunctionCallInfo fcinfo, bool grant)
{
	char	   *state_machine = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			bits = parse_privileges(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	char	   *grantee_name = trimmed(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	Oid			grantee;
	Oid			owner;
	bool		deleted;
	Oid		   *unused;
	int			n;
	OfOwnerSwitch sw;

	/* PUBLIC is a reserved word: no role can be called that */
	grantee = pg_strcasecmp(grantee_name, "PUBLIC") == 0 ? InvalidOid
		: get_role_oid(grantee_name, false);

	OfConnectSpi();
	if (!machine_privilege_row(state_machine, "START", &owner, &deleted, &unused, &n) || deleted)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("state machine \"%s\" does not exist", state_machine),
				 errhint("Create it with orderflow.create_state_machine().")));
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of state machine %s", state_machine),
				 errdetail("Only its owner (or a role with the owner's privileges, or a superuser) grants and revokes privileges on a state machine.")));

	OfBecomeExtensionOwner(&sw);
	for (int i = 0; i < lengthof(privilege_names); i++)
	{
		Datum		v[4];

		if (!(bits & (1 << i)))
			continue;
		v[0] = CStringGetTextDatum(state_machine);
		v[1] = ObjectIdGetDatum(grantee);
		v[2] = CStringGetTextDatum(privilege_names[i]);
		/* recorded as granted by the owner, as PostgreSQL does */
		v[3] = ObjectIdGetDatum(owner);
		OfExecQuery(grant ? OFQ_PRIV_GRANT : OFQ_PRIV_REVOKE, v, NULL, false, 0);
	}
	OfRestoreIdentity(&sw);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(orderflow_grant_state_machine);

/* grant_state_machine(state_machine, privileges, grantee) */
Datum
orderflow_grant_state_machine(PG_FUNCTION_ARGS)
{
	OfRequireCurrentSchema();
	change_privileges(fcinfo, true);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_revoke_state_machine);

/* revoke_state_machine(state_machine, privileges, grantee) */
Datum
orderflow_revoke_state_machine(PG_FUNCTION_ARGS)
{
	OfRequireCurrentSchema();
	change_privileges(fcinfo, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_has_state_machine_privilege);

/* has_state_machine_privilege(state_machine, privilege), for current_user */
Datum
orderflow_has_state_machine_privilege(PG_FUNCTION_ARGS)
{
	char	   *state_machine = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *privilege = single_privilege(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	bool		result;

	OfRequireCurrentSchema();
	OfConnectSpi();
	result = OfHasStateMachinePrivilege(state_machine, privilege, GetUserId());
	SPI_finish();
	PG_RETURN_BOOL(result);
}
