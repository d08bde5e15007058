#!/usr/bin/env python3
"""Benchmark: a namespace of 5 (or --services N) services deployed three ways on the local Docker engine, in the same run.

  (a) community.docker: one community.docker.docker_container task per service, plus
      community.docker.docker_network for the network;
  (b) hna.cloudos.stack: one task for the whole Compose file;
  (c) docker run in a shell loop (skipping a container that already runs the wanted image).

Each is measured for the first deployment, a rerun that changes nothing, and a change of the image of
every service (hnatest/busybox:1 -> hnatest/busybox:2). The floor is a playbook with one
ansible.builtin.ping task. Every figure is the median of --repeat runs (default 3), each run being a
separate ansible-playbook (or shell) process timed from start to end; everything is removed between runs.

Targets (ratios against community.docker measured in the same run):
  5 services: first deployment <= 0.45x; no-op rerun <= 0.35x and <= 1.5x the one-task floor; image change <= 0.5x.
  30 services (--services 30), where one module per stack must pay off: first deployment <= 0.25x, no-op
  rerun <= 0.10x (image change <= 0.5x, and the floor ratio is reported but has no target there).

  .venv/bin/python bench/stack_vs_community.py              # prints the table and the verdicts
  .venv/bin/python bench/stack_vs_community.py --record     # also inserts the result rows into their table in docs/benchmarks.md
  .venv/bin/python bench/stack_vs_community.py --profile    # also profiles one no-op run of the stack module
  .venv/bin/python bench/stack_vs_community.py --services 30 --record

Needs the Docker engine at unix:///var/run/docker.sock and the local test images (the setup_test_images
integration target builds them). Creates only hnatest-e-bench-* containers and networks and the namespace
hnatestebench (with its containers hnatestebench-*), and removes them at the end.
"""

from __future__ import annotations

import argparse
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

BASE_SERVICES = ('db', 'cache', 'api', 'worker', 'web')
SERVICES = BASE_SERVICES


def service_names(count):
    """The first five are named as a small application would be; the rest svc06, svc07, ..."""
    return BASE_SERVICES[:count] + tuple('svc%02d' % number for number in range(len(BASE_SERVICES) + 1, count + 1))
NAMESPACE = 'hnatestebench'
COMMUNITY_PREFIX = 'hnatest-e-bench-cd'
SHELL_PREFIX = 'hnatest-e-bench-sh'
IMAGES = ('hnatest/busybox:1', 'hnatest/busybox:2')


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


def playbook(path, extra_vars=None):
    command = [PLAYBOOK, '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, path]
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    return command


def timed(command, env=None):
    start = time.monotonic()
    result = run(command, env=env)
    elapsed = time.monotonic() - start
    return elapsed, result.stdout


def write_files(directory):
    files = {}
    tasks = ['- name: Create the network\n  community.docker.docker_network:\n    name: %s-net\n' % COMMUNITY_PREFIX]
    for service in SERVICES:
        tasks.append('''- name: Run {svc}
  community.docker.docker_container:
    name: {prefix}-{svc}
    image: "{{{{ bench_image }}}}"
    command: [sleep, infinity]
    init: true
    restart_policy: unless-stopped
    env:
      SERVICE: {svc}
    labels:
      org.example.service: {svc}
    networks:
      - name: {prefix}-net
        aliases: [{svc}]
    network_mode: {prefix}-net
    state: started
'''.format(svc=service, prefix=COMMUNITY_PREFIX))
    files['community'] = '- name: Deploy with community.docker\n  hosts: localhost\n  gather_facts: false\n  tasks:\n' + ''.join(
        '    ' + line + '\n' if line else '\n' for task in tasks for line in task.rstrip('\n').split('\n'))

    compose_services = ''.join('''  {svc}:
    image: "${{IMAGE}}"
    command: [sleep, infinity]
    init: true
    restart: unless-stopped
    environment:
      SERVICE: {svc}
    labels:
      org.example.service: {svc}
'''.format(svc=service) for service in SERVICES)
    with open(os.path.join(directory, 'docker.yml'), 'w') as handle:
        handle.write('services:\n' + compose_services)
    files['stack'] = '''- name: Deploy with hna.cloudos.stack
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Deploy the stack
      hna.cloudos.stack:
        namespace: {ns}
        definition: {path}
        env:
          IMAGE: "{{{{ bench_image }}}}"
'''.format(ns=NAMESPACE, path=os.path.join(directory, 'docker.yml'))
    files['floor'] = '''- name: One task that does nothing
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
'''
    files['namespace'] = '''- name: Namespace of the benchmark
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Namespace
      hna.cloudos.namespace:
        name: {ns}
        state: "{{{{ bench_state }}}}"
        force: true
    - name: Stack
      hna.cloudos.stack:
        namespace: {ns}
        state: absent
      when: bench_state == 'absent'
'''.format(ns=NAMESPACE)
    paths = {}
    for name, text in files.items():
        paths[name] = os.path.join(directory, '%s.yml' % name)
        with open(paths[name], 'w') as handle:
            handle.write(text)
    shell = '''#!/bin/sh
# docker run in a loop; a container already running the wanted image is left alone.
set -e
image="$1"
docker network inspect {prefix}-net >/dev/null 2>&1 || docker network create {prefix}-net >/dev/null
for svc in {services}; do
    name={prefix}-$svc
    current=$(docker inspect -f '{{{{.Config.Image}}}} {{{{.State.Running}}}}' "$name" 2>/dev/null || true)
    [ "$current" = "$image true" ] && continue
    [ -n "$current" ] && docker rm -f "$name" >/dev/null
    docker run -d --name "$name" --init --restart unless-stopped --network {prefix}-net --network-alias "$svc" \\
        -e SERVICE="$svc" -l org.example.service="$svc" "$image" sleep infinity >/dev/null
done
'''.format(prefix=SHELL_PREFIX, services=' '.join(SERVICES))
    paths['shell'] = os.path.join(directory, 'deploy.sh')
    with open(paths['shell'], 'w') as handle:
        handle.write(shell)
    os.chmod(paths['shell'], 0o755)
    return paths


def docker_ids(*filters):
    command = ['docker', 'ps', '-aq']
    for item in filters:
        command += ['--filter', item]
    return run(command).stdout.split()


def cleanup():
    for prefix in (COMMUNITY_PREFIX, SHELL_PREFIX):
        ids = docker_ids('name=^/%s-' % prefix)
        if ids:
            run(['docker', 'rm', '-f'] + ids)
        run(['docker', 'network', 'rm', '%s-net' % prefix], check=False)
    ids = docker_ids('label=io.hna.cloudos.stack=%s' % NAMESPACE)
    if ids:
        run(['docker', 'rm', '-f'] + ids)


def check_changed(name, output, expect_changed):
    """Make sure a playbook run did what the measurement says (changed or not)."""
    if name == 'shell':
        return
    recap = [line for line in output.splitlines() if line.startswith('localhost')]
    changed = recap and 'changed=0' not in recap[-1]
    if bool(changed) != expect_changed:
        raise SystemExit('%s: expected %s, got: %s\n%s' % (name, 'a change' if expect_changed else 'no change', recap, output[-3000:]))


def measure(paths, repeat):
    env = env_for_ansible()
    figures = dict((key, []) for key in ('floor', 'community.first', 'community.noop', 'community.change', 'stack.first',
                                         'stack.noop', 'stack.change', 'shell.first', 'shell.noop', 'shell.change'))
    for round_number in range(repeat):
        elapsed, output = timed(playbook(paths['floor']), env)
        figures['floor'].append(elapsed)
        for name in ('community', 'stack', 'shell'):
            cleanup()
            for step, image, expect_changed in (('first', IMAGES[0], True), ('noop', IMAGES[0], False), ('change', IMAGES[1], True)):
                if name == 'shell':
                    command = [paths['shell'], image]
                else:
                    command = playbook(paths[name], {'bench_image': image})
                elapsed, output = timed(command, env)
                check_changed(name, output, expect_changed)
                figures['%s.%s' % (name, step)].append(elapsed)
            print('round %d: %s done' % (round_number + 1, name), file=sys.stderr)
    cleanup()
    return dict((key, statistics.median(values)) for key, values in figures.items()), figures


def verdicts(median):
    if len(SERVICES) >= 30:
        checks = [
            ('first deployment vs community.docker', 'community.first', 'stack.first', 0.25),
            ('no-op rerun vs community.docker', 'community.noop', 'stack.noop', 0.10),
            ('no-op rerun vs one-task playbook (ping)', 'floor', 'stack.noop', None),
            ('image change of every service vs community.docker', 'community.change', 'stack.change', 0.5),
        ]
    else:
        checks = [
            ('first deployment vs community.docker', 'community.first', 'stack.first', 0.45),
            ('no-op rerun vs community.docker', 'community.noop', 'stack.noop', 0.35),
            ('no-op rerun vs one-task playbook (ping)', 'floor', 'stack.noop', 1.5),
            ('image change of every service vs community.docker', 'community.change', 'stack.change', 0.5),
        ]
    result = []
    for label, baseline, measured, target in checks:
        ratio = median[measured] / median[baseline]
        result.append(dict(label=label, baseline=median[baseline], measured=median[measured], ratio=ratio, target=target,
                           met=target is None or ratio <= target))
    return result


def profile_noop(paths):
    """Run the stack module once more, in this interpreter's Python with cProfile, on the deployed stack (a no-op)."""
    env = env_for_ansible()
    run(playbook(paths['namespace'], {'bench_state': 'present'}), env)
    run(playbook(paths['stack'], {'bench_image': IMAGES[0]}), env)
    args_path = os.path.join(os.path.dirname(paths['stack']), 'args.json')
    with open(args_path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': {'namespace': NAMESPACE, 'env': {'IMAGE': IMAGES[0]},
                                           'definition': os.path.join(os.path.dirname(paths['stack']), 'docker.yml')}}, handle)
    code = '''
import cProfile, io, pstats, sys, time
start = time.monotonic()
profile = cProfile.Profile()
profile.enable()
try:
    from ansible_collections.hna.cloudos.plugins.modules import stack
    stack.main()
except SystemExit:
    pass
profile.disable()
sys.stdout = sys.__stderr__
print('module run in-process (imports included): %.3f s' % (time.monotonic() - start))
stream = io.StringIO()
pstats.Stats(profile, stream=stream).sort_stats('cumulative').print_stats(30)
print(stream.getvalue())
'''
    child_env = dict(os.environ)
    child_env['PYTHONPATH'] = os.path.join(REPO, 'collections')
    result = subprocess.run([sys.executable, '-c', code, args_path], cwd=REPO, env=child_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, check=False)
    print(result.stdout[-2000:])
    print(result.stderr[-8000:])
    for label, snippet in (('a new interpreter alone', 'pass'),
                           ('a new interpreter importing docker, requests and yaml', 'import docker, requests, yaml'),
                           ('a new interpreter importing ansible.module_utils.basic', 'import ansible.module_utils.basic')):
        start = time.monotonic()
        run([sys.executable, '-c', snippet])
        print('%s: %.3f s' % (label, time.monotonic() - start))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--record', action='store_true', help="insert the result rows into their table in docs/benchmarks.md")
    parser.add_argument('--profile', action='store_true', help='profile one no-op run of the stack module')
    parser.add_argument('--services', type=int, default=5, help='number of services (5 or 30 have targets)')
    options = parser.parse_args()
    global SERVICES  # pylint: disable=global-statement
    SERVICES = service_names(options.services)

    directory = tempfile.mkdtemp(prefix='hnatest-e-bench-')
    paths = write_files(directory)
    env = env_for_ansible()
    try:
        cleanup()
        run(playbook(paths['namespace'], {'bench_state': 'present'}), env)
        median, figures = measure(paths, options.repeat)
        if options.profile:
            profile_noop(paths)
    finally:
        cleanup()
        removal = run(playbook(paths['namespace'], {'bench_state': 'absent'}), env, check=False)
        if removal.returncode != 0:
            print('warning: could not remove the namespace %s:\n%s' % (NAMESPACE, removal.stdout[-2000:]), file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)

    print('\nMedian of %d runs, seconds (each run: one ansible-playbook or shell process, start to end)\n' % options.repeat)
    print('| | community.docker (%d tasks) | hna.cloudos.stack (1 task) | docker run loop | stack / community |' % (len(SERVICES) + 1))
    print('|---|---|---|---|---|')
    for step, label in (('first', 'first deployment'), ('noop', 'no-op rerun'), ('change', 'image change, all %d' % len(SERVICES))):
        print('| %s | %.2f | %.2f | %.2f | %.2f |' % (label, median['community.' + step], median['stack.' + step],
                                                 median['shell.' + step], median['stack.' + step] / median['community.' + step]))
    print('| one-task playbook (ping), the floor | %.2f | | | |' % median['floor'])
    print('\nAll runs: %s\n' % json.dumps(dict((key, [round(v, 2) for v in values]) for key, values in figures.items())))
    results = verdicts(median)
    for item in results:
        print('%-55s %.2f s vs %.2f s: ratio %.3f (target %s) -> %s' % (
            item['label'], item['measured'], item['baseline'], item['ratio'],
            'none' if item['target'] is None else '<= %.2f' % item['target'], 'met' if item['met'] else 'MISSED'))

    if options.record:
        today = datetime.date.today().isoformat()
        rows = []
        for item in results:
            rows.append('| %s | `hna.cloudos.stack` %d services, %s (median of %d; docker run loop: first %.2f s, no-op %.2f s, '
                        'change %.2f s; load average %.1f) | %.2f s | %.2f s | %.3f | %s | %s |\n' % (
                            today, len(SERVICES), item['label'], options.repeat, median['shell.first'], median['shell.noop'],
                            median['shell.change'], os.getloadavg()[0], item['baseline'], item['measured'], item['ratio'],
                            'none' if item['target'] is None else '<= %.2f' % item['target'],
                            '-' if item['target'] is None else ('met' if item['met'] else 'MISSED')))
        line = insert_rows(rows, ['`hna.cloudos.stack`'])
        print('\ninserted %d rows into docs/benchmarks.md at line %d' % (len(rows), line))
    return 0 if all(item['met'] for item in results) else 1


if __name__ == '__main__':
    sys.exit(main())
