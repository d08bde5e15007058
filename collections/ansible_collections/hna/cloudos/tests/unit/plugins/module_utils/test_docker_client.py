# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the private Docker client module_utils (no Docker engine needed)."""

from __future__ import annotations

import errno
import socket
import ssl

import docker
import pytest
import requests
import urllib3

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc


# --- helpers ----------------------------------------------------------------------------------------


def _raised(exc, cause=None):
    """Return ``exc`` after really raising it (so that ``__cause__``/``__context__`` are set as in real life)."""
    try:
        if cause is None:
            raise exc
        raise exc from cause
    except BaseException as caught:  # pylint: disable=broad-except
        return caught


def refused_error(port=1):
    """A requests error as the SDK raises it for a closed TCP port."""
    refused = _raised(ConnectionRefusedError(errno.ECONNREFUSED, 'Connection refused'))
    new_conn = _raised(urllib3.exceptions.NewConnectionError(
        None, 'Failed to establish a new connection: [Errno 111] Connection refused'), refused)
    max_retry = urllib3.exceptions.MaxRetryError(None, '/version', reason=new_conn)
    return _raised(requests.exceptions.ConnectionError(max_retry), max_retry)


def missing_socket_error():
    """A requests error as the SDK raises it for a missing Unix socket."""
    not_found = FileNotFoundError(errno.ENOENT, 'No such file or directory')
    protocol = urllib3.exceptions.ProtocolError('Connection aborted.', not_found)
    return _raised(requests.exceptions.ConnectionError(protocol), protocol)


def cert_verify_error():
    """A requests error as raised when the engine certificate is not trusted."""
    verify = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate')
    verify.verify_message = 'self-signed certificate'
    verify.reason = 'CERTIFICATE_VERIFY_FAILED'
    inner = _raised(urllib3.exceptions.SSLError(verify), verify)
    max_retry = urllib3.exceptions.MaxRetryError(None, '/version', reason=inner)
    return _raised(requests.exceptions.SSLError(max_retry), max_retry)


def wrong_version_error():
    """A requests error as raised when TLS is used against a plain HTTP listener."""
    wrong = ssl.SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number')
    wrong.reason = 'WRONG_VERSION_NUMBER'
    inner = _raised(urllib3.exceptions.SSLError(wrong), wrong)
    return _raised(requests.exceptions.SSLError(inner), inner)


SERVER_VERSION = {
    'Version': '24.0.7',
    'ApiVersion': '1.43',
    'MinAPIVersion': '1.12',
    'Os': 'linux',
    'Arch': 'amd64',
    'KernelVersion': '6.1.0',
}


class FakeAPIClient(object):
    """Stands in for ``docker.APIClient``: records how it was built and answers ``/version``."""

    instances = []
    answer = SERVER_VERSION
    error = None

    def __init__(self, base_url=None, version=None, timeout=None, tls=False, **kwargs):
        self.base_url = base_url
        self._version = version
        self.timeout = timeout
        self.tls = tls
        self.calls = []
        self.closed = False
        FakeAPIClient.instances.append(self)

    @property
    def api_version(self):
        return self._version

    def version(self, api_version=True):
        self.calls.append(('version', api_version))
        if FakeAPIClient.error is not None:
            raise FakeAPIClient.error
        return dict(FakeAPIClient.answer)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_api(monkeypatch):
    FakeAPIClient.instances = []
    FakeAPIClient.answer = dict(SERVER_VERSION)
    FakeAPIClient.error = None
    monkeypatch.setattr(dc.docker, 'APIClient', FakeAPIClient)
    return FakeAPIClient


@pytest.fixture
def make_client(module_exits, module_args, clean_docker_env, fake_api):
    """Build a ``DockerClient`` from module arguments; return it, or the ``ModuleFail`` result."""
    module_fail = module_exits[1]

    def make(args=None, **kwargs):
        with module_args(args or {}):
            try:
                return dc.DockerClient(**kwargs)
            except module_fail as failure:
                return failure.result

    return make


def assert_one_line(msg):
    assert msg and '\n' not in msg and '\r' not in msg


# --- common argument spec ---------------------------------------------------------------------------


def test_common_argument_spec_is_fresh_each_time():
    first = dc.docker_common_argument_spec()
    first['docker_host']['default'] = 'tcp://changed:1'
    first['extra'] = {}
    second = dc.docker_common_argument_spec()
    assert second['docker_host']['default'] == 'unix:///var/run/docker.sock'
    assert 'extra' not in second


def test_common_argument_spec_options():
    spec = dc.docker_common_argument_spec()
    assert sorted(spec) == sorted(['docker_host', 'tls', 'validate_certs', 'ca_path', 'client_cert', 'client_key', 'timeout', 'api_version'])
    assert spec['timeout'] == dict(type='int', default=60, fallback=spec['timeout']['fallback'])
    assert spec['api_version']['default'] == 'auto'
    assert spec['ca_path']['type'] == spec['client_cert']['type'] == spec['client_key']['type'] == 'path'
    assert spec['tls']['type'] == spec['validate_certs']['type'] == 'bool'


@pytest.mark.parametrize('option, variable, value, expected', [
    ('docker_host', 'DOCKER_HOST', 'tcp://127.0.0.1:2375', 'tcp://127.0.0.1:2375'),
    ('tls', 'DOCKER_TLS', '1', True),
    ('validate_certs', 'DOCKER_TLS_VERIFY', 'true', True),
    ('timeout', 'DOCKER_TIMEOUT', '7', 7),
    ('api_version', 'DOCKER_API_VERSION', '1.41', '1.41'),
])
def test_environment_fallbacks(monkeypatch, make_client, option, variable, value, expected):
    monkeypatch.setenv(variable, value)
    FakeAPIClient.answer = dict(SERVER_VERSION, ApiVersion='1.41')
    client = make_client()
    assert isinstance(client, dc.DockerClient), client
    assert client.params[option] == expected


def test_empty_docker_host_variable_counts_as_unset(monkeypatch, make_client):
    monkeypatch.setenv('DOCKER_HOST', '')
    client = make_client()
    assert client.params['docker_host'] == 'unix:///var/run/docker.sock'


def test_explicit_option_wins_over_environment(monkeypatch, make_client):
    monkeypatch.setenv('DOCKER_HOST', 'tcp://127.0.0.1:2375')
    client = make_client({'docker_host': 'unix:///run/docker.sock'})
    assert client.docker_host == 'unix:///run/docker.sock'
    assert FakeAPIClient.instances[-1].base_url == 'unix:///run/docker.sock'


# --- API versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [('1.41', (1, 41)), (' 1.9 ', (1, 9)), ('2.0', (2, 0))])
def test_parse_api_version(value, expected):
    assert dc.parse_api_version(value) == expected


@pytest.mark.parametrize('value', ['', 'auto', '1', '1.41.0', 'v1.41', None, '1.x'])
def test_parse_api_version_rejects(value):
    with pytest.raises(ValueError):
        dc.parse_api_version(value)


@pytest.mark.parametrize('left, right, expected', [
    ('1.41', '1.41', 0),
    ('1.9', '1.41', -1),  # numeric, not string, comparison
    ('1.43', '1.41', 1),
    ('2.0', '1.99', 1),
])
def test_compare_api_versions(left, right, expected):
    assert dc.compare_api_versions(left, right) == expected
    assert dc.api_version_at_least(left, right) is (expected >= 0)


def test_minimum_api_version_constant():
    assert dc.MIN_DOCKER_API_VERSION == '1.41'
    assert dc.MIN_DOCKER_ENGINE_VERSION == '20.10'
    assert dc.engine_release_for('1.41') == '20.10'


@pytest.mark.parametrize('value', ['auto', 'AUTO', None, '', 'latest'])
def test_check_requested_api_version_auto(value):
    assert dc.check_requested_api_version(value) is None


def test_check_requested_api_version_accepts_supported():
    assert dc.check_requested_api_version('1.43') == '1.43'
    assert dc.check_requested_api_version('1.41') == '1.41'


def test_check_requested_api_version_too_old():
    with pytest.raises(dc.DockerClientError) as exc:
        dc.check_requested_api_version('1.40')
    msg = str(exc.value)
    assert_one_line(msg)
    assert '1.40' in msg and '1.41' in msg and '20.10' in msg and 'auto' in msg


def test_check_requested_api_version_malformed():
    with pytest.raises(dc.DockerClientError, match='not valid'):
        dc.check_requested_api_version('one.forty')


# --- docker_host --------------------------------------------------------------------------------------


@pytest.mark.parametrize('value, tls, url, scheme, host, port', [
    ('unix:///var/run/docker.sock', False, 'unix:///var/run/docker.sock', 'unix', None, None),
    ('unix://var/run/docker.sock', False, 'unix:///var/run/docker.sock', 'unix', None, None),
    ('  unix:///run/user/1000/docker.sock ', False, 'unix:///run/user/1000/docker.sock', 'unix', None, None),
    ('tcp://127.0.0.1:2375', False, 'tcp://127.0.0.1:2375', 'tcp', '127.0.0.1', 2375),
    ('tcp://docker.example.com', False, 'tcp://docker.example.com:2375', 'tcp', 'docker.example.com', 2375),
    ('tcp://docker.example.com', True, 'tcp://docker.example.com:2376', 'tcp', 'docker.example.com', 2376),
    ('TCP://127.0.0.1:2375/', False, 'tcp://127.0.0.1:2375', 'tcp', '127.0.0.1', 2375),
    ('http://127.0.0.1:2375', False, 'tcp://127.0.0.1:2375', 'tcp', '127.0.0.1', 2375),
    ('https://127.0.0.1', False, 'tcp://127.0.0.1:2376', 'https', '127.0.0.1', 2376),
    ('tcp://[::1]:2375', False, 'tcp://[::1]:2375', 'tcp', '::1', 2375),
])
def test_parse_docker_host(value, tls, url, scheme, host, port):
    parsed = dc.parse_docker_host(value, tls=tls)
    assert (parsed.url, parsed.scheme, parsed.host, parsed.port) == (url, scheme, host, port)


@pytest.mark.parametrize('value, fragment', [
    ('ftp://x', 'unsupported scheme ftp'),
    ('ssh://user@host', 'unsupported scheme ssh'),
    ('', 'empty'),
    (None, 'empty'),
    ('127.0.0.1:2375', 'no scheme'),
    ('/var/run/docker.sock', 'no scheme'),
    ('tcp://', 'names no host'),
    ('tcp://:2375', 'names no host'),
    ('tcp://host:99999', 'not a valid address'),
    ('tcp://host:port', 'not a valid address'),
    ('tcp://host:0', 'invalid port 0'),
    ('tcp://host:2375/v1.41', 'must not contain a path'),
    ('tcp://user:secret@host:2375', 'must not contain user credentials'),
    ('unix://', 'names no socket path'),
])
def test_parse_docker_host_rejects(value, fragment):
    with pytest.raises(dc.DockerClientError) as exc:
        dc.parse_docker_host(value)
    msg = str(exc.value)
    assert fragment in msg
    assert_one_line(msg)
    assert 'unix:///var/run/docker.sock' in msg  # every message shows a working example


@pytest.mark.parametrize('params, scheme, expected', [
    ({'tls': False, 'validate_certs': False}, 'tcp', False),
    ({'tls': True, 'validate_certs': False}, 'tcp', True),
    ({'tls': False, 'validate_certs': True}, 'tcp', True),
    ({'tls': False, 'validate_certs': False}, 'https', True),
])
def test_uses_tls(params, scheme, expected):
    host = dc.DockerHost(url='tcp://h:1', scheme=scheme, host='h', port=1, path=None)
    assert dc.uses_tls(params, host) is expected


# --- certificate paths -------------------------------------------------------------------------------


def test_resolve_cert_paths_from_docker_cert_path(tmp_path):
    (tmp_path / 'ca.pem').write_text('ca')
    (tmp_path / 'cert.pem').write_text('cert')
    params = {'ca_path': None, 'client_cert': None, 'client_key': None}
    resolved = dc.resolve_cert_paths(params, {'DOCKER_CERT_PATH': str(tmp_path)})
    assert resolved == {
        'ca_path': str(tmp_path / 'ca.pem'),
        'client_cert': str(tmp_path / 'cert.pem'),
        'client_key': None,  # key.pem does not exist there
    }


def test_resolve_cert_paths_explicit_wins(tmp_path):
    (tmp_path / 'ca.pem').write_text('ca')
    params = {'ca_path': '/etc/pki/my-ca.pem', 'client_cert': None, 'client_key': None}
    resolved = dc.resolve_cert_paths(params, {'DOCKER_CERT_PATH': str(tmp_path)})
    assert resolved['ca_path'] == '/etc/pki/my-ca.pem'


def test_resolve_cert_paths_without_variable():
    params = {'ca_path': None, 'client_cert': None, 'client_key': None}
    assert dc.resolve_cert_paths(params, {}) == params


# --- error descriptions -----------------------------------------------------------------------------


def test_one_line():
    assert dc.one_line('a\n  b\r\n\tc ') == 'a b c'
    assert dc.one_line(ValueError('x\ny')) == 'x y'


@pytest.mark.parametrize('factory, kind, reason', [
    (refused_error, 'connection', 'connection refused'),
    (missing_socket_error, 'connection', 'the socket file does not exist'),
    (lambda: PermissionError(errno.EACCES, 'Permission denied'), 'connection', 'permission denied on the socket'),
    (lambda: requests.exceptions.ReadTimeout('Read timed out. (read timeout=60)'), 'timeout', 'the engine did not answer in time'),
    (lambda: _raised(requests.exceptions.ConnectionError('x'), socket.timeout('timed out')), 'connection', 'no answer in time (timeout)'),
    (lambda: requests.exceptions.ConnectionError('[Errno -2] Name or service not known'), 'connection', 'the host name cannot be resolved'),
    (cert_verify_error, 'tls', 'certificate verify failed: self-signed certificate'),
    (wrong_version_error, 'tls', 'wrong version number'),
    (lambda: requests.exceptions.SSLError('handshake failure'), 'tls', 'handshake failure'),
    (lambda: requests.exceptions.ConnectionError('something\nodd'), 'connection', 'something odd'),
])
def test_describe_connection_error(factory, kind, reason):
    assert dc.describe_connection_error(factory()) == (kind, reason)


def test_connection_error_message_names_the_address():
    msg = dc.connection_error_message('tcp://127.0.0.1:1', refused_error())
    assert msg == ('Cannot reach the Docker engine at tcp://127.0.0.1:1: connection refused. '
                   'Check docker_host (or DOCKER_HOST) and that the engine is running.')


def test_connection_error_message_for_tls_names_the_options():
    msg = dc.connection_error_message('tcp://127.0.0.1:2376', cert_verify_error())
    assert_one_line(msg)
    assert msg.startswith('TLS connection to the Docker engine at tcp://127.0.0.1:2376 failed: certificate verify failed')
    for option in ('ca_path', 'validate_certs', 'client_cert'):
        assert option in msg


def test_connection_error_message_for_permissions():
    msg = dc.connection_error_message('unix:///var/run/docker.sock', PermissionError(errno.EACCES, 'Permission denied'))
    assert 'docker group' in msg and 'unix:///var/run/docker.sock' in msg


def _api_error(message, status=500, explanation=None):
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(message, response=response, explanation=explanation)


def test_api_error_message():
    msg = dc.api_error_message('unix:///s', 'list the containers', _api_error('boom', 500, 'engine\nbroke'))
    assert msg == 'The Docker engine at unix:///s could not list the containers (HTTP 500): engine broke'


def test_error_text_says_the_explanation_else_the_text_else_the_type():
    assert dc.error_text(_api_error('boom', 500, b'engine\nbroke \xff')) == 'engine broke \ufffd'
    assert dc.error_text(docker.errors.DockerException('no\nconnection')) == 'no connection'
    assert dc.error_text(docker.errors.DockerException()) == 'DockerException'


def test_api_error_message_plain_http_to_tls_engine():
    exc = _api_error('400', 400, 'Client sent an HTTP request to an HTTPS server.')
    msg = dc.api_error_message('tcp://127.0.0.1:2376', 'tell its version', exc)
    assert 'only accepts TLS' in msg and 'tls: true' in msg


# --- the client ---------------------------------------------------------------------------------------


def test_client_connects_and_negotiates(make_client):
    client = make_client({'timeout': 5}, argument_spec=dict(extra=dict(type='str', default='x')), supports_check_mode=True)
    assert isinstance(client, dc.DockerClient), client
    api = FakeAPIClient.instances[-1]
    assert len(FakeAPIClient.instances) == 1  # one client, one connection
    assert api.calls == [('version', False)]  # a single request to connect
    assert api.base_url == 'unix:///var/run/docker.sock'
    assert api.timeout == 5
    assert api.tls is False
    assert client.api is api
    assert client.api_version == api.api_version == '1.43'  # the engine's newest
    assert client.server_version['Version'] == '24.0.7'
    assert client.params['extra'] == 'x'
    assert client.module.supports_check_mode is True


def test_client_uses_requested_api_version(make_client):
    client = make_client({'api_version': '1.42'})
    assert client.api_version == '1.42'
    assert FakeAPIClient.instances[-1].api_version == '1.42'


def test_client_requested_api_version_too_new(make_client):
    result = make_client({'api_version': '1.45'})
    assert_one_line(result['msg'])
    assert 'api_version 1.45 is newer' in result['msg'] and 'at most 1.43' in result['msg']


def test_client_requested_api_version_below_engine_minimum(make_client):
    FakeAPIClient.answer = dict(SERVER_VERSION, ApiVersion='1.47', MinAPIVersion='1.44')
    result = make_client({'api_version': '1.43'})
    assert 'at least 1.44' in result['msg']


def test_client_requested_api_version_too_old_fails_before_connecting(make_client):
    result = make_client({'api_version': '1.40'})
    assert 'older than 1.41' in result['msg']
    assert FakeAPIClient.instances == []


def test_client_engine_too_old(make_client):
    FakeAPIClient.answer = dict(SERVER_VERSION, Version='19.03.15', ApiVersion='1.40')
    result = make_client()
    msg = result['msg']
    assert_one_line(msg)
    assert 'speaks Docker API 1.40' in msg and '19.03.15' in msg and 'older than 1.41' in msg
    assert 'Upgrade the engine to Docker Engine 20.10 or newer' in msg


def test_client_module_may_require_newer_api(make_client):
    FakeAPIClient.answer = dict(SERVER_VERSION, ApiVersion='1.41')
    result = make_client(min_api_version='1.43')
    assert 'older than 1.43' in result['msg'] and 'Docker Engine 24.0' in result['msg']


def test_client_min_api_version_never_below_collection_minimum(make_client):
    FakeAPIClient.answer = dict(SERVER_VERSION, ApiVersion='1.40')
    result = make_client(min_api_version='1.24')
    assert 'older than 1.41' in result['msg']


def test_client_not_a_docker_engine(make_client):
    FakeAPIClient.answer = {'hello': 'world'}
    result = make_client()
    assert 'does not answer like a Docker engine' in result['msg']


@pytest.mark.parametrize('factory, expected', [
    (refused_error, 'Cannot reach the Docker engine at tcp://127.0.0.1:1: connection refused.'),
    (cert_verify_error, 'TLS connection to the Docker engine at tcp://127.0.0.1:1 failed'),
    (lambda: _api_error('x', 404, 'page not found'), 'The Docker engine at tcp://127.0.0.1:1 could not tell its version (HTTP 404)'),
    (lambda: ValueError('Expecting value: line 1 column 1'), 'does not answer like a Docker engine'),
])
def test_client_connection_errors(make_client, factory, expected):
    FakeAPIClient.error = factory()
    result = make_client({'docker_host': 'tcp://127.0.0.1:1'})
    assert_one_line(result['msg'])
    assert expected in result['msg']
    assert result['changed'] is False


def test_client_invalid_docker_host_fails_before_connecting(make_client):
    result = make_client({'docker_host': 'ftp://x'})
    assert result['msg'].startswith('docker_host ftp://x uses the unsupported scheme ftp')
    assert FakeAPIClient.instances == []


def test_client_invalid_timeout(make_client):
    result = make_client({'timeout': 0})
    assert 'timeout must be a positive number' in result['msg']


def test_client_sdk_missing(monkeypatch, make_client):
    monkeypatch.setattr(dc, 'HAS_DOCKER', False)
    monkeypatch.setattr(dc, 'DOCKER_IMPORT_ERROR', 'Traceback: No module named docker')
    result = make_client()
    assert result['msg'] == missing_required_lib('docker')
    assert result['exception'] == 'Traceback: No module named docker'
    assert FakeAPIClient.instances == []


def test_client_tls_without_verification(make_client):
    client = make_client({'docker_host': 'tcp://127.0.0.1:2376', 'tls': True})
    tls = FakeAPIClient.instances[-1].tls
    assert isinstance(tls, docker.tls.TLSConfig)
    assert tls.verify is False and tls.ca_cert is None
    assert client.tls is True


def test_client_tls_with_verification(tmp_path, make_client):
    ca = tmp_path / 'ca.pem'
    ca.write_text('not really a certificate')
    make_client({'docker_host': 'tcp://127.0.0.1:2376', 'validate_certs': True, 'ca_path': str(ca)})
    tls = FakeAPIClient.instances[-1].tls
    assert tls.verify is True and tls.ca_cert == str(ca)


def test_client_https_address_turns_tls_on(make_client):
    client = make_client({'docker_host': 'https://127.0.0.1'})
    assert client.docker_host == 'https://127.0.0.1:2376'
    assert FakeAPIClient.instances[-1].base_url == 'tcp://127.0.0.1:2376'
    assert isinstance(FakeAPIClient.instances[-1].tls, docker.tls.TLSConfig)


def test_client_tls_missing_ca_file(tmp_path, make_client):
    result = make_client({'docker_host': 'tcp://127.0.0.1:2376', 'validate_certs': True, 'ca_path': str(tmp_path / 'nope.pem')})
    assert 'ca_path' in result['msg'] and 'does not exist' in result['msg']
    assert FakeAPIClient.instances == []


def test_client_cert_without_key(tmp_path, make_client):
    cert = tmp_path / 'cert.pem'
    cert.write_text('x')
    result = make_client({'docker_host': 'tcp://127.0.0.1:2376', 'tls': True, 'client_cert': str(cert)})
    assert 'client_cert and client_key must be given together' in result['msg']


def test_fail_keeps_partial_results(make_client, module_exits):
    client = make_client()
    with pytest.raises(module_exits[1]) as failure:
        client.fail('first line\nsecond line', changed=True, containers=['a'])
    assert failure.value.result == {'msg': 'first line second line', 'changed': True, 'containers': ['a'], 'failed': True}


def test_api_errors_maps_engine_errors(make_client, module_exits):
    client = make_client()
    with pytest.raises(module_exits[1]) as failure:
        with client.api_errors('list the images', images=[]):
            raise _api_error('x', 500, 'disk full')
    result = failure.value.result
    assert result['msg'] == 'The Docker engine at unix:///var/run/docker.sock could not list the images (HTTP 500): disk full'
    assert result['images'] == [] and result['changed'] is False


def test_api_errors_maps_connection_errors(make_client, module_exits):
    client = make_client()
    with pytest.raises(module_exits[1]) as failure:
        with client.api_errors('list the images'):
            raise missing_socket_error()
    assert 'the socket file does not exist' in failure.value.result['msg']


def test_api_errors_lets_results_through(make_client):
    client = make_client()
    with client.api_errors('do nothing'):
        value = 42
    assert value == 42


def test_close(make_client):
    client = make_client()
    client.close()
    assert FakeAPIClient.instances[-1].closed is True


# --- a client for a given engine (for_engine) ---------------------------------------------------------


@pytest.fixture
def for_engine(module_exits, module_args, clean_docker_env, fake_api):
    """Build a client with ``DockerClient.for_engine`` for a module without the common options; return it, or the failure."""
    module_fail = module_exits[1]

    def make(docker_host, **kwargs):
        with module_args({'name': 'x'}):
            module = dc.AnsibleModule(argument_spec=dict(name=dict(type='str')), supports_check_mode=True)
        try:
            return dc.DockerClient.for_engine(module, docker_host, **kwargs)
        except module_fail as failure:
            return failure.result

    return make


def test_for_engine_connects_and_negotiates(for_engine):
    client = for_engine('unix:///run/other.sock', timeout=7)
    assert isinstance(client, dc.DockerClient), client
    api = FakeAPIClient.instances[-1]
    assert api.base_url == 'unix:///run/other.sock' and api.timeout == 7 and api.tls is False
    assert api.calls == [('version', False)]
    assert client.api is api and client.api_version == '1.43'
    assert client.docker_host == 'unix:///run/other.sock'
    assert client.module.params['name'] == 'x'
    assert client.params['docker_host'] == 'unix:///run/other.sock'  # the connection settings, not the module's options
    assert client.check_mode is False


def test_for_engine_reads_no_environment(tmp_path, monkeypatch, for_engine):
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        (tmp_path / name).write_text('x')
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path))
    monkeypatch.setenv('DOCKER_HOST', 'tcp://192.0.2.1:2375')
    monkeypatch.setenv('DOCKER_API_VERSION', '1.41')
    client = for_engine('https://127.0.0.1:2376')
    tls = FakeAPIClient.instances[-1].tls
    assert FakeAPIClient.instances[-1].base_url == 'tcp://127.0.0.1:2376'
    assert tls.cert is None and tls.verify is False
    assert client.cert_paths == dict(ca_path=None, client_cert=None, client_key=None)
    assert client.api_version == '1.43'


def test_for_engine_tls_settings(tmp_path, for_engine):
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        (tmp_path / name).write_text('x')
    client = for_engine('https://127.0.0.1:2376', tls=True, validate_certs=True, ca_path=str(tmp_path / 'ca.pem'),
                        client_cert=str(tmp_path / 'cert.pem'), client_key=str(tmp_path / 'key.pem'))
    tls = FakeAPIClient.instances[-1].tls
    assert tls.verify is True and tls.ca_cert == str(tmp_path / 'ca.pem')
    assert tls.cert == (str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem'))
    assert client.tls is True


def test_for_engine_failures_carry_prefix_and_partial_results(for_engine):
    FakeAPIClient.error = refused_error()
    result = for_engine('tcp://127.0.0.1:1', fail_prefix='garbage_collect.docker_host', partial_results=dict(changed=True, deleted=['a']))
    assert_one_line(result['msg'])
    assert result['msg'] == ('garbage_collect.docker_host: Cannot reach the Docker engine at tcp://127.0.0.1:1: connection refused. '
                             'Check docker_host (or DOCKER_HOST) and that the engine is running.')
    assert result['changed'] is True and result['deleted'] == ['a']


def test_for_engine_invalid_address_fails_before_connecting(for_engine):
    result = for_engine('ftp://x', fail_prefix='in_use_hosts')
    assert result['msg'].startswith('in_use_hosts: docker_host ftp://x uses the unsupported scheme ftp')
    assert result['changed'] is False
    assert FakeAPIClient.instances == []


def test_for_engine_client_fails_later_with_prefix_and_partial_results(for_engine, module_exits):
    client = for_engine('unix:///run/other.sock', fail_prefix='in_use_hosts', partial_results=dict(kept=[]))
    with pytest.raises(module_exits[1]) as failure:
        with client.api_errors('list its containers', deleted=[]):
            raise _api_error('x', 500, 'disk full')
    assert failure.value.result == {
        'msg': 'in_use_hosts: The Docker engine at unix:///run/other.sock could not list its containers (HTTP 500): disk full',
        'kept': [], 'deleted': [], 'changed': False, 'failed': True}


def test_for_engine_sdk_missing(monkeypatch, for_engine):
    monkeypatch.setattr(dc, 'HAS_DOCKER', False)
    result = for_engine('unix:///run/other.sock', fail_prefix='in_use_hosts')
    assert result['msg'] == 'in_use_hosts: ' + missing_required_lib('docker')
    assert FakeAPIClient.instances == []


def test_for_engine_invalid_timeout(for_engine):
    result = for_engine('unix:///run/other.sock', timeout=0)
    assert 'timeout must be a positive number' in result['msg']
    assert FakeAPIClient.instances == []
