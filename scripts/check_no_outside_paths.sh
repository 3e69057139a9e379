#!/usr/bin/env bash
# Fails when a tracked file other than Markdown names the reference folder that sat beside this
# project's first checkouts ("../" followed by "shared"): a user's clone has nothing beside it,
# so everything must come from the clone (SPEC.md "Data the repository ships"). Exit 77 (ctest:
# skipped) outside a git checkout, e.g. in an exported tarball.
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
if ! git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "check_no_outside_paths: $root is not a git checkout: skipped"
  exit 77
fi
# Spelled in two parts so that this file does not match itself.
pattern='\.\./''shared'
if hits=$(git -C "$root" grep -n -I -e "$pattern" -- . ':(exclude)*.md'); then
  echo "check_no_outside_paths: tracked files read or cite a folder outside the clone:"
  echo "$hits"
  exit 1
fi
echo "check_no_outside_paths: no tracked file outside the docs mentions it"
