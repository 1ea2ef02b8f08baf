#!/usr/bin/env bash
# test/fuzz/gen-corpus.sh — writes the fuzzer's seed corpus (test/fuzz/corpus/).
# The seeds are committed; run this again only to change them.
set -euo pipefail
cd "$(dirname "$0")/corpus"

# be32 N: N as 4 big-endian bytes.
be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
# startup FILE PROTOCOL NAME VALUE...: a StartupMessage.
startup() {
	local file=$1 proto=$2 body
	shift 2
	body=$(mktemp)
	for kv in "$@"; do printf '%s\0' "$kv"; done >"$body"
	printf '\0' >>"$body"
	{ be32 $((8 + $(stat -c %s "$body"))); be32 "$proto"; cat "$body"; } >"$file"
	rm -f "$body"
}

startup startup_dev $((3 << 16)) user alice database shop.dev application_name psql client_encoding UTF8
startup startup_prod $((3 << 16)) user bob database shop
startup startup_nodb $((3 << 16)) user carol options '-c statement_timeout=5s'
startup startup_v32 $((3 << 16 | 2)) user dave database shop.preview-7 _pq_.test on
head -c 21 startup_dev >startup_truncated
{ be32 8; be32 80877103; } >ssl_request
{ be32 8; be32 80877104; } >gssenc_request
{ be32 16; be32 80877102; be32 12345; be32 3735928559; } >cancel_request
{ printf K; be32 12; be32 4242; be32 16909060; } >backend_key_data
{ printf Z; be32 5; printf I; } >ready_for_query
printf 'project "shop" has no environment "dev"' >error_text
