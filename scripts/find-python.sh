#!/usr/bin/env sh
# Print the path of a Python 3.10 interpreter (rasa 3.6 needs >=3.8,<3.11), or explain how to get one.
is310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
for cand in "${PYTHON310:-}" python3.10 python3 python; do
  p=$(command -v "$cand" 2>/dev/null) || continue
  if is310 "$p"; then echo "$p"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for p in "$(pyenv root)"/versions/3.10*/bin/python; do
    if is310 "$p"; then echo "$p"; exit 0; fi
  done
fi
if command -v uv >/dev/null 2>&1; then
  p=$(uv python find 3.10 2>/dev/null) && is310 "$p" && { echo "$p"; exit 0; }
fi
cat >&2 <<'MSG'
No Python 3.10 found (rasa 3.6.21 needs Python 3.10 or older, not 3.11+).
Install one of these ways, then run the command again:
  pyenv install 3.10.13          # with pyenv
  uv python install 3.10         # with uv
  apt-get install python3.10 python3.10-venv   # where your distribution has it
Or point PYTHON310=/path/to/python3.10 at an existing interpreter.
MSG
exit 1
