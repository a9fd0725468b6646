/*
 * fuzz_path: of_path_compile() (both modes) of arbitrary text, then
 * of_path_eval() and, for reference paths, of_path_set() on a fixed input.
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = fz_text(data, size);
	OfEvalEnv	env = fz_env();
	OfError		err;
	OfPath	   *p;
	int			ref;

	for (ref = 0; ref <= 1; ref++)
	{
		json_object *result = NULL;
		bool		found = false;

		p = of_path_compile(text, ref == 1, &err);
		if (p == NULL)
			continue;
		(void) of_path_text(p);
		(void) of_path_is_definite(p);
		(void) of_path_uses_context(p);
		if (of_path_eval(p, &env, &result, &found, &err))
			fz_consume(result);
		if (ref == 1)
		{
			json_object *value = json_object_new_int(42);

			result = NULL;
			if (of_path_set(p, fz_input, value, &result, &err))
				fz_consume(result);
			json_object_put(value);
		}
	}
	free(text);
	of_arena_free_all();
	return 0;
}
