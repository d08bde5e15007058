#!/usr/bin/env python3
"""Benchmark: a rerun of the lab's main job (playbooks/lab.yml) that finds nothing to do, against an empty play over
the same hosts (one ping each: Ansible's start, the inventory and a connection to every host, which any job pays).

Target: the no-op rerun takes at most 30 s on the lab (a scheduled job mostly finds nothing to do). The ratio to the
empty play is printed beside it: the part of the time the job's own checks take. The lab must be up, with make lab's
main job run once (the rerun must report no change, or the figure is not a no-op's). Prints the time per role of the
rerun (hna.cloudos.job_times).

  bench/noop_rerun.py             # prints the figures
  bench/noop_rerun.py --record    # and appends a row to docs/benchmarks.md
"""

import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchrecord import insert_rows  # noqa: E402  pylint: disable=wrong-import-position

REPO = Path(__file__).resolve().parents[1]
TARGET = 30.0


def run(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_ROLES_PATH=str(REPO / 'roles'),
               ANSIBLE_NOCOLOR='1')
    binary = Path(sys.executable).parent / 'ansible-playbook'
    started = time.monotonic()
    result = subprocess.run([str(binary), '-i', str(REPO / 'inventories' / 'lab'), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, check=False)
    return time.monotonic() - started, result


def main():
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / 'empty.yml'
        # The hosts of the main job: every node of the clouds and the control machine.
        empty.write_text('- name: Empty play\n  hosts: docker_hosts:lab_control\n  gather_facts: false\n'
                         '  tasks:\n    - name: Reach the host\n      ansible.builtin.ping:\n')
        baseline, result = run(str(empty))
        if result.returncode:
            sys.exit('the empty play failed:\n' + result.stdout[-3000:] + result.stderr[-2000:])
    noop, result = run('playbooks/lab.yml')
    if result.returncode:
        sys.exit('the main job failed:\n' + result.stdout[-3000:] + result.stderr[-2000:])
    recap = [line for line in result.stdout.split('PLAY RECAP')[-1].splitlines() if re.search(r'\bok=\d+', line)]
    changed = [line for line in recap if not re.search(r'\bchanged=0\b', line)]
    if changed:
        sys.exit('the rerun of the main job changed something, so it is not a no-op:\n' + '\n'.join(changed))
    print(result.stdout.split('TIME PER ROLE', 1)[-1].strip('* \n') if 'TIME PER ROLE' in result.stdout else '')
    ratio = noop / baseline
    verdict = 'met' if noop <= TARGET else 'MISSED'
    print('no-op rerun of the main job: %.1f s; empty play over the same hosts: %.1f s; ratio %.2f; target <= %.0f s '
          '-> %s' % (noop, baseline, ratio, TARGET, verdict))
    if '--record' in sys.argv[1:]:
        row = '| %s | %.1f s | %.1f s | %.2f | <= %.0f s | %s |\n' % (datetime.date.today(), baseline, noop, ratio, TARGET, verdict)
        heading = ['## No-op rerun of the main job (`bench/noop_rerun.py`)\n', '\n',
                   '| date | empty play over its hosts | no-op rerun of `playbooks/lab.yml` | ratio | target | verdict |\n',
                   '|---|---|---|---|---|---|\n']
        line = insert_rows([row], ['no-op rerun of `playbooks/lab.yml`', '<= 30 s |'], heading)
        print('recorded in docs/benchmarks.md, line %d' % line)

if __name__ == '__main__':
    main()
