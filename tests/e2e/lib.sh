# Shared by the e2e scripts (sourced): a scratch folder removed on exit, and
# named checks counted in $fails (a script ends with `[ $fails -eq 0 ]`).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check NAME COMMAND...: runs the command, prints ok/FAIL NAME
    local name=$1; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }  # TEXT holds the fixed string
matches() { grep -q -- "$2" <<<"$1"; }    # TEXT matches the regular expression
