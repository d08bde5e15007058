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
