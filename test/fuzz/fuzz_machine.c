/*
 * fuzz_machine: of_machine_parse() over arbitrary bytes (definition parser
 * and validator), with a resolver; a machine that parses is freed again.
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OfParseOptions opts;
	OfMachine  *m;
	size_t		total = 0;

	memset(&opts, 0, sizeof(opts));
	opts.report = fz_report;
	opts.report_arg = &total;
	opts.resolve = fz_resolve;
	opts.interrupted = fz_interrupted;	/* every 1000th poll stops the parse */
	m = of_machine_parse((const char *) data, size, &opts);
	if (m != NULL)
	{
		int			i;

		for (i = 0; i < m->n_states; i++)
			(void) of_machine_find_state(m, m->states[i].name);
		of_machine_free(m);
	}
	of_arena_free_all();
	return 0;
}
