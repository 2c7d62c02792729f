#!/usr/bin/env bash
# check-banned.sh - fail when src/ calls a function the house style bans,
# or compares what looks like a secret with memcmp/strcmp instead of
# sg_ct_equal (S5). Run as a ctest.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

banned='(^|[^>.a-zA-Z0-9_])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|gmtime|localtime|rand|system)\s*\('
if grep -rnE "$banned" src --include='*.c' --include='*.h' | grep -vE '^\S+:\s*\*|/\*.*\*/' ; then
  echo "check-banned: banned function call(s) above" >&2
  status=1
fi
if grep -rnE '\b(malloc|calloc|realloc|free)\s*\(' src --include='*.c' \
     | grep -v '^src/core/alloc.c:' | grep -vE 'json_decref|curl_free|sqlite3_free|PQfreemem' ; then
  echo "check-banned: bare allocator call(s) above; use sg_alloc/sg_free" >&2
  status=1
fi
secret='(sig|signature|secret|hmac|mac|token|key_hash|digest|apikey|api_key)'
# Comparing against a string literal (a prefix, a scheme) is not a secret
# comparison, so lines with a literal argument are skipped.
if grep -rniE "\b(memcmp|strcmp|strncmp|bcmp)\s*\([^;]*${secret}" src --include='*.c' | grep -v '"' ; then
  echo "check-banned: secret compared without sg_ct_equal (above)" >&2
  status=1
fi
[[ $status -eq 0 ]] && echo "check-banned: ok"
exit $status
