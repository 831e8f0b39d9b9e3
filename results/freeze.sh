# Sourced by the results' sweep scripts (claims_minilm/run.sh, beyond_paper_minilm/run.sh): freeze the code a sweep
# records. `freeze FLAG VENV SCRIPT [FILE...] -- ARGS...` builds a wheel of this checkout into its own venv VENV (a
# copy, not an editable install; the dependencies are the dev venv's, .venv), copies SCRIPT and FILEs there and
# re-executes the copy with FLAG=1 and ARGS, so that editing the worktree during the sweep changes nothing that
# runs (each record's provenance names the commit that install was built from: BUILD_COMMIT). Under FLAG=1 (the copy) it returns at once.
freeze() {
  local flag=$1 venv=$2 files=()
  shift 2
  while [ "$1" != -- ]; do files+=("$1"); shift; done
  shift
  [ -n "${!flag:-}" ] && return 0
  if [ ! -x "$venv/bin/adaptbench" ]; then
    python3 -m venv "$venv" && .venv/bin/pip wheel -q --no-deps --no-build-isolation -w "$venv/wheel" . || exit 1
    local deps site
    deps=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$deps" > "$site/dev-deps.pth"
    "$venv/bin/pip" install -q --no-deps "$venv"/wheel/*.whl || exit 1
    # the commit the wheel was built from, for each record's provenance (harness/records/provenance.py)
    local dirty=
    [ -n "$(git status --porcelain --untracked-files=no)" ] && dirty=-dirty
    echo "$(git rev-parse HEAD)$dirty" > "$site/adaptbench/harness/BUILD_COMMIT"
  fi
  cp "${files[@]}" "$venv/"  # the copy that runs
  export "$flag=1"
  exec bash "$venv/$(basename "${files[0]}")" "$@"
}
