"""Build the hna.cloudos collection, install the archive into an empty path and use it from there.

These tests run the real ``ansible-galaxy``, ``ansible`` and ``ansible-doc`` commands from a temporary
working directory with an empty configuration file, so that nothing of the repository (its
``ansible.cfg``, its ``collections/`` directory) takes part: only the installed archive is used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

from pathlib import Path

import docker
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTION_DIR = REPO_ROOT / 'collections' / 'ansible_collections' / 'hna' / 'cloudos'
DOCKER_SOCKET = Path('/var/run/docker.sock')

needs_engine = pytest.mark.skipif(
    not DOCKER_SOCKET.exists(),
    reason='needs a local Docker engine: %s does not exist' % DOCKER_SOCKET,
)


def _tool(name):
    """Return the path of an Ansible command next to the running Python, else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.skip('%s is not installed' % name)
    return found


@pytest.fixture(scope='module')
def isolated(tmp_path_factory):
    """A working directory and an environment in which only explicitly given collection paths are used."""
    workdir = tmp_path_factory.mktemp('ansible-cwd')
    config = workdir / 'ansible.cfg'
    config.write_text('[defaults]\n')
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('ANSIBLE_', 'DOCKER_'))}
    env.update(
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_LOCAL_TEMP=str(workdir / 'tmp'),
        ANSIBLE_HOME=str(workdir / 'home'),
    )
    return workdir, env


def _run(args, cwd, env, timeout=300):
    result = subprocess.run(args, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, 'command %s failed (rc=%s)\nstdout:\n%s\nstderr:\n%s' % (
        args, result.returncode, result.stdout, result.stderr)
    return result


@pytest.fixture(scope='module')
def galaxy_meta():
    with open(COLLECTION_DIR / 'galaxy.yml', encoding='utf-8') as meta:
        return yaml.safe_load(meta)


@pytest.fixture(scope='module')
def tarball(tmp_path_factory, isolated, galaxy_meta):
    """Build the collection into a temporary directory; return the archive path."""
    workdir, env = isolated
    output = tmp_path_factory.mktemp('build')
    _run([_tool('ansible-galaxy'), 'collection', 'build', str(COLLECTION_DIR), '--output-path', str(output)], workdir, env)
    archives = list(output.glob('*.tar.gz'))
    assert len(archives) == 1, archives
    return archives[0]


@pytest.fixture(scope='module')
def install_path(tmp_path_factory, isolated, tarball):
    """Install the archive into an empty directory; return that directory."""
    workdir, env = isolated
    path = tmp_path_factory.mktemp('installed')
    assert list(path.iterdir()) == []
    _run([_tool('ansible-galaxy'), 'collection', 'install', str(tarball), '-p', str(path)], workdir, env)
    return path


@pytest.fixture(scope='module')
def installed_env(isolated, install_path):
    workdir, env = isolated
    return workdir, dict(env, ANSIBLE_COLLECTIONS_PATH=str(install_path))


def test_build_produces_a_tarball(tarball, galaxy_meta):
    assert tarball.name == '%s-%s-%s.tar.gz' % (galaxy_meta['namespace'], galaxy_meta['name'], galaxy_meta['version'])
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        manifest = json.load(archive.extractfile('MANIFEST.json'))
    for expected in ('MANIFEST.json', 'FILES.json', 'README.md', 'meta/runtime.yml', 'meta/execution-environment.yml',
                     'plugins/modules/docker_host_info.py', 'plugins/module_utils/_docker_client.py',
                     'plugins/doc_fragments/docker.py'):
        assert expected in names, expected
    assert not [name for name in names if name.startswith('tests/output') or '__pycache__' in name
                or '.pytest_cache' in name or name.endswith('.pyc')]
    info = manifest['collection_info']
    assert (info['namespace'], info['name'], info['version']) == ('hna', 'cloudos', galaxy_meta['version'])
    assert info['license'] == ['GPL-3.0-or-later']
    assert info['dependencies'] == {}


def test_install_into_an_empty_path(install_path, galaxy_meta):
    installed = install_path / 'ansible_collections' / 'hna' / 'cloudos'
    manifest = json.loads((installed / 'MANIFEST.json').read_text())
    assert manifest['collection_info']['version'] == galaxy_meta['version']
    assert (installed / 'plugins' / 'modules' / 'docker_host_info.py').is_file()
    assert (installed / 'plugins' / 'module_utils' / '_docker_client.py').is_file()


def test_ansible_doc_renders(installed_env):
    workdir, env = installed_env
    text = _run([_tool('ansible-doc'), 'hna.cloudos.docker_host_info'], workdir, env).stdout
    assert 'hna.cloudos.docker_host_info' in text
    for option in ('docker_host', 'tls', 'validate_certs', 'ca_path', 'client_cert', 'client_key', 'timeout',
                   'api_version', 'containers', 'containers_all', 'images', 'networks', 'volumes'):
        assert option in text, option
    assert 'DOCKER_HOST' in text
    doc = json.loads(_run([_tool('ansible-doc'), '--json', 'hna.cloudos.docker_host_info'], workdir, env).stdout)
    module = doc['hna.cloudos.docker_host_info']
    assert module['doc']['attributes']['check_mode']['support'] == 'full'
    assert module['doc']['attributes']['action_group']['membership'] == ['hna.cloudos.docker']
    assert 'host_info' in module['return']
    assert module['examples'].strip()


@pytest.mark.docker
@needs_engine
def test_module_runs_against_the_engine(installed_env, tmp_path):
    workdir, env = installed_env
    tree = tmp_path / 'tree'
    _run([_tool('ansible'), 'localhost', '-m', 'hna.cloudos.docker_host_info', '--tree', str(tree)], workdir, env)
    result = json.loads((tree / 'localhost').read_text())
    api = docker.APIClient(base_url='unix://%s' % DOCKER_SOCKET, version='auto')
    try:
        engine = api.version()
    finally:
        api.close()
    assert result.get('failed') is not True, result
    assert result['changed'] is False
    assert result['docker_version'] == engine['Version']
    assert result['api_version'] == engine['ApiVersion']
    assert result['host_info']['docker_version'] == engine['Version']


@pytest.mark.docker
@needs_engine
def test_module_failure_is_one_line(installed_env, tmp_path):
    workdir, env = installed_env
    env = dict(env, DOCKER_HOST='unix://%s' % (tmp_path / 'missing.sock'))
    result = subprocess.run([_tool('ansible'), 'localhost', '-m', 'hna.cloudos.docker_host_info', '--tree', str(tmp_path / 'tree')],
                            cwd=str(workdir), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0
    failure = json.loads((tmp_path / 'tree' / 'localhost').read_text())
    assert failure['msg'] == ('Cannot reach the Docker engine at unix://%s: the socket file does not exist. '
                              'Check docker_host (or DOCKER_HOST) and that the engine is running.' % (tmp_path / 'missing.sock'))
