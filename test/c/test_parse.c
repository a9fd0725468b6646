/*-------------------------------------------------------------------------
 *
 * test_parse.c
 *	  Tests of of_machine_parse(): the model it builds and the problems it
 *	  reports (code and JSON location), the shared conformance definitions,
 *	  hostile input and large definitions.
 *
 * Definitions are written with single quotes for readability; def() turns
 * them into double quotes (none of the tests needs a literal apostrophe).
 *
 * The conformance directory is $OF_CONFORMANCE_DIR, else ../shared/conformance
 * relative to the repository root (tried from the root and from test/c).
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <time.h>

#include "testutil.h"

/* one problem as reported by the parser */
typedef struct Problem
{
	char	   *severity;
	char	   *code;
	char	   *location;
	char	   *message;
} Problem;

/* everything reported by one parse */
typedef struct Problems
{
	Problem    *items;
	int			n;
	int			cap;
	int			n_errors;
	OfMachine  *machine;		/* the last machine parsed, freed by the next parse */
} Problems;

/* what the test resolver refuses and what it was asked about */
typedef struct Resolver
{
	const char *refuse;			/* refuse this resource (NULL: accept all) */
	int			calls;
	char		last[256];
} Resolver;

/* Collect one reported problem (the parser's report callback) */
static void
collect(void *arg, const char *severity, const char *code, const char *location,
		const char *message)
{
	Problems   *ps = arg;
	Problem    *p;

	if (ps->n == ps->cap)
	{
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->items = realloc(ps->items, ps->cap * sizeof(Problem));
		if (ps->items == NULL)
			abort();
	}
	p = &ps->items[ps->n++];
	p->severity = strdup(severity);
	p->code = strdup(code);
	p->location = strdup(location);
	p->message = strdup(message);
	if (strcmp(severity, "ERROR") == 0)
		ps->n_errors++;
}

/* Forget every collected problem */
static void
problems_reset(Problems *ps)
{
	int			i;

	for (i = 0; i < ps->n; i++)
	{
		free(ps->items[i].severity);
		free(ps->items[i].code);
		free(ps->items[i].location);
		free(ps->items[i].message);
	}
	free(ps->items);
	memset(ps, 0, sizeof(*ps));
}

/* Release the json-c document of the last machine parsed */
static void
release_machine(Problems *ps)
{
	of_machine_free(ps->machine);
	ps->machine = NULL;
}

/* Print every collected problem (after a failed check) */
static void
problems_dump(const Problems *ps)
{
	int			i;

	for (i = 0; i < ps->n; i++)
		printf("     %s %s at \"%s\": %s\n", ps->items[i].severity,
			   ps->items[i].code, ps->items[i].location, ps->items[i].message);
}

/* The test resolver: accepts everything except r->refuse */
static bool
resolve(void *arg, const char *resource, char *message, size_t size)
{
	Resolver   *r = arg;

	r->calls++;
	snprintf(r->last, sizeof(r->last), "%s", resource);
	if (r->refuse != NULL && strcmp(resource, r->refuse) == 0)
	{
		snprintf(message, size, "function %s(jsonb) does not exist", resource);
		return false;
	}
	return true;
}

/* Turn ' into " and \' into ' (the copy goes to the arena) */
static const char *
def(const char *text)
{
	char	   *copy = of_strdup(text);
	char	   *o = copy;
	const char *p;

	for (p = text; *p; p++)
	{
		if (p[0] == '\\' && p[1] == '\'')
			*o++ = *++p;
		else
			*o++ = (*p == '\'') ? '"' : *p;
	}
	*o = '\0';
	return copy;
}

/* Parse text with a resolver (may be NULL), collecting problems into ps */
static OfMachine *
parse_with(const char *text, size_t len, Problems *ps, Resolver *r, int max_depth)
{
	OfParseOptions opts;

	release_machine(ps);
	problems_reset(ps);
	memset(&opts, 0, sizeof(opts));
	opts.report = collect;
	opts.report_arg = ps;
	opts.resolve = r ? resolve : NULL;
	opts.resolve_arg = r;
	opts.max_depth = max_depth;
	ps->machine = of_machine_parse(text, len, &opts);
	return ps->machine;
}

/* Parse a single-quoted definition without a resolver */
static OfMachine *
parse(const char *quoted, Problems *ps)
{
	const char *text = def(quoted);

	return parse_with(text, strlen(text), ps, NULL, 0);
}

/* Is there a problem with this code and location (NULL: any)? */
static const Problem *
find_problem(const Problems *ps, const char *code, const char *location)
{
	int			i;

	for (i = 0; i < ps->n; i++)
		if ((code == NULL || strcmp(ps->items[i].code, code) == 0) &&
			(location == NULL || strcmp(ps->items[i].location, location) == 0))
			return &ps->items[i];
	return NULL;
}

/* Check that the definition parses without any problem; returns the machine */
static OfMachine *
expect_valid(const char *quoted, Problems *ps, int line)
{
	OfMachine  *m = parse(quoted, ps);

	if (!tu_check(m != NULL && ps->n == 0, __FILE__, line, "definition is valid"))
		problems_dump(ps);
	return m;
}

/*
 * Check that the definition is refused with (at least) an ERROR of this
 * code at this location; returns the problem so messages can be checked.
 */
static const Problem *
expect_error(const char *quoted, Problems *ps, const char *code,
			 const char *location, int line)
{
	OfMachine  *m = parse(quoted, ps);
	const Problem *p = find_problem(ps, code, location);
	char		what[512];

	snprintf(what, sizeof(what), "refused with %s at \"%s\"",
			 code ? code : "an error", location ? location : "anywhere");
	if (!tu_check(m == NULL && p != NULL && strcmp(p->severity, "ERROR") == 0,
				  __FILE__, line, what))
		problems_dump(ps);
	return p;
}

#define VALID(q, ps) expect_valid((q), (ps), __LINE__)
#define REFUSED(q, ps, code, loc) expect_error((q), (ps), (code), (loc), __LINE__)

/* Wrap one state called A (plus optional extra states) into a definition */
static const char *
one_state(const char *state_a, const char *extra)
{
	return of_psprintf("{'StartAt':'A','States':{'A':%s%s%s}}", state_a,
					   extra ? "," : "", extra ? extra : "");
}

/* ------------------------------------------------------------------
 * Conformance definitions
 * ------------------------------------------------------------------ */

/* Read a whole file into a malloc'd string */
static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		size;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(size + 1);
	if (buf == NULL || fread(buf, 1, size, f) != (size_t) size)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/* The conformance directory, or NULL */
static const char *
conformance_dir(void)
{
	static const char *const candidates[] = {
		"../shared/conformance", "../../../shared/conformance", NULL
	};
	const char *env = getenv("OF_CONFORMANCE_DIR");
	int			i;
	DIR		   *d;

	if (env != NULL && env[0] != '\0')
		return env;
	for (i = 0; candidates[i] != NULL; i++)
	{
		d = opendir(candidates[i]);
		if (d != NULL)
		{
			closedir(d);
			return candidates[i];
		}
	}
	return NULL;
}

/* Check one conformance file: cases must be clean, invalid ones refused */
static void
check_conformance_file(const char *path, bool must_be_valid, Problems *ps)
{
	char	   *text = read_file(path);
	json_object *file = NULL;
	json_object *definition;
	OfError		err;
	Resolver	r = {NULL, 0, ""};
	OfMachine  *m;
	const char *def_text;
	char		what[1024];

	if (!tu_check(text != NULL && of_json_parse(text, strlen(text), 0, &file, &err),
				  __FILE__, __LINE__, "conformance file is readable JSON"))
	{
		printf("     file: %s\n", path);
		free(text);
		return;
	}
	free(text);
	tu_keep(file);
	if (!json_object_object_get_ex(file, "definition", &definition))
	{
		tu_check(false, __FILE__, __LINE__, "conformance file has a definition");
		printf("     file: %s\n", path);
		return;
	}
	def_text = json_object_to_json_string_ext(definition, JSON_C_TO_STRING_PRETTY);
	m = parse_with(def_text, strlen(def_text), ps, &r, 0);
	if (must_be_valid)
	{
		snprintf(what, sizeof(what), "case %s parses without problems", path);
		if (!tu_check(m != NULL && ps->n == 0 && r.calls >= 0, __FILE__, __LINE__, what))
			problems_dump(ps);
		of_machine_free(m);
	}
	else
	{
		snprintf(what, sizeof(what), "invalid definition %s is refused", path);
		if (!tu_check(m == NULL && ps->n_errors > 0, __FILE__, __LINE__, what))
			of_machine_free(m);
	}
}

/* Check every *.json file of dir/sub */
static int
check_conformance_dir(const char *dir, const char *sub, bool must_be_valid,
					  Problems *ps)
{
	char	   *path = of_psprintf("%s/%s", dir, sub);
	DIR		   *d = opendir(path);
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		size_t		len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		check_conformance_file(of_psprintf("%s/%s", path, e->d_name), must_be_valid, ps);
		n++;
	}
	closedir(d);
	return n;
}

/* Every shared conformance definition: cases valid, invalid ones refused */
static void
test_conformance(Problems *ps)
{
	const char *dir = conformance_dir();
	int			n_cases;
	int			n_invalid;

	if (!CHECK(dir != NULL))
	{
		printf("     conformance directory not found: set OF_CONFORMANCE_DIR or put "
			   "it at ../shared/conformance next to the repository\n");
		return;
	}
	n_cases = check_conformance_dir(dir, "cases", true, ps);
	n_invalid = check_conformance_dir(dir, "invalid", false, ps);
	CHECK(n_cases > 0);
	CHECK(n_invalid > 0);
}

/* ------------------------------------------------------------------
 * The model
 * ------------------------------------------------------------------ */

/* A minimal machine and the basic fields of the model */
static void
test_minimal(Problems *ps)
{
	OfMachine  *m = VALID("{'Comment':'c','StartAt':'A','States':{'A':{'Type':'Pass','End':true}}}", ps);

	if (!CHECK(m != NULL))
		return;
	CHECK_INT(m->n_states, 1);
	CHECK_INT(m->start_index, 0);
	CHECK_STR(m->start_at, "A");
	CHECK_STR(m->comment, "c");
	CHECK_STR(m->location_prefix, "");
	CHECK(m->doc != NULL);
	CHECK_STR(m->states[0].name, "A");
	CHECK_STR(m->states[0].location, "/States/A");
	CHECK(m->states[0].type == OF_STATE_PASS);
	CHECK(m->states[0].end);
	CHECK(m->states[0].next == NULL);
	CHECK_INT(m->states[0].next_index, -1);
	CHECK(!m->states[0].input_path.present);
	CHECK(!m->states[0].uses_context);
	CHECK_INT(m->timeout_seconds, 0);
	of_machine_free(m);
	CHECK(m->doc == NULL);
	of_machine_free(NULL);
}

/* Next indices, find_state, type names */
static void
test_transitions_and_lookup(Problems *ps)
{
	OfMachine  *m = VALID("{'StartAt':'B','TimeoutSeconds':60,'Version':'1.0','States':{"
						  "'C':{'Type':'Succeed'},"
						  "'B':{'Type':'Wait','Seconds':0,'Next':'A'},"
						  "'A':{'Type':'Pass','Next':'C'}}}", ps);

	if (!CHECK(m != NULL))
		return;
	CHECK_INT(m->start_index, 1);
	CHECK_INT(m->timeout_seconds, 60);
	CHECK_STR(m->states[1].next, "A");
	CHECK_INT(m->states[1].next_index, 2);
	CHECK_INT(m->states[2].next_index, 0);
	CHECK_INT(m->states[0].next_index, -1);
	CHECK(!m->states[0].end);
	CHECK(m->states[1].has_seconds);
	CHECK_INT(m->states[1].seconds, 0);
	CHECK_INT(of_machine_find_state(m, "A"), 2);
	CHECK_INT(of_machine_find_state(m, "B"), 1);
	CHECK_INT(of_machine_find_state(m, "C"), 0);
	CHECK_INT(of_machine_find_state(m, "D"), -1);
	CHECK_INT(of_machine_find_state(m, ""), -1);
	CHECK_INT(of_machine_find_state(NULL, "A"), -1);
	CHECK_INT(of_machine_find_state(m, NULL), -1);
	of_machine_free(m);

	CHECK_STR(of_state_type_name(OF_STATE_TASK), "Task");
	CHECK_STR(of_state_type_name(OF_STATE_PASS), "Pass");
	CHECK_STR(of_state_type_name(OF_STATE_CHOICE), "Choice");
	CHECK_STR(of_state_type_name(OF_STATE_WAIT), "Wait");
	CHECK_STR(of_state_type_name(OF_STATE_SUCCEED), "Succeed");
	CHECK_STR(of_state_type_name(OF_STATE_FAIL), "Fail");
	CHECK_STR(of_state_type_name(OF_STATE_PARALLEL), "Parallel");
	CHECK_STR(of_state_type_name(OF_STATE_MAP), "Map");
	CHECK_STR(of_state_type_name((OfStateType) 99), "Unknown");
}

/* Task fields, Retry defaults and values, Catch */
static void
test_task_model(Problems *ps)
{
	Resolver	r = {NULL, 0, ""};
	const char *text = def(
						   "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'conf.echo.waitForTaskToken',"
						   "'TimeoutSeconds':30,'HeartbeatSecondsPath':'$.hb','InputPath':null,"
						   "'ResultPath':null,'OutputPath':'$.x','ResultSelector':{'a.$':'$.b'},"
						   "'Parameters':{'ctx.$':'$$.Execution.Id'},'Assign':{'v':1},"
						   "'Retry':[{'ErrorEquals':['A','B']},{'ErrorEquals':['States.ALL'],"
						   "'IntervalSeconds':5,'MaxAttempts':0,'BackoffRate':1.5,"
						   "'MaxDelaySeconds':60,'JitterStrategy':'FULL','Comment':'x'}],"
						   "'Catch':[{'ErrorEquals':['States.TaskFailed'],'Next':'H','ResultPath':'$.err'},"
						   "{'ErrorEquals':['States.ALL'],'Next':'H','ResultPath':null}],'Next':'H'},"
						   "'H':{'Type':'Succeed'}}}");
	OfMachine  *m = parse_with(text, strlen(text), ps, &r, 0);
	OfState    *t;

	if (!CHECK(m != NULL && ps->n == 0))
	{
		problems_dump(ps);
		return;
	}
	t = &m->states[0];
	CHECK(t->type == OF_STATE_TASK);
	CHECK_STR(t->resource, "conf.echo.waitForTaskToken");
	CHECK_STR(r.last, "conf.echo.waitForTaskToken");
	CHECK_INT(r.calls, 1);
	CHECK_INT(t->timeout_seconds, 30);
	CHECK_INT(t->heartbeat_seconds, 0);
	CHECK(t->heartbeat_seconds_path != NULL);
	CHECK(t->timeout_seconds_path == NULL);
	CHECK(t->input_path.present && t->input_path.is_null && t->input_path.path == NULL);
	CHECK(t->result_path.present && t->result_path.is_null);
	CHECK(t->output_path.present && !t->output_path.is_null && t->output_path.path != NULL);
	CHECK(t->result_selector != NULL);
	CHECK(t->parameters != NULL);
	CHECK(t->uses_context);
	CHECK(json_object_is_type(t->assign, json_type_object));
	CHECK_INT(t->next_index, 1);
	if (CHECK_INT(t->n_retriers, 2))
	{
		CHECK_INT(t->retriers[0].n_error_equals, 2);
		CHECK_STR(t->retriers[0].error_equals[1], "B");
		CHECK(t->retriers[0].interval_seconds == 1.0);
		CHECK_INT(t->retriers[0].max_attempts, 3);
		CHECK(t->retriers[0].backoff_rate == 2.0);
		CHECK(t->retriers[0].max_delay_seconds == 0);
		CHECK(!t->retriers[0].jitter_full);
		CHECK(t->retriers[1].interval_seconds == 5.0);
		CHECK_INT(t->retriers[1].max_attempts, 0);
		CHECK(t->retriers[1].backoff_rate == 1.5);
		CHECK(t->retriers[1].max_delay_seconds == 60.0);
		CHECK(t->retriers[1].jitter_full);
	}
	if (CHECK_INT(t->n_catchers, 2))
	{
		CHECK_STR(t->catchers[0].next, "H");
		CHECK_INT(t->catchers[0].next_index, 1);
		CHECK(t->catchers[0].result_path.present && t->catchers[0].result_path.path != NULL);
		CHECK(t->catchers[1].result_path.present && t->catchers[1].result_path.is_null);
		CHECK(!t->catchers[0].result_path.is_null);
	}
	of_machine_free(m);
}

/* Pass Result is literal; Parameters with $$ mark uses_context */
static void
test_pass_model(Problems *ps)
{
	OfMachine  *m = VALID("{'StartAt':'A','States':{"
						  "'A':{'Type':'Pass','Result':{'x.$':'not a path'},'ResultPath':'$.r','Next':'B'},"
						  "'B':{'Type':'Pass','Result':null,'Next':'C'},"
						  "'C':{'Type':'Pass','InputPath':'$$.Execution.Input','Next':'D'},"
						  "'D':{'Type':'Pass','Parameters':{'a.$':'$.a'},'End':true}}}", ps);

	if (!CHECK(m != NULL))
		return;
	CHECK(m->states[0].has_result);
	CHECK_JSON(m->states[0].result, "{\"x.$\":\"not a path\"}");
	CHECK(m->states[0].result_path.path != NULL);
	CHECK(!m->states[0].uses_context);
	CHECK(m->states[1].has_result && m->states[1].result == NULL);
	CHECK(m->states[2].uses_context);
	CHECK(!m->states[3].has_result);
	CHECK(m->states[3].parameters != NULL);
	CHECK(!m->states[3].uses_context);
	of_machine_free(m);
}

/* Choice rules: operators, operands, nesting, indices */
static void
test_choice_model(Problems *ps)
{
	OfMachine  *m = VALID("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':["
						  "{'Variable':'$.n','NumericLessThan':5,'Next':'A'},"
						  "{'Variable':'$.s','StringEqualsPath':'$.t','Next':'B'},"
						  "{'And':[{'Variable':'$.a','IsPresent':true},"
						  "{'Not':{'Variable':'$$.Execution.Id','TimestampLessThan':'2024-01-01T00:00:00Z'}}],"
						  "'Next':'A','Comment':'x','Assign':{'k':1}}],"
						  "'Default':'B'},"
						  "'A':{'Type':'Succeed'},'B':{'Type':'Fail','Error':'E','Cause':'c'}}}", ps);
	OfState    *c;
	OfChoiceRule *r;

	if (!CHECK(m != NULL))
		return;
	c = &m->states[0];
	CHECK(c->type == OF_STATE_CHOICE);
	CHECK(c->next == NULL && !c->end);
	CHECK_INT(c->default_index, 2);
	CHECK_STR(c->default_next, "B");
	CHECK(c->uses_context);
	if (!CHECK_INT(c->n_choices, 3))
		return;
	r = c->choices[0];
	CHECK(r->op == OF_OP_NUMERIC_LT);
	CHECK_STR(r->op_name, "NumericLessThan");
	CHECK(r->variable != NULL && !r->operand_is_path);
	CHECK_JSON(r->operand, "5");
	CHECK_STR(r->next, "A");
	CHECK_INT(r->next_index, 1);
	r = c->choices[1];
	CHECK(r->op == OF_OP_STRING_EQ);
	CHECK_STR(r->op_name, "StringEqualsPath");
	CHECK(r->operand_is_path && r->operand_path != NULL);
	CHECK_INT(r->next_index, 2);
	r = c->choices[2];
	CHECK(r->op == OF_OP_AND);
	CHECK(r->variable == NULL);
	if (CHECK_INT(r->n_children, 2))
	{
		CHECK(r->children[0]->op == OF_OP_IS_PRESENT);
		CHECK(r->children[0]->next == NULL);
		CHECK_INT(r->children[0]->next_index, -1);
		CHECK(r->children[1]->op == OF_OP_NOT);
		CHECK_INT(r->children[1]->n_children, 1);
		CHECK(r->children[1]->children[0]->op == OF_OP_TIMESTAMP_LT);
	}
	CHECK(c->assign == NULL);
	CHECK_STR(m->states[2].error, "E");
	CHECK_STR(m->states[2].cause, "c");
	of_machine_free(m);
}

/* Wait and Fail forms */
static void
test_wait_fail_model(Problems *ps)
{
	OfMachine  *m = VALID("{'StartAt':'W1','States':{"
						  "'W1':{'Type':'Wait','Timestamp':'2024-01-01T00:00:01Z','Next':'W2'},"
						  "'W2':{'Type':'Wait','SecondsPath':'$.s','Next':'W3'},"
						  "'W3':{'Type':'Wait','TimestampPath':'$$.Execution.StartTime','Next':'F'},"
						  "'F':{'Type':'Fail','ErrorPath':'$.e','CausePath':"
						  "'States.Format(\\'{} failed\\', $.x)'}}}", ps);

	if (!CHECK(m != NULL))
		return;
	CHECK_STR(m->states[0].timestamp, "2024-01-01T00:00:01Z");
	CHECK_INT(m->states[0].timestamp_usec, INT64_C(1704067201000000));
	CHECK(!m->states[0].has_seconds);
	CHECK(m->states[1].seconds_path != NULL);
	CHECK(m->states[2].timestamp_path != NULL);
	CHECK(m->states[2].uses_context);
	CHECK(m->states[3].error_path != NULL);
	CHECK(m->states[3].cause_path != NULL);
	CHECK(m->states[3].error == NULL);
	of_machine_free(m);
}

/* Parallel branches and Map iterators are machines with their own prefix */
static void
test_nested_model(Problems *ps)
{
	OfMachine  *m = VALID("{'StartAt':'P','States':{"
						  "'P':{'Type':'Parallel','Branches':["
						  "{'StartAt':'X','States':{'X':{'Type':'Pass','Next':'Y'},'Y':{'Type':'Succeed'}}},"
						  "{'StartAt':'Z','Comment':'z','States':{'Z':{'Type':'Pass','End':true}}}],"
						  "'ResultSelector':{'a.$':'$[0]'},'Retry':[{'ErrorEquals':['States.ALL']}],"
						  "'Next':'M'},"
						  "'M':{'Type':'Map','ItemsPath':'$.items','MaxConcurrency':2,"
						  "'ToleratedFailureCount':1,'ToleratedFailurePercentage':12.5,"
						  "'ItemSelector':{'v.$':'$$.Map.Item.Value'},'ItemBatcher':{'MaxItemsPerBatch':3},"
						  "'ItemProcessor':{'ProcessorConfig':{'Mode':'INLINE'},'StartAt':'I',"
						  "'States':{'I':{'Type':'Task','Resource':'r','End':true}}},"
						  "'Label':'l','End':true}}}", ps);
	OfState    *p;
	OfState    *mp;

	if (!CHECK(m != NULL))
		return;
	p = &m->states[0];
	if (CHECK_INT(p->n_branches, 2))
	{
		CHECK_STR(p->branches[0]->location_prefix, "/States/P/Branches/0");
		CHECK_STR(p->branches[0]->states[0].location, "/States/P/Branches/0/States/X");
		CHECK_INT(p->branches[0]->start_index, 0);
		CHECK_INT(p->branches[0]->states[0].next_index, 1);
		CHECK(p->branches[0]->doc == NULL);
		CHECK_STR(p->branches[1]->comment, "z");
		CHECK_INT(of_machine_find_state(p->branches[1], "Z"), 0);
		CHECK_INT(of_machine_find_state(p->branches[1], "X"), -1);
	}
	CHECK(p->result_selector != NULL);
	CHECK_INT(p->n_retriers, 1);
	mp = &m->states[1];
	CHECK(mp->iterator != NULL);
	if (mp->iterator != NULL)
		CHECK_STR(mp->iterator->states[0].location, "/States/M/ItemProcessor/States/I");
	CHECK(mp->items_path != NULL);
	CHECK(mp->item_selector != NULL);
	CHECK(mp->parameters == NULL);
	CHECK(mp->uses_context);
	CHECK_INT(mp->max_concurrency, 2);
	CHECK_INT(mp->tolerated_failure_count, 1);
	CHECK(mp->tolerated_failure_percentage == 12.5);
	CHECK_JSON(mp->item_batcher, "{\"MaxItemsPerBatch\":3}");
	CHECK(mp->item_reader == NULL);
	of_machine_free(m);

	/* legacy Iterator + Parameters */
	m = VALID("{'StartAt':'M','States':{'M':{'Type':'Map','Parameters':{'x.$':'$$.Map.Item.Value'},"
			  "'Iterator':{'StartAt':'I','States':{'I':{'Type':'Pass','End':true}}},"
			  "'ItemReader':{'Resource':'x'},'End':true}}}", ps);
	if (CHECK(m != NULL))
	{
		CHECK(m->states[0].iterator != NULL);
		CHECK(m->states[0].item_selector != NULL);
		CHECK(m->states[0].parameters == NULL);
		CHECK_JSON(m->states[0].item_reader, "{\"Resource\":\"x\"}");
		of_machine_free(m);
	}
}

/* ------------------------------------------------------------------
 * Problems: top level and states
 * ------------------------------------------------------------------ */

/* Top-level fields */
static void
test_top_level_problems(Problems *ps)
{
	const Problem *p;

	REFUSED("{'States':{'A':{'Type':'Pass','End':true}}}", ps, "MISSING_FIELD", "");
	REFUSED("{'StartAt':'A'}", ps, "MISSING_FIELD", "");
	REFUSED("{'StartAt':1,'States':{'A':{'Type':'Pass','End':true}}}", ps, "INVALID_TYPE", "/StartAt");
	REFUSED("{'StartAt':'Nope','States':{'A':{'Type':'Pass','End':true}}}", ps,
			"STARTAT_UNKNOWN_STATE", "/StartAt");
	REFUSED("{'StartAt':'A','States':{}}", ps, "INVALID_VALUE", "/States");
	REFUSED("{'StartAt':'A','States':[]}", ps, "INVALID_TYPE", "/States");
	p = REFUSED("{'StartAt':'A','Foo':1,'States':{'A':{'Type':'Pass','End':true}}}", ps,
				"UNKNOWN_FIELD", "/Foo");
	if (p)
		CHECK_CONTAINS(p->message, "Foo");
	REFUSED("{'StartAt':'A','TimeoutSeconds':0,'States':{'A':{'Type':'Pass','End':true}}}", ps,
			"INVALID_VALUE", "/TimeoutSeconds");
	REFUSED("{'StartAt':'A','TimeoutSeconds':'5','States':{'A':{'Type':'Pass','End':true}}}", ps,
			"INVALID_TYPE", "/TimeoutSeconds");
	REFUSED("{'StartAt':'A','Version':1,'States':{'A':{'Type':'Pass','End':true}}}", ps,
			"INVALID_TYPE", "/Version");
	REFUSED("{'StartAt':'A','Comment':{},'States':{'A':{'Type':'Pass','End':true}}}", ps,
			"INVALID_TYPE", "/Comment");
	p = REFUSED("{'StartAt':'A','QueryLanguage':'JSONata','States':{'A':{'Type':'Pass','End':true}}}",
				ps, "UNSUPPORTED_QUERY_LANGUAGE", "/QueryLanguage");
	if (p)
		CHECK_CONTAINS(p->message, "JSONata");
	REFUSED("{'StartAt':'A','QueryLanguage':'XPath','States':{'A':{'Type':'Pass','End':true}}}",
			ps, "INVALID_VALUE", "/QueryLanguage");
	VALID("{'StartAt':'A','QueryLanguage':'JSONPath','States':{'A':{'Type':'Pass','End':true,"
		  "'QueryLanguage':'JSONPath'}}}", ps);
	REFUSED("{'StartAt':'A','States':{'A':{'Type':'Pass','End':true,'QueryLanguage':'JSONata'}}}",
			ps, "UNSUPPORTED_QUERY_LANGUAGE", "/States/A/QueryLanguage");

	/* warnings do not refuse */
	CHECK(parse("{'StartAt':'A','Version':'2.0','States':{'A':{'Type':'Pass','End':true}}}", ps) != NULL);
	CHECK(find_problem(ps, "UNKNOWN_VERSION", "/Version") != NULL);
	CHECK_INT(ps->n_errors, 0);
}

/* State types, names and fields */
static void
test_state_problems(Problems *ps)
{
	const Problem *p;
	char	   *name80 = of_alloc(81);
	char	   *name81 = of_alloc(82);

	REFUSED(one_state("{'Type':'Sleep','End':true}", NULL), ps, "UNKNOWN_STATE_TYPE", "/States/A/Type");
	REFUSED(one_state("{'End':true}", NULL), ps, "MISSING_FIELD", "/States/A");
	REFUSED(one_state("{'Type':7,'End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Type");
	REFUSED(one_state("[]", NULL), ps, "INVALID_TYPE", "/States/A");
	REFUSED(one_state("{'Type':'Pass','End':true,'Bogus':1}", NULL), ps, "UNKNOWN_FIELD", "/States/A/Bogus");
	p = REFUSED(one_state("{'Type':'Pass','next':'B'}", "'B':{'Type':'Succeed'}"), ps,
				"UNKNOWN_FIELD", "/States/A/next");
	if (p)
		CHECK_CONTAINS(p->message, "did you mean \"Next\"");
	p = REFUSED(one_state("{'Type':'Task','Resource':'r','Arguments':{},'End':true}", NULL), ps,
				"UNKNOWN_FIELD", "/States/A/Arguments");
	if (p)
		CHECK_CONTAINS(p->message, "JSONata");
	REFUSED(one_state("{'Type':'Pass','Comment':5,'End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Comment");

	/* terminal states */
	p = REFUSED("{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'F'},"
				"'F':{'Type':'Fail','Error':'E','Next':'A'}}}", ps, "FIELD_NOT_ALLOWED", "/States/F/Next");
	if (p)
		CHECK_CONTAINS(p->message, "Fail");
	REFUSED(one_state("{'Type':'Fail','InputPath':'$'}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/InputPath");
	REFUSED(one_state("{'Type':'Fail','OutputPath':'$'}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/OutputPath");
	REFUSED(one_state("{'Type':'Fail','Assign':{}}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/Assign");
	REFUSED(one_state("{'Type':'Fail','End':true}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/End");
	REFUSED(one_state("{'Type':'Succeed','End':true}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/End");
	REFUSED(one_state("{'Type':'Succeed','ResultPath':'$.x'}", NULL), ps, "FIELD_NOT_ALLOWED", "/States/A/ResultPath");
	VALID(one_state("{'Type':'Succeed','InputPath':'$.a','OutputPath':'$.b','Assign':{'x':1},'Comment':'c'}", NULL), ps);
	VALID(one_state("{'Type':'Fail','Comment':'c','Error':'E','Cause':'C'}", NULL), ps);
	p = REFUSED(one_state("{'Type':'Choice','Choices':[{'Variable':'$.a','IsNull':true,'Next':'B'}],'End':true}",
						  "'B':{'Type':'Succeed'}"), ps, "FIELD_NOT_ALLOWED", "/States/A/End");
	if (p)
		CHECK_CONTAINS(p->message, "Choice");
	REFUSED(one_state("{'Type':'Choice','Choices':[{'Variable':'$.a','IsNull':true,'Next':'B'}],'Next':'B'}",
					  "'B':{'Type':'Succeed'}"), ps, "FIELD_NOT_ALLOWED", "/States/A/Next");
	REFUSED(one_state("{'Type':'Pass','ResultSelector':{},'End':true}", NULL), ps,
			"FIELD_NOT_ALLOWED", "/States/A/ResultSelector");
	REFUSED(one_state("{'Type':'Wait','Seconds':1,'Parameters':{},'End':true}", NULL), ps,
			"FIELD_NOT_ALLOWED", "/States/A/Parameters");
	REFUSED(one_state("{'Type':'Task','Resource':'r','Result':1,'End':true}", NULL), ps,
			"FIELD_NOT_ALLOWED", "/States/A/Result");
	REFUSED(one_state("{'Type':'Pass','Retry':[],'End':true}", NULL), ps,
			"FIELD_NOT_ALLOWED", "/States/A/Retry");
	REFUSED(one_state("{'Type':'Pass','ItemsPath':'$','End':true}", NULL), ps,
			"FIELD_NOT_ALLOWED", "/States/A/ItemsPath");
	REFUSED(one_state("{'Type':'Pass','Assign':[],'End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Assign");

	/* state names */
	memset(name80, 'n', 80);
	memset(name81, 'n', 81);
	VALID(of_psprintf("{'StartAt':'%s','States':{'%s':{'Type':'Succeed'}}}", name80, name80), ps);
	REFUSED(of_psprintf("{'StartAt':'%s','States':{'%s':{'Type':'Succeed'}}}", name81, name81), ps,
			"INVALID_STATE_NAME", of_psprintf("/States/%s", name81));
	REFUSED("{'StartAt':'','States':{'':{'Type':'Succeed'}}}", ps, "INVALID_STATE_NAME", "/States/");
	/* 80 characters of two bytes each are fine */
	{
		char	   *wide = of_alloc(161);
		int			i;

		for (i = 0; i < 80; i++)
			memcpy(wide + 2 * i, "\xc3\xa9", 2);
		VALID(of_psprintf("{'StartAt':'%s','States':{'%s':{'Type':'Succeed'}}}", wide, wide), ps);
	}
	/* RFC 6901 escaping of ~ and / */
	REFUSED("{'StartAt':'a/b~c','States':{'a/b~c':{'Type':'Pass'}}}", ps,
			"MISSING_TRANSITION", "/States/a~1b~0c");
	/* a NUL inside a name or a Next */
	REFUSED("{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'B\\u0000x'},'B':{'Type':'Succeed'}}}",
			ps, "INVALID_VALUE", "/States/A/Next");
}

/* Next / End and reachability */
static void
test_transition_problems(Problems *ps)
{
	const Problem *p;

	REFUSED(one_state("{'Type':'Pass'}", NULL), ps, "MISSING_TRANSITION", "/States/A");
	REFUSED(one_state("{'Type':'Pass','End':false}", NULL), ps, "MISSING_TRANSITION", "/States/A");
	REFUSED(one_state("{'Type':'Pass','End':'yes'}", NULL), ps, "INVALID_TYPE", "/States/A/End");
	REFUSED(one_state("{'Type':'Pass','Next':'B','End':true}", "'B':{'Type':'Succeed'}"), ps,
			"MUTUALLY_EXCLUSIVE", "/States/A");
	VALID(one_state("{'Type':'Pass','Next':'B','End':false}", "'B':{'Type':'Succeed'}"), ps);
	REFUSED(one_state("{'Type':'Pass','Next':3}", NULL), ps, "INVALID_TYPE", "/States/A/Next");
	p = REFUSED(one_state("{'Type':'Pass','Next':'Ghost'}", NULL), ps, "NEXT_UNKNOWN_STATE", "/States/A/Next");
	if (p)
		CHECK_CONTAINS(p->message, "Ghost");
	p = REFUSED(one_state("{'Type':'Pass','End':true}", "'B':{'Type':'Pass','End':true}"), ps,
				"UNREACHABLE_STATE", "/States/B");
	if (p)
		CHECK_CONTAINS(p->message, "\"B\"");
	/* a cycle that cannot be reached */
	REFUSED(one_state("{'Type':'Succeed'}", "'B':{'Type':'Pass','Next':'C'},'C':{'Type':'Pass','Next':'B'}"),
			ps, "UNREACHABLE_STATE", "/States/C");
	/* states reached only through Catch and Default are reachable */
	VALID(one_state("{'Type':'Task','Resource':'r','Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'Next':'D'}",
					"'C':{'Type':'Choice','Choices':[{'Variable':'$.x','IsNull':true,'Next':'D'}],'Default':'E'},"
					"'D':{'Type':'Succeed'},'E':{'Type':'Fail'}"), ps);
	/* a loop with no way out is refused (Step Functions: MISSING_END_STATE) */
	REFUSED(one_state("{'Type':'Pass','Next':'B'}", "'B':{'Type':'Wait','Seconds':1,'Next':'A'}"),
			ps, "NO_TERMINAL_STATE", "");
	/* ... in a branch too, where it is reported at the branch */
	REFUSED(one_state("{'Type':'Parallel','End':true,'Branches':[{'StartAt':'B','States':"
					  "{'B':{'Type':'Pass','Next':'B'}}}]}", NULL),
			ps, "NO_TERMINAL_STATE", "/States/A/Branches/0");
	/* a loop with a way out (never taken, maybe) is fine */
	VALID(one_state("{'Type':'Pass','Next':'B'}",
					"'B':{'Type':'Choice','Choices':[{'Variable':'$.stop','IsPresent':true,'Next':'C'}],'Default':'A'},"
					"'C':{'Type':'Succeed'}"), ps);
}

/* ------------------------------------------------------------------
 * Problems: paths, templates, Task, Retry, Catch
 * ------------------------------------------------------------------ */

/* InputPath, OutputPath, ResultPath, Parameters */
static void
test_path_problems(Problems *ps)
{
	REFUSED(one_state("{'Type':'Pass','InputPath':'nope','End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/InputPath");
	REFUSED(one_state("{'Type':'Pass','OutputPath':5,'End':true}", NULL), ps,
			"INVALID_TYPE", "/States/A/OutputPath");
	REFUSED(one_state("{'Type':'Pass','ResultPath':'$.a[*]','End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/ResultPath");
	REFUSED(one_state("{'Type':'Pass','ResultPath':'$$.a','End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/ResultPath");
	VALID(one_state("{'Type':'Pass','InputPath':'$.a[*].b','OutputPath':null,'ResultPath':'$.x[0].y','End':true}", NULL), ps);
	REFUSED(one_state("{'Type':'Pass','Parameters':{'x.$':'not a path'},'End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/Parameters/x.$");
	/* problems are reported by the template compiler at the nested key */
	CHECK(parse(one_state("{'Type':'Task','Resource':'r','ResultSelector':{'a':{'b.$':'$$$$x!'}},'End':true}", NULL), ps) == NULL);
	CHECK(ps->n_errors > 0 && ps->items[0].location != NULL &&
		  strncmp(ps->items[0].location, "/States/A/ResultSelector/a/b.$", 30) == 0);
}

/* Task: Resource, resolver, timeouts, heartbeats */
static void
test_task_problems(Problems *ps)
{
	Resolver	r = {"conf.nope", 0, ""};
	const char *text;
	const Problem *p;

	REFUSED(one_state("{'Type':'Task','End':true}", NULL), ps, "MISSING_FIELD", "/States/A");
	REFUSED(one_state("{'Type':'Task','Resource':5,'End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Resource");
	REFUSED(one_state("{'Type':'Task','Resource':'','End':true}", NULL), ps, "INVALID_VALUE", "/States/A/Resource");
	text = def(one_state("{'Type':'Task','Resource':'conf.nope','Next':'B'}",
						 "'B':{'Type':'Task','Resource':'conf.echo.sync','End':true}"));
	CHECK(parse_with(text, strlen(text), ps, &r, 0) == NULL);
	p = find_problem(ps, "RESOURCE_NOT_FOUND", "/States/A/Resource");
	if (CHECK(p != NULL))
		CHECK_STR(p->message, "function conf.nope(jsonb) does not exist");
	CHECK_INT(r.calls, 2);
	CHECK_STR(r.last, "conf.echo.sync");
	CHECK_INT(ps->n_errors, 1);

	REFUSED(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':5,'TimeoutSecondsPath':'$.t','End':true}", NULL),
			ps, "MUTUALLY_EXCLUSIVE", "/States/A");
	REFUSED(one_state("{'Type':'Task','Resource':'r','HeartbeatSeconds':5,'HeartbeatSecondsPath':'$.t','End':true}", NULL),
			ps, "MUTUALLY_EXCLUSIVE", "/States/A");
	REFUSED(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':0,'End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/TimeoutSeconds");
	REFUSED(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':1.5,'End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/TimeoutSeconds");
	REFUSED(one_state("{'Type':'Task','Resource':'r','HeartbeatSeconds':-1,'End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/HeartbeatSeconds");
	p = REFUSED(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':10,'HeartbeatSeconds':10,'End':true}", NULL),
				ps, "INVALID_VALUE", "/States/A/HeartbeatSeconds");
	if (p)
		CHECK_CONTAINS(p->message, "TimeoutSeconds");
	VALID(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':10,'HeartbeatSeconds':9,'End':true}", NULL), ps);
	VALID(one_state("{'Type':'Task','Resource':'r','TimeoutSeconds':10.0,'End':true}", NULL), ps);
	REFUSED(one_state("{'Type':'Task','Resource':'r','TimeoutSecondsPath':'$.a[*]','End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/TimeoutSecondsPath");
	REFUSED(one_state("{'Type':'Task','Resource':'r','Credentials':{},'End':true}", NULL), ps,
			"UNSUPPORTED_FIELD", "/States/A/Credentials");
}

/* Retry: every field, States.ALL placement */
static void
test_retry_problems(Problems *ps)
{
	const char *base = "{'StartAt':'CheckInventory','States':{'CheckInventory':{'Type':'Task',"
		"'Resource':'r','Retry':[%s],'End':true}}}";
	const Problem *p;

	p = REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'BackoffRate':0.5}"), ps,
				"INVALID_VALUE", "/States/CheckInventory/Retry/0/BackoffRate");
	if (p)
	{
		CHECK_CONTAINS(p->message, "BackoffRate");
		CHECK_CONTAINS(p->message, "0.5");
	}
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'BackoffRate':'2'}"), ps,
			"INVALID_TYPE", "/States/CheckInventory/Retry/0/BackoffRate");
	VALID(of_psprintf(base, "{'ErrorEquals':['X'],'BackoffRate':1}"), ps);
	p = REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'IntervalSeconds':0}"), ps,
				"INVALID_VALUE", "/States/CheckInventory/Retry/0/IntervalSeconds");
	if (p)
		CHECK_CONTAINS(p->message, "positive integer");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'IntervalSeconds':2.5}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/IntervalSeconds");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'MaxAttempts':'three'}"), ps,
			"INVALID_TYPE", "/States/CheckInventory/Retry/0/MaxAttempts");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'MaxAttempts':-1}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/MaxAttempts");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'MaxAttempts':100000000}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/MaxAttempts");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'MaxDelaySeconds':0}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/MaxDelaySeconds");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'JitterStrategy':'HALF'}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/JitterStrategy");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'Jitter':'FULL'}"), ps,
			"UNKNOWN_FIELD", "/States/CheckInventory/Retry/0/Jitter");
	REFUSED(of_psprintf(base, "{'ErrorEquals':[]}"), ps,
			"INVALID_VALUE", "/States/CheckInventory/Retry/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'IntervalSeconds':1}"), ps,
			"MISSING_FIELD", "/States/CheckInventory/Retry/0");
	REFUSED(of_psprintf(base, "{'ErrorEquals':'States.ALL'}"), ps,
			"INVALID_TYPE", "/States/CheckInventory/Retry/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'ErrorEquals':[1]}"), ps,
			"INVALID_TYPE", "/States/CheckInventory/Retry/0/ErrorEquals/0");
	REFUSED(of_psprintf(base, "'x'"), ps, "INVALID_TYPE", "/States/CheckInventory/Retry/0");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['States.ALL','X']}"), ps,
			"STATES_ALL_NOT_ALONE", "/States/CheckInventory/Retry/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['States.ALL']},{'ErrorEquals':['X']}"), ps,
			"STATES_ALL_NOT_LAST", "/States/CheckInventory/Retry/0/ErrorEquals");
	VALID(of_psprintf(base, "{'ErrorEquals':['X']},{'ErrorEquals':['States.ALL']}"), ps);
	REFUSED(one_state("{'Type':'Task','Resource':'r','Retry':{},'End':true}", NULL), ps,
			"INVALID_TYPE", "/States/A/Retry");
	/* unknown States.* names are a warning */
	CHECK(parse(of_psprintf(base, "{'ErrorEquals':['States.Bogus']}"), ps) != NULL);
	CHECK(find_problem(ps, "UNKNOWN_ERROR_NAME", "/States/CheckInventory/Retry/0/ErrorEquals/0") != NULL);

	/* every problem is reported, not only the first */
	CHECK(parse(of_psprintf(base, "{'ErrorEquals':[],'IntervalSeconds':0,'MaxAttempts':'x',"
							"'BackoffRate':0,'MaxDelaySeconds':-5}"), ps) == NULL);
	CHECK_INT(ps->n_errors, 5);
}

/* Catch */
static void
test_catch_problems(Problems *ps)
{
	const char *base = "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'r',"
		"'Catch':[%s],'End':true},'H':{'Type':'Succeed'}}}";

	REFUSED(of_psprintf(base, "{'ErrorEquals':['States.ALL']}"), ps, "MISSING_FIELD", "/States/A/Catch/0");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'Next':'H'},{'ErrorEquals':['States.ALL'],'Next':'Nope'}"),
			ps, "NEXT_UNKNOWN_STATE", "/States/A/Catch/1/Next");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['States.ALL'],'Next':'H'},{'ErrorEquals':['X'],'Next':'H'}"),
			ps, "STATES_ALL_NOT_LAST", "/States/A/Catch/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X','States.ALL'],'Next':'H'}"),
			ps, "STATES_ALL_NOT_ALONE", "/States/A/Catch/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'ErrorEquals':[],'Next':'H'}"), ps, "INVALID_VALUE", "/States/A/Catch/0/ErrorEquals");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'Next':'H','ResultPath':'$..a'}"), ps,
			"INVALID_PATH", "/States/A/Catch/0/ResultPath");
	REFUSED(of_psprintf(base, "{'ErrorEquals':['X'],'Next':'H','Retry':1}"), ps,
			"UNKNOWN_FIELD", "/States/A/Catch/0/Retry");
	VALID(of_psprintf(base, "{'ErrorEquals':['X'],'Next':'H','ResultPath':null,'Comment':'c','Assign':{}}"), ps);
}

/* ------------------------------------------------------------------
 * Problems: Choice, Wait, Fail, Parallel, Map
 * ------------------------------------------------------------------ */

/* Wrap one choice rule into a Choice state C with targets Y and N */
static const char *
choice(const char *rule)
{
	return of_psprintf("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[%s],"
					   "'Default':'N'},'Y':{'Type':'Succeed'},'N':{'Type':'Succeed'}}}", rule);
}

/* Choice rules */
static void
test_choice_problems(Problems *ps)
{
	REFUSED("{'StartAt':'C','States':{'C':{'Type':'Choice','Default':'D'},'D':{'Type':'Succeed'}}}",
			ps, "MISSING_FIELD", "/States/C");
	REFUSED(choice(""), ps, "INVALID_VALUE", "/States/C/Choices");
	REFUSED("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':{}}}}", ps, "INVALID_TYPE", "/States/C/Choices");
	REFUSED(choice("{'Variable':'$.a','StringEquals':'x'}"), ps, "MISSING_FIELD", "/States/C/Choices/0");
	REFUSED(choice("{'Variable':'$.a','Next':'Y'}"), ps, "MISSING_FIELD", "/States/C/Choices/0");
	REFUSED(choice("{'StringEquals':'x','Next':'Y'}"), ps, "MISSING_FIELD", "/States/C/Choices/0");
	REFUSED(choice("{'Variable':'$.a','StringEquals':'x','IsNull':true,'Next':'Y'}"), ps,
			"INVALID_CHOICE_RULE", "/States/C/Choices/0/IsNull");
	REFUSED(choice("{'Variable':'$.a','StringEqual':'x','Next':'Y'}"), ps,
			"UNKNOWN_FIELD", "/States/C/Choices/0/StringEqual");
	REFUSED(choice("{'Variable':'$.a','StringEquals':5,'Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/StringEquals");
	REFUSED(choice("{'Variable':'$.a','StringMatches':5,'Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/StringMatches");
	REFUSED(choice("{'Variable':'$.a','NumericEquals':'5','Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/NumericEquals");
	REFUSED(choice("{'Variable':'$.a','BooleanEquals':'true','Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/BooleanEquals");
	REFUSED(choice("{'Variable':'$.a','TimestampEquals':'2024-01-01','Next':'Y'}"), ps,
			"INVALID_VALUE", "/States/C/Choices/0/TimestampEquals");
	REFUSED(choice("{'Variable':'$.a','TimestampLessThan':1,'Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/TimestampLessThan");
	REFUSED(choice("{'Variable':'$.a','IsPresent':'yes','Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/IsPresent");
	REFUSED(choice("{'Variable':'$.a','NumericEqualsPath':'$.b[*]','Next':'Y'}"), ps,
			"INVALID_PATH", "/States/C/Choices/0/NumericEqualsPath");
	REFUSED(choice("{'Variable':'nope','IsNull':true,'Next':'Y'}"), ps,
			"INVALID_PATH", "/States/C/Choices/0/Variable");
	REFUSED(choice("{'Variable':'$.a','Not':{'Variable':'$.a','IsNull':true},'Next':'Y'}"), ps,
			"FIELD_NOT_ALLOWED", "/States/C/Choices/0/Variable");
	REFUSED(choice("{'And':[{'Variable':'$.a','IsNull':true,'Next':'Y'}],'Next':'Y'}"), ps,
			"FIELD_NOT_ALLOWED", "/States/C/Choices/0/And/0/Next");
	REFUSED(choice("{'Or':[{'Not':{'Variable':'$.a','IsNull':true,'Assign':{}}}],'Next':'Y'}"), ps,
			"FIELD_NOT_ALLOWED", "/States/C/Choices/0/Or/0/Not/Assign");
	REFUSED(choice("{'And':[],'Next':'Y'}"), ps, "INVALID_VALUE", "/States/C/Choices/0/And");
	REFUSED(choice("{'Or':{},'Next':'Y'}"), ps, "INVALID_TYPE", "/States/C/Choices/0/Or");
	REFUSED(choice("{'Not':[{'Variable':'$.a','IsNull':true}],'Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/Not");
	REFUSED(choice("{'And':[5],'Next':'Y'}"), ps, "INVALID_TYPE", "/States/C/Choices/0/And/0");
	REFUSED(choice("{'Variable':'$.a','IsNull':true,'Next':'Nowhere'}"), ps,
			"NEXT_UNKNOWN_STATE", "/States/C/Choices/0/Next");
	REFUSED("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.a','IsNull':true,"
			"'Next':'Y'}],'Default':'Gone'},'Y':{'Type':'Succeed'}}}", ps, "NEXT_UNKNOWN_STATE", "/States/C/Default");
	VALID(choice("{'Variable':'$.a','StringMatches':'a*\\\\*','Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$.a','NumericGreaterThanEquals':-1.5e3,'Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$.a','IsPresent':false,'Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$v','IsTimestamp':true,'Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$.a','TimestampGreaterThanEquals':'2024-03-01T10:00:00.5+02:00','Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$.a','BooleanEqualsPath':'$.b','Next':'Y'}"), ps);
	VALID(choice("{'Variable':'$.a[0].b','StringLessThanEqualsPath':'$$.Execution.Name','Next':'Y'}"), ps);
}

/* Deeply nested Not rules within the JSON depth limit are fine */
static void
test_choice_nesting(Problems *ps)
{
	char	   *rule = of_strdup("{'Variable':'$.a','IsNull':true}");
	int			i;

	for (i = 0; i < 200; i++)
		rule = of_psprintf("{'Not':%s}", rule);
	rule[strlen(rule) - 1] = '\0';
	VALID(choice(of_psprintf("%s,'Next':'Y'}", rule)), ps);
}

/* Wait */
static void
test_wait_problems(Problems *ps)
{
	const Problem *p;

	REFUSED(one_state("{'Type':'Wait','End':true}", NULL), ps, "MISSING_FIELD", "/States/A");
	p = REFUSED(one_state("{'Type':'Wait','Seconds':1,'SecondsPath':'$.s','End':true}", NULL), ps,
				"MUTUALLY_EXCLUSIVE", "/States/A");
	if (p)
		CHECK_CONTAINS(p->message, "Seconds and SecondsPath");
	REFUSED(one_state("{'Type':'Wait','Timestamp':'2024-01-01T00:00:00Z','TimestampPath':'$.t','End':true}", NULL),
			ps, "MUTUALLY_EXCLUSIVE", "/States/A");
	REFUSED(one_state("{'Type':'Wait','Seconds':-1,'End':true}", NULL), ps, "INVALID_VALUE", "/States/A/Seconds");
	REFUSED(one_state("{'Type':'Wait','Seconds':1.5,'End':true}", NULL), ps, "INVALID_VALUE", "/States/A/Seconds");
	REFUSED(one_state("{'Type':'Wait','Seconds':'10','End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Seconds");
	REFUSED(one_state("{'Type':'Wait','Timestamp':'tomorrow','End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/Timestamp");
	REFUSED(one_state("{'Type':'Wait','Timestamp':'2024-01-01T00:00:00','End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/Timestamp");
	REFUSED(one_state("{'Type':'Wait','SecondsPath':'$.s[*]','End':true}", NULL), ps,
			"INVALID_PATH", "/States/A/SecondsPath");
	REFUSED(one_state("{'Type':'Wait','Seconds':1}", NULL), ps, "MISSING_TRANSITION", "/States/A");
}

/* Fail */
static void
test_fail_problems(Problems *ps)
{
	REFUSED(one_state("{'Type':'Fail','Error':'E','ErrorPath':'$.e'}", NULL), ps, "MUTUALLY_EXCLUSIVE", "/States/A");
	REFUSED(one_state("{'Type':'Fail','Cause':'E','CausePath':'$.e'}", NULL), ps, "MUTUALLY_EXCLUSIVE", "/States/A");
	REFUSED(one_state("{'Type':'Fail','Error':5}", NULL), ps, "INVALID_TYPE", "/States/A/Error");
	REFUSED(one_state("{'Type':'Fail','CausePath':'not a path'}", NULL), ps, "INVALID_PATH", "/States/A/CausePath");
	REFUSED(one_state("{'Type':'Fail','ErrorPath':true}", NULL), ps, "INVALID_TYPE", "/States/A/ErrorPath");
	VALID(one_state("{'Type':'Fail'}", NULL), ps);
}

/* Parallel */
static void
test_parallel_problems(Problems *ps)
{
	const Problem *p;

	p = REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'In',"
				"'States':{'In':{'Type':'Pass','Next':'After'}}}],'Next':'After'},"
				"'After':{'Type':'Pass','End':true}}}", ps,
				"NEXT_UNKNOWN_STATE", "/States/P/Branches/0/States/In/Next");
	if (p)
		CHECK_CONTAINS(p->message, "outside");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true}}}", ps, "MISSING_FIELD", "/States/P");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[],'End':true}}}", ps,
			"INVALID_VALUE", "/States/P/Branches");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[1],'End':true}}}", ps,
			"INVALID_TYPE", "/States/P/Branches/0");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'States':{'X':"
			"{'Type':'Succeed'}}}],'End':true}}}", ps, "MISSING_FIELD", "/States/P/Branches/0");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'Q','States':{'X':"
			"{'Type':'Succeed'}}}],'End':true}}}", ps, "STARTAT_UNKNOWN_STATE", "/States/P/Branches/0/StartAt");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'X','States':{'X':"
			"{'Type':'Succeed'},'Z':{'Type':'Succeed'}}}],'End':true}}}", ps,
			"UNREACHABLE_STATE", "/States/P/Branches/0/States/Z");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'X','Version':'1.0',"
			"'States':{'X':{'Type':'Succeed'}}}],'End':true}}}", ps, "UNKNOWN_FIELD", "/States/P/Branches/0/Version");
	p = REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
				"{'StartAt':'X','States':{'X':{'Type':'Succeed'}}},"
				"{'StartAt':'X','States':{'X':{'Type':'Succeed'}}}],'End':true}}}", ps,
				"DUPLICATE_STATE_NAME", "/States/P/Branches/1/States/X");
	if (p)
		CHECK_CONTAINS(p->message, "/States/P/Branches/0/States/X");
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
			"{'StartAt':'P','States':{'P':{'Type':'Succeed'}}}],'End':true}}}", ps,
			"DUPLICATE_STATE_NAME", "/States/P/Branches/0/States/P");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'M','States':"
			"{'M':{'Type':'Succeed'}}},'End':true}}}", ps,
			"DUPLICATE_STATE_NAME", "/States/M/ItemProcessor/States/M");
	/* a branch cannot jump into a sibling branch either */
	REFUSED("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
			"{'StartAt':'X','States':{'X':{'Type':'Pass','Next':'Y'}}},"
			"{'StartAt':'Y','States':{'Y':{'Type':'Succeed'}}}],'End':true}}}", ps,
			"NEXT_UNKNOWN_STATE", "/States/P/Branches/0/States/X/Next");
	/* a nested Parallel inside a branch: its own transitions stay inside */
	VALID("{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'Q','States':{"
		  "'Q':{'Type':'Parallel','Branches':[{'StartAt':'R','States':{'R':{'Type':'Succeed'}}}],"
		  "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'S'}],'Next':'S'},"
		  "'S':{'Type':'Succeed'}}}],'End':true}}}", ps);
}

/* Map */
static void
test_map_problems(Problems *ps)
{
	const char *proc = "'ItemProcessor':{'StartAt':'I','States':{'I':{'Type':'Succeed'}}}";
	const char *dproc = "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'STANDARD'},"
		"'StartAt':'I','States':{'I':{'Type':'Succeed'}}}";

	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','End':true}}}", ps, "MISSING_FIELD", "/States/M");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'X','States':"
			"{'X':{'Type':'Pass','End':true}}},'Iterator':{'StartAt':'Y','States':{'Y':{'Type':'Pass',"
			"'End':true}}},'End':true}}}", ps, "MUTUALLY_EXCLUSIVE", "/States/M");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ItemSelector':{},"
						"'Parameters':{},'End':true}}}", proc), ps, "MUTUALLY_EXCLUSIVE", "/States/M");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'MaxConcurrency':-1,'End':true}}}", proc),
			ps, "INVALID_VALUE", "/States/M/MaxConcurrency");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'MaxConcurrency':2,"
						"'MaxConcurrencyPath':'$.c','End':true}}}", proc), ps, "MUTUALLY_EXCLUSIVE", "/States/M");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ToleratedFailurePercentage':101,"
						"'End':true}}}", proc), ps, "INVALID_VALUE", "/States/M/ToleratedFailurePercentage");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ToleratedFailureCount':'1',"
						"'End':true}}}", proc), ps, "INVALID_TYPE", "/States/M/ToleratedFailureCount");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ToleratedFailureCountPath':'x',"
						"'End':true}}}", proc), ps, "INVALID_PATH", "/States/M/ToleratedFailureCountPath");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ItemsPath':'$.a[*]','End':true}}}", proc),
			ps, "INVALID_PATH", "/States/M/ItemsPath");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ItemReader':'s3','End':true}}}", proc),
			ps, "INVALID_TYPE", "/States/M/ItemReader");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'Label':1,'End':true}}}", proc),
			ps, "INVALID_TYPE", "/States/M/Label");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'FAST'},"
			"'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps,
			"INVALID_VALUE", "/States/M/ItemProcessor/ProcessorConfig/Mode");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','Iterator':{'ProcessorConfig':{},"
			"'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps,
			"UNKNOWN_FIELD", "/States/M/Iterator/ProcessorConfig");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'I','States':"
			"{'I':{'Type':'Pass','Next':'After'}}},'Next':'After'},'After':{'Type':'Succeed'}}}", ps,
			"NEXT_UNKNOWN_STATE", "/States/M/ItemProcessor/States/I/Next");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':[],'End':true}}}", ps,
			"INVALID_TYPE", "/States/M/ItemProcessor");
	VALID(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'MaxConcurrencyPath':'$.c',"
					  "'ToleratedFailurePercentagePath':'$.p','ResultWriter':{'WriterConfig':{}},"
					  "'ResultPath':'$.out','OutputPath':'$.out','End':true}}}", dproc), ps);
}

/* ResultWriter and ProcessorConfig (issue 12): shapes, enums, AWS's rules */
static void
test_result_writer_problems(Problems *ps)
{
	const char *dproc = "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'STANDARD'},"
		"'StartAt':'I','States':{'I':{'Type':'Succeed'}}}";
	const char *iproc = "'ItemProcessor':{'StartAt':'I','States':{'I':{'Type':'Succeed'}}}";
	const char *put = "'Resource':'arn:aws:states:::s3:putObject'";
	const Problem *p;

	VALID(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
					  "'Parameters':{'Bucket':'my-bucket','Prefix':'runs/x'},"
					  "'WriterConfig':{'OutputType':'JSONL','Transformation':'FLATTEN'}},'End':true}}}",
					  dproc, put), ps);
	VALID(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
					  "'Parameters':{'Bucket':'b.c-1'}},'Label':'Lines','End':true}}}", dproc, put), ps);
	/* on an INLINE Map: accepted with a warning (AWS: DISTRIBUTED only) */
	parse(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
					  "'Parameters':{'Bucket':'bkt'}},'End':true}}}", iproc, put), ps);
	p = find_problem(ps, "DISTRIBUTED_ONLY", "/States/M/ResultWriter");
	CHECK(p != NULL && strcmp(p->severity, "WARNING") == 0 && ps->n == 1);
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{},'End':true}}}", dproc),
			ps, "MISSING_FIELD", "/States/M/ResultWriter");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':[],'End':true}}}", dproc),
			ps, "INVALID_TYPE", "/States/M/ResultWriter");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{'Resource':'x',"
						"'Parameters':{'Bucket':'bkt'}},'End':true}}}", dproc),
			ps, "INVALID_VALUE", "/States/M/ResultWriter/Resource");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s},'End':true}}}",
						dproc, put), ps, "MISSING_FIELD", "/States/M/ResultWriter/Parameters");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'Parameters':{'Bucket':'bkt'}},'End':true}}}", dproc),
			ps, "MISSING_FIELD", "/States/M/ResultWriter/Resource");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
						"'Parameters':{'Prefix':'p'}},'End':true}}}", dproc, put),
			ps, "MISSING_FIELD", "/States/M/ResultWriter/Parameters/Bucket");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
						"'Parameters':{'Bucket':'No_Such Bucket'}},'End':true}}}", dproc, put),
			ps, "INVALID_VALUE", "/States/M/ResultWriter/Parameters/Bucket");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
						"'Parameters':{'Bucket':'bkt','Prefix':7}},'End':true}}}", dproc, put),
			ps, "INVALID_TYPE", "/States/M/ResultWriter/Parameters/Prefix");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
						"'Parameters':{'Bucket.$':'$.b'}},'End':true}}}", dproc, put),
			ps, "UNSUPPORTED", "/States/M/ResultWriter/Parameters/Bucket.$");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':{%s,"
						"'Parameters':{'Bucket':'bkt','Key':'k'}},'End':true}}}", dproc, put),
			ps, "UNKNOWN_FIELD", "/States/M/ResultWriter/Parameters/Key");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'WriterConfig':{'OutputType':'CSV'}},'End':true}}}", dproc),
			ps, "INVALID_VALUE", "/States/M/ResultWriter/WriterConfig/OutputType");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'WriterConfig':{'OutputType':'JSONL'}},'End':true}}}", dproc),
			ps, "UNSUPPORTED", "/States/M/ResultWriter/WriterConfig/OutputType");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'WriterConfig':{'Transformation':'flatten'}},'End':true}}}", dproc),
			ps, "INVALID_VALUE", "/States/M/ResultWriter/WriterConfig/Transformation");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'WriterConfig':{'Format':'JSON'}},'End':true}}}", dproc),
			ps, "UNKNOWN_FIELD", "/States/M/ResultWriter/WriterConfig/Format");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'ResultWriter':"
						"{'WriterConfig':{},'Extra':1},'End':true}}}", dproc),
			ps, "UNKNOWN_FIELD", "/States/M/ResultWriter/Extra");
	REFUSED(of_psprintf("{'StartAt':'M','States':{'M':{'Type':'Map',%s,'Label':'has space',"
						"'End':true}}}", dproc), ps, "INVALID_VALUE", "/States/M/Label");
	/* ProcessorConfig: DISTRIBUTED needs ExecutionType; INLINE ignores it */
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED'},"
			"'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps,
			"MISSING_FIELD", "/States/M/ItemProcessor/ProcessorConfig/ExecutionType");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED',"
			"'ExecutionType':'FAST'},'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps,
			"INVALID_VALUE", "/States/M/ItemProcessor/ProcessorConfig/ExecutionType");
	REFUSED("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED',"
			"'ExecutionType':'STANDARD','Concurrency':1},'StartAt':'I','States':{'I':{'Type':'Succeed'}}},"
			"'End':true}}}", ps, "UNKNOWN_FIELD", "/States/M/ItemProcessor/ProcessorConfig/Concurrency");
	VALID("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED',"
		  "'ExecutionType':'EXPRESS'},'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps);
	parse("{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'ProcessorConfig':{'Mode':'INLINE',"
		  "'ExecutionType':'STANDARD'},'StartAt':'I','States':{'I':{'Type':'Succeed'}}},'End':true}}}", ps);
	p = find_problem(ps, "IGNORED_FIELD", "/States/M/ItemProcessor/ProcessorConfig/ExecutionType");
	CHECK(p != NULL && strcmp(p->severity, "WARNING") == 0 && ps->n == 1);
}

/* ------------------------------------------------------------------
 * Hostile input and scale
 * ------------------------------------------------------------------ */

/* Check that text is refused with exactly one problem of code at "" */
static void
expect_single_document_problem(const char *text, size_t len, const char *code,
							   Problems *ps, int line)
{
	OfMachine  *m = parse_with(text, len, ps, NULL, 0);
	char		what[128];

	snprintf(what, sizeof(what), "refused with one %s at \"\"", code);
	if (!tu_check(m == NULL && ps->n == 1 && strcmp(ps->items[0].code, code) == 0 &&
				  ps->items[0].location[0] == '\0', __FILE__, line, what))
		problems_dump(ps);
}

#define DOC_PROBLEM(text, code, ps) \
	expect_single_document_problem((text), strlen(text), (code), (ps), __LINE__)

/* Nesting text: n copies of open, a core, n copies of close */
static char *
nested(const char *open, const char *core, const char *close, int n)
{
	size_t		ol = strlen(open);
	size_t		cl = strlen(close);
	char	   *buf = of_alloc(n * (ol + cl) + strlen(core) + 1);
	char	   *p = buf;
	int			i;

	for (i = 0; i < n; i++, p += ol)
		memcpy(p, open, ol);
	strcpy(p, core);
	p += strlen(core);
	for (i = 0; i < n; i++, p += cl)
		memcpy(p, close, cl);
	*p = '\0';
	return buf;
}

/* Not JSON, not an object, too deep, not UTF-8 */
static void
test_hostile_documents(Problems *ps)
{
	OfParseOptions opts;
	const char *deep;

	DOC_PROBLEM("[]", "NOT_AN_OBJECT", ps);
	DOC_PROBLEM("42", "NOT_AN_OBJECT", ps);
	DOC_PROBLEM("null", "NOT_AN_OBJECT", ps);
	DOC_PROBLEM("\"StartAt\"", "NOT_AN_OBJECT", ps);
	DOC_PROBLEM("true", "NOT_AN_OBJECT", ps);
	DOC_PROBLEM("", "INVALID_JSON", ps);
	DOC_PROBLEM("   ", "INVALID_JSON", ps);
	DOC_PROBLEM("{", "INVALID_JSON", ps);
	DOC_PROBLEM("{'StartAt':}", "INVALID_JSON", ps);
	DOC_PROBLEM("{\"StartAt\":\"A\",}", "INVALID_JSON", ps);
	DOC_PROBLEM("{\"StartAt\":\"A\"} x", "INVALID_JSON", ps);
	DOC_PROBLEM(nested("[", "1", "]", 10000), "INVALID_JSON", ps);
	DOC_PROBLEM(nested("{\"a\":", "1", "}", 10000), "INVALID_JSON", ps);
	deep = of_psprintf("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Result\":%s,\"End\":true}}}",
					   nested("[", "1", "]", 10000));
	DOC_PROBLEM(deep, "INVALID_JSON", ps);
	/* invalid UTF-8: a stray byte, an overlong form, a surrogate, a cut sequence */
	DOC_PROBLEM("{\"StartAt\":\"\xff\",\"States\":{}}", "INVALID_JSON", ps);
	DOC_PROBLEM("{\"StartAt\":\"\xc0\x80\",\"States\":{}}", "INVALID_JSON", ps);
	DOC_PROBLEM("{\"StartAt\":\"\xed\xa0\x80\",\"States\":{}}", "INVALID_JSON", ps);
	DOC_PROBLEM("{\"StartAt\":\"\xe2\x82", "INVALID_JSON", ps);
	/* an embedded NUL byte */
	expect_single_document_problem("{\"a\":\0 1}", 9, "INVALID_JSON", ps, __LINE__);
	/* a NUL terminator counted in len is tolerated */
	{
		const char *t = def("{'StartAt':'A','States':{'A':{'Type':'Succeed'}}}");
		OfMachine  *m = parse_with(t, strlen(t) + 1, ps, NULL, 0);

		CHECK(m != NULL && ps->n == 0);
		of_machine_free(m);
	}
	/* max_depth is honoured */
	CHECK(parse_with(def("{'StartAt':'A','States':{'A':{'Type':'Pass','Result':[[[[1]]]],'End':true}}}"),
					 strlen("{'StartAt':'A','States':{'A':{'Type':'Pass','Result':[[[[1]]]],'End':true}}}"),
					 ps, NULL, 5) == NULL);
	CHECK(find_problem(ps, "INVALID_JSON", "") != NULL);
	/* no report callback, no options, no text: NULL without crashing */
	memset(&opts, 0, sizeof(opts));
	CHECK(of_machine_parse("{}", 2, &opts) == NULL);
	CHECK(of_machine_parse("{}", 2, NULL) == NULL);
	CHECK(parse_with(NULL, 0, ps, NULL, 0) == NULL);
	CHECK_INT(ps->n_errors, 1);
}

/* Huge and odd numbers, odd strings */
static void
test_hostile_values(Problems *ps)
{
	const Problem *p;
	char	   *long_key;

	REFUSED("{'StartAt':'A','TimeoutSeconds':1e400,'States':{'A':{'Type':'Succeed'}}}", ps, NULL, NULL);
	CHECK(find_problem(ps, "INVALID_JSON", "") != NULL ||
		  find_problem(ps, "INVALID_VALUE", "/TimeoutSeconds") != NULL ||
		  find_problem(ps, "INVALID_TYPE", "/TimeoutSeconds") != NULL);
	REFUSED("{'StartAt':'A','TimeoutSeconds':123456789012345678901234567890,'States':{'A':{'Type':'Succeed'}}}",
			ps, NULL, NULL);
	REFUSED("{'StartAt':'A','TimeoutSeconds':9223372036854775808,'States':{'A':{'Type':'Succeed'}}}",
			ps, "INVALID_VALUE", "/TimeoutSeconds");
	REFUSED("{'StartAt':'A','TimeoutSeconds':-9223372036854775808,'States':{'A':{'Type':'Succeed'}}}",
			ps, "INVALID_VALUE", "/TimeoutSeconds");
	REFUSED("{'StartAt':'A','TimeoutSeconds':1e30,'States':{'A':{'Type':'Succeed'}}}",
			ps, "INVALID_VALUE", "/TimeoutSeconds");
	REFUSED(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],'MaxAttempts':1e300}],"
					  "'End':true}", NULL), ps, "INVALID_VALUE", "/States/A/Retry/0/MaxAttempts");
	REFUSED(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],'BackoffRate':'NaN'}],"
					  "'End':true}", NULL), ps, "INVALID_TYPE", "/States/A/Retry/0/BackoffRate");
	REFUSED(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],'BackoffRate':-1e308}],"
					  "'End':true}", NULL), ps, "INVALID_VALUE", "/States/A/Retry/0/BackoffRate");
	VALID(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],'BackoffRate':1e308}],"
					"'End':true}", NULL), ps);
	/* NaN and Infinity are not JSON; refused whether or not the JSON parser lets them through */
	CHECK(parse(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],"
						  "'BackoffRate':NaN}],'End':true}", NULL), ps) == NULL);
	CHECK(find_problem(ps, NULL, "") != NULL ||
		  find_problem(ps, NULL, "/States/A/Retry/0/BackoffRate") != NULL);
	CHECK(parse(one_state("{'Type':'Task','Resource':'r','Retry':[{'ErrorEquals':['X'],"
						  "'BackoffRate':Infinity}],'End':true}", NULL), ps) == NULL);
	CHECK(find_problem(ps, NULL, "") != NULL ||
		  find_problem(ps, NULL, "/States/A/Retry/0/BackoffRate") != NULL);
	CHECK(parse(one_state("{'Type':'Wait','Seconds':-Infinity,'End':true}", NULL), ps) == NULL);
	CHECK(find_problem(ps, NULL, "") != NULL || find_problem(ps, NULL, "/States/A/Seconds") != NULL);
	CHECK(parse(choice("{'Variable':'$.a','NumericEquals':NaN,'Next':'Y'}"), ps) == NULL);
	CHECK(find_problem(ps, NULL, "") != NULL ||
		  find_problem(ps, NULL, "/States/C/Choices/0/NumericEquals") != NULL);
	REFUSED(one_state("{'Type':'Wait','Seconds':99999999999,'End':true}", NULL), ps,
			"INVALID_VALUE", "/States/A/Seconds");
	VALID(one_state("{'Type':'Wait','Seconds':99999999,'End':true}", NULL), ps);
	REFUSED(choice("{'Variable':'$.a','NumericEquals':null,'Next':'Y'}"), ps,
			"INVALID_TYPE", "/States/C/Choices/0/NumericEquals");
	VALID(choice("{'Variable':'$.a','NumericEquals':123456789012345678901234567890,'Next':'Y'}"), ps);
	/* a very long unknown field name: reported, message kept short */
	long_key = of_alloc(100001);
	memset(long_key, 'k', 100000);
	p = REFUSED(one_state(of_psprintf("{'Type':'Succeed','%s':1}", long_key), NULL), ps, "UNKNOWN_FIELD",
				of_psprintf("/States/A/%s", long_key));
	if (p)
		CHECK(strlen(p->message) < 1024);
	/* messages and locations stay valid UTF-8 even for odd escapes */
	p = REFUSED("{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'\\ud800x'}}}", ps,
				"NEXT_UNKNOWN_STATE", NULL);
	CHECK(ps->n > 0);
	/* every problem of a broken definition is reported, in one go */
	CHECK(parse("{'StartAt':'A','Foo':1,'States':{'A':{'Type':'Pass','Next':'B','Bar':2},"
				"'B':{'Type':'Wait','End':true},'C':{'Type':'Nope'}}}", ps) == NULL);
	CHECK(find_problem(ps, "UNKNOWN_FIELD", "/Foo") != NULL);
	CHECK(find_problem(ps, "UNKNOWN_FIELD", "/States/A/Bar") != NULL);
	CHECK(find_problem(ps, "MISSING_FIELD", "/States/B") != NULL);
	CHECK(find_problem(ps, "UNKNOWN_STATE_TYPE", "/States/C/Type") != NULL);
	CHECK(find_problem(ps, "UNREACHABLE_STATE", "/States/C") != NULL);
}

/* Seconds elapsed since start */
static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A chain of n Pass states S0 -> S1 -> ... (S<n-1> ends) */
static char *
chain_definition(int n)
{
	size_t		cap = (size_t) n * 64 + 64;
	char	   *buf = malloc(cap);
	size_t		len = 0;
	int			i;

	if (buf == NULL)
		abort();
	len += snprintf(buf + len, cap - len, "{\"StartAt\":\"S0\",\"States\":{");
	for (i = 0; i < n; i++)
	{
		if (i < n - 1)
			len += snprintf(buf + len, cap - len,
							"%s\"S%d\":{\"Type\":\"Pass\",\"Next\":\"S%d\"}", i ? "," : "", i, i + 1);
		else
			len += snprintf(buf + len, cap - len, ",\"S%d\":{\"Type\":\"Pass\",\"End\":true}", i);
	}
	snprintf(buf + len, cap - len, "}}");
	return buf;
}

/* 100,000 states validate quickly and resolve correctly */
static void
test_large_chain(Problems *ps)
{
	const int	n = 100000;
	char	   *text = chain_definition(n);
	struct timespec start;
	OfMachine  *m;
	double		elapsed;
	int			i;
	bool		ok = true;

	clock_gettime(CLOCK_MONOTONIC, &start);
	m = parse_with(text, strlen(text), ps, NULL, 0);
	elapsed = seconds_since(&start);
	printf("     100000-state chain validated in %.3f s\n", elapsed);
	/* generous: sanitizer builds are several times slower */
	CHECK(elapsed < 10.0);
	if (CHECK(m != NULL && ps->n == 0))
	{
		CHECK_INT(m->n_states, n);
		for (i = 0; i < n - 1 && ok; i++)
			ok = m->states[i].next_index == i + 1;
		CHECK(ok);
		CHECK(m->states[n - 1].end);
		CHECK_INT(of_machine_find_state(m, "S99999"), 99999);
		CHECK_INT(of_machine_find_state(m, "S50000"), 50000);
		CHECK_INT(of_machine_find_state(m, "S100000"), -1);
		of_machine_free(m);
	}
	/* the same states, all unreachable except S0: one problem each */
	text[strlen("{\"StartAt\":\"S0\",\"States\":{\"S0\":{\"Type\":\"Pass\",\"")] = 'X';
	clock_gettime(CLOCK_MONOTONIC, &start);
	m = parse_with(text, strlen(text), ps, NULL, 0);
	elapsed = seconds_since(&start);
	printf("     100000-state definition with %d problems in %.3f s\n", ps->n, elapsed);
	CHECK(m == NULL);
	CHECK(elapsed < 10.0);
	CHECK(find_problem(ps, "UNREACHABLE_STATE", "/States/S99999") != NULL);
	free(text);
}

/* A Parallel with many branches, for the cross-machine name check */
static void
test_many_branches(Problems *ps)
{
	const int	n = 20000;
	size_t		cap = (size_t) n * 96 + 256;
	char	   *buf = malloc(cap);
	size_t		len = 0;
	struct timespec start;
	OfMachine  *m;
	double		elapsed;
	int			i;

	if (buf == NULL)
		abort();
	len += snprintf(buf + len, cap - len,
					"{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[");
	for (i = 0; i < n; i++)
		len += snprintf(buf + len, cap - len,
						"%s{\"StartAt\":\"B%d\",\"States\":{\"B%d\":{\"Type\":\"Succeed\"}}}",
						i ? "," : "", i, i);
	snprintf(buf + len, cap - len, "]}}}");
	clock_gettime(CLOCK_MONOTONIC, &start);
	m = parse_with(buf, strlen(buf), ps, NULL, 0);
	elapsed = seconds_since(&start);
	printf("     %d-branch Parallel validated in %.3f s\n", n, elapsed);
	CHECK(elapsed < 10.0);
	if (CHECK(m != NULL && ps->n == 0))
	{
		CHECK_INT(m->states[0].n_branches, n);
		of_machine_free(m);
	}
	free(buf);
}

/* Run every test; the last line printed is "N passed, M failed" */
int
main(void)
{
	Problems	ps;

	memset(&ps, 0, sizeof(ps));
	test_minimal(&ps);
	test_transitions_and_lookup(&ps);
	test_task_model(&ps);
	test_pass_model(&ps);
	test_choice_model(&ps);
	test_wait_fail_model(&ps);
	test_nested_model(&ps);
	test_top_level_problems(&ps);
	test_state_problems(&ps);
	test_transition_problems(&ps);
	test_path_problems(&ps);
	test_task_problems(&ps);
	test_retry_problems(&ps);
	test_catch_problems(&ps);
	test_choice_problems(&ps);
	test_choice_nesting(&ps);
	test_wait_problems(&ps);
	test_fail_problems(&ps);
	test_parallel_problems(&ps);
	test_map_problems(&ps);
	test_result_writer_problems(&ps);
	test_hostile_documents(&ps);
	test_hostile_values(&ps);
	test_conformance(&ps);
	release_machine(&ps);
	of_arena_free_all();
	test_large_chain(&ps);
	release_machine(&ps);
	of_arena_free_all();
	test_many_branches(&ps);
	release_machine(&ps);
	problems_reset(&ps);
	return TEST_SUMMARY();
}
