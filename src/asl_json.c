/*-------------------------------------------------------------------------
 *
 * asl_json.c
 *	  JSON helpers for the ASL model: deep equality, number construction
 *	  and formatting, compact serialization, strict parsing and RFC 3339
 *	  timestamps.
 *
 * Plain C over json-c; see asl.h for the rules (no server calls, errors
 * are returned as values).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

#define OF_DEFAULT_MAX_DEPTH 512
#define USECS_PER_SEC INT64_C(1000000)

/* ------------------------------------------------------------------
 * Numbers and equality
 * ------------------------------------------------------------------ */

/* true for JSON numbers (json-c keeps integers and doubles apart) */
bool
of_json_is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) ||
		json_object_is_type(v, json_type_double);
}

/* the value of a JSON number as a double (0 for anything else) */
double
of_json_number(json_object *v)
{
	if (!of_json_is_number(v))
		return 0.0;
	return json_object_get_double(v);
}

/*
 * Compare two json-c integers exactly.  json-c stores values above
 * INT64_MAX as uint64, and json_object_get_int64 clamps those, so look at
 * the unsigned value when the signed one is at the top of its range.
 */
static bool
int_values_equal(json_object *a, json_object *b)
{
	int64_t		ia = json_object_get_int64(a);
	int64_t		ib = json_object_get_int64(b);

	if (ia != ib)
		return false;
	if (ia == INT64_MAX)
		return json_object_get_uint64(a) == json_object_get_uint64(b);
	return true;
}

/* true when d is integral and representable as int64 */
static bool
double_fits_int64(double d)
{
	/* -2^63 is exact as a double; 2^63 is the first value out of range */
	return d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

/*
 * Numbers are equal by value, so 1 == 1.0.  An integer and an integral
 * double compare as integers: as doubles, 2^53 + 1 would equal 2^53.
 */
static bool
numbers_equal(json_object *a, json_object *b)
{
	bool		a_int = json_object_is_type(a, json_type_int);
	bool		b_int = json_object_is_type(b, json_type_int);
	json_object *i;
	double		d;

	if (a_int && b_int)
		return int_values_equal(a, b);
	if (a_int == b_int)
		return json_object_get_double(a) == json_object_get_double(b);
	i = a_int ? a : b;
	d = json_object_get_double(a_int ? b : a);
	if (!double_fits_int64(d) || json_object_get_int64(i) == INT64_MAX)
		return json_object_get_double(i) == d;
	return json_object_get_int64(i) == (int64_t) d;
}

/* strings compare byte for byte, embedded NULs included */
static bool
strings_equal(json_object *a, json_object *b)
{
	int			la = json_object_get_string_len(a);
	int			lb = json_object_get_string_len(b);

	return la == lb &&
		memcmp(json_object_get_string(a), json_object_get_string(b), la) == 0;
}

/* objects are equal when they have the same keys with equal values */
static bool
objects_equal(json_object *a, json_object *b)
{
	struct json_object_iter it;
	json_object *vb;

	if (json_object_object_length(a) != json_object_object_length(b))
		return false;
	json_object_object_foreachC(a, it)
	{
		if (!json_object_object_get_ex(b, it.key, &vb))
			return false;
		if (!of_json_equal(it.val, vb))
			return false;
	}
	return true;
}

/* arrays are equal element by element */
static bool
arrays_equal(json_object *a, json_object *b)
{
	size_t		n = json_object_array_length(a);
	size_t		i;

	if (json_object_array_length(b) != n)
		return false;
	for (i = 0; i < n; i++)
	{
		if (!of_json_equal(json_object_array_get_idx(a, i),
						   json_object_array_get_idx(b, i)))
			return false;
	}
	return true;
}

/* deep JSON equality; numbers by value, object key order irrelevant */
bool
of_json_equal(json_object *a, json_object *b)
{
	if (a == b)
		return true;
	if (of_json_is_number(a) && of_json_is_number(b))
		return numbers_equal(a, b);
	/* json_object_get_type(NULL) is json_type_null */
	if (json_object_get_type(a) != json_object_get_type(b))
		return false;
	switch (json_object_get_type(a))
	{
		case json_type_null:
			return true;
		case json_type_boolean:
			return json_object_get_boolean(a) == json_object_get_boolean(b);
		case json_type_string:
			return strings_equal(a, b);
		case json_type_object:
			return objects_equal(a, b);
		case json_type_array:
			return arrays_equal(a, b);
		default:
			return false;
	}
}

/*
 * A new JSON number.  Integral values that fit int64 become json-c
 * integers (so they print as "3", not "3.0"); anything else is a double
 * carrying the shortest decimal text that reads back as the same double,
 * because json-c's own "%.17g" prints 0.1 as 0.10000000000000001.
 * JSON has no NaN or infinity: those become null.
 */
json_object *
of_json_new_number(double d)
{
	char		buf[64];
	int			precision;

	if (!isfinite(d))
		return NULL;
	if (double_fits_int64(d))
		return json_object_new_int64((int64_t) d);
	for (precision = 15; precision <= 17; precision++)
	{
		snprintf(buf, sizeof(buf), "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return json_object_new_double_s(d, buf);
}

/* ------------------------------------------------------------------
 * Serialization and parsing
 * ------------------------------------------------------------------ */

/* compact JSON text (no spaces, "/" unescaped) in a malloc'd string */
char *
of_json_to_string(json_object *v)
{
	const char *text;

	text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
										  JSON_C_TO_STRING_NOSLASHESCAPE);
	return strdup(text != NULL ? text : "null");
}

/* the number of characters of an int64 in decimal */
static size_t
int_text_size(int64_t i)
{
	uint64_t	u = i < 0 ? (uint64_t) 0 - (uint64_t) i : (uint64_t) i;
	size_t		n = i < 0 ? 2 : 1;

	while (u >= 10)
	{
		u /= 10;
		n++;
	}
	return n;
}

/* of_json_size below, adding to *size; false as soon as *size > limit */
static bool
json_size_walk(json_object *v, size_t limit, size_t *size)
{
	struct json_object_iter it;
	size_t		n;
	size_t		i;

	switch (json_object_get_type(v))
	{
		case json_type_null:
			*size += 4;
			break;
		case json_type_boolean:
			*size += json_object_get_boolean(v) ? 4 : 5;
			break;
		case json_type_int:
			*size += int_text_size(json_object_get_int64(v));
			break;
		case json_type_double:
			*size += 17;
			break;
		case json_type_string:
			*size += (size_t) json_object_get_string_len(v) + 2;
			break;
		case json_type_array:
			n = json_object_array_length(v);
			*size += 2 + (n > 0 ? n - 1 : 0);
			for (i = 0; i < n && *size <= limit; i++)
				json_size_walk(json_object_array_get_idx(v, i), limit, size);
			break;
		case json_type_object:
			*size += 2;
			json_object_object_foreachC(v, it)
			{
				if (*size > limit)
					break;
				/* "key": and a comma (one too many: an overestimate by 1) */
				*size += strlen(it.key) + 4;
				json_size_walk(it.val, limit, size);
			}
			break;
	}
	return *size <= limit;
}

/* approximate compact JSON length, stopping past limit; see asl.h */
size_t
of_json_size(json_object *v, size_t limit)
{
	size_t		size = 0;

	json_size_walk(v, limit, &size);
	return size;
}

/*
 * A strict RFC 8259 syntax check that runs before json-c, because json-c
 * accepts more than JSON even in strict mode (NaN, Infinity, "1.",
 * single-quoted keys, raw control characters in strings), and leaks the
 * value when it rejects trailing text.  It is iterative, so deep nesting
 * costs no C stack; the nesting limit is checked here too.
 */
typedef struct JsonScan
{
	const char *text;
	size_t		len;
	size_t		pos;
	int			max_depth;		/* containers inside each other */
	char	   *stack;			/* '[' or '{' per open container (malloc'd) */
	int			depth;
	int			cap;
	const char *problem;		/* what went wrong at pos */
} JsonScan;

/* the current byte, or '\0' at the end */
static char
scan_peek(const JsonScan *sc)
{
	return sc->pos < sc->len ? sc->text[sc->pos] : '\0';
}

/* record a problem at the current position; always false */
static bool
scan_fail(JsonScan *sc, const char *problem)
{
	/* whatever was expected, running out of text is the real problem */
	sc->problem = sc->pos >= sc->len ? "unexpected end of input" : problem;
	return false;
}

/* skip JSON whitespace */
static void
scan_whitespace(JsonScan *sc)
{
	while (sc->pos < sc->len)
	{
		char		c = sc->text[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

/* true when the byte is an ASCII digit */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* one or more digits */
static bool
scan_digits(JsonScan *sc)
{
	if (!is_digit(scan_peek(sc)))
		return scan_fail(sc, "unexpected character (expected a digit)");
	while (is_digit(scan_peek(sc)))
		sc->pos++;
	return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
scan_number(JsonScan *sc)
{
	if (scan_peek(sc) == '-')
		sc->pos++;
	if (scan_peek(sc) == '0')
		sc->pos++;
	else if (!scan_digits(sc))
		return false;
	if (scan_peek(sc) == '.')
	{
		sc->pos++;
		if (!scan_digits(sc))
			return false;
	}
	if (scan_peek(sc) == 'e' || scan_peek(sc) == 'E')
	{
		sc->pos++;
		if (scan_peek(sc) == '+' || scan_peek(sc) == '-')
			sc->pos++;
		if (!scan_digits(sc))
			return false;
	}
	return true;
}

/* the rest of a backslash escape (the backslash is consumed) */
static bool
scan_escape(JsonScan *sc)
{
	char		c = scan_peek(sc);
	int			i;

	if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL)
	{
		sc->pos++;
		return true;
	}
	if (c != 'u')
		return scan_fail(sc, "unexpected character (invalid escape in string)");
	sc->pos++;
	for (i = 0; i < 4; i++)
	{
		c = scan_peek(sc);
		if (!is_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F'))
			return scan_fail(sc, "unexpected character (invalid \\u escape)");
		sc->pos++;
	}
	return true;
}

/* a double-quoted string; UTF-8 validity is left to json-c */
static bool
scan_string(JsonScan *sc)
{
	if (scan_peek(sc) != '"')
		return scan_fail(sc, "unexpected character (expected a string)");
	sc->pos++;
	for (;;)
	{
		unsigned char c = (unsigned char) scan_peek(sc);

		if (sc->pos >= sc->len)
			return scan_fail(sc, "unexpected end of input");
		sc->pos++;
		if (c == '"')
			return true;
		if (c == '\\')
		{
			if (!scan_escape(sc))
				return false;
		}
		else if (c < 0x20)
		{
			sc->pos--;
			return scan_fail(sc, "unescaped control character in string");
		}
	}
}

/* true and consume when the text continues with the keyword */
static bool
scan_keyword(JsonScan *sc, const char *word)
{
	size_t		n = strlen(word);

	if (sc->len - sc->pos < n || memcmp(sc->text + sc->pos, word, n) != 0)
		return false;
	sc->pos += n;
	return true;
}

/* enter an array or object */
static bool
scan_push(JsonScan *sc, char open)
{
	if (sc->depth >= sc->max_depth)
		return scan_fail(sc, "nesting too deep");
	if (sc->depth == sc->cap)
	{
		int			cap = sc->cap == 0 ? 64 : sc->cap * 2;
		char	   *stack = realloc(sc->stack, (size_t) cap);

		if (stack == NULL)
			return scan_fail(sc, "out of memory");
		sc->stack = stack;
		sc->cap = cap;
	}
	sc->stack[sc->depth++] = open;
	sc->pos++;
	return true;
}

/* an object member's key and colon */
static bool
scan_key(JsonScan *sc)
{
	scan_whitespace(sc);
	if (!scan_string(sc))
		return false;
	scan_whitespace(sc);
	if (scan_peek(sc) != ':')
		return scan_fail(sc, "unexpected character (expected ':')");
	sc->pos++;
	return true;
}

/*
 * One value.  Opening an array or object returns with *opened set and
 * the container's first element (or its end) still to come.
 */
static bool
scan_value_start(JsonScan *sc, bool *opened)
{
	char		c;

	*opened = false;
	scan_whitespace(sc);
	c = scan_peek(sc);
	if (c == '[' || c == '{')
	{
		*opened = true;
		return scan_push(sc, c);
	}
	if (c == '"')
		return scan_string(sc);
	if (c == '-' || is_digit(c))
		return scan_number(sc);
	if (scan_keyword(sc, "true") || scan_keyword(sc, "false") || scan_keyword(sc, "null"))
		return true;
	return scan_fail(sc, "unexpected character (expected a value)");
}

/*
 * After an opening bracket: an immediate close, or the first element (for
 * objects, its key).  *closed tells that the container ended.
 */
static bool
scan_after_open(JsonScan *sc, bool *closed)
{
	char		open = sc->stack[sc->depth - 1];

	scan_whitespace(sc);
	*closed = scan_peek(sc) == (open == '[' ? ']' : '}');
	if (*closed)
	{
		sc->pos++;
		sc->depth--;
		return true;
	}
	return open == '[' || scan_key(sc);
}

/*
 * After a complete value inside a container: a comma (then the next
 * element) or the closing bracket.  *closed tells that the container
 * ended.
 */
static bool
scan_after_value(JsonScan *sc, bool *closed)
{
	char		open = sc->stack[sc->depth - 1];
	char		c;

	scan_whitespace(sc);
	c = scan_peek(sc);
	*closed = c == (open == '[' ? ']' : '}');
	if (*closed)
	{
		sc->pos++;
		sc->depth--;
		return true;
	}
	if (c != ',')
		return scan_fail(sc, open == '['
						 ? "unexpected character (expected ',' or ']')"
						 : "unexpected character (expected ',' or '}')");
	sc->pos++;
	return open == '[' || scan_key(sc);
}

/* check that text[0..len) is exactly one JSON value plus whitespace */
static bool
scan_json(JsonScan *sc)
{
	bool		opened;
	bool		closed;

	do
	{
		if (!scan_value_start(sc, &opened))
			return false;
		/* close every container that ends here, then expect a value */
		while (sc->depth > 0)
		{
			if (!(opened ? scan_after_open(sc, &closed) : scan_after_value(sc, &closed)))
				return false;
			if (!closed)
				break;
			opened = false;
		}
	} while (sc->depth > 0);
	scan_whitespace(sc);
	if (sc->pos < sc->len)
		return scan_fail(sc, "unexpected text after the value");
	return true;
}

/*
 * Parse JSON text strictly (RFC 8259, valid UTF-8, nothing but whitespace
 * after the value) with at most max_depth arrays/objects inside each
 * other (0: 512).  Errors give the byte offset.
 */
bool
of_json_parse(const char *text, size_t len, int max_depth,
			  json_object **out, OfError *err)
{
	JsonScan	sc;
	struct json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	bool		valid;

	*out = NULL;
	if (len >= INT32_MAX)
		return of_fail(err, OF_ERR_RUNTIME, "invalid JSON: text too long");
	memset(&sc, 0, sizeof(sc));
	sc.text = text;
	sc.len = len;
	sc.max_depth = max_depth > 0 ? max_depth : OF_DEFAULT_MAX_DEPTH;
	valid = scan_json(&sc);
	free(sc.stack);
	if (!valid)
		return of_fail(err, OF_ERR_RUNTIME, "invalid JSON: %s at offset %zu",
					   sc.problem, sc.pos);

	/* json-c counts the innermost scalar as a level too */
	tok = json_tokener_new_ex(sc.max_depth < INT32_MAX ? sc.max_depth + 1 : sc.max_depth);
	if (tok == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int) len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue)
	{
		/* a top-level number only ends when json-c sees its end */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	if (jerr != json_tokener_success)
	{
		size_t		offset = json_tokener_get_parse_end(tok);

		json_tokener_free(tok);
		json_object_put(obj);
		return of_fail(err, OF_ERR_RUNTIME, "invalid JSON: %s at offset %zu",
					   json_tokener_error_desc(jerr), offset);
	}
	json_tokener_free(tok);
	*out = obj;
	return true;
}

/* ------------------------------------------------------------------
 * RFC 3339 timestamps
 * ------------------------------------------------------------------ */

/* read exactly n decimal digits at *p; advance past them */
static bool
read_digits(const char **p, int n, int *value)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*value = v;
	return true;
}

/* consume the expected separator character */
static bool
expect_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* Gregorian leap year */
static bool
is_leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* number of days in month m (1..12) of year y */
static int
days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && is_leap_year(y))
		return 29;
	return days[m - 1];
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); avoids timegm(), which is neither portable nor pure.
 */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* parse "YYYY-MM-DD" and validate the calendar date */
static bool
parse_date(const char **p, int *y, int *m, int *d)
{
	if (!read_digits(p, 4, y) || !expect_char(p, '-') ||
		!read_digits(p, 2, m) || !expect_char(p, '-') ||
		!read_digits(p, 2, d))
		return false;
	return *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

/* parse "hh:mm:ss" (no leap seconds) into seconds of the day */
static bool
parse_time(const char **p, int64_t *seconds)
{
	int			h;
	int			mi;
	int			s;

	if (!read_digits(p, 2, &h) || !expect_char(p, ':') ||
		!read_digits(p, 2, &mi) || !expect_char(p, ':') ||
		!read_digits(p, 2, &s))
		return false;
	if (h > 23 || mi > 59 || s > 59)
		return false;
	*seconds = h * 3600 + mi * 60 + s;
	return true;
}

/*
 * parse an optional ".digits" fraction of any length into microseconds;
 * digits beyond the sixth are checked but dropped
 */
static bool
parse_fraction(const char **p, int64_t *usec)
{
	int64_t		scale = 100000;
	int			ndigits = 0;

	*usec = 0;
	if (**p != '.')
		return true;
	(*p)++;
	while (**p >= '0' && **p <= '9')
	{
		*usec += (**p - '0') * scale;
		scale /= 10;
		ndigits++;
		(*p)++;
	}
	return ndigits > 0;
}

/* parse the required zone, "Z" or "+hh:mm"/"-hh:mm", into seconds east */
static bool
parse_zone(const char **p, int64_t *offset)
{
	int			sign;
	int			h;
	int			m;

	if (expect_char(p, 'Z'))
	{
		*offset = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!read_digits(p, 2, &h) || !expect_char(p, ':') || !read_digits(p, 2, &m))
		return false;
	if (h > 23 || m > 59)
		return false;
	*offset = sign * (h * 3600 + m * 60);
	return true;
}

/*
 * Parse an RFC 3339 date-time with a required zone.  As AWS does, "T" and
 * "Z" must be upper case.  Microsecond precision: longer fractions are
 * truncated.
 */
bool
of_parse_timestamp(const char *text, int64_t *usec_out)
{
	const char *p = text;
	int			y;
	int			m;
	int			d;
	int64_t		secs;
	int64_t		usec;
	int64_t		offset;

	if (text == NULL)
		return false;
	if (!parse_date(&p, &y, &m, &d) || !expect_char(&p, 'T') ||
		!parse_time(&p, &secs) || !parse_fraction(&p, &usec) ||
		!parse_zone(&p, &offset) || *p != '\0')
		return false;
	secs += days_from_civil(y, m, d) * 86400 - offset;
	if (usec_out != NULL)
		*usec_out = secs * USECS_PER_SEC + usec;
	return true;
}
