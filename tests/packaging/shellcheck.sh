#!/bin/sh
# ctest "shellcheck": shellcheck over every shell script of the source tree
# SRCDIR (files named *.sh and files whose first line runs sh or bash),
# build trees excepted. Any finding fails the test.
set -eu

src=${1:?usage: shellcheck.sh SRCDIR}
cd "$src"

if ! command -v shellcheck >/dev/null 2>&1; then
    echo "shellcheck.sh: shellcheck is not installed (scripts/test installs it)" >&2
    exit 1
fi

list=$(mktemp)
trap 'rm -f "$list"' EXIT
find . -type d \( -name .git -o -name 'build*' -o -name var \) -prune \
    -o -type f -print | sort | while read -r f; do
    case "$f" in
    *.sh) echo "$f" ;;
    *)
        first=$(head -n 1 "$f" 2>/dev/null | tr -d '\0') || first=
        case "$first" in
        '#!/bin/sh'* | '#!/bin/bash'* | '#!/usr/bin/env sh'* | '#!/usr/bin/env bash'*)
            echo "$f"
            ;;
        esac
        ;;
    esac
done >"$list"

# The scripts CI itself runs must be among them.
for must in ./.ci/run ./scripts/build ./scripts/test ./docker/entrypoint.sh; do
    if [ -e "$must" ] && ! grep -qx "$must" "$list"; then
        echo "shellcheck.sh: $must was not recognised as a shell script" >&2
        exit 1
    fi
done

echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on $(wc -l <"$list") scripts:"
sed 's/^/  /' "$list"
# -x follows `. scripts/lib/deps.sh` (paths are relative to SRCDIR).
tr '\n' '\0' <"$list" | xargs -0 shellcheck -x
echo "shellcheck: no findings"
