#!/usr/bin/env bash
# The tests that run on this machine's own Docker engine from the lab's images, without the lab's
# nodes: the application images (the fleet demo application: every endpoint, version 3's failing
# health check) and the load balancers (module nginx_config, roles lb and glb, playbooks/glb_drain.yml:
# switches under load, refusals, reruns and check mode). The images are built first (a no-op when
# the lab stage has built them already), so this stage runs beside the lab stage.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_ROLES_PATH="$PWD/roles" ANSIBLE_NOCOLOR=1

start=$(date +%s)
python lab/lab.py build
echo "== images built in $(( $(date +%s) - start ))s"
rc=0
pytest -q -p no:cacheprovider tests/images || rc=$?
pytest -q -p no:cacheprovider tests/local || rc=$?
exit "$rc"
