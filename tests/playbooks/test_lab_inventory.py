"""The lab inventory finds the lab's state folder (SSH key, registry CA, secrets) through LAB_STATE_DIR wherever the
inventory sits on disk, as in the private data directory of an ansible-runner or AWX job, and a missing secret fails
the job naming its file: it is never replaced by a newly generated password (the database has the old one).

Nothing here connects to any host: one task on the control node reads the variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAY = """- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "key={{ hostvars['bj2-node1'].ansible_ssh_private_key_file }} root={{ hostvars[groups['db_servers'][0]].mysql_server_root_password }}"
"""


def read_vars(tmp_path, inventory, state):
    (tmp_path / 'play.yml').write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', LAB_STATE_DIR=str(state))
    binary = Path(sys.executable).parent / 'ansible-playbook'
    result = subprocess.run([str(binary), '-i', str(inventory), str(tmp_path / 'play.yml')], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    return result.returncode, ' '.join((result.stdout + result.stderr).split())


def test_a_missing_secret_fails_and_nothing_is_generated(tmp_path):
    state = tmp_path / 'state'
    (state / 'secrets').mkdir(parents=True)
    rc, out = read_vars(tmp_path, REPO / 'inventories' / 'lab', state)
    assert rc != 0, out[-2000:]
    assert str(state / 'secrets' / 'mysql-root-password') in out, out[-2000:]
    assert list((state / 'secrets').iterdir()) == []


def test_the_inventory_at_another_depth_reads_the_state_folder(tmp_path):
    # The inventory as a job would have it: copied into a folder of another depth.
    inventory = tmp_path / 'job' / 'private' / 'project' / 'inventory'
    shutil.copytree(REPO / 'inventories' / 'lab', inventory)
    state = tmp_path / 'state'
    (state / 'secrets').mkdir(parents=True)
    (state / 'secrets' / 'mysql-root-password').write_text('Abc123abc123abc123abc123\n')
    rc, out = read_vars(tmp_path, inventory, state)
    assert rc == 0, out[-2000:]
    assert 'key=%s root=Abc123abc123abc123abc123' % (state / 'ssh' / 'id_ed25519') in out, out[-2000:]
