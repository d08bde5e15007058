# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property-based tests of the Compose file reader: whatever the document, the reader either refuses it with a
:class:`ComposeError` carrying a message, or returns specs that are complete and consistent. Any other exception
is a bug."""

from __future__ import annotations

import datetime
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.hna.cloudos.plugins.module_utils import _compose as compose
from ansible_collections.hna.cloudos.plugins.module_utils._compose import ComposeError
from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import SPEC_FIELDS

NS = 'prop'
# HNA_HYPOTHESIS_EXAMPLES raises the number of examples for a longer search.
SETTINGS = settings(max_examples=int(os.environ.get('HNA_HYPOTHESIS_EXAMPLES', '300')), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --- strategies ----------------------------------------------------------------------------------------

huge_ints = st.one_of(st.integers(), st.sampled_from([0, -1, 1, 65535, 65536, 2 ** 31, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 30]))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1e308, -0.0, 1e-9]))
odd_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['', ' ', '$', '$$', '${', '${A', '${A:-', '${A:?boom}', '$A', '${A:-${B}}', '\x00', '\u2603', 'caf\u00e9',
                     '0', '-1', 'true', 'no', '80', '8080:80', '127.0.0.1::80', '[::1]:80:80', '1-65536', 'a:b:c:d', './x',
                     '/x', '~/x', 'data:/d', 'data:/d:ro', '1m30s', '10us', '512m', '1g', '0.5', 'nan', 'inf',
                     'on-failure:3', 'busybox', 'busybox:1', 'UPPER', 'a b', 'sha256:' + 'a' * 64, 'service_healthy']),
)
dates = st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31))
scalars = st.one_of(st.none(), st.booleans(), huge_ints, floats, odd_text, dates)

# Keys the reader knows, plus some it must refuse, to reach the deeper code paths more often than random text would.
SERVICE_KEYS = sorted(compose.SUPPORTED_SERVICE_KEYS) + ['privileged', 'build', 'x-ext', 'tmpfs', 'container_name']
NESTED_KEYS = ['test', 'interval', 'timeout', 'retries', 'start_period', 'disable', 'replicas', 'resources', 'limits', 'cpus',
               'memory', 'reservations', 'condition', 'required', 'aliases', 'ipv4_address', 'target', 'published', 'host_ip',
               'protocol', 'mode', 'type', 'source', 'read_only', 'driver', 'options', 'path', 'external', 'name', 'labels',
               'ipam', 'config', 'subnet', 'gateway', 'ip_range', 'internal', 'driver_opts', 'x-any']
keys = st.one_of(st.sampled_from(NESTED_KEYS), st.text(max_size=10))


def nested(leaves, max_leaves=20):
    return st.recursive(
        leaves,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
        max_leaves=max_leaves)


values = nested(scalars)
service_names = st.one_of(st.sampled_from(['web', 'db', 'api', 'a', 'b', 'c', 'web-1', 'x_y', '0']),
                          st.text(max_size=8), st.integers(), st.none())


@st.composite
def services(draw):
    names = draw(st.lists(service_names, max_size=5))
    result = {}
    for name in names:
        definition = draw(st.dictionaries(st.sampled_from(SERVICE_KEYS), values, max_size=6))
        if draw(st.booleans()):
            definition['image'] = draw(st.sampled_from(['busybox', 'hnatest/web:1', 'registry.example.com:5000/a/b:c', 'Bad Image',
                                                       '${IMG}', '${IMG:-busybox}', '']))
        if draw(st.booleans()):
            targets = [other for other in names if isinstance(other, str)] + ['missing']
            definition['depends_on'] = draw(st.one_of(
                st.lists(st.sampled_from(targets), max_size=3),
                st.dictionaries(st.sampled_from(targets), st.one_of(st.none(), st.fixed_dictionaries(
                    {}, optional={'condition': st.sampled_from(list(compose.CONDITIONS) + ['bogus']),
                                  'required': st.booleans()})), max_size=3)))
        result[name] = definition if draw(st.integers(0, 9)) else draw(scalars)
    return result


@st.composite
def documents(draw):
    document = {}
    if draw(st.integers(0, 9)):
        document['services'] = draw(services())
    for key in draw(st.lists(st.sampled_from(['version', 'name', 'volumes', 'networks', 'x-ext', 'secrets', 'include']), max_size=3)):
        if key in ('volumes', 'networks'):
            document[key] = draw(st.one_of(st.dictionaries(st.sampled_from(['data', 'back', 'default', 'bad name', 'x-y']),
                                                           st.one_of(st.none(), st.dictionaries(keys, values, max_size=3)),
                                                           max_size=3), values))
        elif key == 'name':
            document[key] = draw(st.sampled_from([NS, 'other', None, 5]))
        else:
            document[key] = draw(values)
    return document


# Values that are mostly right, per key, so that many documents get through and their specs are checked.
PLAUSIBLE = {
    'command': ['sleep 1', ['sh', '-c', 'echo ${A:-x}'], 'echo "unterminated', 42],
    'entrypoint': ['/bin/sh -c', ['/entry'], []],
    'environment': [['A=1', 'B', 'C=${A}'], {'A': 1, 'B': None, 'C': True}, {'D': 2.5}, {'E': datetime.date(2020, 1, 1)}],
    'env_file': ['app.env', ['a.env', {'path': 'missing.env', 'required': False}], 'missing.env'],
    'ports': [['80', '8080:80', '127.0.0.1::81/udp'], [{'target': 80, 'published': 8081}], ['9000-9001:9000-9001'], [22]],
    'volumes': [['data:/data'], ['./conf:/conf:ro', '/anon'], [{'type': 'tmpfs', 'target': '/tmp'}], ['undeclared:/x']],
    'networks': [['back'], {'back': {'aliases': ['b1']}}, ['default'], {'default': None}],
    'healthcheck': [{'test': 'true', 'interval': '1s'}, {'disable': True}, {'test': ['CMD', 'true'], 'retries': 3}],
    'restart': ['no', False, 'always', 'on-failure:2', 'unless-stopped'],
    'labels': [['a=b'], {'c': 'd'}, {'io.hna.cloudos.x': 'y'}],
    'deploy': [{'replicas': 2}, {'replicas': 0}, {'resources': {'limits': {'cpus': '0.5', 'memory': '64m'}}}, {'replicas': '${N:-1}'}],
    'user': ['1000', 1000, 'app:app'],
    'working_dir': ['/app', 'relative'],
    'hostname': ['web', 'web.example'],
    'init': [True, False, 'yes'],
    'stop_grace_period': ['10s', '1m30s', 5],
    'stop_signal': ['SIGINT', 'SIGTERM'],
    'logging': [{'driver': 'json-file', 'options': {'max-size': '1m'}}, {'driver': 'local'}],
}


@st.composite
def plausible_documents(draw):
    names = draw(st.lists(st.sampled_from(['web', 'db', 'api', 'worker', 'job']), min_size=1, max_size=5, unique=True))
    document = {'services': {}, 'volumes': {'data': None}, 'networks': {'back': {}}}
    for name in names:
        definition = {'image': draw(st.sampled_from(['busybox', 'hnatest/web:${TAG:-1}', 'registry.example.com/a/b:1']))}
        for key in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), max_size=5, unique=True)):
            definition[key] = draw(st.sampled_from(PLAUSIBLE[key]))
        others = [other for other in names if other != name]
        if others and draw(st.booleans()):
            definition['depends_on'] = draw(st.dictionaries(st.sampled_from(others), st.fixed_dictionaries(
                {'condition': st.sampled_from(compose.CONDITIONS)}), max_size=2))
        if draw(st.integers(0, 4)) == 0:
            definition[draw(st.sampled_from(SERVICE_KEYS))] = draw(values)
        document['services'][name] = definition
    return document


variables_strategy = st.dictionaries(st.sampled_from(['IMG', 'A', 'B', 'TAG', 'N']),
                                     st.sampled_from(['busybox', '', '2', 'x:y', '$', '${A}', '\u2603']), max_size=4)

# --- checks --------------------------------------------------------------------------------------------


def outcome(document, variables=None, base_dir='/srv/stack'):
    """Parse; return the result, or ``None`` after checking the error is a ComposeError with a one-line message."""
    def reader(path):
        if path.endswith('missing.env'):
            raise ComposeError('Cannot read %s: No such file or directory.' % path)
        return 'FROM_FILE=1\n'

    try:
        return compose.parse_stack(document, NS, variables or {}, base_dir=base_dir, reader=reader)
    except ComposeError as exc:
        message = str(exc)
        assert message.strip(), 'a ComposeError without a message'
        assert '\n' not in message
        return None


def check_valid(result):
    assert set(result) == {'namespace', 'network', 'services', 'levels', 'volumes', 'networks', 'warnings', 'profiles', 'files'}
    assert result['files'] == []  # no files_dir: nothing to write
    names = set()
    for service_name, service in result['services'].items():
        assert re.match(r'^[a-z0-9][a-z0-9_-]*$', service_name)
        assert service['name'] == service_name
        for spec in service['specs']:
            assert set(spec) == set(SPEC_FIELDS)
            assert spec['name'] not in names
            names.add(spec['name'])
            assert spec['name'].startswith('%s-%s' % (NS, service_name))
            assert compose.valid_image_reference(spec['image'])
            labels = spec['labels']
            assert labels['io.hna.cloudos.stack'] == NS
            assert labels['io.hna.cloudos.namespace'] == NS
            assert labels['io.hna.cloudos.service'] == service_name
            assert labels['io.hna.cloudos.managed'] == 'true'
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in list(labels.items()) + list(spec['env'].items()))
            # Every network the service joins (the namespace network unless it lists others without default)
            # carries its aliases.
            assert spec['networks']
            assert all(service_name in network['aliases'] for network in spec['networks'])
            for port in spec['ports']:
                assert 1 <= port['container_port'] <= 65535
                assert port['host_port'] is None or 1 <= port['host_port'] <= 65535
                assert port['protocol'] in ('tcp', 'udp', 'sctp')
            for mount in spec['mounts']:
                assert mount['type'] in ('volume', 'bind', 'tmpfs')
                assert mount['target'].startswith('/')
                assert mount['type'] != 'bind' or mount['source'].startswith('/')
            for command in (spec['command'], spec['entrypoint']):
                assert command is None or all(isinstance(word, str) for word in command)
            assert spec['memory'] is None or spec['memory'] >= compose.MIN_MEMORY
            assert spec['cpus'] is None or spec['cpus'] >= 0.01
            assert spec['restart_policy']['name'] in ('no', 'always', 'unless-stopped', 'on-failure')
            health = spec['healthcheck']
            assert health is None or health['test'] is None or health['test'][0] in ('CMD', 'CMD-SHELL', 'NONE')
    placed = {}
    for index, level in enumerate(result['levels']):
        for service_name in level:
            assert service_name not in placed
            placed[service_name] = index
    assert set(placed) == set(result['services'])
    for service_name, service in result['services'].items():
        for dependency in service['depends_on']:
            assert placed[dependency] < placed[service_name]


# --- properties ----------------------------------------------------------------------------------------


@SETTINGS
@given(nested(scalars, max_leaves=40))
def test_any_structure_is_refused_or_valid(document):
    result = outcome(document)
    if result is not None:
        check_valid(result)


@SETTINGS
@given(documents(), variables_strategy)
def test_compose_like_documents_are_refused_or_valid(document, variables):
    result = outcome(document, variables)
    if result is not None:
        check_valid(result)


@SETTINGS
@given(plausible_documents(), variables_strategy)
def test_plausible_documents_are_refused_or_valid(document, variables):
    result = outcome(document, variables)
    if result is not None:
        check_valid(result)


@SETTINGS
@given(documents())
def test_documents_without_base_dir_are_refused_or_valid(document):
    result = outcome(document, base_dir=None)
    if result is not None:
        check_valid(result)


@SETTINGS
@given(st.text(max_size=200))
def test_any_yaml_text_is_refused_or_valid(text):
    try:
        document = compose.load_definition(content=text)
    except ComposeError as exc:
        assert str(exc).strip()
        return
    result = outcome(document)
    if result is not None:
        check_valid(result)


yaml_fragments = st.lists(st.sampled_from([
    'services:\n', '  web:\n', '    image: busybox\n', '    ports: ["8080:80"]\n', '    ports: [22:22]\n',
    '    depends_on: [db]\n', '  db:\n', '    image: ${IMG:-busybox}\n', '    deploy: {replicas: 99999999999999999999}\n',
    '    restart: no\n', '    init: yes\n', '    environment: {A: 2020-01-01, B: .nan, C: ~}\n', '    command: &c [a, *c]\n',
    'x-a: &a {image: busybox}\n', '  ext:\n    <<: *a\n', 'volumes: {data: }\n', '    volumes: [data:/data]\n', '\t', '- ',
    ': :', '!!python/object:os.system\n', '? [complex, key]\n: value\n', '"\\ud800"\n', '%YAML 1.1\n---\n', '...\n',
    '    healthcheck: {test: true, interval: 1e400}\n', '    deploy: {resources: {limits: {memory: 1e400}}}\n',
]), max_size=12)


@SETTINGS
@given(yaml_fragments)
def test_yaml_fragments_are_refused_or_valid(fragments):
    test_any_yaml_text_is_refused_or_valid.hypothesis.inner_test(''.join(fragments))


@SETTINGS
@given(st.dictionaries(st.sampled_from(['a', 'b', 'c', 'd', 'e', 'f']),
                       st.lists(st.sampled_from(['a', 'b', 'c', 'd', 'e', 'f', 'zz']), max_size=4, unique=True), max_size=6))
def test_dependency_graphs(graph):
    document = {'services': dict((name, {'image': 'busybox', 'depends_on': needs}) for name, needs in graph.items())}
    try:
        result = compose.parse_stack(document, NS)
    except ComposeError as exc:
        message = str(exc)
        assert 'cycle' in message or 'not a service of this stack' in message
        if 'cycle' in message:
            path = message.split('cycle: ', 1)[1].split(' -> ')
            assert path[0] == path[-1]
            for left, right in zip(path, path[1:]):
                assert right in graph[left]
        return
    check_valid(result)
    flat = [service for level in result['levels'] for service in level]
    assert sorted(flat) == sorted(graph)


@SETTINGS
@given(st.text(max_size=40), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_interpolation_never_crashes(text, variables):
    try:
        result = compose.interpolate_string(text, variables, 'x', [])
    except ComposeError as exc:
        assert str(exc).strip()
        return
    assert isinstance(result, str)
    if '$' not in text:
        assert result == text


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_characters='$'), max_size=30))
def test_escaped_dollars_round_trip(text):
    assert compose.interpolate_string(text.replace('x', '$$'), {}) == text.replace('x', '$')


@SETTINGS
@given(st.text(max_size=200))
def test_env_files_never_crash(text):
    try:
        result = compose.parse_env_file(text, 'fuzz.env')
    except ComposeError as exc:
        assert str(exc).startswith('fuzz.env, line ')
        return
    assert all(isinstance(key, str) and (value is None or isinstance(value, str)) for key, value in result.items())
