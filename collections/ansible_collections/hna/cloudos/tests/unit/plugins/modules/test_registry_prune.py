# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of how registry_prune talks to Docker engines (a fake engine on a Unix socket, no registry)."""

from __future__ import annotations

import json
import socketserver
import threading

from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _registry_task
from ansible_collections.hna.cloudos.plugins.modules import registry_prune

IMAGE_ID = 'sha256:' + 'a' * 64
REPO_DIGEST = 'sha256:' + 'b' * 64


class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Docker engine that speaks API ``api_version`` and records the paths it was asked for."""

    daemon_threads = True

    def __init__(self, path, api_version):
        self.api_version = api_version
        self.paths = []
        socketserver.UnixStreamServer.__init__(self, path, FakeEngineHandler)


class FakeEngineHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # pylint: disable=invalid-name
        self.server.paths.append(self.path.split('?', 1)[0])
        path = self.path.split('?', 1)[0]
        if path == '/version':
            self._answer(200, {'Version': '25.0.0', 'ApiVersion': self.server.api_version, 'MinAPIVersion': '1.24'})
        elif path.endswith('/containers/json'):
            self._answer(200, [{'Id': 'c' * 64, 'Names': ['/web'], 'Image': 'shop/web:1', 'ImageID': IMAGE_ID}])
        elif path.endswith('/images/%s/json' % IMAGE_ID):
            self._answer(200, {'Id': IMAGE_ID, 'RepoDigests': ['registry.example.com:5000/shop/web@' + REPO_DIGEST]})
        else:
            self._answer(404, {'message': 'page not found'})

    def _answer(self, status, body):
        data = json.dumps(body).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_engine(tmp_path):
    engines = []

    def start(api_version):
        engine = FakeEngine(str(tmp_path / ('engine-%d.sock' % len(engines))), api_version)
        threading.Thread(target=engine.serve_forever, daemon=True).start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.shutdown()
        engine.server_close()


def run_module(module_args, module_exits, args):
    exit_type, fail_type = module_exits
    with module_args(args):
        with pytest.raises((exit_type, fail_type)) as info:
            registry_prune.main()
    return info.value.result


def test_in_use_hosts_negotiates_the_api_version(fake_engine, module_args, module_exits):
    """The engine is asked with the newest API version it speaks, not with a pinned one."""
    engine = fake_engine('1.45')
    result = run_module(module_args, module_exits, dict(
        # Nothing listens there: the module fails on the registry after it read the engine.
        registry_url='http://127.0.0.1:9', repository='shop/web', keep_last=1, timeout=5,
        in_use_hosts=['unix://' + engine.server_address]))
    assert result['failed'] and 'Cannot reach the registry' in result['msg']
    assert '/v1.45/containers/json' in engine.paths
    assert '/v1.45/images/%s/json' % IMAGE_ID in engine.paths
    assert not [path for path in engine.paths if path.startswith('/v1.41/')]


class StubModule(object):
    """The part of ``AnsibleModule`` that ``Engines`` uses."""

    check_mode = False
    params = dict(docker_ca_path=None, docker_client_cert=None, docker_client_key=None, timeout=5)

    def fail_json(self, **kwargs):
        raise AssertionError('the module failed: %r' % (kwargs, ))


def test_in_use_lists_the_users_of_each_digest(fake_engine):
    engine = fake_engine('1.41')
    address = 'unix://' + engine.server_address
    by_digest, by_id = _registry_task.Engines(StubModule()).in_use(address)
    assert by_digest == {REPO_DIGEST: ['container web on %s' % address]}
    assert by_id == {IMAGE_ID: ['container web on %s' % address]}
    assert engine.paths == ['/version', '/v1.41/containers/json', '/v1.41/images/%s/json' % IMAGE_ID]


@pytest.mark.parametrize('option', ['docker_ca_path', 'docker_client_cert'])
def test_missing_tls_file_fails_with_one_line_naming_the_option(tmp_path, module_args, module_exits, option):
    key = tmp_path / 'key.pem'
    key.write_text('not used')
    args = dict(registry_url='http://127.0.0.1:9', repository='shop/web', keep_last=1,
                in_use_hosts=['https://127.0.0.1:9'], docker_client_key=str(key), docker_client_cert=str(key))
    args[option] = str(tmp_path / 'missing.pem')
    result = run_module(module_args, module_exits, args)
    assert result['failed']
    assert result['msg'] == ('in_use_hosts: %s %s does not exist or is not a file (needed for TLS to the Docker engine at '
                             'https://127.0.0.1:9).' % (option, tmp_path / 'missing.pem'))


class FakeRegistryClient(object):
    """A registry holding shop/web:old and shop/web:new (two images); records the deleted digests."""

    deleted = []

    def __init__(self, *args, **kwargs):
        pass

    def tags(self, name):
        return ['old', 'new']

    def image_details(self, name, tag):
        number = 1 if tag == 'old' else 2
        return dict(digest='sha256:%s' % (str(number) * 64), created='2024-01-0%dT00:00:00Z' % number,
                    manifest_digests=[], config_digests=[])

    def delete_manifest(self, name, digest):
        self.deleted.append(digest)

    def close(self):
        pass


def test_unreachable_garbage_collector_engine_reports_what_was_deleted(tmp_path, monkeypatch, module_args, module_exits):
    """The manifests are deleted before the garbage collector runs: its failure must not hide them."""
    monkeypatch.setattr(_registry_task, 'RegistryClient', FakeRegistryClient)
    monkeypatch.setattr(FakeRegistryClient, 'deleted', [])
    socket_path = tmp_path / 'missing.sock'
    result = run_module(module_args, module_exits, dict(
        registry_url='127.0.0.1:5000', repository='shop/web', keep_last=1, config_path=str(tmp_path / 'config.json'),
        garbage_collect=dict(container='registry', docker_host='unix://%s' % socket_path)))
    old = 'sha256:' + '1' * 64
    assert FakeRegistryClient.deleted == [old]
    assert result['failed']
    assert result['msg'].startswith('garbage_collect.docker_host: Cannot reach the Docker engine at unix://%s' % socket_path)
    assert result['changed'] is True
    assert [item['digest'] for item in result['deleted']] == [old]
