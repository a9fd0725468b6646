/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  Leaving a database alone while pg_restore fills it (restore.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_RESTORE_H
#define OF_RESTORE_H

#include "utils/timestamp.h"

/* Is this backend a pg_restore session (by its application_name)? */
extern bool OfIsRestoreSession(void);
/* Pid of a pg_restore session connected to dboid (not this one), 0 if none */
extern int	OfRestoreSessionIn(Oid dboid);
/* The same for this backend's database, looked at most once a second */
extern int	OfRestoreSessionHere(void);
/* Mark dboid RESTORING (pg_restore pid seen there); true if it was not */
extern bool OfRestoreMark(Oid dboid, int pid);
/* The LOG line of a database left alone for pg_restore session pid */
extern void OfRestoreLogLeave(const char *dbname, int pid);
/* Launcher: release restored databases; ms until the next look, -1 none */
extern long OfRestoreRelease(TimestampTz now);

#endif							/* OF_RESTORE_H */
