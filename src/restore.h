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

/* Is this backend a superuser's pg_restore session (application_name)? */
extern bool OfIsRestoreSession(void);
/* Pid of a superuser's pg_restore session in dboid (not this one), or 0 */
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
