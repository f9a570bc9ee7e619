# Sourced by ./run and ./test: make .venv and install the requirements (pinned by constraints.txt) when
# any of those files changed. ./run installs requirements.txt; ./test sets REQUIREMENTS=requirements-dev.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
if [ ! -x .venv/bin/python ]; then
  echo "Creating a virtual environment in .venv with $PYTHON…" >&2
  if ! "$PYTHON" -m venv .venv; then
    echo "Could not create a virtual environment with $PYTHON. On Debian/Ubuntu: apt-get install -y python3-venv" >&2
    exit 1
  fi
fi
marker=.venv/.installed-$REQUIREMENTS
if [ ! -f "$marker" ] || [ requirements.txt -nt "$marker" ] || [ requirements-dev.txt -nt "$marker" ] \
   || [ constraints.txt -nt "$marker" ]; then
  # Files included with -r count too: requirements-dev.txt names requirements.txt.
  count=$(grep -hvE '^\s*(#|-r|$)' requirements.txt $([ "$REQUIREMENTS" = requirements.txt ] || echo "$REQUIREMENTS") | wc -l)
  pinned=$(grep -vcE '^\s*(#|$)' constraints.txt)
  echo "Installing $count packages from $REQUIREMENTS (with their dependencies, up to $pinned pinned in constraints.txt)…" >&2
  # pip's own progress when someone watches; quiet in CI logs and pipes.
  if [ -t 1 ]; then verbosity=(); else verbosity=(--quiet); fi
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install "${verbosity[@]}" -r "$REQUIREMENTS" -c constraints.txt
  touch "$marker"
  # The dev set includes the runtime set, so ./run need not install again after ./test.
  [ "$REQUIREMENTS" = requirements.txt ] || touch .venv/.installed-requirements.txt
  echo "Installed." >&2
fi
