# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the registry client helpers (pure), and of the bearer token flow against a fake registry."""

from __future__ import annotations

import base64
import json
import threading

from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _registry as registry
from ansible_collections.hna.cloudos.plugins.module_utils._registry import RegistryError


# -- registry_url ------------------------------------------------------------------------------------

@pytest.mark.parametrize('value, base_url, key', [
    ('registry.example.com:5000', 'https://registry.example.com:5000', 'registry.example.com:5000'),
    ('https://registry.example.com', 'https://registry.example.com', 'registry.example.com'),
    ('https://registry.example.com:443/v2/', 'https://registry.example.com:443', 'registry.example.com:443'),
    ('http://127.0.0.1:5000/', 'http://127.0.0.1:5000', '127.0.0.1:5000'),
    ('  127.0.0.1:5000 ', 'https://127.0.0.1:5000', '127.0.0.1:5000'),
    ('[::1]:5000', 'https://[::1]:5000', '[::1]:5000'),
    ('docker.io', 'https://registry-1.docker.io', 'https://index.docker.io/v1/'),
])
def test_parse_registry_url(value, base_url, key):
    address = registry.parse_registry_url(value)
    assert address.base_url == base_url
    assert address.config_key == key


@pytest.mark.parametrize('value, needle', [
    ('', 'empty'),
    ('ftp://example.com', 'unsupported scheme'),
    ('https://user:secret@example.com', 'must not contain credentials'),
    ('example.com/some/path', 'must not contain a path'),
    ('example.com:99999', 'not a valid address'),
])
def test_parse_registry_url_errors(value, needle):
    with pytest.raises(RegistryError) as exc:
        registry.parse_registry_url(value)
    assert needle in str(exc.value)
    assert 'secret' not in str(exc.value)


# -- WWW-Authenticate and Link -------------------------------------------------------------------------

def test_parse_www_authenticate_bearer():
    header = ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
              'scope="repository:team/app:pull,push"')
    scheme, params = registry.parse_www_authenticate(header)
    assert scheme == 'bearer'
    assert params == {'realm': 'https://auth.example.com/token', 'service': 'registry.example.com',
                      'scope': 'repository:team/app:pull,push'}


@pytest.mark.parametrize('header, scheme, params', [
    ('Basic realm="hnatest-registry"', 'basic', {'realm': 'hnatest-registry'}),
    ('basic realm=plain', 'basic', {'realm': 'plain'}),
    ('Bearer realm="a\\"b", error="invalid_token"', 'bearer', {'realm': 'a"b', 'error': 'invalid_token'}),
    ('', None, {}),
    (None, None, {}),
])
def test_parse_www_authenticate_variants(header, scheme, params):
    assert registry.parse_www_authenticate(header) == (scheme, params)


@pytest.mark.parametrize('header, expected', [
    ('</v2/_catalog?last=b&n=2>; rel="next"', 'https://r.example.com/v2/_catalog?last=b&n=2'),
    ('<https://other.example.com/v2/x/tags/list?last=1>; rel=next', 'https://other.example.com/v2/x/tags/list?last=1'),
    ('</v2/_catalog?last=a>; rel="prev", </v2/_catalog?last=z>; rel="next"', 'https://r.example.com/v2/_catalog?last=z'),
    ('</v2/_catalog?last=a>; rel="prev"', None),
    ('', None),
    (None, None),
])
def test_parse_link_next(header, expected):
    assert registry.parse_link_next(header, 'https://r.example.com/v2/_catalog?n=2') == expected


def test_auth_round_trip_and_config_lookup():
    value = registry.encode_auth('user', 'pa:ss')
    assert registry.decode_auth(value) == ('user', 'pa:ss')
    assert registry.decode_auth('not base64!') == (None, None)
    address = registry.parse_registry_url('127.0.0.1:5000')
    config = {'auths': {'https://127.0.0.1:5000': {'auth': value}}}
    assert registry.read_config_credentials(config, address) == ('user', 'pa:ss')
    assert registry.read_config_credentials({'auths': {}}, address) == (None, None)


# -- prune selection -----------------------------------------------------------------------------------

def tag(name, digest, created):
    return dict(tag=name, digest=digest, created=created)


TAGS = [
    tag('1', 'sha256:a', '2024-01-01T00:00:01Z'),
    tag('2', 'sha256:b', '2024-01-01T00:00:02Z'),
    tag('3', 'sha256:c', '2024-01-01T00:00:03Z'),
    tag('4', 'sha256:d', '2024-01-01T00:00:04Z'),
    tag('old-alias', 'sha256:d', '2024-01-01T00:00:04Z'),
    tag('v1.0', 'sha256:e', '2023-01-01T00:00:00Z'),
    tag('nodate', 'sha256:f', None),
]


def by_digest(items):
    return dict((item['digest'], item) for item in items)


def test_select_keep_last_only():
    deleted, kept = registry.select_prune(TAGS, keep_last=2)
    # The two newest tags are 4 and old-alias (same time, same digest d), so only d is kept.
    assert [item['digest'] for item in kept] == ['sha256:d']
    assert [item['digest'] for item in deleted] == ['sha256:a', 'sha256:b', 'sha256:c', 'sha256:e', 'sha256:f']


def test_select_ties_broken_by_name_and_unknown_time_is_oldest():
    deleted, kept = registry.select_prune(TAGS, keep_last=3)
    assert sorted(item['digest'] for item in kept) == ['sha256:c', 'sha256:d']
    assert 'sha256:f' in [item['digest'] for item in deleted]


def test_a_kept_tag_keeps_its_digest_and_every_tag_of_it():
    patterns = registry.compile_patterns(['old-.*'], 'keep_patterns')
    deleted, kept = registry.select_prune(TAGS, keep_last=0, keep_patterns=patterns)
    kept_d = by_digest(kept)['sha256:d']
    assert kept_d['tags'] == ['4', 'old-alias']
    assert kept_d['reasons'] == ['tag old-alias matches keep pattern old-.*']
    assert 'sha256:d' not in by_digest(deleted)


def test_patterns_match_the_whole_tag():
    patterns = registry.compile_patterns(['v1'], 'keep_patterns')
    deleted, _kept = registry.select_prune(TAGS, keep_last=0, keep_patterns=patterns)
    assert 'sha256:e' in by_digest(deleted)


def test_never_delete_in_use_or_protected():
    in_use = {'sha256:a': ['container web on unix:///var/run/docker.sock']}
    deleted, kept = registry.select_prune(TAGS, keep_last=1, protected_digests=['sha256:b'], in_use=in_use)
    kept_map = by_digest(kept)
    assert kept_map['sha256:a']['reasons'] == ['in use by container web on unix:///var/run/docker.sock']
    assert kept_map['sha256:b']['reasons'] == ['protected digest']
    assert set(by_digest(deleted)) == {'sha256:c', 'sha256:e', 'sha256:f'}


def test_platform_manifests_of_a_kept_index_stay():
    tags = [tag('multi', 'sha256:index', '2024-01-02T00:00:00Z'), tag('amd64-only', 'sha256:a', '2024-01-01T00:00:00Z'),
            tag('unrelated', 'sha256:z', '2024-01-01T00:00:00Z')]
    deleted, kept = registry.select_prune(tags, keep_last=1, children={'sha256:index': ['sha256:a', 'sha256:b']})
    assert by_digest(kept)['sha256:a']['reasons'] == ['platform manifest of the kept index sha256:index']
    assert [item['digest'] for item in deleted] == ['sha256:z']
    # When the index goes, so may its platform manifests.
    deleted, kept = registry.select_prune(tags, keep_last=0, children={'sha256:index': ['sha256:a']})
    assert kept == []


def test_every_digest_is_either_kept_or_deleted():
    deleted, kept = registry.select_prune(TAGS, keep_last=100)
    assert deleted == []
    assert len(kept) == 6


def test_invalid_pattern_names_the_option():
    with pytest.raises(RegistryError, match='keep_patterns'):
        registry.compile_patterns(['('], 'keep_patterns')


# -- a fake token-auth registry ------------------------------------------------------------------------

class FakeRegistry(BaseHTTPRequestHandler):
    """Registry with bearer token auth (token service on the same server), paginated catalog and tags."""

    repositories = ['a/one', 'b/two', 'c/three']
    tags = {'a/one': ['1', '2', '3']}
    user, password, token = 'bob', 's3cret-pass', 'tok-123'
    requests = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b''
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (BaseHTTPRequestHandler API)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        auth = self.headers.get('Authorization') or ''
        self.requests.append((parts.path, query, auth))
        if parts.path == '/token':
            expected = 'Basic ' + base64.b64encode(('%s:%s' % (self.user, self.password)).encode()).decode()
            if auth != expected:
                return self._send(401, {'errors': [{'code': 'UNAUTHORIZED'}]})
            return self._send(200, {'token': self.token})
        if auth != 'Bearer ' + self.token:
            challenge = 'Bearer realm="http://%s/token",service="fake"' % self.headers['Host']
            return self._send(401, {'errors': [{'code': 'UNAUTHORIZED'}]}, {'WWW-Authenticate': challenge})
        if parts.path == '/v2/':
            return self._send(200, {}, {'Docker-Distribution-API-Version': 'registry/2.0'})
        if parts.path == '/v2/_catalog':
            return self._page(self.repositories, query, '/v2/_catalog', 'repositories')
        if parts.path == '/v2/a/one/tags/list':
            return self._page(self.tags['a/one'], query, '/v2/a/one/tags/list', 'tags', name='a/one')
        return self._send(404, {'errors': [{'code': 'NAME_UNKNOWN', 'message': 'repository name not known to registry'}]})

    def do_DELETE(self):  # noqa: N802 (BaseHTTPRequestHandler API)
        if self.headers.get('Authorization') != 'Bearer ' + self.token:
            challenge = 'Bearer realm="http://%s/token",service="fake",scope="repository:a/one:delete"' % self.headers['Host']
            return self._send(401, {'errors': [{'code': 'UNAUTHORIZED'}]}, {'WWW-Authenticate': challenge})
        return self._send(405, {'errors': [{'code': 'UNSUPPORTED', 'message': 'The operation is unsupported.'}]})

    def _page(self, items, query, path, key, **extra):
        size = 2
        last = query.get('last', [''])[0]
        rest = [item for item in items if item > last]
        page, more = rest[:size], len(rest) > size
        body = dict(extra)
        body[key] = page
        headers = {'Link': '<%s?n=%d&last=%s>; rel="next"' % (path, size, page[-1])} if more else {}
        return self._send(200, body, headers)


@pytest.fixture
def fake_registry():
    server = HTTPServer(('127.0.0.1', 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeRegistry.requests = []
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_bearer_flow_and_pagination(fake_registry):
    client = registry.RegistryClient(fake_registry, username='bob', password='s3cret-pass')
    assert client.check() is True
    assert client.catalog() == ['a/one', 'b/two', 'c/three']
    assert client.tags('a/one') == ['1', '2', '3']
    token_requests = [query for path, query, _auth in FakeRegistry.requests if path == '/token']
    assert {'service': ['fake'], 'account': ['bob']}.items() <= token_requests[0].items()
    assert ['registry:catalog:*'] in [query.get('scope') for query in token_requests]


def test_bearer_wrong_password_names_user_not_password(fake_registry):
    client = registry.RegistryClient(fake_registry, username='bob', password='wrong-pass')
    with pytest.raises(RegistryError) as exc:
        client.check()
    message = str(exc.value)
    assert 'refused the credentials of user bob' in message
    assert 'wrong-pass' not in message
    assert exc.value.status == 401


def test_unknown_repository_is_a_404(fake_registry):
    client = registry.RegistryClient(fake_registry, username='bob', password='s3cret-pass')
    with pytest.raises(RegistryError) as exc:
        client.tags('nope/missing')
    assert exc.value.status == 404
    assert 'nope/missing' in str(exc.value)


def test_delete_disabled_is_explained(fake_registry):
    client = registry.RegistryClient(fake_registry, username='bob', password='s3cret-pass')
    with pytest.raises(RegistryError) as exc:
        client.delete_manifest('a/one', 'sha256:' + '0' * 64)
    assert exc.value.status == 405
    assert 'deletes are disabled' in str(exc.value)
    assert 'storage.delete.enabled: true' in str(exc.value)
    token_scopes = [query.get('scope') for path, query, _auth in FakeRegistry.requests if path == '/token']
    assert ['repository:a/one:delete'] in token_scopes


def test_only_digests_are_deleted():
    client = registry.RegistryClient('http://127.0.0.1:1')
    with pytest.raises(RegistryError, match='not a digest'):
        client.delete_manifest('a/one', 'latest')


def test_unreachable_names_the_url():
    client = registry.RegistryClient('http://127.0.0.1:1', timeout=5)
    with pytest.raises(RegistryError, match=r'Cannot reach the registry at http://127\.0\.0\.1:1/v2/'):
        client.check()
