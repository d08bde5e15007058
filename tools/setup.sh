#!/bin/sh
# One-time (and re-runnable) set-up of the control machine: system packages, a running Docker
# engine, and the project's virtualenv with its Python dependencies. Fast when nothing changed.
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need=""
for pkg in debootstrap openssh-client openssl make busybox-static shellcheck apache2-utils procps; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
command -v dockerd >/dev/null 2>&1 || need="$need docker.io"
if [ -n "$need" ]; then
    echo "setup: installing system packages:$need"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

tools/ensure-dockerd.sh

# The virtualenv is reinstalled only when the dependency list changes.
stamp="$VENV/.hna-cloudos-deps-$(sha256sum pyproject.toml | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    echo "setup: installing Python dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q ".[test]"
    rm -f "$VENV"/.hna-cloudos-deps-*
    touch "$stamp"
fi

# promtool (the unit tests check the alert rules with it) from Debian's prometheus package, without installing the
# package (that would start a Prometheus here): only usr/bin/promtool is taken out of the .deb, kept in .cache/debs.
if [ ! -x "$VENV/bin/promtool" ]; then
    echo "setup: installing promtool into $VENV/bin"
    debs=.cache/debs
    mkdir -p "$debs"
    deb=""
    for f in "$debs"/prometheus_*.deb; do [ -e "$f" ] && deb=$f; done
    if [ -z "$deb" ]; then
        apt-cache show prometheus >/dev/null 2>&1 || apt-get update -qq
        rm -rf "$debs/download"
        mkdir "$debs/download"
        # As root apt downloads as the user _apt, which cannot write here (and warns): download as root instead.
        (cd "$debs/download" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
        for f in "$debs"/download/prometheus_*.deb; do [ -e "$f" ] && mv "$f" "$debs/" && deb="$debs/${f##*/}"; done
        rmdir "$debs/download"
        [ -n "$deb" ] || { echo "setup: apt-get download prometheus gave no .deb" >&2; exit 1; }
    fi
    if dpkg-deb --fsys-tarfile "$deb" | tar -x -O ./usr/bin/promtool > "$VENV/bin/promtool.new" \
            && chmod 755 "$VENV/bin/promtool.new" && "$VENV/bin/promtool.new" --version >/dev/null; then
        mv "$VENV/bin/promtool.new" "$VENV/bin/promtool"
    else
        # A .deb without a working promtool is removed: the next run downloads it again.
        rm -f "$VENV/bin/promtool.new" "$deb"
        echo "setup: no working promtool in $deb" >&2
        exit 1
    fi
fi
