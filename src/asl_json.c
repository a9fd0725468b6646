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

/* true when text[from..len) holds only JSON whitespace */
static bool
only_whitespace(const char *text, size_t from, size_t len)
{
	size_t		i;

	for (i = from; i < len; i++)
	{
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
			return false;
	}
	return true;
}

/* describe a tokener failure with the offset where it happened */
static bool
tokener_failure(OfError *err, enum json_tokener_error jerr, size_t offset)
{
	if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)
		return of_fail(err, OF_ERR_RUNTIME,
					   "invalid JSON: unexpected end of input at offset %zu",
					   offset);
	return of_fail(err, OF_ERR_RUNTIME, "invalid JSON: %s at offset %zu",
				   json_tokener_error_desc(jerr), offset);
}

/*
 * Parse JSON text strictly, with a nesting limit.  A top-level number is
 * only complete once the tokener sees its end, so a NUL is fed after the
 * text when json-c asks for more.
 */
bool
of_json_parse(const char *text, size_t len, int max_depth,
			  json_object **out, OfError *err)
{
	struct json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	size_t		end;
	const char *nul;

	*out = NULL;
	if (len > INT32_MAX)
		return of_fail(err, OF_ERR_RUNTIME, "invalid JSON: text too long");
	nul = memchr(text, '\0', len);
	if (nul != NULL)
		return of_fail(err, OF_ERR_RUNTIME,
					   "invalid JSON: NUL byte at offset %zu",
					   (size_t) (nul - text));
	tok = json_tokener_new_ex(max_depth > 0 ? max_depth : OF_DEFAULT_MAX_DEPTH);
	if (tok == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);

	obj = json_tokener_parse_ex(tok, text, (int) len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue)
	{
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);

	if (jerr != json_tokener_success)
		return tokener_failure(err, jerr, end);
	if (!only_whitespace(text, end, len))
	{
		json_object_put(obj);
		return of_fail(err, OF_ERR_RUNTIME,
					   "invalid JSON: unexpected text after the value at offset %zu",
					   end);
	}
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
