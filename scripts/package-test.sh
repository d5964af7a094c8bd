#!/usr/bin/env bash
# The release binaries need no database client library at run time, and the
# Debian package works as an operator uses it: `dpkg -i` makes the tenure user
# and its folders with safe modes, tenured runs under the systemd unit's own
# command line (user, umask, working directory, environment file), answers OK
# on /pingLicenseManager, and `dpkg --purge` takes it away again.
# Needs root and Debian's dpkg; installs cargo-deb when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb

# Default features: what a new user and the package get.
cargo build --release --locked -p tenure-tokio -p tenure-smol -p tenure-agent --features tenure-agent/cli
for bin in tenured tenured-smol tenurectl tenure-agent; do
    libs=$(ldd "$target/release/$bin")
    if grep -E 'libpq|libmariadb|libmysqlclient|libssl|libcrypto' <<<"$libs"; then
        fail "$bin needs a database or TLS client library at run time"
    fi
    echo "package-test: ldd $bin: $(awk '{print $1}' <<<"$libs" | tr '\n' ' ')"
done

deb=$(cargo deb -p tenure-tokio --no-build --output "$target/debian/" | tail -1)
[[ -f "$deb" ]] || fail "cargo deb made no package ($deb)"
echo "package-test: $deb"

work=$(mktemp -d)
server=
cleanup() {
    [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
    dpkg --purge tenure >/dev/null 2>&1 || true
    rm -rf "$work" /var/lib/tenure/tenure.db*
}
trap cleanup EXIT

dpkg -i "$deb"
getent passwd tenure >/dev/null || fail "no tenure user"
mode() { stat -c '%a %U %G' "$1"; }
[[ $(mode /etc/tenure) == "750 root tenure" ]] || fail "/etc/tenure is $(mode /etc/tenure)"
[[ $(mode /var/lib/tenure) == "700 tenure tenure" ]] || fail "/var/lib/tenure is $(mode /var/lib/tenure)"
[[ $(mode /etc/tenure/tenured.env) == "640 root tenure" ]] || fail "tenured.env is $(mode /etc/tenure/tenured.env)"
/usr/bin/tenured --version | grep -Eq '^tenured [0-9.]+ \(commit ([0-9a-f]+|unknown)\)$' \
    || fail "tenured --version: $(/usr/bin/tenured --version)"

# What an operator puts in /etc/tenure: the vendor's license and key, a token.
/usr/bin/tenurectl keygen --secret-key "$work/vendor.key" --public-key "$work/vendor.pub"
/usr/bin/tenurectl issue --secret-key "$work/vendor.key" --license-id pkg-test \
    --licensee "Package Test" --not-after 2099-01-01T00:00:00Z \
    --limit production/vdp:servers=2 --out "$work/license.lic"
install -m 0640 -o root -g tenure "$work/license.lic" /etc/tenure/license.lic
install -m 0640 -o root -g tenure "$work/vendor.pub" /etc/tenure/vendor.pub
printf 'admin admin %s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/admin.token"
install -m 0640 -o root -g tenure "$work/admin.token" /etc/tenure/admin.token
# Tests bind loopback only; port 0 and the announced address.
sed -i 's|^TENURE_LISTEN=.*|TENURE_LISTEN=127.0.0.1:0|' /etc/tenure/tenured.env

unit=/lib/systemd/system/tenured.service
key() { sed -n "s/^$1=//p" "$unit" | head -1; }
exec_start=$(key ExecStart)
user=$(key User)
group=$(key Group)
umask_=$(key UMask)
workdir=$(key WorkingDirectory)
envfile=$(key EnvironmentFile)
[[ $exec_start == /usr/bin/tenured* && -x /usr/bin/tenured ]] || fail "ExecStart is $exec_start"
(
    cd "$workdir"
    umask "$umask_"
    set -a
    # shellcheck disable=SC1090
    . "$envfile"
    set +a
    # shellcheck disable=SC2086
    exec setpriv --reuid="$user" --regid="$group" --init-groups $exec_start
) >"$work/stdout" 2>"$work/stderr" &
server=$!

addr=
for _ in $(seq 1 60); do
    addr=$(sed -n 's|^tenured listening on http://||p' "$work/stdout")
    [[ -n "$addr" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/stderr" >&2; fail "tenured exited"; }
    sleep 0.5
done
[[ -n "$addr" ]] || { cat "$work/stderr" >&2; fail "tenured did not announce its address"; }
host=${addr%:*}
port=${addr##*:}
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /pingLicenseManager HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
answer=$(timeout 10 cat <&3)
exec 3<&-
grep -q '^HTTP/1.1 200' <<<"$answer" || fail "ping answered: $answer"
body=$(tr -d '\r' <<<"$answer" | tail -1)
[[ $body == OK ]] || fail "ping body: $answer"
echo "package-test: tenured from the package, as user $user, answered $body"
db_mode=$(mode /var/lib/tenure/tenure.db)
[[ $db_mode == "600 tenure tenure" ]] || fail "the SQLite file is $db_mode"
ps -o user= -p "$server" | grep -q "^$user\$" || fail "tenured does not run as $user"
echo "package-test: passed"
