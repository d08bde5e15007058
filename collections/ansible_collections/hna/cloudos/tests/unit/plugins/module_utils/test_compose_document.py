# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the document-level Compose rules: YAML 1.2, include, extends, profiles, secrets, configs, name
(pure: no Docker engine, no files but tmp_path)."""

from __future__ import annotations

import copy
import json
import os
import pickle
import textwrap

import pytest
import yaml

from ansible_collections.hna.cloudos.plugins.module_utils import _compose as compose
from ansible_collections.hna.cloudos.plugins.module_utils import _compose_document as document_utils
from ansible_collections.hna.cloudos.plugins.module_utils._compose import ComposeError

NS = 'shop'


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def load_and_parse(directory, text, name='compose.yaml', variables=None, **kwargs):
    """Write ``text`` as the Compose file, read it as the stack module does and parse it."""
    path = write(directory, name, text)
    document = compose.load_definition(path=path)
    return compose.parse_stack(document, NS, variables or {}, base_dir=os.path.dirname(path), **kwargs)


def parse(document, variables=None, **kwargs):
    return compose.parse_stack(document, NS, variables or {}, **kwargs)


def the_spec(result, service):
    specs = result['services'][service]['specs']
    assert len(specs) == 1
    return specs[0]


def refused(match, document, variables=None, **kwargs):
    with pytest.raises(ComposeError, match=match) as info:
        parse(document, variables, **kwargs)
    message = str(info.value)
    assert '\n' not in message
    return message


# --- YAML 1.2 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize('text, value, as_text', [
    ('22:22', '22:22', '22:22'),
    ('1:30', '1:30', '1:30'),
    ('0x1F', 31, '0x1F'),
    ('0o17', 15, '0o17'),
    ('010', 10, '010'),
    ('0755', 755, '0755'),
    ('-5', -5, '-5'),
    ('+5', 5, '+5'),
    ('1.10', 1.1, '1.10'),
    ('1e3', 1000.0, '1e3'),
    ('.5', 0.5, '.5'),
    ('yes', 'yes', 'yes'),
    ('no', 'no', 'no'),
    ('on', 'on', 'on'),
    ('off', 'off', 'off'),
    ('Yes', 'Yes', 'Yes'),
    ('y', 'y', 'y'),
    ('true', True, 'True'),
    ('True', True, 'True'),
    ('TRUE', True, 'True'),
    ('false', False, 'False'),
    ('tRUE', 'tRUE', 'tRUE'),
    ('~', None, 'None'),
    ('null', None, 'None'),
    ('NULL', None, 'None'),
    ('', None, 'None'),
    ('2001-12-14', '2001-12-14', '2001-12-14'),
    ('1_000', '1_000', '1_000'),
    ('0b101', '0b101', '0b101'),
    ('=', '=', '='),
])
def test_yaml_12_core_schema(text, value, as_text):
    loaded = compose.load_yaml_text('value: %s\n' % text)['value']
    assert loaded == value
    assert isinstance(loaded, bool) == isinstance(value, bool)
    assert str(loaded) == as_text


def test_yaml_numbers_keep_their_text_in_strings():
    result = parse(compose.load_yaml_text(textwrap.dedent('''
        services:
          web:
            image: busybox
            ports: [22:22, 8080:80]
            environment: {HEX: 0x1F, VERSION: 1.10, MODE: 0755, FLAG: yes, SWITCH: on, EMPTY: ~}
            labels: [plain=1]
            deploy: {replicas: 1}
            healthcheck: {test: "true", retries: 3}
        ''')), variables={'EMPTY': 'from-variables'})
    spec = the_spec(result, 'web')
    assert [(port['host_port'], port['container_port']) for port in spec['ports']] == [(22, 22), (8080, 80)]
    assert spec['env'] == {'HEX': '0x1F', 'VERSION': '1.10', 'MODE': '0755', 'FLAG': 'yes', 'SWITCH': 'on', 'EMPTY': 'from-variables'}


def test_yaml_numbers_still_work_as_numbers():
    result = parse(compose.load_yaml_text('services:\n  web:\n    image: busybox\n    ports: [80]\n    deploy: {replicas: 2}\n'))
    assert result['services']['web']['replicas'] == 2
    assert [spec['name'] for spec in result['services']['web']['specs']] == ['shop-web', 'shop-web-2']


def test_yaml_numbers_in_ports_are_the_numbers():
    spec = the_spec(parse(compose.load_yaml_text(
        'services:\n  web:\n    image: busybox\n    ports: [0x50, {target: 0o1103, published: +8081}]\n')), 'web')
    assert sorted((port['container_port'], port['host_port']) for port in spec['ports']) == [(80, None), (579, 8081)]
    assert not any(isinstance(port['container_port'], document_utils.LiteralInt) for port in spec['ports'])


def test_literal_numbers_copy_pickle_and_json():
    value = document_utils.LiteralInt(31, '0x1F')
    assert copy.deepcopy(value).text == '0x1F' and copy.deepcopy(value) == 31
    assert pickle.loads(pickle.dumps(value)).text == '0x1F'
    assert json.dumps([value, document_utils.LiteralFloat(1.1, '1.10')]) == '[31, 1.1]'
    assert '%s %r %s' % (value, value, int(value)) == '0x1F 0x1F 31'
    assert str(document_utils.LiteralInt(7)) == '7' and str(document_utils.LiteralFloat(0.5)) == '0.5'


@pytest.mark.parametrize('text, match', [
    ('a: !!bool yes\n', 'YAML 1.2 boolean'),
    ('a: !!int 1.5\n', 'YAML 1.2 integer'),
    ('a: !!float abc\n', 'YAML 1.2 float'),
    ('a: !unknown []\n', "not valid YAML.*could not determine a constructor for the tag '!unknown'"),
])
def test_yaml_explicit_tags(text, match):
    with pytest.raises(ComposeError, match=match):
        compose.load_yaml_text(text)


def test_yaml_explicit_tags_that_are_fine():
    assert compose.load_yaml_text('a: !!int "0x10"\nb: !!float "2"\nc: !!bool "False"\nd: !!str 10\ne: !!null ""\n') == dict(
        a=16, b=2.0, c=False, d='10', e=None)


def test_yaml_merge_keys_and_anchors():
    loaded = compose.load_yaml_text('x: &base {a: 1, b: 2}\ny:\n  <<: *base\n  b: 3\n')
    assert loaded['y'] == {'a': 1, 'b': 3}


FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'compose')
EDGE_CASES = (
    'a: 22:22\nb: 0x1F\nc: 0o17\nd: 010\ne: yes\nf: ~\ng: 1.10\nh: .inf\ni: -.INF\nj: .NaN\nk: 2001-12-14\n',
    'x: &base {a: 1, b: [2, 3]}\ny:\n  <<: *base\n  b: !reset []\nz: !override {c: 4}\n',
    'text: |\n  line one\n  line two\nfolded: >-\n  one\n  two\nquoted: "0x1F"\nsingle: \'yes\'\nunicode: "\\u00e9t\\u00e9"\n',
    '? complex\n: value\n0x10: hexadecimal key\n',
    'a: !!int "0x10"\nb: !!float "2"\nc: !!bool "False"\nd: !!str 10\ne: !!null ""\n',
)


def _typed(value):
    """A loaded document as nested lists of (type, text), so that two loads compare on types and texts too."""
    if isinstance(value, dict):
        return ['dict'] + [[_typed(key), _typed(item)] for key, item in value.items()]
    if isinstance(value, list):
        return ['list'] + [_typed(item) for item in value]
    return [type(value).__name__, repr(value)]


def _fixture_texts():
    texts = []
    for root, _dirs, files in sorted(os.walk(FIXTURES)):
        for name in sorted(files):
            if name.endswith(('.yaml', '.yml')):
                with open(os.path.join(root, name)) as handle:
                    texts.append(handle.read())
    return texts


def test_compose_loader_parses_with_libyaml_where_pyyaml_has_it():
    if yaml.__with_libyaml__:
        assert issubclass(document_utils.ComposeLoader, yaml.CSafeLoader)


def test_libyaml_and_pure_python_loaders_read_every_file_the_same():
    pure = document_utils.compose_loader(yaml.SafeLoader)
    texts = _fixture_texts()
    assert len(texts) >= 20
    for text in texts + list(EDGE_CASES):
        assert _typed(yaml.load(text, Loader=document_utils.ComposeLoader)) == _typed(yaml.load(text, Loader=pure))  # nosec B506


# --- name ---------------------------------------------------------------------------------------------------


def test_name_different_from_the_namespace_is_a_warning():
    result = parse({'name': 'myproject', 'services': {'web': {'image': 'busybox'}}})
    assert result['warnings'] == ["The definition is named 'myproject'; hna.cloudos.stack deploys it as the namespace 'shop' "
                                  "and ignores that name."]
    assert the_spec(result, 'web')['name'] == 'shop-web'


def test_name_same_as_the_namespace_is_silent():
    assert parse({'name': NS, 'services': {}})['warnings'] == []


@pytest.mark.parametrize('name', [5, ['a'], {'a': 1}, ''])
def test_name_must_be_a_string(name):
    refused("key 'name' must be a project name", {'name': name, 'services': {}})


# --- include ----------------------------------------------------------------------------------------------------


def test_include_short_syntax_with_relative_paths(tmp_path):
    write(tmp_path, 'db/compose.yaml', '''
        services:
          db:
            image: postgres:16
            env_file: db.env
            volumes: [./data:/var/lib/postgresql/data, dbdata:/backup, {type: bind, source: conf, target: /conf}]
        volumes:
          dbdata:
        ''')
    write(tmp_path, 'db/db.env', 'POSTGRES_USER=app\n')
    result = load_and_parse(tmp_path, '''
        include:
          - db/compose.yaml
        services:
          web:
            image: busybox
            depends_on: [db]
        ''')
    db = the_spec(result, 'db')
    assert db['env'] == {'POSTGRES_USER': 'app'}
    mounts = dict((mount['target'], mount) for mount in db['mounts'])
    assert mounts['/var/lib/postgresql/data']['source'] == str(tmp_path / 'db' / 'data')
    assert mounts['/conf']['source'] == str(tmp_path / 'db' / 'conf')
    assert mounts['/backup']['source'] == 'shop-dbdata'
    assert result['levels'] == [['db'], ['web']]


def test_include_long_syntax(tmp_path):
    write(tmp_path, 'lib/base.yaml', '''
        services:
          cache:
            image: redis:${REDIS_TAG}
            command: redis-server --appendonly yes
            environment: [A=1, B=2]
            volumes: [./cache:/data]
        ''')
    write(tmp_path, 'lib/override.yaml', '''
        services:
          cache:
            command: [redis-server, --save, "60", "1"]
            environment: {B: 3, C: "${FROM_ENV_FILE}"}
        ''')
    write(tmp_path, 'lib.env', 'REDIS_TAG=6\nFROM_ENV_FILE=file\nOVERRIDDEN=file\n')
    result = load_and_parse(tmp_path, '''
        include:
          - path: [lib/base.yaml, lib/override.yaml]
            project_directory: other
            env_file: lib.env
        services: {}
        ''', variables={'REDIS_TAG': '7'})
    cache = the_spec(result, 'cache')
    assert cache['image'] == 'redis:7'  # the variables of the including project win over the env_file
    assert cache['command'] == ['redis-server', '--save', '60', '1']
    assert cache['env'] == {'A': '1', 'B': '3', 'C': 'file'}
    assert cache['mounts'][0]['source'] == str(tmp_path / 'other' / 'cache')


def test_include_reads_the_env_file_of_the_included_project(tmp_path):
    write(tmp_path, 'lib/compose.yaml', 'services:\n  web:\n    image: busybox:${TAG}\n    environment: {A: "${A}"}\n')
    write(tmp_path, 'lib/.env', 'TAG=from-dotenv\nA=from-dotenv\n')
    result = load_and_parse(tmp_path, 'include: [lib/compose.yaml]\n', variables={'A': 'from-project'})
    assert the_spec(result, 'web')['image'] == 'busybox:from-dotenv'
    assert the_spec(result, 'web')['env'] == {'A': 'from-project'}
    write(tmp_path, 'lib/other.env', 'TAG=other\n')
    result = load_and_parse(tmp_path, 'include: [{path: lib/compose.yaml, env_file: lib/other.env}]\n')
    assert the_spec(result, 'web')['image'] == 'busybox:other'


def test_include_nested_and_same_definition_twice(tmp_path):
    write(tmp_path, 'a.yaml', 'include: [sub/b.yaml]\nservices:\n  a:\n    image: busybox\n')
    write(tmp_path, 'sub/b.yaml', 'services:\n  b:\n    image: busybox\n    volumes: [./x:/x]\n')
    result = load_and_parse(tmp_path, 'include: [a.yaml, sub/b.yaml]\n')
    assert sorted(result['services']) == ['a', 'b']
    assert the_spec(result, 'b')['mounts'][0]['source'] == str(tmp_path / 'sub' / 'x')


def test_include_is_read_with_the_reader(tmp_path):
    files = {'/defs/inc.yaml': 'services:\n  web:\n    image: busybox:${TAG}\n    environment: ["UNSET=${NOPE}"]\n'}

    def reader(path):
        if path not in files:
            raise ComposeError('Cannot read %s: not found.' % path)
        return files[path]

    result = parse({'include': ['/defs/inc.yaml'], 'services': {}}, {'TAG': '1'}, reader=reader)
    assert the_spec(result, 'web')['image'] == 'busybox:1'
    assert result['warnings'] == ["The variable NOPE is not set; service 'web': key 'environment[0]' uses an empty string instead."]


def test_include_reads_at_most_max_files(tmp_path):
    names = ['f%d.yaml' % number for number in range(document_utils.MAX_FILES + 1)]
    for name in names:
        write(tmp_path, name, 'services: {}\n')
    assert parse({'include': names[:-1], 'services': {}}, base_dir=str(tmp_path))['services'] == {}
    refused(r"key 'include\[%d\]': more than %d files are read through include and extends" % (
        document_utils.MAX_FILES, document_utils.MAX_FILES), {'include': names, 'services': {}}, base_dir=str(tmp_path))


@pytest.mark.parametrize('files, include, match', [
    ({}, ['missing.yaml'], r"key 'include\[0\]': Cannot read .*missing.yaml"),
    ({'a.yaml': 'include: [b.yaml]\n', 'b.yaml': 'include: [a.yaml]\n'}, ['a.yaml'],
     r"key 'include\[0\]' includes '.*a.yaml', which includes itself: .*a.yaml -> .*b.yaml -> .*a.yaml"),
    ({'a.yaml': 'services:\n  web:\n    image: other\n'}, ['a.yaml'],
     r"key 'include\[0\]' includes '.*a.yaml', which defines the service 'web' that is already defined differently"),
    ({'a.yaml': 'services: {}\nsecrets_x: {}\n'}, ['a.yaml'], r"whose top-level key 'secrets_x' is not supported"),
    ({'a.yaml': 'services: [web]\n'}, ['a.yaml'], r"whose key 'services' must be a mapping, not a list"),
    ({'a.yaml': '- a\n'}, ['a.yaml'], r"key 'include\[0\]': .*a.yaml must be a mapping \(a Compose file\), not a list"),
    ({'a.yaml': 'services: [\n'}, ['a.yaml'], r"a.yaml is not valid YAML at line"),
    ({}, 'a.yaml', r"key 'include' must be a list of file paths or of mappings with path, not"),
    ({}, [5], r"key 'include\[0\]' must be a file path or a mapping with path, not the number"),
    ({}, [{'path': []}], r"key 'include\[0\].path' must be a file path or a list of file paths, not a list"),
    ({}, [{'env_file': 'x.env'}], r"key 'include\[0\].path' must be a file path or a list of file paths, not null"),
    ({}, [{'path': 'a.yaml', 'project_directory': 5}], r"key 'include\[0\].project_directory' must be a directory path"),
    ({}, [{'path': 'a.yaml', 'env_file': [1]}], r"key 'include\[0\].env_file' must be a file path or a list of file paths"),
    ({'a.yaml': 'services: {}\n'}, [{'path': 'a.yaml', 'env_file': 'nope.env'}], r"key 'include\[0\].env_file': Cannot read"),
    ({}, [{'path': 'a.yaml', 'required': False}], r"key 'include\[0\].required' is not supported by hna.cloudos.stack"),
])
def test_include_errors(tmp_path, files, include, match):
    for name, text in files.items():
        write(tmp_path, name, text)
    refused(match, {'include': include, 'services': {'web': {'image': 'busybox'}}}, base_dir=str(tmp_path))


def test_include_relative_path_needs_a_file():
    refused(r"key 'include\[0\]' names the relative path 'a.yaml'; a relative path needs definition",
            {'include': ['a.yaml'], 'services': {}})


# --- extends ----------------------------------------------------------------------------------------------------


BASE = {
    'image': 'busybox:1',
    'command': ['sleep', '100'],
    'environment': ['A=1', 'B=2'],
    'labels': {'tier': 'base', 'keep': 'yes'},
    'ports': ['80', '90'],
    'volumes': ['data:/data', '/srv/logs:/logs'],
    'healthcheck': {'test': ['CMD', 'true'], 'interval': '5s', 'retries': 3},
    'depends_on': ['db'],
    'networks': ['back'],
    'restart': 'always',
    'logging': {'driver': 'json-file', 'options': {'max-size': '1m'}},
}


def test_extends_merge_rules():
    result = parse({
        'services': {
            'db': {'image': 'busybox'},
            'cache': {'image': 'busybox'},
            'base': BASE,
            'web': {
                'extends': {'service': 'base'},
                'command': 'echo hi',
                'environment': {'B': '3', 'C': '4'},
                'labels': ['tier=web'],
                'ports': ['90', '7070:70'],
                'volumes': ['/srv/other:/logs:ro'],
                'healthcheck': {'test': 'true'},
                'depends_on': {'cache': {'condition': 'service_started'}},
                'networks': {'front': {'aliases': ['www']}},
                'logging': {'options': {'max-file': '2'}},
            },
        },
        'volumes': {'data': None},
        'networks': {'back': None, 'front': None},
    })
    web = the_spec(result, 'web')
    assert web['command'] == ['echo', 'hi']
    assert web['env'] == {'A': '1', 'B': '3', 'C': '4'}
    assert web['labels']['tier'] == 'web' and web['labels']['keep'] == 'yes'
    assert sorted((port['container_port'], port['host_port']) for port in web['ports']) == [(70, 7070), (80, None), (90, None)]
    mounts = dict((mount['target'], mount) for mount in web['mounts'])
    assert sorted(mounts) == ['/data', '/logs']
    assert mounts['/logs']['source'] == '/srv/other' and mounts['/logs']['read_only'] is True
    assert web['healthcheck']['test'] == ['CMD-SHELL', 'true']
    assert web['healthcheck']['retries'] == 3
    assert web['restart_policy']['name'] == 'always'
    assert web['log_driver'] == 'json-file' and web['log_options'] == {'max-size': '1m', 'max-file': '2'}
    assert result['services']['web']['depends_on'] == {'db': 'service_started', 'cache': 'service_started'}
    assert sorted(network['name'] for network in web['networks']) == ['shop-back', 'shop-front']
    # the base service itself is unchanged
    assert the_spec(result, 'base')['command'] == ['sleep', '100']


def test_merge_service_directly():
    merged = document_utils.merge_service(
        {'dns': ['1.1.1.1'], 'extra_hosts': ['a:1.2.3.4'], 'entrypoint': ['/a'], 'logging': {'driver': 'syslog', 'options': {'x': 1}},
         'deploy': {'replicas': 2, 'resources': {'limits': {'cpus': '1'}}}, 'secrets': ['s', {'source': 't', 'target': '/x'}]},
        {'dns': ['1.1.1.1', '8.8.8.8'], 'extra_hosts': {'a': '5.6.7.8', 'b': '::1'}, 'entrypoint': '/b',
         'logging': {'driver': 'json-file'}, 'deploy': {'resources': {'limits': {'memory': '1g'}}},
         'secrets': [{'source': 'u', 'target': '/x'}]})
    assert merged == {
        'dns': ['1.1.1.1', '8.8.8.8'], 'extra_hosts': ['a=5.6.7.8', 'b=::1'], 'entrypoint': '/b', 'logging': {'driver': 'json-file'},
        'deploy': {'replicas': 2, 'resources': {'limits': {'cpus': '1', 'memory': '1g'}}},
        'secrets': ['s', {'source': 'u', 'target': '/x'}]}


def test_merge_service_empty_keys_keep_the_base():
    assert document_utils.merge_service({'environment': ['A=1'], 'command': 'x', 'healthcheck': {'test': 'true', 'retries': 2}},
                                        {'environment': None, 'command': None, 'healthcheck': {'test': None, 'retries': 3}}) == {
        'environment': ['A=1'], 'command': 'x', 'healthcheck': {'test': 'true', 'retries': 3}}


def test_reset_and_override_tags_with_extends(tmp_path):
    result = load_and_parse(tmp_path, """
        services:
          base:
            image: busybox
            command: sleep 100
            ports: ["80"]
            environment: {A: "1", B: "2"}
            volumes: ["/srv/a:/a", "/srv/b:/b"]
            labels: {tier: base}
          web:
            extends: base
            command: !reset null
            ports: !reset []
            environment: !override {C: "3"}
            volumes: !override ["/srv/c:/c"]
            labels: {other: x}
        """)
    web = the_spec(result, 'web')
    assert web['command'] is None and web['ports'] == []
    assert web['env'] == {'C': '3'}
    assert [mount['target'] for mount in web['mounts']] == ['/c']
    assert web['labels']['tier'] == 'base' and web['labels']['other'] == 'x'
    base = the_spec(result, 'base')
    assert base['env'] == {'A': '1', 'B': '2'} and len(base['mounts']) == 2


def test_reset_and_override_tags_in_the_files_of_one_include(tmp_path):
    write(tmp_path, 'base.yaml', """
        services:
          web:
            image: busybox
            environment: [A=1]
            healthcheck: {test: "true", interval: 5s}
          debug:
            image: busybox
        """)
    write(tmp_path, 'prod.yaml', """
        services:
          web:
            healthcheck: !override {test: ["CMD", "true"]}
            environment: [B=2]
          debug: !reset
        """)
    result = load_and_parse(tmp_path, 'include:\n  - path: [base.yaml, prod.yaml]\n')
    assert sorted(result['services']) == ['web']
    web = the_spec(result, 'web')
    assert web['env'] == {'A': '1', 'B': '2'}
    assert web['healthcheck']['test'] == ['CMD', 'true'] and web['healthcheck'].get('interval') in (None, 0)


def test_reset_and_override_tags_alone_are_dropped_or_plain():
    document = compose.load_yaml_text(textwrap.dedent("""
        services:
          web:
            image: busybox
            ports: !reset ["80"]
            environment: !override {A: 0x1F}
            labels: [!reset a=1, b=2]
        """))
    assert isinstance(list(document['services']['web'])[2], document_utils.OverrideKey)
    web = the_spec(parse(document), 'web')
    assert web['ports'] == [] and web['env'] == {'A': '0x1F'}
    assert web['labels']['b'] == '2' and 'a' not in web['labels']


def test_override_keys_and_resets_copy():
    key = document_utils.OverrideKey('ports')
    assert key == 'ports' and hash(key) == hash('ports') and isinstance(copy.deepcopy(key), document_utils.OverrideKey)
    assert isinstance(pickle.loads(pickle.dumps(key)), document_utils.OverrideKey)
    assert repr(document_utils.Reset()) == '!reset'


def test_extends_short_form_chain_and_file(tmp_path):
    write(tmp_path, 'common/base.yaml', '''
        services:
          root:
            image: busybox:1
            environment: {LEVEL: root, ROOT: "${ROOT_VALUE}"}
            volumes: [./conf:/conf]
          middle:
            extends: root
            environment: {LEVEL: middle}
        ''')
    result = load_and_parse(tmp_path, '''
        services:
          web:
            extends: {service: middle, file: common/base.yaml}
            environment: {LEVEL: web}
          worker:
            extends: web
            command: work
        ''', variables={'ROOT_VALUE': 'r'})
    web = the_spec(result, 'web')
    assert web['env'] == {'LEVEL': 'web', 'ROOT': 'r'}
    assert web['mounts'][0]['source'] == str(tmp_path / 'common' / 'conf')
    worker = the_spec(result, 'worker')
    assert worker['env'] == web['env'] and worker['command'] == ['work']
    assert sorted(result['services']) == ['web', 'worker']


@pytest.mark.parametrize('services, match', [
    ({'a': {'image': 'x', 'extends': 'b'}, 'b': {'extends': 'a'}}, r"service 'a': key 'extends' forms a cycle: a -> b -> a"),
    ({'a': {'image': 'x', 'extends': 'a'}}, r"service 'a': key 'extends' forms a cycle: a -> a"),
    ({'a': {'image': 'x', 'extends': 'nope'}}, r"service 'a': key 'extends.service' names 'nope', which is not a service of this file"),
    ({'a': {'image': 'x', 'extends': {'file': 'x.yaml'}}}, r"service 'a': key 'extends.service' must name the service to extend, not null"),
    ({'a': {'image': 'x', 'extends': ['b']}}, r"service 'a': key 'extends' must be a service name or a mapping"),
    ({'a': {'image': 'x', 'extends': {'service': 'b', 'files': 'x'}}, 'b': {}}, r"service 'a': key 'extends.files' is not supported"),
    ({'a': {'image': 'x', 'extends': 'b'}, 'b': 'busybox'}, r"service 'a': key 'extends.service' names 'b', whose definition is a str"),
    ({'a': {'image': 'x', 'extends': {'service': 'b', 'file': 5}}}, r"service 'a': key 'extends.file' must be a file path, not the number"),
    ({'a': {'image': 'x', 'extends': {'service': 'b', 'file': 'other.yaml'}}}, r"service 'a': key 'extends.file' names the relative path"),
])
def test_extends_errors(services, match):
    refused(match, {'services': services})


def test_extends_file_errors(tmp_path):
    write(tmp_path, 'other.yaml', 'services:\n  b:\n    extends: {service: c, file: ../cycle.yaml}\n')
    write(tmp_path / '..', 'cycle.yaml', 'services:\n  c:\n    extends: {service: b, file: %s/other.yaml}\n' % tmp_path)
    base = {'base_dir': str(tmp_path)}
    refused(r"service 'a': key 'extends' forms a cycle: b \(.*other.yaml\) -> c \(.*cycle.yaml\) -> b \(.*other.yaml\)",
            {'services': {'a': {'extends': {'service': 'b', 'file': 'other.yaml'}}}}, **base)
    refused(r"service 'a': key 'extends.service' names 'zz', which is not a service of .*other.yaml",
            {'services': {'a': {'extends': {'service': 'zz', 'file': 'other.yaml'}}}}, **base)
    refused(r"key 'services.a.extends.file': Cannot read .*missing.yaml",
            {'services': {'a': {'extends': {'service': 'b', 'file': 'missing.yaml'}}}}, **base)


# --- profiles ----------------------------------------------------------------------------------------------------


PROFILED = {
    'web': {'image': 'busybox', 'depends_on': {'debug': {'condition': 'service_started', 'required': False}}},
    'debug': {'image': 'busybox', 'profiles': ['debug', 'dev']},
    'tools': {'image': 'busybox', 'profiles': ['tools']},
    'always': {'image': 'busybox', 'profiles': []},
}


@pytest.mark.parametrize('profiles, variables, expected', [
    (None, {}, ['always', 'web']),
    (['dev'], {}, ['always', 'debug', 'web']),
    (None, {'COMPOSE_PROFILES': 'tools, dev'}, ['always', 'debug', 'tools', 'web']),
    (['tools'], {'COMPOSE_PROFILES': 'dev'}, ['always', 'tools', 'web']),
    ([], {'COMPOSE_PROFILES': 'dev'}, ['always', 'debug', 'web']),
    (['*'], {}, ['always', 'debug', 'tools', 'web']),
])
def test_profiles(profiles, variables, expected):
    result = parse({'services': copy.deepcopy(PROFILED)}, variables, profiles=profiles)
    assert sorted(result['services']) == expected
    assert result['services']['web']['depends_on'] == ({'debug': 'service_started'} if 'debug' in expected else {})


def test_enabled_profiles_directly():
    assert document_utils.enabled_profiles(None, {'COMPOSE_PROFILES': ' a,,b ,a'}) == ['a', 'b']
    assert document_utils.enabled_profiles(['x'], {'COMPOSE_PROFILES': 'a'}) == ['x']
    assert parse({'services': {}}, profiles=['x'])['profiles'] == ['x']


@pytest.mark.parametrize('services, profiles, match', [
    ({'web': {'image': 'x', 'depends_on': ['debug']}, 'debug': {'image': 'x', 'profiles': ['debug']}}, None,
     r"service 'web': key 'depends_on' names 'debug', which is only active with the profile 'debug' \(enabled: none\); "
     r"enable one of them or make the dependency required: false"),
    ({'web': {'image': 'x', 'depends_on': {'debug': None}}, 'debug': {'image': 'x', 'profiles': ['a', 'b']}}, ['c'],
     r"names 'debug', which is only active with the profiles 'a', 'b' \(enabled: c\)"),
    ({'web': {'image': 'x', 'profiles': 'debug'}}, None, r"service 'web': key 'profiles' must be a list of profile names, not"),
    ({'web': {'image': 'x', 'profiles': ['bad name']}}, None, r"service 'web': key 'profiles\[0\]' is not a profile name"),
    ({'web': {'image': 'x', 'profiles': [3]}}, None, r"service 'web': key 'profiles\[0\]' is not a profile name .*: the number"),
    ({}, ['no way'], r"profiles names 'no way', which is not a profile name"),
])
def test_profile_errors(services, profiles, match):
    refused(match, {'services': services}, profiles=profiles)


def test_compose_profiles_variable_error():
    refused(r"COMPOSE_PROFILES names 'a b', which is not a profile name", {'services': {}}, {'COMPOSE_PROFILES': 'a b'})


# --- secrets and configs -------------------------------------------------------------------------------------------


def test_file_secrets_and_configs_become_read_only_bind_mounts(tmp_path):
    write(tmp_path, 'secrets/db_password.txt', 'hunter2')
    write(tmp_path, 'nginx.conf', 'events {}')
    result = load_and_parse(tmp_path, '''
        services:
          web:
            image: busybox
            secrets:
              - db_password
              - source: db_password
                target: other_name
              - source: db_password
                target: /etc/app/password
            configs:
              - nginx
              - source: nginx
                target: /etc/nginx/nginx.conf
        secrets:
          db_password:
            file: ./secrets/db_password.txt
        configs:
          nginx:
            file: nginx.conf
        ''')
    mounts = sorted((mount['target'], mount['source'], mount['type'], mount['read_only']) for mount in the_spec(result, 'web')['mounts'])
    secret = str(tmp_path / 'secrets' / 'db_password.txt')
    config = str(tmp_path / 'nginx.conf')
    assert mounts == [
        ('/etc/app/password', secret, 'bind', True),
        ('/etc/nginx/nginx.conf', config, 'bind', True),
        ('/nginx', config, 'bind', True),
        ('/run/secrets/db_password', secret, 'bind', True),
        ('/run/secrets/other_name', secret, 'bind', True),
    ]
    assert result['files'] == []


def test_environment_secrets_and_content_configs_are_files_to_write():
    result = parse({
        'services': {
            'web': {'image': 'busybox', 'volumes': ['/srv:/srv'],
                    'secrets': ['token', {'source': 'token', 'target': 'token_for_app', 'uid': '1000', 'gid': 1000, 'mode': 0o440}],
                    'configs': [{'source': 'settings', 'target': '/etc/app.ini'}]},
            'other': {'image': 'busybox', 'secrets': ['token']},
        },
        'secrets': {'token': {'environment': 'API_TOKEN'}},
        'configs': {'settings': {'content': 'debug = false\n'}},
    }, {'API_TOKEN': 's3cr3t-value'}, files_dir='/var/lib/stacks/shop')
    assert result['files'] == [
        dict(kind='config', name='settings', path='/var/lib/stacks/shop/configs/settings', content='debug = false\n', mode=0o400,
             uid=None, gid=None),
        dict(kind='secret', name='token', path='/var/lib/stacks/shop/secrets/token', content='s3cr3t-value', mode=0o400,
             uid=None, gid=None),
        dict(kind='secret', name='token', path='/var/lib/stacks/shop/secrets/token-1000-1000-0440', content='s3cr3t-value',
             mode=0o440, uid=1000, gid=1000),
    ]
    web = the_spec(result, 'web')
    assert [(mount['source'], mount['target']) for mount in web['mounts']] == [
        ('/var/lib/stacks/shop/configs/settings', '/etc/app.ini'),
        ('/var/lib/stacks/shop/secrets/token', '/run/secrets/token'),
        ('/var/lib/stacks/shop/secrets/token-1000-1000-0440', '/run/secrets/token_for_app'),
        ('/srv', '/srv'),
    ]
    # the value of the secret is in no spec, never in the environment of a container
    assert 's3cr3t-value' not in repr(result['services'])
    assert the_spec(result, 'other')['env'] == {}


@pytest.mark.parametrize('text, mode', [('0440', 0o440), ('0o640', 0o640), ('"0400"', 0o400), ('288', 288), ('0', 0)])
def test_secret_mode_as_compose_reads_it(text, mode):
    document = compose.load_yaml_text(textwrap.dedent('''
        services:
          web:
            image: busybox
            secrets: [{source: s, mode: %s}]
        secrets:
          s: {environment: S}
        ''' % text))
    result = parse(document, {'S': 'x'}, files_dir='/d')
    assert result['files'][0]['mode'] == mode


def secret_doc(service_secrets=None, top=None, kind='secrets'):
    document = {'services': {'web': {'image': 'busybox', kind: service_secrets if service_secrets is not None else ['s']}}}
    document[kind] = top if top is not None else {'s': {'environment': 'S'}}
    return document


@pytest.mark.parametrize('document, match', [
    (secret_doc(top={'s': {'external': True}}),
     r"key 'secrets.s.external' is not supported by hna.cloudos.stack: external secrets are Docker Swarm objects; use file or environment"),
    (secret_doc(top={'s': {'external': True}}, kind='configs'),
     r"key 'configs.s.external' is not supported .*: external configs are Docker Swarm objects; use file or environment or content"),
    (secret_doc(top={'s': {'file': '/etc/hostname', 'environment': 'S'}}),
     r"key 'secrets.s' must have exactly one of file, environment, not file and environment"),
    (secret_doc(top={'s': {'name': 'x'}}), r"key 'secrets.s' must have exactly one of file, environment$"),
    (secret_doc(top={'s': {'content': 'x'}}), r"key 'secrets.s.content' is not supported by hna.cloudos.stack"),
    (secret_doc(top={'s': {'driver': 'vault', 'environment': 'S'}}), r"key 'secrets.s.driver' is not supported"),
    (secret_doc(top={'s': None}), r"key 'secrets.s' must be a mapping with file or environment, not null"),
    (secret_doc(top={'bad name': {'environment': 'S'}}), r"secret 'bad name': the name must start with a letter or digit"),
    (secret_doc(top=['s']), r"key 'secrets' must be a mapping of secret names to their definitions, not a list"),
    (secret_doc(top={'s': {'environment': 'UNSET'}}),
     r"key 'secrets.s.environment' names the variable 'UNSET', which is not set; set it in env or env_files"),
    (secret_doc(top={'s': {'environment': 5}}), r"key 'secrets.s.environment' must name an interpolation variable"),
    (secret_doc(top={'s': {'file': '/nonexistent/secret'}}), r"key 'secrets.s.file' names '/nonexistent/secret', which is not an existing file"),
    (secret_doc(top={'s': {'file': 'relative.txt'}}), r"key 'secrets.s.file' names the relative path 'relative.txt'"),
    (secret_doc(top={'s': {'file': ['x']}}), r"key 'secrets.s.file' must be a file path, not a list"),
    (secret_doc(top={'s': {'content': {'a': 1}}}, kind='configs'), r"key 'configs.s.content' must be text, not a mapping"),
    (secret_doc(['nope']), r"service 'web': key 'secrets\[0\]' names the secret 'nope', which is not declared in the top-level secrets"),
    (secret_doc('s'), r"service 'web': key 'secrets' must be a list of secret names or of mappings with source, not a str"),
    (secret_doc([5]), r"service 'web': key 'secrets\[0\]' must be a secret name or a mapping with source, not the number"),
    (secret_doc([{'target': '/x'}]), r"service 'web': key 'secrets\[0\].source' must name a secret, not null"),
    (secret_doc([{'source': 's', 'driver': 'x'}]), r"service 'web': key 'secrets\[0\].driver' is not supported by hna.cloudos.stack"),
    (secret_doc([{'source': 's', 'target': 5}]), r"service 'web': key 'secrets\[0\].target' must be a path, not the number"),
    (secret_doc([{'source': 's', 'mode': 'rw'}]), r"service 'web': key 'secrets\[0\].mode' must be a file mode such as 0400 or 0440, not 'rw'"),
    (secret_doc([{'source': 's', 'mode': 0o1777}]), r"service 'web': key 'secrets\[0\].mode' must be a file mode between 0 and 0777"),
    (secret_doc([{'source': 's', 'mode': True}]), r"service 'web': key 'secrets\[0\].mode' must be a file mode such as 0400 or 0440, not a boolean"),
    (secret_doc([{'source': 's', 'uid': 'root'}]), r"service 'web': key 'secrets\[0\].uid' must be a numeric user or group ID, not 'root'"),
    (secret_doc([{'source': 's', 'gid': -1}]), r"service 'web': key 'secrets\[0\].gid' must be a numeric user or group ID"),
    (dict(secret_doc(), services={'web': {'image': 'busybox', 'secrets': ['s'], 'volumes': 'x'}}),
     r"service 'web': key 'volumes' must be a list, not a str"),
])
def test_secret_and_config_errors(document, match):
    refused(match, document, {'S': 'value'}, files_dir='/d')


def test_file_secret_refuses_owner_and_mode(tmp_path):
    path = write(tmp_path, 's.txt', 'x')
    for key, value in (('uid', 0), ('gid', '0'), ('mode', 0o444)):
        refused(r"service 'web': key 'secrets\[0\].%s' cannot be honoured: the secret is bind-mounted from %s, which keeps its own owner "
                r"and mode; set them on that file and remove %s" % (key, path, key),
                secret_doc([{'source': 's', key: value}], {'s': {'file': path}}))


def test_secrets_that_must_be_written_need_a_files_dir():
    refused(r"service 'web': key 'secrets\[0\]' uses the secret 's', whose value \(secrets.s.environment\) must be written to a file, "
            r"which this caller does not do; use file: instead", secret_doc(), {'S': 'value'})
    refused(r"key 'configs\[0\]' uses the config 's', whose value \(configs.s.content\)",
            secret_doc(top={'s': {'content': 'x'}}, kind='configs'))


def test_unused_secret_and_external_false_are_fine(tmp_path):
    path = write(tmp_path, 's.txt', 'x')
    result = parse({'services': {'web': {'image': 'busybox'}},
                    'secrets': {'s': {'file': path, 'external': False, 'name': 'custom', 'x-note': 1}, 'x-ignored': 5}})
    assert the_spec(result, 'web')['mounts'] == []


def test_prepare_document_directly():
    original = secret_doc(top={'s': {'file': '/remote/s'}})
    original['name'] = 'other'
    prepared = document_utils.prepare_document(original, NS, {}, file_exists=lambda path: path == '/remote/s')
    assert prepared == dict(
        document={'services': {'web': {'image': 'busybox', 'volumes': [
            dict(type='bind', source='/remote/s', target='/run/secrets/s', read_only=True)]}}},
        warnings=["The definition is named 'other'; hna.cloudos.stack deploys it as the namespace 'shop' and ignores that name."],
        profiles=[], files=[])
    assert original['secrets'] == {'s': {'file': '/remote/s'}} and original['name'] == 'other'  # the input is not changed
    with pytest.raises(ComposeError, match='must be a mapping with a services key'):
        document_utils.prepare_document(['x'], NS)
