# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the runs of the registry modules that need neither a registry nor a Docker engine."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _registry_task as task
from ansible_collections.hna.cloudos.plugins.module_utils._registry import RegistryError, encode_auth, registry_common_argument_spec
from ansible_collections.hna.cloudos.plugins.modules import registry_info


class FailingModule(object):
    """The part of ``AnsibleModule`` the helpers use: ``fail_json`` raises with the message."""

    def __init__(self, **params):
        self.params = params
        self.check_mode = False

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


# --- argument specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize('make, own', [
    (task.registry_info_argument_spec, {'repository', 'repositories', 'tags', 'include_details'}),
    (task.registry_login_argument_spec, {'state', 'reauthorize'}),
    (task.registry_prune_argument_spec, {'repository', 'repositories', 'keep_last', 'keep_patterns', 'protected_digests',
                                         'in_use_digests', 'in_use_hosts', 'docker_ca_path', 'docker_client_cert',
                                         'docker_client_key', 'garbage_collect'}),
])
def test_argument_specs_are_the_common_options_plus_their_own(make, own):
    spec = make()
    common = registry_common_argument_spec()
    assert set(spec) == set(common) | own
    assert spec['password']['no_log'] is True
    spec['registry_url']['required'] = False
    assert make()['registry_url']['required'] is True  # a fresh dictionary each call


def test_prune_waits_longer_by_default():
    assert task.registry_prune_argument_spec()['timeout']['default'] == 60
    assert task.registry_info_argument_spec()['timeout']['default'] == 30


# --- created_key ------------------------------------------------------------------------------------


@pytest.mark.parametrize('earlier, later', [
    ('2024-05-02T09:14:11Z', '2024-05-02T09:14:12Z'),
    ('2024-05-02T09:14:11.9Z', '2024-05-02T09:14:11.95Z'),
    ('2024-05-02T09:14:11.123456789Z', '2024-05-02T09:14:11.2Z'),  # more fraction digits than Python keeps
    ('2024-05-02T10:00:00+02:00', '2024-05-02T09:00:00Z'),  # 08:00 UTC before 09:00 UTC
    ('2024-05-02T09:00:00z', '2024-05-02T09:00:00.5+00:00'),
    (None, '1970-01-01T00:00:00Z'),  # unknown times sort first
    ('not a time', '2000-01-01T00:00:00Z'),
])
def test_created_key_orders_times(earlier, later):
    assert task.created_key(earlier) < task.created_key(later)


def test_created_key_same_moment_in_other_offsets():
    assert task.created_key('2024-05-02T11:14:11+02:00') == task.created_key('2024-05-02T09:14:11Z')
    assert task.created_key('2024-05-02T09:14:11') == task.created_key('2024-05-02T09:14:11Z')  # no offset: UTC
    assert task.created_key('') == task.created_key(None) == (0, 0.0)


# --- the Docker configuration file of registry_login ------------------------------------------------


def test_visible_entry_hides_every_secret_and_shows_the_user():
    entry = dict(auth=encode_auth('deploy', 's3cret'), password='p', identitytoken='t', registrytoken='r', email='a@b')
    shown = task.visible_entry(entry)
    assert shown == dict(username='deploy', auth='<hidden>', password='<hidden>', identitytoken='<hidden>',
                         registrytoken='<hidden>', email='a@b')
    assert 's3cret' not in json.dumps(shown)
    assert task.visible_entry(dict(auth='!!not base64'), '<x>') == dict(auth='<x>')
    assert task.visible_entry(None) is None


def test_load_config_missing_or_empty_is_empty(tmp_path):
    module = FailingModule()
    assert task.load_config(module, str(tmp_path / 'missing.json')) == {}
    (tmp_path / 'empty.json').write_text('  \n')
    assert task.load_config(module, str(tmp_path / 'empty.json')) == {}
    (tmp_path / 'config.json').write_text('{"auths": {"r:5000": {"auth": "eDp5"}}}')
    assert task.load_config(module, str(tmp_path / 'config.json')) == {'auths': {'r:5000': {'auth': 'eDp5'}}}


@pytest.mark.parametrize('content, needle', [
    ('{"auths": ', 'is not valid JSON'),
    ('["a list"]', 'does not hold a JSON object'),
])
def test_load_config_refuses_what_it_cannot_update(tmp_path, content, needle):
    path = tmp_path / 'config.json'
    path.write_text(content)
    with pytest.raises(AssertionError) as failure:
        task.load_config(FailingModule(), str(path))
    msg = failure.value.args[0]['msg']
    assert needle in msg and str(path) in msg and 'fix or remove it' in msg and '\n' not in msg


def test_write_config_creates_a_private_file_in_a_private_directory(tmp_path):
    path = tmp_path / 'home' / '.docker' / 'config.json'
    task.write_config(FailingModule(), str(path), {'auths': {'r:5000': {'auth': 'eDp5'}}})
    assert json.loads(path.read_text()) == {'auths': {'r:5000': {'auth': 'eDp5'}}}
    assert path.read_text().endswith('}\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(str(path.parent)) == ['config.json']  # no temporary file left


def test_write_config_replaces_a_readable_file(tmp_path):
    path = tmp_path / 'config.json'
    path.write_text('{}')
    path.chmod(0o644)
    task.write_config(FailingModule(), str(path), {'credsStore': 'pass'})
    assert json.loads(path.read_text()) == {'credsStore': 'pass'}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_config_failure_is_one_line_and_leaves_nothing(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    with pytest.raises(AssertionError) as failure:
        task.write_config(FailingModule(), str(blocker / 'config.json'), {})
    assert failure.value.args[0]['msg'].startswith('Cannot write the Docker configuration file %s: ' % (blocker / 'config.json'))
    assert sorted(os.listdir(str(tmp_path))) == ['file']


# --- repositories -----------------------------------------------------------------------------------


class FakeCatalog(object):
    """A registry with a catalog; ``gone`` repositories answer 404 to their tag list."""

    def __init__(self, names, gone=()):
        self.names = names
        self.gone = gone

    def catalog(self):
        return list(self.names)

    def tags(self, name):
        if name in self.gone or name not in self.names:
            raise RegistryError('not found', status=404)
        return ['1', '2']


def test_repository_names():
    client = FakeCatalog(['shop/web', 'shop/db', 'tools/ci'])
    assert task.repository_names(client, 'other/app', []) == ['other/app']  # named: the catalog is not read
    patterns = task.compile_patterns(['shop/.*', 'tools'], 'repositories')
    assert task.repository_names(client, None, patterns) == ['shop/web', 'shop/db']  # whole names only
    assert task.repository_names(client, None, []) == []


def test_repository_tags_of_a_repository_gone_from_the_catalog():
    client = FakeCatalog(['shop/web', 'shop/db'], gone=['shop/db'])
    assert task.repository_tags(client, 'shop/web', listed=True) == ['1', '2']
    assert task.repository_tags(client, 'shop/db', listed=True) is None
    with pytest.raises(RegistryError):
        task.repository_tags(client, 'shop/db', listed=False)  # a repository the user named must exist


# --- the Docker engines of registry_prune -----------------------------------------------------------


@pytest.mark.parametrize('address, fragment', [
    ('ftp://x', 'in_use_hosts: docker_host ftp://x uses the unsupported scheme ftp'),
    ('tcp://', 'in_use_hosts: docker_host tcp:// names no host'),
])
def test_engine_address_errors_name_the_option(address, fragment):
    module = FailingModule(docker_ca_path=None, docker_client_cert=None, docker_client_key=None, timeout=5)
    with pytest.raises(AssertionError) as failure:
        task.Engines(module).connect(address, 'in_use_hosts', dict(deleted=['x']))
    result = failure.value.args[0]
    assert result['msg'].startswith(fragment)
    assert result['deleted'] == ['x'] and result['changed'] is False


def test_engine_tls_files_only_checked_for_https(tmp_path, monkeypatch):
    """Certificates are for https:// engines only: a tcp:// engine is reached without TLS, whatever they say."""
    built = []

    def for_engine(module, docker_host, **kwargs):
        built.append((docker_host, kwargs))
        return 'client'

    monkeypatch.setattr(task.DockerClient, 'for_engine', staticmethod(for_engine))
    missing = str(tmp_path / 'missing.pem')
    module = FailingModule(docker_ca_path=missing, docker_client_cert=None, docker_client_key=None, timeout=5)
    assert task.Engines(module).connect('tcp://192.0.2.10:2375', 'in_use_hosts') == 'client'
    assert built == [('tcp://192.0.2.10:2375', dict(
        tls=False, validate_certs=False, ca_path=None, client_cert=None, client_key=None, timeout=5, fail_prefix='in_use_hosts',
        partial_results={'changed': False}))]
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    module.params['docker_ca_path'] = str(ca)
    task.Engines(module).connect('https://192.0.2.10:2376', 'garbage_collect.docker_host', dict(changed=True))
    assert built[-1][1]['tls'] is True and built[-1][1]['validate_certs'] is True and built[-1][1]['ca_path'] == str(ca)
    assert built[-1][1]['partial_results'] == {'changed': True}


# --- registry_info ----------------------------------------------------------------------------------


class FakeRegistryClient(FakeCatalog):
    """Stands in for ``RegistryClient``: shop/web, shop/db and tools/ci, of which tools/ci is gone since the catalog was read."""

    def __init__(self, registry_url, **kwargs):
        super(FakeRegistryClient, self).__init__(['shop/web', 'shop/db', 'tools/ci'], gone=['tools/ci'])
        self.kwargs = kwargs

    def close(self):
        pass


@pytest.mark.parametrize('args, expected', [
    ({}, [('shop/db', ['1', '2']), ('shop/web', ['1', '2']), ('tools/ci', [])]),
    ({'repositories': []}, [('shop/db', ['1', '2']), ('shop/web', ['1', '2']), ('tools/ci', [])]),
    ({'repositories': ['shop/w.*'], 'tags': ['2']}, [('shop/web', ['2'])]),
    ({'repository': 'shop/db'}, [('shop/db', ['1', '2'])]),
])
def test_registry_info_lists_the_chosen_repositories(monkeypatch, module_args, module_exits, args, expected):
    monkeypatch.setattr(task, 'RegistryClient', FakeRegistryClient)
    monkeypatch.setattr(FakeRegistryClient, 'catalog', lambda self: sorted(self.names))
    with module_args(dict(args, registry_url='127.0.0.1:5000', config_path='/nonexistent/config.json')):
        with pytest.raises(module_exits[0]) as done:
            registry_info.main()
    result = done.value.result
    assert result['registry'] == '127.0.0.1:5000' and result['changed'] is False
    assert [(repo['name'], [entry['tag'] for entry in repo['tags']]) for repo in result['repositories']] == expected
