/*-------------------------------------------------------------------------
 *
 * jsonb_conv.h
 *	  jsonb <-> json-c conversion.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_JSONB_CONV_H
#define OF_JSONB_CONV_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "asl.h"

extern json_object *OfJsonbToJsonc(Jsonb *jb);
extern Jsonb *OfJsoncToJsonb(json_object *v);
extern json_object *OfTextToJsonc(const char *text);

#endif
