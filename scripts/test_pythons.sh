#!/usr/bin/env bash
# `make test-pythons`: the fast tier under each other CPython found, in its own .venv-X.Y.
#
# Usage: scripts/test_pythons.sh 3.12 3.13 ...
# An interpreter is pyenv's newest X.Y.Z, else `pythonX.Y` on PATH; one not found is skipped
# with a line saying so. Venvs are (re)installed when missing or older than pyproject.toml, all
# at once (the installs wait on the network and the disk, ~30 s together); the fast tiers then run
# side by side, one per interpreter (each is mostly one busy core: ~50 s for two on 2 cores,
# where one after the other took ~100 s), their outputs printed in order. Exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

find_python() {  # X.Y -> path, or nothing
  local v=$1 root py
  root=$(pyenv root 2>/dev/null) || root=
  if [ -n "$root" ]; then
    py=$(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null \
      | grep -E "/$v\.[0-9]+/bin/" | sort -V | tail -n 1)
    [ -n "$py" ] && { echo "$py"; return; }
  fi
  if "python$v" -c '' 2>/dev/null; then command -v "python$v"; fi
}

install() {  # X.Y python -> .venv-X.Y with cvbench[dev]; output in .venv-X.Y.log
  local venv=.venv-$1
  rm -rf "$venv"
  "$2" -m venv "$venv" \
    && "$venv/bin/pip" install --quiet --upgrade pip \
    && "$venv/bin/pip" install --quiet -e '.[dev]' \
    && touch "$venv/.installed"
}

declare -A pys=()
versions=()
for v in "$@"; do
  py=$(find_python "$v")
  if [ -z "$py" ]; then
    echo "test-pythons: no Python $v here (pyenv or PATH): skipped"
    continue
  fi
  pys[$v]=$py
  versions+=("$v")
done

start=$SECONDS
pids=()
for v in "${versions[@]}"; do
  venv=.venv-$v
  if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    echo "test-pythons: installing .venv-$v (${pys[$v]})"
    install "$v" "${pys[$v]}" >".venv-$v.log" 2>&1 &
    pids+=($!)
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
[ ${#pids[@]} -gt 0 ] && echo "test-pythons: installed in $((SECONDS - start)) s"

failed=()
ready=()
for v in "${versions[@]}"; do
  if [ ! -f ".venv-$v/.installed" ]; then
    echo "test-pythons: installing .venv-$v failed:"
    grep -v "is ignored" ".venv-$v.log" | tail -n 20
    failed+=("$v (install)")
    continue
  fi
  rm -f ".venv-$v.log"
  ready+=("$v")
done
start=$SECONDS
declare -A runs=()
for v in "${ready[@]}"; do
  # no shared .pytest_cache between the simultaneous runs
  # $RERUN (the Makefile's): a failed timing bound runs once more; unset, none does
  # shellcheck disable=SC2086
  ".venv-$v/bin/pytest" -q -m "not slow" -p no:cacheprovider ${RERUN:-} >".venv-$v.test.log" 2>&1 &
  runs[$v]=$!
done
for v in "${ready[@]}"; do
  status=0
  wait "${runs[$v]}" || status=$?
  echo "test-pythons: the fast tier on $(".venv-$v/bin/python" -V)"
  cat ".venv-$v.test.log"
  rm -f ".venv-$v.test.log"
  [ "$status" -eq 0 ] || failed+=("$v")
done
[ ${#ready[@]} -gt 0 ] && echo "test-pythons: ${ready[*]} took $((SECONDS - start)) s side by side"
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-pythons: failed on ${failed[*]}"
  exit 1
fi
