"""The download step of the docker_host role (tasks/install_distro.yml) run for real with a stand-in apt-get.

The step is a shell script (vars/main.yml: __docker_host_download_script) that refreshes the package lists under a
time limit of its own (docker_host_package_update_timeout), then downloads the packages. apt-get is the one thing
replaced here (a script on PATH that records its arguments, and hangs, fails or succeeds as told): a real hang of
apt behind a caching proxy cannot be made on demand.
"""

from __future__ import annotations

import os
import subprocess
import time

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / 'roles' / 'docker_host'
FAKE_APT_GET = '''#!/bin/sh
echo "$*" >> "$APT_CALLS"
case "$1" in
    update) case "$APT_UPDATE" in hang) exec sleep 60 ;; fail) echo "E: index broken" >&2; exit 100 ;; esac ;;
esac
exit 0
'''


def download_script():
    return yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text(encoding='utf-8'))['__docker_host_download_script']


def run_download(tmp_path, update, limit, packages=('docker.io', 'python3-docker')):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / 'apt-get'
    fake.write_text(FAKE_APT_GET, encoding='utf-8')
    fake.chmod(0o755)
    calls = tmp_path / 'calls'
    env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ['PATH']), APT_CALLS=str(calls), APT_UPDATE=update)
    started = time.monotonic()
    result = subprocess.run(['sh', '-c', download_script(), 'apt-download', str(limit)] + list(packages), env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    lines = calls.read_text(encoding='utf-8').splitlines() if calls.exists() else []
    return result, lines, time.monotonic() - started


def test_the_task_passes_the_time_limit_and_the_packages_to_the_script():
    tasks = yaml.safe_load((ROLE / 'tasks' / 'install_distro.yml').read_text(encoding='utf-8'))
    task = next(t for t in tasks if t['name'].startswith('Refresh the package lists and download'))
    argv = task['ansible.builtin.command']['argv']
    assert '__docker_host_download_script' in argv and 'docker_host_package_update_timeout' in argv, argv
    assert yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text(encoding='utf-8'))['docker_host_package_update_timeout'] == 120


def test_a_hung_refresh_is_killed_at_its_limit_and_fails_the_attempt_naming_it(tmp_path):
    result, calls, elapsed = run_download(tmp_path, 'hang', 1)
    assert result.returncode == 124, result
    assert 'apt-get update did not finish within 1 s' in result.stderr, result.stderr
    assert calls == ['update -q'], 'the packages were downloaded after a failed refresh: %s' % calls
    assert elapsed < 30, 'the hung refresh was not killed at its limit (%.1f s)' % elapsed


def test_a_failed_refresh_fails_with_its_own_code_and_downloads_nothing(tmp_path):
    result, calls, _ = run_download(tmp_path, 'fail', 5)
    assert result.returncode == 100, result
    assert 'did not finish' not in result.stderr and 'E: index broken' in result.stderr, result.stderr
    assert calls == ['update -q'], calls


def test_a_refresh_within_its_limit_downloads_every_package(tmp_path):
    result, calls, _ = run_download(tmp_path, 'ok', 5)
    assert result.returncode == 0, result
    assert calls == ['update -q', 'install -q -y --download-only docker.io python3-docker'], calls
