/*-------------------------------------------------------------------------
 *
 * result_writer.c
 *	  Map ResultWriter: write a Map's results to the SQL function or table
 *	  its Bucket/Prefix is bound to (register_resource,
 *	  register_resource_table), as AWS writes them to S3.
 *
 * AWS puts the iterations of a Map Run into objects under
 * PREFIX/MAPRUNID/: SUCCEEDED_n.json, FAILED_n.json, PENDING_n.json, then
 * manifest.json listing them, and the Map's output becomes
 * {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}.  Here each
 * object is one call of the bound function ({"Bucket", "Key", "Body"}) or
 * one row (key, body) of the bound table.  The iterations are read a page
 * at a time (OFQ_CHILD_RESULT_PAGE) and an object is written as soon as it
 * holds OF_WRITER_FILE_ITEMS results or passes orderflow.max_payload_size
 * bytes, so what is held in memory is bounded by a few objects whatever
 * the number of iterations.
 *
 * The writes are user code: planned and run as the execution's owner with
 * orderflow.task_search_path pinned (OfEnterUserCode), inside a
 * subtransaction of the step that completes the Map, so they commit with
 * that step or not at all, and an error leaves nothing behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "result_writer.h"
#include "jsonb_conv.h"
#include "storage.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* iterations read per query */
#define OF_WRITER_PAGE 1000
/* most results in one object (SUCCEEDED_n.json, ...) */
#define OF_WRITER_FILE_ITEMS 1000

typedef enum Transformation
{
	TRANSFORM_NONE,				/* every iteration with its metadata */
	TRANSFORM_COMPACT,			/* the outputs only */
	TRANSFORM_FLATTEN			/* the outputs, arrays spread out */
} Transformation;

/* the objects of one status, as AWS groups them */
enum
{
	FILE_SUCCEEDED, FILE_FAILED, FILE_PENDING, N_FILES
};
static const char *const file_status[N_FILES] = {"SUCCEEDED", "FAILED", "PENDING"};

/* The object being filled for one status */
typedef struct ResultFile
{
	StringInfoData data;		/* the entries so far, separated */
	int			count;			/* entries in data */
	int			written;		/* objects written: the n of STATUS_n.json */
	StringInfoData manifest;	/* {"Key": ..., "Size": ...} of each, comma-separated */
} ResultFile;

typedef struct Writer
{
	const OfMapRun *run;
	const OfBinding *binding;
	bool		export;			/* Resource given: write objects, else return them */
	bool		jsonl;			/* OutputType JSONL */
	Transformation transformation;
	const char *bucket;
	char	   *folder;			/* "PREFIX/MAPRUNID/" */
	char	   *map_run_arn;
	SPIPlanPtr	plan;			/* the write, prepared once per Map run */
	ResultFile	files[N_FILES];
	bool		too_large;		/* returned results passed orderflow.max_payload_size */
	MemoryContext write_cxt;	/* reset after every object written */
} Writer;

/* A WriterConfig field, or NULL */
static const char *
writer_config(json_object *rw, const char *field)
{
	json_object *config;
	json_object *v;

	if (json_object_object_get_ex(rw, "WriterConfig", &config) &&
		json_object_object_get_ex(config, field, &v) &&
		json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* Read the ResultWriter's settings (validated when the definition was stored) */
static void
init_writer(Writer *w, const OfMapRun *run, json_object *rw, const OfBinding *binding)
{
	const char *transformation = writer_config(rw, "Transformation");
	const char *output = writer_config(rw, "OutputType");
	json_object *params = NULL;
	json_object *v;
	const char *prefix = "";
	char	   *run_id = psprintf("%s-%d", run->parent_id_text, run->tag);

	memset(w, 0, sizeof(Writer));
	w->run = run;
	w->binding = binding;
	w->export = json_object_object_get_ex(rw, "Resource", NULL);
	w->jsonl = output != NULL && strcmp(output, "JSONL") == 0;
	/* AWS's defaults: NONE when exporting, COMPACT when returning them */
	w->transformation = w->export ? TRANSFORM_NONE : TRANSFORM_COMPACT;
	if (transformation != NULL)
		w->transformation = strcmp(transformation, "NONE") == 0 ? TRANSFORM_NONE :
			strcmp(transformation, "FLATTEN") == 0 ? TRANSFORM_FLATTEN : TRANSFORM_COMPACT;
	json_object_object_get_ex(rw, "Parameters", &params);
	w->bucket = "";
	if (params != NULL && json_object_object_get_ex(params, "Bucket", &v))
		w->bucket = pstrdup(json_object_get_string(v));
	if (params != NULL && json_object_object_get_ex(params, "Prefix", &v) &&
		json_object_get_string_len(v) > 0)
		prefix = json_object_get_string(v);
	w->folder = prefix[0] ? psprintf("%s/%s/", prefix, run_id) : psprintf("%s/", run_id);
	w->map_run_arn = psprintf("arn:aws:states:::mapRun:%s/%s:%s",
							  run->state_machine, run->state_name, run_id);
	for (int i = 0; i < N_FILES; i++)
	{
		initStringInfo(&w->files[i].data);
		initStringInfo(&w->files[i].manifest);
	}
	w->write_cxt = AllocSetContextCreate(CurrentMemoryContext, "orderflow result writer",
										 ALLOCSET_DEFAULT_SIZES);
}

/* Prepare the write as the owner: planning may inline a SQL function */
static void
prepare_write(Writer *w)
{
	const OfBinding *b = w->binding;
	Oid			argtypes[2];
	char	   *sql;
	OfUserCode	uc;
	char	   *nspname;
	char	   *relname;

	if (OidIsValid(b->table))
	{
		/*
		 * Looked up by name again: the binding's OID is kept for as long as
		 * the definition is cached, and the table may have been dropped (and
		 * created again) since; a stale OID has no name.
		 */
		Oid			rel = OfResolveTable(b->signature + strlen(OF_TABLE_BINDING_PREFIX));

		nspname = OidIsValid(rel) ? get_namespace_name(get_rel_namespace(rel)) : NULL;
		relname = OidIsValid(rel) ? get_rel_name(rel) : NULL;
		if (nspname == NULL || relname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("the table %s the ResultWriter target %s is bound to does not exist",
							b->signature + strlen(OF_TABLE_BINDING_PREFIX), b->resource),
					 errhint("Create the table again, or bind the target to another table with "
							 "orderflow.register_resource_table().")));
		sql = psprintf("INSERT INTO %s (key, body) VALUES ($1, $2)",
					   quote_qualified_identifier(nspname, relname));
		argtypes[0] = TEXTOID;
		argtypes[1] = JSONBOID;
	}
	else
	{
		/* checked at every write: a REVOKE takes effect at the next Map */
		OfCheckExecute(b->fn, w->run->owner, "ResultWriter functions");
		nspname = get_namespace_name(get_func_namespace(b->fn));
		relname = get_func_name(b->fn);
		if (nspname == NULL || relname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("the function %s the ResultWriter target %s is bound to does not exist",
							b->signature, b->resource)));
		sql = psprintf("SELECT %s($1)", quote_qualified_identifier(nspname, relname));
		argtypes[0] = JSONBOID;
	}
	OfEnterUserCode(w->run->owner, &uc);
	w->plan = SPI_prepare(sql, OidIsValid(b->table) ? 2 : 1, argtypes);
	if (w->plan == NULL)
		elog(ERROR, "orderflow: could not prepare the ResultWriter's write: %s",
			 SPI_result_code_string(SPI_result));
	OfLeaveUserCode(&uc);
}

/* Hand one object to the bound target: a call of the function, or a row */
static void
put_object(Writer *w, const char *key, const char *body_text)
{
	Datum		args[2];
	OfUserCode	uc;
	int			rc;

	if (w->plan == NULL)
		prepare_write(w);
	if (OidIsValid(w->binding->table))
	{
		args[0] = CStringGetTextDatum(key);
		args[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(body_text));
	}
	else
	{
		StringInfoData obj;

		initStringInfo(&obj);
		appendStringInfoString(&obj, "{\"Bucket\": ");
		escape_json(&obj, w->bucket);
		appendStringInfoString(&obj, ", \"Key\": ");
		escape_json(&obj, key);
		appendStringInfoString(&obj, ", \"Body\": ");
		appendStringInfoString(&obj, body_text);
		appendStringInfoChar(&obj, '}');
		args[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(obj.data));
	}
	OfEnterUserCode(w->run->owner, &uc);
	rc = SPI_execute_plan(w->plan, args, NULL, false, 0);
	OfLeaveUserCode(&uc);
	if (rc < 0)
		elog(ERROR, "orderflow: the ResultWriter's write failed: %s", SPI_result_code_string(rc));
	/* the function's result is not used: nothing piles up per object */
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The object's body as JSON text: a JSON array of the entries, or for
 * JSONL a JSON string holding the lines.  *size is what AWS would store.
 */
static char *
body_text(Writer *w, ResultFile *f, size_t *size)
{
	StringInfoData body;

	initStringInfo(&body);
	if (w->jsonl)
	{
		escape_json(&body, f->data.data);
		*size = f->data.len;
	}
	else
	{
		appendStringInfoChar(&body, '[');
		appendBinaryStringInfo(&body, f->data.data, f->data.len);
		appendStringInfoChar(&body, ']');
		*size = body.len;
	}
	return body.data;
}

/* Write the object of one status and start the next one */
static void
write_file(Writer *w, int status)
{
	ResultFile *f = &w->files[status];
	MemoryContext old = MemoryContextSwitchTo(w->write_cxt);
	char	   *key = psprintf("%s%s_%d.json", w->folder, file_status[status], f->written);
	size_t		size;
	char	   *body = body_text(w, f, &size);

	put_object(w, key, body);
	MemoryContextSwitchTo(old);
	if (f->manifest.len > 0)
		appendStringInfoChar(&f->manifest, ',');
	appendStringInfoString(&f->manifest, "{\"Key\": ");
	escape_json(&f->manifest, key);
	appendStringInfo(&f->manifest, ", \"Size\": %zu}", size);
	MemoryContextReset(w->write_cxt);
	resetStringInfo(&f->data);
	f->count = 0;
	f->written++;
}

/* Add one entry (JSON text) to the object of its status */
static void
add_entry(Writer *w, int status, const char *entry)
{
	ResultFile *f;

	/* returned, not written: one list in item order, whatever the status */
	if (!w->export)
		status = FILE_SUCCEEDED;
	f = &w->files[status];

	if (f->count > 0 && !w->jsonl)
		appendStringInfoChar(&f->data, ',');
	appendStringInfoString(&f->data, entry);
	if (w->jsonl)
		appendStringInfoChar(&f->data, '\n');
	f->count++;
	if (!w->export)
		w->too_large = f->data.len > of_max_payload_bytes;
	else if (f->count >= OF_WRITER_FILE_ITEMS || f->data.len >= of_max_payload_bytes)
		write_file(w, status);
}

/* A column of the current row as text, or NULL */
static char *
column_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

/* Add a string member to an object being built as text */
static void
add_member(StringInfo buf, const char *name, const char *value)
{
	if (value == NULL)
		return;
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/* The NONE entry of an iteration: its output (or error) and its metadata */
static char *
full_entry(Writer *w, HeapTuple tup, TupleDesc desc, const char *status)
{
	StringInfoData e;
	bool		succeeded = strcmp(status, "SUCCEEDED") == 0;

	initStringInfo(&e);
	appendStringInfoChar(&e, '{');
	add_member(&e, "ExecutionArn", column_text(tup, desc, Anum_child_result_page_id));
	add_member(&e, "Name", column_text(tup, desc, Anum_child_result_page_name));
	add_member(&e, "StateMachineArn", w->run->state_machine);
	add_member(&e, "Status", status);
	add_member(&e, "StartDate", column_text(tup, desc, Anum_child_result_page_start_date));
	add_member(&e, "StopDate", column_text(tup, desc, Anum_child_result_page_stop_date));
	add_member(&e, "Input", column_text(tup, desc, Anum_child_result_page_input));
	appendStringInfoString(&e, ",\"InputDetails\":{\"Included\":true}");
	if (succeeded)
	{
		char	   *output = column_text(tup, desc, Anum_child_result_page_output);

		add_member(&e, "Output", output ? output : "null");
		appendStringInfoString(&e, ",\"OutputDetails\":{\"Included\":true}");
	}
	else
	{
		add_member(&e, "Error", column_text(tup, desc, Anum_child_result_page_error));
		add_member(&e, "Cause", column_text(tup, desc, Anum_child_result_page_cause));
	}
	appendStringInfoChar(&e, '}');
	return e.data;
}

/* Add the entries of one iteration, as the Transformation says */
static void
add_iteration(Writer *w, HeapTuple tup, TupleDesc desc)
{
	char	   *status = column_text(tup, desc, Anum_child_result_page_status);
	int			file = strcmp(status, "SUCCEEDED") == 0 ? FILE_SUCCEEDED :
		strcmp(status, "RUNNING") == 0 ? FILE_PENDING : FILE_FAILED;
	bool		isnull;
	Datum		output;
	Jsonb	   *jb;

	/* a failed iteration is written whole whatever the Transformation (AWS) */
	if (w->transformation == TRANSFORM_NONE || file != FILE_SUCCEEDED)
	{
		add_entry(w, file, full_entry(w, tup, desc, status));
		return;
	}
	output = SPI_getbinval(tup, desc, Anum_child_result_page_output, &isnull);
	jb = isnull ? NULL : DatumGetJsonbP(output);
	if (jb != NULL && w->transformation == TRANSFORM_FLATTEN &&
		JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb))
	{
		JsonbIterator *it = JsonbIteratorInit(&jb->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		/* each element of the output array is an entry of its own */
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_ELEM)
			{
				Jsonb	   *elem = JsonbValueToJsonb(&v);

				add_entry(w, file, JsonbToCString(NULL, &elem->root, VARSIZE(elem)));
			}
		}
		return;
	}
	add_entry(w, file, jb == NULL ? "null" : JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
}

/* Read the iterations a page at a time and add them */
static void
add_all_iterations(Writer *w)
{
	MemoryContext page_cxt = AllocSetContextCreate(CurrentMemoryContext, "orderflow result page",
												   ALLOCSET_DEFAULT_SIZES);
	int			last = -1;
	uint64		n;

	do
	{
		Datum		args[4];
		SPITupleTable *page;
		MemoryContext old;

		args[0] = UUIDPGetDatum(w->run->parent_id);
		args[1] = Int32GetDatum(w->run->tag);
		args[2] = Int32GetDatum(last);
		args[3] = Int32GetDatum(OF_WRITER_PAGE);
		OfExecQuery(OFQ_CHILD_RESULT_PAGE, args, NULL, true, 0);
		page = SPI_tuptable;
		n = SPI_processed;
		old = MemoryContextSwitchTo(page_cxt);
		for (uint64 i = 0; i < n && !w->too_large; i++)
		{
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			add_iteration(w, page->vals[i], page->tupdesc);
			last = DatumGetInt32(SPI_getbinval(page->vals[i], page->tupdesc,
											   Anum_child_result_page_branch_index, &isnull));
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(page);
		MemoryContextReset(page_cxt);
	} while (n == OF_WRITER_PAGE && !w->too_large);
	MemoryContextDelete(page_cxt);
}

/* Write what is left, then manifest.json; *out: the Map's new output */
static json_object *
finish_export(Writer *w)
{
	StringInfoData manifest;
	char	   *key = psprintf("%smanifest.json", w->folder);
	json_object *summary;
	json_object *details;

	for (int i = 0; i < N_FILES; i++)
	{
		if (w->files[i].count > 0)
			write_file(w, i);
	}
	initStringInfo(&manifest);
	appendStringInfoString(&manifest, "{\"DestinationBucket\": ");
	escape_json(&manifest, w->bucket);
	appendStringInfoString(&manifest, ", \"MapRunArn\": ");
	escape_json(&manifest, w->map_run_arn);
	appendStringInfo(&manifest, ", \"ResultFiles\": {\"FAILED\": [%s], \"PENDING\": [%s], \"SUCCEEDED\": [%s]}}",
					 w->files[FILE_FAILED].manifest.data, w->files[FILE_PENDING].manifest.data,
					 w->files[FILE_SUCCEEDED].manifest.data);
	put_object(w, key, manifest.data);
	summary = json_object_new_object();
	details = json_object_new_object();
	json_object_object_add(summary, "MapRunArn", json_object_new_string(w->map_run_arn));
	json_object_object_add(details, "Bucket", json_object_new_string(w->bucket));
	json_object_object_add(details, "Key", json_object_new_string(key));
	json_object_object_add(summary, "ResultWriterDetails", details);
	return summary;
}

/*
 * WriterConfig only: the entries, in item order (they were all added to
 * the SUCCEEDED object, see write_results), are the Map's result, within
 * orderflow.max_payload_size.
 */
static json_object *
finish_preview(Writer *w, OfError *err)
{
	ResultFile *f = &w->files[FILE_SUCCEEDED];
	size_t		size;
	char	   *body = body_text(w, f, &size);

	if (w->too_large || size > (size_t) of_max_payload_bytes)
	{
		(void) of_fail(err, OF_ERR_DATA_LIMIT,
					   "the results of the Map are over orderflow.max_payload_size (%d bytes); "
					   "write them with a ResultWriter Resource", of_max_payload_bytes);
		return NULL;
	}
	return OfTextToJsonc(body);
}

/* Everything between the subtransaction's start and end */
static json_object *
write_results(Writer *w, OfError *err)
{
	add_all_iterations(w);
	if (w->export)
		return finish_export(w);
	return finish_preview(w, err);
}

/* See result_writer.h */
bool
OfWriteMapResults(const OfMapRun *run, json_object *result_writer, const OfBinding *binding,
				  json_object **out, OfError *err)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Writer		w;
	json_object *result = NULL;
	bool		export = json_object_object_get_ex(result_writer, "Resource", NULL);

	if (export && (binding == NULL || (!OidIsValid(binding->fn) && !OidIsValid(binding->table))))
		return of_fail(err, OF_ERR_RESULT_WRITER,
					   "the function or table the ResultWriter target %s was bound to does not exist",
					   binding ? binding->signature : "(unbound)");
	init_writer(&w, run, result_writer, binding);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		result = write_results(&w, err);
		if (result != NULL)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		OfReleaseUserAdvisoryLocks();
		/* a cancel or a shutdown is not the writer's failure */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		result = NULL;
		(void) of_fail(err, OF_ERR_RESULT_WRITER, "%s", edata->message);
	}
	PG_END_TRY();
	/* what the writer's code locked for its session goes with it */
	OfReleaseUserAdvisoryLocks();
	MemoryContextDelete(w.write_cxt);
	*out = result;
	return result != NULL;
}
