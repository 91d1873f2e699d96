#!/usr/bin/env bash
# Writes docs/cli.md, the CLI reference: `ep --help` and the --help of every verb and nested verb, found by walking
# the SUBCOMMANDS sections of the help texts.
#
#   scripts/docs/cli_reference.sh EP_BINARY > docs/cli.md     # regenerate
#   scripts/docs/cli_reference.sh --check EP_BINARY [FILE]    # fail when FILE (default docs/cli.md) is not current
#
# The help is rendered at 80 columns (COLUMNS=80), so the output does not depend on the terminal.
set -euo pipefail

check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [--check] EP_BINARY [FILE]" >&2
    exit 64
fi
ep=$1
file=${2:-docs/cli.md}
[ -x "$ep" ] || { echo "$0: $ep: not an executable" >&2; exit 1; }

help_of() { COLUMNS=80 "$ep" "$@" --help; }

# The verbs listed under SUBCOMMANDS: (two spaces, then the name).
subcommands_of() {
    help_of "$@" | awk '/^SUBCOMMANDS:/ { on = 1; next } on && /^[^ ]/ { on = 0 } on && /^  [a-z]/ { print $1 }'
}

# Every verb path, depth first in the order the help lists them ("" is ep itself).
all_paths() {
    local prefix=("$@") sub
    printf '%s\n' "${prefix[*]:-}"
    for sub in $(subcommands_of "${prefix[@]}"); do
        all_paths "${prefix[@]}" "$sub"
    done
}

generate() {
    local paths path anchor
    mapfile -t paths < <(all_paths)
    echo "# \`ep\` command reference"
    echo
    echo "Generated from \`ep --help\` and the \`--help\` of every verb by \`scripts/docs/cli_reference.sh\`; do not edit"
    echo "by hand. \`make test\` fails when this page differs from what the built \`ep\` prints (regenerate it with"
    echo "\`scripts/docs/cli_reference.sh .build/debug/ep > docs/cli.md\`)."
    echo
    for path in "${paths[@]}"; do
        anchor=$(echo "ep ${path}" | sed 's/ *$//; s/ /-/g')
        echo "- [\`ep${path:+ $path}\`](#${anchor})"
    done
    for path in "${paths[@]}"; do
        echo
        echo "## ep${path:+ $path}"
        echo
        echo '```text'
        # shellcheck disable=SC2086
        help_of $path | sed 's/[[:space:]]*$//'
        echo '```'
    done
}

if [ $check = 0 ]; then
    generate
    exit 0
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
generate > "$tmp"
if ! diff -u "$file" "$tmp" > "$tmp.diff"; then
    head -n 40 "$tmp.diff" >&2
    rm -f "$tmp.diff"
    echo "$file is not current with $ep --help: run scripts/docs/cli_reference.sh $ep > $file" >&2
    exit 1
fi
rm -f "$tmp.diff"
echo "cli reference: $file is current ($(grep -c '^## ep' "$file") commands)"
