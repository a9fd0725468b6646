# Turn "#define ERRCODE_UNIQUE_VIOLATION MAKE_SQLSTATE('2','3','5','0','5')"
# into { "23505", "UniqueViolation" }, keeping the first name of each code.
/^#define ERRCODE_/ {
	name = $2
	sub(/^ERRCODE_/, "", name)
	sub(/^T_R_/, "", name)
	code = $3
	gsub(/MAKE_SQLSTATE\(|\)|'|,/, "", code)
	if (length(code) != 5 || (code in seen))
		next
	seen[code] = 1
	n = split(tolower(name), parts, "_")
	camel = ""
	for (i = 1; i <= n; i++)
		camel = camel toupper(substr(parts[i], 1, 1)) substr(parts[i], 2)
	printf "\t{\"%s\", \"%s\"},\n", code, camel
}
