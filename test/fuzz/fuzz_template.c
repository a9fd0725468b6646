/*
 * fuzz_template: the bytes as JSON (depth-limited parse), compiled as a
 * payload template (Parameters / ResultSelector) and evaluated.
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OfEvalEnv	env = fz_env();
	OfError		err;
	json_object *doc = NULL;
	OfTemplate *t;
	size_t		total = 0;

	if (!of_json_parse((const char *) data, size, 64, &doc, &err))
	{
		of_arena_free_all();
		return 0;
	}
	t = of_template_compile(doc, "/States/S/Parameters", fz_report, &total);
	if (t != NULL)
	{
		json_object *result = NULL;

		(void) of_template_uses_context(t);
		if (of_template_eval(t, &env, &result, &err))
			fz_consume(result);
	}
	json_object_put(doc);
	of_arena_free_all();
	return 0;
}
