# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the container_info module and its module_utils (no Docker engine needed)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _container_info
from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.modules import container_info

SECRET = 'Zq7-container-info-SECRET'

VERSION = {'Version': '20.10.24', 'ApiVersion': '1.41', 'MinAPIVersion': '1.12', 'Os': 'linux'}


def _container(name, env, labels=None, status='running'):
    return {
        'Id': (name * 64)[:64],
        'Name': '/' + name,
        'Image': 'sha256:aa',
        'Created': '2026-11-26T12:00:00Z',
        'Config': {'Image': 'hnatest/busybox:1', 'Env': env, 'Labels': labels or {}, 'Cmd': ['sleep', '1d']},
        'State': {'Status': status, 'Running': status == 'running', 'ExitCode': 0},
        'HostConfig': {},
        'NetworkSettings': {'Networks': {}},
    }


CONTAINERS = {
    'web': _container('web', ['PATH=/usr/bin:/bin', 'API_TOKEN=' + SECRET, 'TZ=UTC', 'EMPTY='],
                      labels={'io.hna.cloudos.namespace': 'shop'}),
    'db': _container('db', ['DB_PASSWORD=' + SECRET], status='exited'),
}


class FakeEngineClient(object):
    """Stands in for ``docker.APIClient``; records the container listing queries."""

    queries = []

    def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
        self.base_url = base_url

    def version(self, api_version=True):
        return dict(VERSION)

    def inspect_container(self, name):
        for container in CONTAINERS.values():
            if name in (container['Name'].lstrip('/'), container['Id']):
                return json.loads(json.dumps(container))
        raise dc.docker.errors.NotFound('No such container: %s' % name)

    def containers(self, **query):
        FakeEngineClient.queries.append(query)
        return [{'Id': container['Id']} for container in CONTAINERS.values()]

    def close(self):
        pass


@pytest.fixture
def run_module(monkeypatch, module_exits, module_args, clean_docker_env):
    FakeEngineClient.queries = []
    monkeypatch.setattr(dc.docker, 'APIClient', FakeEngineClient)
    module_exit, module_fail = module_exits

    def run(args=None):
        with module_args(args or {}):
            with pytest.raises((module_exit, module_fail)) as outcome:
                container_info.main()
        return outcome.value.result

    return run


def test_label_filters():
    assert _container_info.label_filters(None, None) == []
    assert _container_info.label_filters([' tier=web ', 'role'], 'shop') == ['tier=web', 'role', 'io.hna.cloudos.namespace=shop']
    for bad in ('', '  ', '=x'):
        with pytest.raises(ValueError, match='^labels: '):
            _container_info.label_filters([bad], None)


def test_one_container_env_values_are_hidden_by_default(run_module):
    result = run_module({'name': 'web'})
    assert result['exists'] is True and result['changed'] is False
    assert result['container']['env'] == {'PATH': '(hidden)', 'API_TOKEN': '(hidden)', 'TZ': '(hidden)', 'EMPTY': '(hidden)'}
    assert SECRET not in json.dumps(result)


def test_env_visible_shows_only_the_named_values(run_module):
    result = run_module({'name': 'web', 'env_visible': ['TZ', 'PATH']})
    assert result['container']['env'] == {'PATH': '/usr/bin:/bin', 'API_TOKEN': '(hidden)', 'TZ': 'UTC', 'EMPTY': '(hidden)'}
    assert result['container']['namespace'] == 'shop'


def test_list_env_values_are_hidden(run_module):
    result = run_module({'labels': ['tier'], 'namespace': 'shop', 'all': False})
    assert FakeEngineClient.queries == [{'all': False, 'filters': {'label': ['tier', 'io.hna.cloudos.namespace=shop']}}]
    assert [facts['name'] for facts in result['containers']] == ['db', 'web']
    assert result['containers'][0]['env'] == {'DB_PASSWORD': '(hidden)'}
    assert SECRET not in json.dumps(result)


def test_missing_container(run_module):
    result = run_module({'name': 'nothing'})
    assert result['exists'] is False and result['container'] == {}


def test_bad_label_and_namespace_fail_in_one_line(run_module):
    result = run_module({'labels': ['=x']})
    assert result['failed'] is True and result['msg'] == "labels: '=x' is not KEY or KEY=VALUE."
    result = run_module({'namespace': 'Not_Valid'})
    assert result['failed'] is True and result['msg'].startswith('The namespace name ')
    assert FakeEngineClient.queries == []
