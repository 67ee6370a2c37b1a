#!/bin/sh
# What help2man runs to make a tool's man page (cmake/TaInstall.cmake, the man target): the
# tool named by TA_MAN_TOOL, its --help with the usage forms joined one to a line.
#
# help2man takes the SYNOPSIS only from a "Usage: FORM" line and "  or: FORM" lines, one form a
# line (its usage pattern; --no-discard-stderr and include files do not change that). The
# tools' --help wraps each form at 80 columns: "usage: PROG ...", continuation lines indented,
# each next form indented "PROG ...". help2man found no synopsis in that and put the wrapped
# lines at the top of DESCRIPTION as garbled paragraphs. Here the usage block (up to its first
# empty line) is rewritten into help2man's shape: a line whose first word is PROG starts a
# form, any other line continues the one before. The rest of the text, and --version, are the
# tool's own, so the page still cannot drift from the tool.
#
# usage: TA_MAN_TOOL=/path/to/typeahead-x ta_man_help.sh --help | --version
set -eu
tool=${TA_MAN_TOOL:?TA_MAN_TOOL names the tool}
[ "${1:-}" = --help ] || exec "$tool" "$@"
text=$("$tool" --help)
printf '%s\n' "$text" | awk '
  function flush(i) {
    for (i = 1; i <= n; i++) print (i == 1 ? "Usage: " : "  or: ") form[i]
    n = 0
  }
  NR == 1 && $1 == "usage:" { prog = $2; n = 1; form[1] = $2; from = 3 }
  NR > 1 && n > 0 && NF == 0 { flush(); print; next }
  NR > 1 && n > 0 { if ($1 == prog) form[++n] = prog; from = $1 == prog ? 2 : 1 }
  n > 0 { for (i = from; i <= NF; i++) form[n] = form[n] " " $i; next }
  { print }
  END { flush() }'
