#!/bin/sh
# Make sure this machine has a running Docker engine: install Debian's docker.io if dockerd is
# missing, start it if it is not answering, and wait until it does.
set -eu

answering() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answering; then
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-dockerd: installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
# Prefer the service manager; fall back to starting dockerd directly where the init script
# cannot run (for example when the open-files limit cannot be raised).
if [ -d /run/systemd/system ]; then
    systemctl start docker || true
else
    service docker start >/dev/null 2>&1 || true
fi
i=0
while [ $i -lt 10 ]; do answering && exit 0; i=$((i + 1)); sleep 1; done
if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "ensure-dockerd: starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
i=0
while [ $i -lt 60 ]; do answering && exit 0; i=$((i + 1)); sleep 1; done
echo "ensure-dockerd: the Docker engine did not start; see /var/log/dockerd.log" >&2
exit 1
