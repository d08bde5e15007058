# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the private image module_utils (no Docker engine needed)."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_image as di

DIGEST_A = 'sha256:' + 'a' * 64
DIGEST_B = 'sha256:' + 'b' * 64


# --- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize('ref, expected', [
    ('nginx', ('docker.io', 'library/nginx', None, None)),
    ('nginx:1.25', ('docker.io', 'library/nginx', '1.25', None)),
    ('user/app:v1', ('docker.io', 'user/app', 'v1', None)),
    ('127.0.0.1:5000/apps/web', ('127.0.0.1:5000', 'apps/web', None, None)),
    ('127.0.0.1:5000/apps/web:1.4', ('127.0.0.1:5000', 'apps/web', '1.4', None)),
    ('localhost/web:2', ('localhost', 'web', '2', None)),
    ('registry.example.com/team/app@' + DIGEST_A, ('registry.example.com', 'team/app', None, DIGEST_A)),
    ('registry.example.com:443/a/b/c:tag@' + DIGEST_B, ('registry.example.com:443', 'a/b/c', 'tag', DIGEST_B)),
    ('hnatest-h-1-web:build', ('docker.io', 'library/hnatest-h-1-web', 'build', None)),
])
def test_parse_reference(ref, expected):
    assert tuple(di.parse_reference(ref)) == expected


@pytest.mark.parametrize('ref', ['', 'Upper/case', 'web:bad tag', 'web@sha256:xyz', 'a//b', '127.0.0.1:5000/web:', '-web'])
def test_parse_reference_refuses(ref):
    with pytest.raises(ValueError):
        di.parse_reference(ref)


@pytest.mark.parametrize('ref, name, tagged', [
    ('docker.io/library/nginx', 'nginx', 'nginx:latest'),
    ('nginx:1', 'nginx', 'nginx:1'),
    ('docker.io/user/app:2', 'user/app', 'user/app:2'),
    ('127.0.0.1:5000/apps/web', '127.0.0.1:5000/apps/web', '127.0.0.1:5000/apps/web:latest'),
])
def test_repository_name_and_tagged_name(ref, name, tagged):
    assert di.repository_name(ref) == name
    assert di.tagged_name(ref) == tagged


def test_registry_of():
    assert di.registry_of('127.0.0.1:5000/apps/web:1') == '127.0.0.1:5000'
    assert di.registry_of('apps/web:1') == 'docker.io'


# --- digests and decisions -------------------------------------------------------------------------


IMAGE = {
    'Id': 'sha256:' + 'c' * 64,
    'RepoDigests': [
        '127.0.0.1:5000/apps/web@' + DIGEST_A,
        '127.0.0.1:5001/apps/web@' + DIGEST_B,
        'nginx@' + DIGEST_B,
    ],
}


def test_local_digests_per_repository():
    assert di.local_digests(IMAGE, '127.0.0.1:5000/apps/web') == {DIGEST_A}
    assert di.local_digests(IMAGE, '127.0.0.1:5000/apps/web:1') == {DIGEST_A}
    assert di.local_digests(IMAGE, '127.0.0.1:5001/apps/web') == {DIGEST_B}
    assert di.local_digests(IMAGE, 'docker.io/library/nginx') == {DIGEST_B}
    assert di.local_digests(IMAGE, '127.0.0.1:5000/apps/other') == set()
    assert di.local_digests(None, 'nginx') == set()
    assert di.local_digests({'RepoDigests': None}, 'nginx') == set()


def test_push_needed():
    repo = '127.0.0.1:5000/apps/web'
    assert not di.push_needed(IMAGE, repo, DIGEST_A)
    assert di.push_needed(IMAGE, repo, DIGEST_B)  # the tag points to another manifest
    assert di.push_needed(IMAGE, repo, None)  # the tag does not exist in the registry
    assert di.push_needed(IMAGE, '127.0.0.1:5000/apps/other', DIGEST_A)  # never pushed there
    assert di.push_needed(None, repo, DIGEST_A)  # image not there yet (check mode)


def test_pull_needed():
    repo = '127.0.0.1:5000/apps/web'
    assert not di.pull_needed(IMAGE, repo, DIGEST_A)
    assert di.pull_needed(IMAGE, repo, DIGEST_A, force=True)
    assert di.pull_needed(IMAGE, repo, DIGEST_B)
    assert di.pull_needed(None, repo, DIGEST_A)


def test_short_id():
    assert di.short_id('sha256:0123456789abcdef') == '0123456789ab'
    assert di.short_id(None) == ''


# --- JSON streams --------------------------------------------------------------------------------


def test_event_error():
    assert di.event_error({'status': 'Pushed'}) is None
    assert di.event_error({'errorDetail': {'message': 'no basic\nauth credentials'}, 'error': 'x'}) == 'no basic auth credentials'
    assert di.event_error({'error': 'denied: requested access'}) == 'denied: requested access'
    assert di.event_error('not a dict') is None


def test_follow_stream_detects_errors_reported_with_http_200():
    events = [
        {'status': 'The push refers to repository [127.0.0.1:5000/apps/web]'},
        {'status': 'Preparing', 'id': 'abc'},
        {'errorDetail': {'message': 'no basic auth credentials'}, 'error': 'no basic auth credentials'},
        {'status': 'never read'},
    ]
    seen = []
    aux, error = di.follow_stream(iter(events), on_event=seen.append)
    assert error == 'no basic auth credentials'
    assert aux == {}
    assert len(seen) == 3


def test_follow_stream_returns_the_digest():
    events = [
        {'status': 'Pushed', 'id': 'abc'},
        {'status': '1: digest: %s size: 527' % DIGEST_A},
        {'progressDetail': {}, 'aux': {'Tag': '1', 'Digest': DIGEST_A, 'Size': 527}},
    ]
    aux, error = di.follow_stream(events)
    assert error is None
    assert aux['Digest'] == DIGEST_A


def test_build_log_reports_the_failing_step():
    log = di.BuildLog()
    for event in [
        {'stream': 'Step 1/3 : FROM hnatest/busybox:1\n'},
        {'stream': ' ---> 5f1c2f8ee36d\n'},
        {'stream': 'Step 2/3 : RUN echo building && false\n'},
        {'stream': ' ---> Running in 0123\n'},
        {'stream': 'buil'},
        {'stream': 'ding\n'},
        {'errorDetail': {'code': 1, 'message': "The command '/bin/sh -c echo building && false' returned a non-zero code: 1"},
         'error': 'ignored'},
    ]:
        log.feed(event)
    log.finish()
    assert log.step == 'Step 2/3 : RUN echo building && false'
    message = log.failure_message('web:1 from /src')
    assert message.startswith('Building web:1 from /src failed at Step 2/3 : RUN echo building && false: The command')
    assert 'returned a non-zero code: 1' in message
    assert message.endswith('Output of the step: building')
    assert '\n' not in message


def test_build_log_finds_the_image_id():
    log = di.BuildLog()
    log.feed({'stream': 'Step 1/1 : FROM busybox\n'})
    log.feed({'aux': {'ID': 'sha256:' + 'd' * 64}})
    log.feed({'stream': 'Successfully built dddddddddddd\n'})
    assert log.image_id == 'sha256:' + 'd' * 64
    assert log.error is None
    other = di.BuildLog()
    other.feed({'stream': 'Successfully built 0123456789ab\n'})
    assert other.image_id == '0123456789ab'


def test_build_log_keeps_the_last_lines():
    log = di.BuildLog(keep=3)
    for number in range(10):
        log.feed({'stream': 'line %d\n' % number})
    assert log.lines == ['line 7', 'line 8', 'line 9']


# --- .dockerignore -------------------------------------------------------------------------------


IGNORE = """
# comment
node_modules
*.tmp
**/*.log
docs/**
!docs/keep.md
/build/
sub/?.txt
[ab].bin
"""


@pytest.mark.parametrize('path, excluded', [
    ('node_modules', True),
    ('node_modules/pkg/index.js', True),
    ('src/node_modules', False),
    ('scratch.tmp', True),
    ('src/scratch.tmp', False),
    ('app.log', True),
    ('src/deep/app.log', True),
    ('docs/guide.md', True),
    ('docs/keep.md', False),
    ('build/out.o', True),
    ('buildx', False),
    ('sub/a.txt', True),
    ('sub/ab.txt', False),
    ('a.bin', True),
    ('c.bin', False),
    ('Dockerfile', False),
    ('./node_modules/x', True),
])
def test_dockerignore_matching(path, excluded):
    assert di.is_excluded(path, di.parse_dockerignore(IGNORE)) is excluded


def test_dockerignore_later_patterns_win():
    patterns = di.parse_dockerignore('!keep.txt\n*.txt\n')
    assert di.is_excluded('keep.txt', patterns)
    patterns = di.parse_dockerignore('*.txt\n!keep.txt\n')
    assert not di.is_excluded('keep.txt', patterns)


def test_dockerignore_unclosed_class():
    with pytest.raises(ValueError):
        di.parse_dockerignore('[abc\n')


def _tree(tmp_path, files):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def test_build_context_honours_dockerignore(tmp_path):
    _tree(tmp_path, {
        'Dockerfile': 'FROM scratch\n',
        '.dockerignore': 'secret\n*.tmp\nDockerfile\n.dockerignore\n',
        'app.txt': 'app',
        'secret/key': 'key',
        'junk.tmp': 'junk',
        'src/main.c': 'int main;',
    })
    fileobj, digest = di.build_context(str(tmp_path))
    with tarfile.open(fileobj=fileobj) as archive:
        names = sorted(archive.getnames())
        member = archive.getmember('app.txt')
        assert archive.extractfile(member).read() == b'app'
        assert member.uid == 0 and member.uname == ''
    assert names == ['.dockerignore', 'Dockerfile', 'app.txt', 'src', 'src/main.c']
    assert len(digest) == 64


def test_build_context_hash_follows_content_only(tmp_path):
    _tree(tmp_path, {'Dockerfile': 'FROM scratch\n', '.dockerignore': 'ignored\n', 'app.txt': 'one', 'ignored/x': '1'})
    dummy, first = di.build_context(str(tmp_path))
    (tmp_path / 'ignored' / 'x').write_text('2')
    dummy, second = di.build_context(str(tmp_path))
    assert first == second
    (tmp_path / 'app.txt').write_text('two')
    dummy, third = di.build_context(str(tmp_path))
    assert third != first


def test_build_context_errors(tmp_path):
    with pytest.raises(di.ImageError, match='does not exist or is not a directory'):
        di.build_context(str(tmp_path / 'missing'))
    with pytest.raises(di.ImageError, match='The Dockerfile Dockerfile does not exist'):
        di.build_context(str(tmp_path))


def test_build_inputs_hash():
    base = di.build_inputs_hash('ctx', 'Dockerfile', {'A': '1'}, 'stage', {'l': 'v'})
    assert base == di.build_inputs_hash('ctx', 'Dockerfile', {'A': '1'}, 'stage', {'l': 'v'})
    assert base != di.build_inputs_hash('ctx', 'Dockerfile', {'A': '2'}, 'stage', {'l': 'v'})
    assert base != di.build_inputs_hash('ctx', 'Dockerfile', {'A': '1'}, None, {'l': 'v'})
    assert base != di.build_inputs_hash('other', 'Dockerfile', {'A': '1'}, 'stage', {'l': 'v'})


# --- credentials ---------------------------------------------------------------------------------


def _auth(user, password):
    return base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


def test_find_auth():
    config = {'auths': {
        '127.0.0.1:5000': {'auth': _auth('ci', 'pa:ss')},
        'https://registry.example.com/v2/': {'username': 'u', 'password': 'p'},
        'https://index.docker.io/v1/': {'auth': _auth('hub', 'h')},
        'empty.example.com': {},
    }}
    assert di.find_auth(config, '127.0.0.1:5000') == {'username': 'ci', 'password': 'pa:ss', 'serveraddress': '127.0.0.1:5000'}
    assert di.find_auth(config, 'registry.example.com')['username'] == 'u'
    assert di.find_auth(config, 'docker.io')['username'] == 'hub'
    assert di.find_auth(config, '127.0.0.1:5001') is None
    assert di.find_auth(config, 'empty.example.com') is None
    assert di.find_auth({}, '127.0.0.1:5000') is None


def test_find_auth_refuses_bad_entries():
    with pytest.raises(di.ImageError, match='not of the form user:password'):
        di.find_auth({'auths': {'r.example.com': {'auth': base64.b64encode(b'nocolon').decode()}}}, 'r.example.com')


def test_load_auth(tmp_path):
    path = tmp_path / 'config.json'
    assert di.load_auth(str(path), '127.0.0.1:5000') is None
    path.write_text(json.dumps({'auths': {'127.0.0.1:5000': {'auth': _auth('a', 'b')}}}))
    assert di.load_auth(str(path), '127.0.0.1:5000')['password'] == 'b'
    path.write_text('{not json')
    with pytest.raises(di.ImageError, match='Cannot read the Docker client configuration'):
        di.load_auth(str(path), '127.0.0.1:5000')


def test_default_config_path():
    assert di.default_config_path({'DOCKER_CONFIG': '/etc/dockercfg'}) == '/etc/dockercfg/config.json'
    assert di.default_config_path({}).endswith('/.docker/config.json')


def test_image_facts():
    facts = di.image_facts({'Id': 'sha256:1', 'RepoTags': ['a:1'], 'RepoDigests': None, 'Size': 3, 'Created': 'now',
                            'Config': {'Labels': None}})
    assert facts == {'id': 'sha256:1', 'tags': ['a:1'], 'repo_digests': [], 'size': 3, 'created': 'now', 'labels': {}}
    assert di.image_facts(None) == {}


def test_context_is_a_readable_stream(tmp_path):
    _tree(tmp_path, {'Dockerfile': 'FROM scratch\n'})
    fileobj, dummy = di.build_context(str(tmp_path))
    assert isinstance(fileobj, io.BytesIO)
    assert fileobj.tell() == 0
