"""The callback hna.cloudos.job_times (enabled in the project's ansible.cfg): the time of each role, and of the tasks
of each play outside roles, slowest first, at the end of a run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_table_lists_each_role_slowest_first_with_its_tasks_and_the_total(tmp_path):
    for role, seconds in (('slow', 4), ('quick', 0)):
        tasks = tmp_path / 'roles' / role / 'tasks'
        tasks.mkdir(parents=True)
        (tasks / 'main.yml').write_text(
            '- name: Wait\n  ansible.builtin.command: sleep %s\n  changed_when: false\n'
            '- name: Say\n  ansible.builtin.debug:\n    msg: %s\n' % (seconds, role))
    (tmp_path / 'play.yml').write_text(
        '- name: Both roles\n  hosts: localhost\n  gather_facts: false\n  roles: [quick, slow]\n'
        '  tasks:\n    - name: A task of the play\n      ansible.builtin.debug:\n        msg: own\n')
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_ROLES_PATH=str(tmp_path / 'roles'),
               ANSIBLE_NOCOLOR='1')
    result = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                             '-e', 'ansible_python_interpreter=%s' % sys.executable,
                             str(tmp_path / 'play.yml')], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split('TIME PER ROLE', 1)[1].splitlines()[1:]
    rows = [re.match(r'^(.*?)\s+(\d+) tasks\s+([\d.]+) s$', line) for line in table if 'tasks' in line]
    assert [(m.group(1), int(m.group(2))) for m in rows] == [('slow', 2), ('quick', 2), ('play: Both roles', 1)], table
    assert float(rows[0].group(3)) >= 4.0  # its sleep, whatever the machine's load adds to both
    total = [line for line in table if line.startswith('total')]
    assert total and float(total[0].split()[-2]) >= float(rows[0].group(3)), table
