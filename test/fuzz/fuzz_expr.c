/*
 * fuzz_expr: of_expr_compile() of arbitrary text (paths and intrinsic
 * functions, nested), then of_expr_eval() on a fixed input.
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = fz_text(data, size);
	OfEvalEnv	env = fz_env();
	OfError		err;
	OfExpr	   *e;

	e = of_expr_compile(text, &err);
	if (e != NULL)
	{
		json_object *result = NULL;

		(void) of_expr_is_intrinsic(e);
		(void) of_expr_uses_context(e);
		if (of_expr_eval(e, &env, &result, &err))
			fz_consume(result);
	}
	free(text);
	of_arena_free_all();
	return 0;
}
