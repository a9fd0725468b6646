/*-------------------------------------------------------------------------
 *
 * privileges.h
 *	  Privileges on state machines: START, READ, STOP, REDRIVE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_PRIVILEGES_H
#define OF_PRIVILEGES_H

#include "orderflow.h"

#include "utils/uuid.h"

/*
 * Has role the privilege on the state machine (owner's privileges, or a
 * grant to PUBLIC or to a role whose privileges it has)?  False for a
 * deleted or unknown machine.  SPI must be connected.
 */
extern bool OfHasStateMachinePrivilege(const char *state_machine,
									   const char *privilege, Oid role);

/* Raise 42501 unless the caller may START the (existing) state machine */
extern void OfCheckStartPrivilege(const char *state_machine);

/*
 * May the caller act on an execution owned by exec_owner: its owner, or
 * privilege (STOP, REDRIVE) on its state machine?  An execution the caller
 * may not even READ "does not exist"; one it may read raises 42501 with a
 * hint.  SPI must be connected.
 */
extern void OfCheckExecutionPrivilege(pg_uuid_t *execution, Oid exec_owner,
									  const char *privilege);

#endif
