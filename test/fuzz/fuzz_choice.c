/*
 * fuzz_choice: the bytes are one Choice rule (JSON); it is put into a
 * Choice state of a small definition, parsed, and, when valid, every rule
 * is evaluated against the fixed input (of_choice_eval, which also runs
 * of_string_matches and timestamp parsing).  A second input document taken
 * from the fixed one varies the types the rule meets.
 */
#include "fuzz_common.h"

static const char prefix[] =
"{\"StartAt\": \"C\", \"States\": {\"C\": {\"Type\": \"Choice\", \"Choices\": [";
static const char suffix[] =
"], \"Default\": \"D\"}, \"D\": {\"Type\": \"Succeed\"}, \"N\": {\"Type\": \"Succeed\"}}}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		n = sizeof(prefix) - 1 + size + sizeof(suffix) - 1;
	char	   *text = malloc(n + 1);
	OfParseOptions opts;
	OfMachine  *m;
	size_t		total = 0;

	if (text == NULL)
		abort();
	memcpy(text, prefix, sizeof(prefix) - 1);
	memcpy(text + sizeof(prefix) - 1, data, size);
	memcpy(text + sizeof(prefix) - 1 + size, suffix, sizeof(suffix) - 1);
	text[n] = '\0';

	memset(&opts, 0, sizeof(opts));
	opts.report = fz_report;
	opts.report_arg = &total;
	m = of_machine_parse(text, n, &opts);
	if (m != NULL)
	{
		OfEvalEnv	env = fz_env();
		int			s,
					r,
					k;

		for (s = 0; s < m->n_states; s++)
		{
			OfState    *st = &m->states[s];

			for (r = 0; r < st->n_choices; r++)
			{
				for (k = 0; k < 3; k++)
				{
					OfError		err;
					bool		matched = false;
					json_object *saved = env.input;

					if (k == 1)
						env.input = json_object_object_get(fz_input, "b");
					else if (k == 2)
						env.input = json_object_object_get(fz_input, "o");
					(void) of_choice_eval(st->choices[r], &env, &matched, &err);
					env.input = saved;
				}
			}
		}
		of_machine_free(m);
	}
	free(text);
	of_arena_free_all();
	return 0;
}
