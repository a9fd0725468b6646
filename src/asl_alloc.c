/*-------------------------------------------------------------------------
 *
 * asl_alloc.c
 *	  Allocation and error helpers shared by the server-free ASL code.
 *
 * In the server, of_alloc() is palloc0() in the current memory context, so
 * a parsed definition lives exactly as long as the context it was parsed
 * in.  Standalone (test/c, fuzz), allocations go to a simple arena that
 * of_arena_free_all() releases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

#ifdef OF_STANDALONE

typedef struct ArenaChunk
{
	struct ArenaChunk *prev;
} ArenaChunk;

static ArenaChunk *arena_top = NULL;

void *
of_alloc(size_t size)
{
	ArenaChunk *chunk = calloc(1, sizeof(ArenaChunk) + size + 16);

	if (chunk == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	chunk->prev = arena_top;
	arena_top = chunk;
	/* keep the payload 16-byte aligned */
	return (char *) chunk + 16;
}

void
of_arena_free_all(void)
{
	while (arena_top != NULL)
	{
		ArenaChunk *prev = arena_top->prev;

		free(arena_top);
		arena_top = prev;
	}
}

#else

void *
of_alloc(size_t size)
{
	return palloc0(size);
}

#endif

char *
of_strdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *copy = of_alloc(len + 1);

	memcpy(copy, s, len);
	return copy;
}

char *
of_psprintf(const char *fmt,...)
{
	va_list		ap;
	int			len;
	char	   *buf;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf = of_alloc((size_t) len + 1);
	va_start(ap, fmt);
	vsnprintf(buf, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return buf;
}

bool
of_fail(OfError *err, const char *error, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return false;
	snprintf(err->error, sizeof(err->error), "%s", error);
	if (fmt == NULL)
		err->cause[0] = '\0';
	else
	{
		va_start(ap, fmt);
		vsnprintf(err->cause, sizeof(err->cause), fmt, ap);
		va_end(ap);
	}
	return false;
}

/* ------------------------------------------------------------------
 * Bounded evaluation
 * ------------------------------------------------------------------ */

bool
of_interrupted(const OfEvalEnv *env, OfError *err)
{
	if (env == NULL || env->interrupted == NULL || !env->interrupted())
		return false;
	of_fail(err, OF_ERR_INTERRUPTED, "the evaluation was interrupted");
	return true;
}

bool
of_within_budget(const OfEvalEnv *env, size_t bytes, const char *what, OfError *err)
{
	if (env == NULL || env->max_bytes == 0 || bytes <= env->max_bytes)
		return true;
	if (env->max_bytes_name != NULL)
		return of_fail(err, OF_ERR_DATA_LIMIT, "%s: the result is over %s (%zu bytes)",
					   what, env->max_bytes_name, env->max_bytes);
	return of_fail(err, OF_ERR_DATA_LIMIT,
				   "%s: the result is over the payload size limit of %zu bytes",
				   what, env->max_bytes);
}

bool
of_budget_add_value(const OfEvalEnv *env, size_t *used, json_object *v,
					const char *what, OfError *err)
{
	if (env == NULL || env->max_bytes == 0)
		return true;
	if (*used <= env->max_bytes)
		*used += of_json_size(v, env->max_bytes - *used);
	return of_within_budget(env, *used, what, err);
}
