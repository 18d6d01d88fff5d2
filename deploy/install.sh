#!/usr/bin/env bash
# Installs camwatch as a systemd service:
#   $PREFIX/bin/camwatch                       the release build (PREFIX defaults to /usr/local)
#   $PREFIX/share/man/man1/camwatch.1          the manual page, made from the binary's own help (deploy/manpage.py)
#   $PREFIX/share/{bash-completion/completions/camwatch, zsh/site-functions/_camwatch,
#                  fish/vendor_completions.d/camwatch.fish}    shell completions, made by the binary itself
#   /etc/systemd/system/camwatch@.service      the template unit, one instance per training job
#   /etc/camwatch/camwatch.example.yaml        every configuration option, commented (kept if present)
#   system user `camwatch`                     created if missing
# then `systemctl daemon-reload` when systemd is running.
#
# DESTDIR=/tmp/stage deploy/install.sh --no-build   stages everything under /tmp/stage and does nothing
# that needs root (no user, no daemon-reload): for packaging and for testing this script.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: deploy/install.sh [--prefix DIR] [--no-build] [--binary PATH]
  --prefix DIR    install the binary into DIR/bin (default /usr/local); the unit's ExecStart follows
  --no-build      do not run `swift build -c release --product camwatch`; install the existing build
  --binary PATH   the camwatch binary to install (default: .build/release/camwatch)
environment: DESTDIR=DIR stages the installation under DIR without root actions
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
prefix=/usr/local
build=yes
binary=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --no-build) build=no; shift ;;
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be an absolute path" >&2; exit 2; }
destdir=${DESTDIR:-}
destdir=${destdir%/}

if [[ $build == yes ]]; then
    (cd "$root" && swift build -c release --product camwatch)
fi
binary=${binary:-$root/.build/release/camwatch}

say() { echo "install.sh: $*"; }

# The binary.
bindir="$destdir$prefix/bin"
if [[ -x $binary ]]; then
    install -d -m 0755 "$bindir"
    install -m 0755 "$binary" "$bindir/camwatch"
    say "installed $bindir/camwatch"
elif [[ -n $destdir ]]; then
    say "no camwatch binary at $binary: staging without it"
else
    echo "install.sh: no camwatch binary at $binary (build it, or drop --no-build)" >&2
    exit 1
fi

# The manual page and the shell completions, generated from the binary's argument parser, so they always
# describe the commands and options of the binary installed beside them. The directories are where man-db,
# bash-completion, zsh and fish look under /usr/local (and under any prefix whose bin/ is on the PATH).
# generate FILE COMMAND...: COMMAND's output into FILE through a temporary name, so a failed generation
# leaves no half-written file behind.
generate() {
    local file=$1
    shift
    install -d -m 0755 "$(dirname "$file")"
    if ! "$@" > "$file.tmp"; then
        rm -f "$file.tmp"
        echo "install.sh: could not generate $file" >&2
        exit 1
    fi
    chmod 0644 "$file.tmp"
    mv "$file.tmp" "$file"
    say "installed $file"
}
if [[ -x $binary ]]; then
    sharedir="$destdir$prefix/share"
    if command -v python3 >/dev/null; then
        generate "$sharedir/man/man1/camwatch.1" python3 "$here/manpage.py" "$binary"
    else
        say "python3 not found: skipped the manual page (camwatch --help has the same text)"
    fi
    generate "$sharedir/bash-completion/completions/camwatch" "$binary" --generate-completion-script bash
    generate "$sharedir/zsh/site-functions/_camwatch" "$binary" --generate-completion-script zsh
    generate "$sharedir/fish/vendor_completions.d/camwatch.fish" "$binary" --generate-completion-script fish
fi

# The unit, with ExecStart pointing at the installed binary.
unitdir="$destdir/etc/systemd/system"
install -d -m 0755 "$unitdir"
sed "s|^ExecStart=/usr/local/bin/camwatch |ExecStart=$prefix/bin/camwatch |" "$here/camwatch@.service" \
    > "$unitdir/camwatch@.service.tmp"
chmod 0644 "$unitdir/camwatch@.service.tmp"
mv "$unitdir/camwatch@.service.tmp" "$unitdir/camwatch@.service"
say "installed $unitdir/camwatch@.service"

# The example configuration; an existing one (perhaps edited) is kept.
confdir="$destdir/etc/camwatch"
install -d -m 0755 "$confdir"
if [[ -e $confdir/camwatch.example.yaml ]]; then
    say "kept existing $confdir/camwatch.example.yaml"
else
    install -m 0644 "$here/camwatch.example.yaml" "$confdir/camwatch.example.yaml"
    say "installed $confdir/camwatch.example.yaml"
fi

if [[ -n $destdir ]]; then
    say "staged under $destdir: skipped creating user camwatch and systemctl daemon-reload"
    exit 0
fi

# The service user.
if ! getent passwd camwatch >/dev/null; then
    nologin=/usr/sbin/nologin
    [[ -x $nologin ]] || nologin=/sbin/nologin
    useradd --system --no-create-home --home-dir /var/lib/camwatch --shell "$nologin" --user-group camwatch
    say "created system user camwatch"
fi

if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    say "systemctl daemon-reload done"
else
    say "systemd is not running here: skipped systemctl daemon-reload"
fi
say "next: write /etc/camwatch/<job>.yaml (from camwatch.example.yaml), then systemctl enable --now camwatch@<job>"
