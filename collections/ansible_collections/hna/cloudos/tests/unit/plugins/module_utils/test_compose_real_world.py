# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Acceptance corpus: Compose files in the shape of well-known public examples (docker/awesome-compose, the official
image documentation), with ``build:`` replaced by ``image:``, read and checked by the whole Compose reader
(``load_definition`` then ``parse_stack``, which resolves include, extends, profiles, secrets and configs first).

Each file is in ``fixtures/compose/real-world/<example>/compose.yaml``, next to the files it names; a ``.env`` file there
holds its interpolation variables, as ``docker compose`` would read them. The examples the reader still refuses are
marked ``xfail(strict=True)`` with the keys that refuse them, so that this test turns red when they start passing.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _compose as compose
from ansible_collections.hna.cloudos.plugins.module_utils._compose import ComposeError

CORPUS = os.path.join(os.path.dirname(__file__), 'fixtures', 'compose', 'real-world')
NS = 'demo'
FILES_DIR = '/var/lib/hna-cloudos/stacks/demo'

#: example -> the services deployed.
ACCEPTED = {
    'django-postgres-secrets': ['db', 'web'],
    'extends-project': ['scheduler', 'web', 'worker'],
    'include-project': ['redis', 'redis-exporter', 'web'],
    'minio': ['minio'],
    'nginx-configs-content': ['web'],
    'profiles-project': ['app', 'db'],
    'redis-cluster': ['redis-node-%d' % number for number in range(6)],
    'traefik': ['reverse-proxy', 'whoami'],
    'elasticsearch-kibana': ['elasticsearch', 'kibana'],
    'gitea-postgres': ['db', 'server'],
    'nginx-flask-mysql': ['backend', 'db', 'proxy'],
    'portainer': ['portainer'],
    'postgresql-pgadmin': ['pgadmin', 'postgres'],
    'prometheus-grafana': ['grafana', 'prometheus'],
    'react-express-mongodb': ['backend', 'frontend', 'mongo'],
    'wordpress-mariadb': ['db', 'wordpress'],
}

#: example -> the service keys, left to the per-service options of the Compose reader, that still refuse it.
REFUSED = {
    'nextcloud': ('links', ),
}


def read_example(example, profiles=None):
    directory = os.path.join(CORPUS, example)
    variables = compose.read_env_files(['.env'], directory) if os.path.exists(os.path.join(directory, '.env')) else {}
    document = compose.load_definition(path=os.path.join(directory, 'compose.yaml'))
    return compose.parse_stack(document, NS, variables, base_dir=directory, profiles=profiles, files_dir=FILES_DIR)


def test_the_corpus_is_complete():
    examples = sorted(name for name in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, name, 'compose.yaml')))
    assert examples == sorted(list(ACCEPTED) + list(REFUSED))
    assert len(examples) >= 15


@pytest.mark.parametrize('example', sorted(ACCEPTED))
def test_accepted(example):
    result = read_example(example)
    assert sorted(result['services']) == ACCEPTED[example]
    for service in result['services'].values():
        for spec in service['specs']:
            # Named <namespace>-<service> unless the file sets container_name, which Compose honours as it is.
            assert spec['name'].startswith('demo-') or spec['name'] == read_raw(example)['services'][service['name']].get('container_name')
            assert spec['labels']['io.hna.cloudos.namespace'] == 'demo'


def read_raw(example):
    return compose.load_definition(path=os.path.join(CORPUS, example, 'compose.yaml'))


def refused_example(example):
    """Read the example; a refusal for another reason than its known keys fails the test for real."""
    try:
        read_example(example)
    except ComposeError as exc:
        if not any("'%s'" % key in str(exc) for key in REFUSED[example]):
            raise AssertionError('%s is refused for another reason: %s' % (example, exc))
        raise


@pytest.mark.parametrize('example', [
    pytest.param(example, marks=pytest.mark.xfail(strict=True, raises=ComposeError, reason='service keys %s' % ', '.join(keys)))
    for example, keys in sorted(REFUSED.items())
])
def test_refused_for_per_service_keys_only(example):
    refused_example(example)


@pytest.mark.parametrize('example', sorted(REFUSED))
def test_refused_only_for_those_keys(example, monkeypatch):
    """Without its known per-service keys, each refused example passes: nothing else in it is refused."""
    load_definition = compose.load_definition

    def without_keys(*args, **kwargs):
        document = load_definition(*args, **kwargs)
        for definition in document['services'].values():
            for key in REFUSED[example]:
                definition.pop(key, None)
        return document

    monkeypatch.setattr(compose, 'load_definition', without_keys)
    assert read_example(example)['services']


# --- what the document-level rules did to some of them -------------------------------------------------------


def test_unquoted_port_mappings_are_not_sexagesimal():
    spec = read_example('traefik')['services']['reverse-proxy']['specs'][0]
    assert sorted(port['host_port'] for port in spec['ports']) == [80, 8080]
    minio = read_example('minio')['services']['minio']['specs'][0]
    assert sorted((port['host_port'], port['container_port']) for port in minio['ports']) == [(9000, 9000), (9001, 9001)]


def test_redis_cluster_yes_stays_yes():
    env = read_example('redis-cluster')['services']['redis-node-5']['specs'][0]['env']
    assert env['REDIS_CLUSTER_CREATOR'] == 'yes' and env['REDIS_CLUSTER_REPLICAS'] == '1'
    assert env['REDIS_PASSWORD'] == 'bitnami'


def test_django_secrets():
    result = read_example('django-postgres-secrets')
    directory = os.path.join(CORPUS, 'django-postgres-secrets')
    web = result['services']['web']['specs'][0]
    mounts = sorted((mount['target'], mount['source'], mount['read_only']) for mount in web['mounts'])
    assert mounts == [
        ('/run/secrets/django_secret_key', FILES_DIR + '/secrets/django_secret_key-1000-1000-0440', True),
        ('/run/secrets/postgres_password', os.path.join(directory, 'secrets', 'postgres_password.txt'), True),
    ]
    assert result['files'] == [dict(kind='secret', name='django_secret_key', path=FILES_DIR + '/secrets/django_secret_key-1000-1000-0440',
                                    content='django-insecure-0123456789', mode=0o440, uid=1000, gid=1000)]
    assert 'SECRET_KEY' not in str(web['env'].keys() - {'SECRET_KEY_FILE'}) and web['env']['DEBUG'] == '0'


def test_minio_environment_secret():
    result = read_example('minio')
    assert [(item['path'], item['content'], item['mode']) for item in result['files']] == [
        (FILES_DIR + '/secrets/minio_root_password', 'minio-secret-0x1F', 0o400)]
    assert 'minio-secret-0x1F' not in repr(result['services'])


def test_nginx_configs_content():
    result = read_example('nginx-configs-content')
    contents = dict((item['name'], item['content']) for item in result['files'])
    assert contents['index'] == '<h1>demo</h1>'
    assert 'add_header X-Served-By $hostname;' in contents['default_site']
    targets = sorted(mount['target'] for mount in result['services']['web']['specs'][0]['mounts'])
    assert targets == ['/etc/nginx/conf.d/default.conf', '/usr/share/nginx/html/index.html']


def test_include_project():
    result = read_example('include-project')
    directory = os.path.join(CORPUS, 'include-project')
    redis = result['services']['redis']['specs'][0]
    assert sorted(mount['source'] for mount in redis['mounts']) == sorted([os.path.join(directory, 'infra', 'redis.conf'), 'demo-redis-data'])
    assert result['services']['redis-exporter']['specs'][0]['image'] == 'oliver006/redis_exporter:v1.62.0'
    assert result['levels'] == [['redis'], ['redis-exporter', 'web']]


def test_extends_project():
    result = read_example('extends-project')
    directory = os.path.join(CORPUS, 'extends-project')
    web, worker, scheduler = (result['services'][name]['specs'][0] for name in ('web', 'worker', 'scheduler'))
    assert web['env'] == {'LOG_LEVEL': 'debug', 'CACHE_TTL': '300'}
    assert web['mounts'][0]['source'] == os.path.join(directory, 'static')
    assert worker['command'] == ['python', '-m', 'worker'] and worker['healthcheck']['test'] == ['CMD', 'true']
    assert scheduler['command'] == ['python', '-m', 'scheduler'] and scheduler['healthcheck']['test'] == ['CMD', 'true']
    assert scheduler['restart_policy']['name'] == 'unless-stopped'


@pytest.mark.parametrize('profiles, services, app_needs', [
    (None, ['app', 'db'], {'db': 'service_started'}),
    (['mail'], ['app', 'db', 'mailpit'], {'db': 'service_started'}),
    (['debug'], ['app', 'db', 'mailpit', 'phpmyadmin'], {'db': 'service_started', 'phpmyadmin': 'service_started'}),
])
def test_profiles_project(profiles, services, app_needs):
    result = read_example('profiles-project', profiles)
    assert sorted(result['services']) == services
    assert result['services']['app']['depends_on'] == app_needs
