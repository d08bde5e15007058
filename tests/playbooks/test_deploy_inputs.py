"""playbooks/deploy_namespace.yml refuses bad inputs on the control node before it deploys anything, the way AWX and
ansible-runner start it: from another working directory, with PWD passed on unchanged.

Nothing here connects to any host: every case ends in the first play, on the control node (the lab inventory is
read, the lab need not run).
"""

from __future__ import annotations

import os
import subprocess
import sys

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'deploy_namespace.yml'
INVENTORY = REPO / 'inventories' / 'lab'
STACK = 'examples/namespaces/testlog/docker.yml'


def deploy(tmp_path, *extra):
    """Run the playbook from ``tmp_path`` (its PWD too); return (rc, the whole output on one line)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', PWD=str(tmp_path))
    binary = Path(sys.executable).parent / 'ansible-playbook'
    result = subprocess.run([str(binary), '-i', str(INVENTORY), str(PLAYBOOK), *extra], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    return result.returncode, ' '.join((result.stdout + result.stderr).split())


def test_a_target_that_matches_no_host_fails_the_job_naming_it(tmp_path):
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=testlog', '-e', 'stack_file=%s' % (REPO / STACK),
                     '-e', 'deploy_target=bj2-nod1')
    assert rc != 0, out[-2000:]
    assert 'deploy_target bj2-nod1 matches no host of the inventory' in out, out[-2000:]
    assert 'docker_hosts: bj2-node1, bj2-node2, hz-node1, hz-node2' in out, out[-2000:]
    assert 'Deploy the namespace from its docker.yml' not in out  # the deploying play never started


def test_a_relative_stack_file_is_relative_to_the_project_not_to_pwd(tmp_path):
    # Found from another directory: the job goes on to the target check (and stops there, on a target that matches
    # nothing, so that nothing is deployed).
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=testlog', '-e', 'stack_file=%s' % STACK, '-e', 'deploy_target=nowhere')
    assert rc != 0 and 'deploy_target nowhere matches no host' in out, out[-2000:]
    assert 'Read the stack definition (%s)' % (REPO / STACK) in out, out[-2000:]
    # A relative path that is not there is named with where it was looked for.
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=testlog', '-e', 'stack_file=examples/nothing.yml')
    assert rc != 0, out[-2000:]
    assert 'stack_file examples/nothing.yml is not a file (%s: a relative path is relative to the project directory %s)' % (
        REPO / 'examples' / 'nothing.yml', REPO) in out, out[-2000:]


def test_a_bad_name_and_a_missing_stack_file_are_named(tmp_path):
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=Bad_Name', '-e', 'stack_file=%s' % STACK)
    assert rc != 0 and 'got namespace=Bad_Name' in out, out[-2000:]
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=testlog')
    assert rc != 0 and 'stack_file=(none)' in out, out[-2000:]


def test_the_old_name_namespace_still_works_and_says_it_is_deprecated(tmp_path):
    rc, out = deploy(tmp_path, '-e', 'namespace=testlog', '-e', 'stack_file=%s' % STACK, '-e', 'deploy_target=nowhere')
    assert rc != 0 and 'deploy_target nowhere matches no host of the inventory' in out, out[-2000:]
    assert 'Deprecated: -e namespace=testlog' in out and 'give -e deploy_namespace=testlog instead' in out, out[-2000:]
    rc, out = deploy(tmp_path, '-e', 'deploy_namespace=testlog', '-e', 'stack_file=%s' % STACK, '-e', 'deploy_target=nowhere')
    assert rc != 0 and 'Deprecated' not in out, out[-2000:]
