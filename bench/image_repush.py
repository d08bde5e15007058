#!/usr/bin/env python3
"""Benchmark: re-pushing an image whose digest the registry already has, with hna.cloudos.image.

A throwaway TLS + basic-auth registry is started on 127.0.0.1 with the start script of the setup_registry
integration target. The image hnatest/busybox:1 is tagged and pushed once as
127.0.0.1:PORT/hnatest-h-bench/web:1; then a playbook with one hna.cloudos.image task (push: true) is run
--repeat times (default 5): each run must report no change (the registry has the digest, nothing is uploaded).
The floor is a playbook with one ansible.builtin.ping task, measured in the same run. Every figure is the
median of the runs, each a separate ansible-playbook process timed from start to end.

Target: re-push <= 1.5x the one-task floor.

  .venv/bin/python bench/image_repush.py              # prints the figures and the verdict
  .venv/bin/python bench/image_repush.py --record     # also inserts the result row into its table in docs/benchmarks.md

Needs the Docker engine at unix:///var/run/docker.sock, the local test images (the setup_test_images
integration target builds them), openssl, htpasswd and curl. Creates the registry container
hnatest-registry-PORT and the tag 127.0.0.1:PORT/hnatest-h-bench/web:1, and removes both at the end.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchrecord import insert_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
PLAYBOOK = os.path.join(BIN, 'ansible-playbook') if os.path.exists(os.path.join(BIN, 'ansible-playbook')) else 'ansible-playbook'
REGISTRY_SCRIPT = os.path.join(REPO, 'collections', 'ansible_collections', 'hna', 'cloudos', 'tests', 'integration', 'targets',
                               'setup_registry', 'files', 'start-test-registry.sh')
SOURCE_IMAGE = 'hnatest/busybox:1'
TARGET = 1.5


def env_for_ansible():
    env = dict(os.environ)
    env['ANSIBLE_CONFIG'] = os.path.join(REPO, 'ansible.cfg')
    env['ANSIBLE_NOCOLOR'] = '1'
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)
    return env


def run(command, env=None, check=True):
    result = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit('command failed (%s): %s\n%s' % (result.returncode, ' '.join(command), result.stdout[-4000:]))
    return result


def playbook(path):
    return [PLAYBOOK, '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, path]


def timed(command, env=None):
    start = time.monotonic()
    result = run(command, env=env)
    return time.monotonic() - start, result.stdout


def changed_count(output):
    for line in output.splitlines():
        if line.startswith('localhost') and 'changed=' in line:
            return int(line.split('changed=')[1].split()[0])
    raise SystemExit('no play recap in the output:\n%s' % output[-2000:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeat', type=int, default=5, help='runs per figure (the median is kept)')
    parser.add_argument('--record', action='store_true', help="insert the result row into its table in docs/benchmarks.md")
    args = parser.parse_args()

    if run(['docker', 'image', 'inspect', SOURCE_IMAGE], check=False).returncode != 0:
        raise SystemExit('%s is missing: run the setup_test_images integration target first.' % SOURCE_IMAGE)

    work = tempfile.mkdtemp(prefix='hnatest-h-bench-')
    registry = None
    target = None
    try:
        state = os.path.join(work, 'registry')
        info = json.loads(run(['sh', REGISTRY_SCRIPT, state]).stdout.strip().splitlines()[-1])
        registry = info['container']
        with open(info['password_file']) as handle:
            password = handle.read().strip()
        config = os.path.join(work, 'config.json')
        with open(config, 'w') as handle:
            token = base64.b64encode(('%s:%s' % (info['username'], password)).encode()).decode()
            json.dump({'auths': {info['url']: {'auth': token}}}, handle)
        os.chmod(config, 0o600)

        repository = '%s/hnatest-h-bench/web' % info['url']
        target = '%s:1' % repository
        push_book = os.path.join(work, 'push.yml')
        with open(push_book, 'w') as handle:
            handle.write('''- name: Re-push an image the registry already has
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Push
      hna.cloudos.image:
        name: {source}
        repository: {repository}
        tag: "1"
        push: true
        config_path: {config}
'''.format(source=SOURCE_IMAGE, repository=repository, config=config))
        ping_book = os.path.join(work, 'ping.yml')
        with open(ping_book, 'w') as handle:
            handle.write('- name: One task\n  hosts: localhost\n  gather_facts: false\n  tasks:\n'
                         '    - name: Ping\n      ansible.builtin.ping:\n')

        env = env_for_ansible()
        first, output = timed(playbook(push_book), env)
        if changed_count(output) != 1:
            raise SystemExit('the first push reported no change:\n%s' % output[-2000:])
        print('first push (tag + upload): %.2f s' % first)

        floor, repush = [], []
        for dummy in range(args.repeat):
            elapsed, output = timed(playbook(ping_book), env)
            floor.append(elapsed)
            elapsed, output = timed(playbook(push_book), env)
            if changed_count(output) != 0:
                raise SystemExit('a re-push reported a change:\n%s' % output[-2000:])
            repush.append(elapsed)
        base, measured = statistics.median(floor), statistics.median(repush)
        ratio = measured / base
        met = ratio <= TARGET
        print('one-task playbook (ping): median %.2f s of %s' % (base, ', '.join('%.2f' % x for x in floor)))
        print('re-push (unchanged):      median %.2f s of %s' % (measured, ', '.join('%.2f' % x for x in repush)))
        print('ratio %.3f, target <= %.2f: %s' % (ratio, TARGET, 'met' if met else 'NOT met'))
        if args.record:
            row = '| %s | `hna.cloudos.image` re-push of an image the registry already has (TLS + basic-auth registry on ' \
                  '127.0.0.1) vs one-task playbook (ping) (median of %d; first push %.2f s) | %.2f s | %.2f s | %.3f | ' \
                  '<= %.2f | %s |\n' % (datetime.date.today().isoformat(), args.repeat, first, base, measured, ratio, TARGET,
                                        'met' if met else 'not met')
            line = insert_rows([row], ['`hna.cloudos.image` re-push'])
            print('inserted 1 row into docs/benchmarks.md at line %d' % line)
        return 0 if met else 1
    finally:
        if target:
            run(['docker', 'image', 'rm', target], check=False)
        if registry:
            run(['docker', 'rm', '--force', '--volumes', registry], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
