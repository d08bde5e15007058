# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the docker_host_info module and its module_utils (no Docker engine needed)."""

from __future__ import annotations

import docker
import pytest
import requests

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _docker_host_info
from ansible_collections.hna.cloudos.plugins.modules import docker_host_info

VERSION = {
    'Version': '20.10.24+dfsg1',
    'ApiVersion': '1.41',
    'MinAPIVersion': '1.12',
    'GitCommit': '5d6db84',
    'GoVersion': 'go1.19.8',
    'Os': 'linux',
    'Arch': 'amd64',
    'KernelVersion': '6.1.0-13-amd64',
}

INFO = {
    'ServerVersion': '20.10.24+dfsg1',
    'Name': 'docker01',
    'OperatingSystem': 'Debian GNU/Linux 12 (bookworm)',
    'OSType': 'linux',
    'KernelVersion': '6.1.0-13-amd64',
    'Architecture': 'x86_64',
    'NCPU': 4,
    'MemTotal': 8000000000,
    'DockerRootDir': '/var/lib/docker',
    'Driver': 'overlay2',
    'LoggingDriver': 'json-file',
    'CgroupDriver': 'systemd',
    'CgroupVersion': '2',
    'LiveRestoreEnabled': True,
    'Containers': 4,
    'ContainersRunning': 2,
    'ContainersPaused': 1,
    'ContainersStopped': 1,
    'Images': 3,
    'Swarm': {'LocalNodeState': 'inactive'},
    'RegistryConfig': {
        'Mirrors': ['https://mirror.example.com/'],
        'InsecureRegistryCIDRs': ['127.0.0.0/8'],
        'IndexConfigs': {
            'docker.io': {'Name': 'docker.io', 'Secure': True, 'Official': True},
            'registry.example.com:5000': {'Name': 'registry.example.com:5000', 'Secure': False},
        },
    },
}

CONTAINERS = [
    {'Id': 'c1' * 32, 'Names': ['/web'], 'Image': 'nginx:1.25', 'ImageID': 'sha256:aa', 'State': 'running',
     'Status': 'Up 2 hours', 'Created': 1700000000, 'Labels': {'big': 'x' * 100}},
    {'Id': 'c2' * 32, 'Names': ['/db', '/web/db'], 'Image': 'mariadb:11', 'ImageID': 'sha256:bb', 'State': 'exited',
     'Status': 'Exited (0) 1 hour ago', 'Created': 1700000100},
]
IMAGES = [
    {'Id': 'sha256:aa', 'RepoTags': ['nginx:1.25', 'nginx:latest'], 'RepoDigests': ['nginx@sha256:10'], 'Size': 187, 'Created': 1690000000},
    {'Id': 'sha256:cc', 'RepoTags': ['<none>:<none>'], 'RepoDigests': ['<none>@<none>'], 'Size': 5, 'Created': 1690000001},
    {'Id': 'sha256:dd', 'RepoTags': None, 'RepoDigests': None, 'Size': 6, 'Created': 1690000002},
]
NETWORKS = [
    {'Id': 'n1', 'Name': 'bridge', 'Driver': 'bridge', 'Scope': 'local', 'Internal': False},
    {'Id': 'n2', 'Name': 'backend', 'Driver': 'bridge', 'Scope': 'local', 'Internal': True},
    {'Id': 'n3', 'Name': 'host', 'Driver': 'host', 'Scope': 'local'},
]
VOLUMES = {'Volumes': [
    {'Name': 'db_data', 'Driver': 'local', 'Mountpoint': '/var/lib/docker/volumes/db_data/_data', 'Scope': 'local',
     'CreatedAt': '2024-01-15T10:00:00Z', 'Labels': None},
], 'Warnings': None}


class FakeEngineClient(object):
    """Stands in for ``docker.APIClient`` and records every request the module makes."""

    calls = []
    fail_on = None

    def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
        self._version = version
        self.base_url = base_url

    def _call(self, name, value):
        FakeEngineClient.calls.append(name)
        if FakeEngineClient.fail_on == name:
            response = requests.Response()
            response.status_code = 500
            raise docker.errors.APIError('boom', response=response, explanation='engine broke')
        return value

    def version(self, api_version=True):
        return self._call('version', dict(VERSION))

    def info(self):
        return self._call('info', dict(INFO))

    def networks(self):
        return self._call('networks', list(NETWORKS))

    def volumes(self):
        return self._call('volumes', dict(VOLUMES))

    def containers(self, all=False):  # pylint: disable=redefined-builtin
        FakeEngineClient.containers_all = all
        return self._call('containers', [c for c in CONTAINERS if all or c['State'] == 'running'])

    def images(self):
        return self._call('images', list(IMAGES))

    def close(self):
        FakeEngineClient.calls.append('close')


@pytest.fixture
def run_module(monkeypatch, module_exits, module_args, clean_docker_env):
    FakeEngineClient.calls = []
    FakeEngineClient.fail_on = None
    monkeypatch.setattr(dc.docker, 'APIClient', FakeEngineClient)
    module_exit, module_fail = module_exits

    def run(args=None):
        with module_args(args or {}):
            with pytest.raises((module_exit, module_fail)) as outcome:
                docker_host_info.main()
        return outcome.value.result

    return run


def test_build_host_info():
    host_info = _docker_host_info.build_host_info(VERSION, INFO, 3, 1, '1.41')
    assert host_info == {
        'docker_version': '20.10.24+dfsg1',
        'api_version': '1.41',
        'min_api_version': '1.12',
        'api_version_used': '1.41',
        'git_commit': '5d6db84',
        'go_version': 'go1.19.8',
        'name': 'docker01',
        'operating_system': 'Debian GNU/Linux 12 (bookworm)',
        'os_type': 'linux',
        'kernel_version': '6.1.0-13-amd64',
        'architecture': 'x86_64',
        'ncpu': 4,
        'mem_total': 8000000000,
        'docker_root_dir': '/var/lib/docker',
        'storage_driver': 'overlay2',
        'logging_driver': 'json-file',
        'cgroup_driver': 'systemd',
        'cgroup_version': '2',
        'live_restore': True,
        'registry_mirrors': ['https://mirror.example.com/'],
        'insecure_registries': ['registry.example.com:5000', '127.0.0.0/8'],
        'swarm_state': 'inactive',
        'containers': 4,
        'containers_running': 2,
        'containers_paused': 1,
        'containers_stopped': 1,
        'images': 3,
        'networks': 3,
        'volumes': 1,
    }


def test_build_host_info_with_sparse_answers():
    host_info = _docker_host_info.build_host_info({'ApiVersion': '1.41'}, {'RegistryConfig': None, 'Swarm': None}, 0, 0, '1.41')
    assert host_info['docker_version'] == ''
    assert host_info['registry_mirrors'] == [] and host_info['insecure_registries'] == []
    assert host_info['containers'] == 0 and host_info['live_restore'] is False


def test_insecure_registries_order():
    assert _docker_host_info.insecure_registries(None) == []
    assert _docker_host_info.insecure_registries({'IndexConfigs': {'b:1': {'Secure': False}, 'a:1': {'Secure': False}},
                                                 'InsecureRegistryCIDRs': ['10.0.0.0/8']}) == ['a:1', 'b:1', '10.0.0.0/8']


def test_summaries():
    assert _docker_host_info.summarize_container(CONTAINERS[1]) == {
        'id': 'c2' * 32, 'names': ['db', 'web/db'], 'image': 'mariadb:11', 'image_id': 'sha256:bb',
        'state': 'exited', 'status': 'Exited (0) 1 hour ago', 'created': 1700000100}
    assert [_docker_host_info.summarize_image(i)['tags'] for i in IMAGES] == [['nginx:1.25', 'nginx:latest'], [], []]
    assert _docker_host_info.summarize_image(IMAGES[1])['digests'] == []
    assert _docker_host_info.summarize_network(NETWORKS[1]) == {
        'id': 'n2', 'name': 'backend', 'driver': 'bridge', 'scope': 'local', 'internal': True}
    assert _docker_host_info.summarize_network(NETWORKS[2])['internal'] is False
    assert _docker_host_info.summarize_volume(VOLUMES['Volumes'][0]) == {
        'name': 'db_data', 'driver': 'local', 'mountpoint': '/var/lib/docker/volumes/db_data/_data',
        'scope': 'local', 'created_at': '2024-01-15T10:00:00Z'}


def test_main_default_makes_few_requests(run_module):
    result = run_module()
    assert FakeEngineClient.calls == ['version', 'info', 'networks', 'volumes', 'close']
    assert result['changed'] is False
    assert result['docker_version'] == '20.10.24+dfsg1'
    assert result['api_version'] == '1.41'
    assert result['host_info']['networks'] == 3 and result['host_info']['volumes'] == 1
    for key in ('containers', 'images', 'networks', 'volumes'):
        assert key not in result


def test_main_lists(run_module):
    result = run_module({'containers': True, 'images': True, 'networks': True, 'volumes': True})
    assert [c['names'] for c in result['containers']] == [['web']]
    assert FakeEngineClient.containers_all is False
    assert [i['id'] for i in result['images']] == ['sha256:aa', 'sha256:cc', 'sha256:dd']
    assert [n['name'] for n in result['networks']] == ['bridge', 'backend', 'host']
    assert [v['name'] for v in result['volumes']] == ['db_data']
    assert FakeEngineClient.calls.count('networks') == 1  # the counted list is reused


def test_main_containers_all(run_module):
    result = run_module({'containers': True, 'containers_all': True})
    assert FakeEngineClient.containers_all is True
    assert [c['state'] for c in result['containers']] == ['running', 'exited']


def test_main_check_mode(run_module):
    result = run_module({'_ansible_check_mode': True})
    assert result['changed'] is False and result['host_info']['docker_version'] == '20.10.24+dfsg1'


def test_main_engine_error_is_one_line_with_partial_results(run_module):
    FakeEngineClient.fail_on = 'containers'
    result = run_module({'containers': True})
    assert result['failed'] is True
    assert result['msg'] == ('The Docker engine at unix:///var/run/docker.sock could not list the containers '
                             '(HTTP 500): engine broke')
    assert result['host_info']['docker_version'] == '20.10.24+dfsg1'  # what was read before the failure is kept


def test_main_unknown_option(run_module):
    result = run_module({'bogus': 1})
    assert result['failed'] is True and 'bogus' in result['msg']
