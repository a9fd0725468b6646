/*-------------------------------------------------------------------------
 *
 * result_writer.h
 *	  Map ResultWriter: write a Map's results to the function or table
 *	  its Bucket/Prefix is bound to, a page at a time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_RESULT_WRITER_H
#define OF_RESULT_WRITER_H

#include "orderflow.h"
#include "definition.h"

#include "utils/uuid.h"

/* The Map run whose iterations are written */
typedef struct OfMapRun
{
	pg_uuid_t  *parent_id;		/* the execution of the Map state */
	const char *parent_id_text;
	int			tag;			/* which entry of the state (parent_tag) */
	Oid			owner;			/* the execution's owner: the writer runs as it */
	const char *state_machine;
	const char *state_name;
} OfMapRun;

/*
 * Write the iterations of run as result_writer says (SPI connected, inside
 * the step that completes the Map).  With a Resource: the objects AWS would
 * put (SUCCEEDED_n.json, FAILED_n.json, PENDING_n.json, then manifest.json)
 * go to binding, one call or row per object, and *out is the summary
 * {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}.  WriterConfig
 * only: *out is the transformed results.  All writes happen in a
 * subtransaction: on error nothing is left, and the error is returned in
 * err (States.ResultWriterFailed, or States.DataLimitExceeded).  *out is a
 * new json-c reference.
 */
extern bool OfWriteMapResults(const OfMapRun *run, json_object *result_writer,
							  const OfBinding *binding, json_object **out, OfError *err);

#endif
