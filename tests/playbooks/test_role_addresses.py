"""The addresses the monitoring roles derive from their listen-address variables, rendered by Ansible itself.

An IPv6 address gets one pair of brackets before a port, whether it was given with them or without; nothing here
connects to any host (a play on localhost reads the roles' defaults and vars and writes what they render).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAY = '''
- name: Render the roles' address variables
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the roles' defaults and vars
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop:
        - %(repo)s/roles/monitoring_agent/defaults/main.yml
        - %(repo)s/roles/monitoring_agent/vars/main.yml
        - %(repo)s/roles/monitoring_server/defaults/main.yml
        - %(repo)s/roles/monitoring_server/vars/main.yml
    - name: Write what they render
      ansible.builtin.copy:
        dest: "%(out)s"
        mode: "0600"
        content: >-
          {{ {'mysqld_listen': __monitoring_agent_mysqld_args | select('match', '^--web.listen-address=') | first,
              'server_local': __monitoring_server_local | trim,
              'server_listen': __monitoring_server_listen | trim} | to_json }}
'''


def render(tmp_path, agent, server):
    out = tmp_path / 'out.json'
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAY % dict(repo=REPO, out=out))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    binary = Path(sys.executable).parent / 'ansible-playbook'
    extra = json.dumps(dict(monitoring_agent_listen_address=agent, monitoring_server_listen_address=server))
    result = subprocess.run([str(binary), '-i', 'localhost,', '-c', 'local', '-e',
                             'ansible_python_interpreter=%s' % sys.executable, '-e', extra, str(playbook)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize('agent, server, expected', [
    ('', '', dict(mysqld_listen='--web.listen-address=:9104', server_local='127.0.0.1', server_listen='')),
    ('10.231.0.21', '10.231.0.9', dict(mysqld_listen='--web.listen-address=10.231.0.21:9104', server_local='10.231.0.9',
                                       server_listen='10.231.0.9')),
    ('fd00:231::21', '::1', dict(mysqld_listen='--web.listen-address=[fd00:231::21]:9104', server_local='[::1]',
                                 server_listen='[::1]')),
    ('[fd00:231::21]', '[::1]', dict(mysqld_listen='--web.listen-address=[fd00:231::21]:9104', server_local='[::1]',
                                     server_listen='[::1]')),
])
def test_listen_addresses(tmp_path, agent, server, expected):
    assert render(tmp_path, agent, server) == expected
