# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the pure logic of the container engine: safe replacement, leftovers, ports, networks, messages."""

from __future__ import annotations

import threading
import time

import docker.errors
import pytest
import requests

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_client as dc
from ansible_collections.hna.cloudos.plugins.module_utils import _docker_engine as de

OLD_ID = 'a1' * 32
ANON = 'f' * 64


def spec(**kwargs):
    kwargs.setdefault('name', 'db')
    kwargs.setdefault('image', 'hnatest/busybox:1')
    return de.container_spec(**kwargs)


def inspected(mounts=(), host_mounts=(), labels=None, ports=None, networks=None, running=True, stop_timeout=None):
    config = {'Labels': dict(labels or {}), 'Env': []}
    if stop_timeout is not None:
        config['StopTimeout'] = stop_timeout
    return {
        'Id': OLD_ID, 'Name': '/db', 'Config': config,
        'State': {'Running': running, 'Status': 'running' if running else 'exited'},
        'HostConfig': {'Mounts': list(host_mounts), 'PortBindings': ports or {}},
        'Mounts': list(mounts),
        'NetworkSettings': {'Networks': networks or {}},
    }


# --- replace mode -----------------------------------------------------------------------------------


def test_a_shared_named_volume_makes_the_replacement_stop_first():
    old = inspected(mounts=[{'Type': 'volume', 'Name': 'dbdata', 'Destination': '/var/lib/mysql'}],
                    host_mounts=[{'Type': 'volume', 'Source': 'dbdata', 'Target': '/var/lib/mysql'}])
    reasons = de.replace_reasons(spec(volumes=['dbdata:/var/lib/mysql']), old)
    assert reasons == ['the volume dbdata (/var/lib/mysql) is shared with the old container']


def test_a_read_only_shared_mount_does_not_stop_the_old_container_first():
    old = inspected(mounts=[{'Type': 'bind', 'Source': '/srv/conf', 'Destination': '/conf'}])
    assert de.replace_reasons(spec(volumes=['/srv/conf:/conf:ro']), old) == []
    assert de.replace_reasons(spec(volumes=['/srv/conf/:/conf']), old) == [
        'the bind mount /srv/conf (/conf) is shared with the old container']


def test_a_host_port_counts_only_when_the_old_container_publishes_it():
    old = inspected(ports={'80/tcp': [{'HostIp': '127.0.0.1', 'HostPort': '8080'}]})
    assert de.replace_reasons(spec(ports=['127.0.0.1:8080:80']), old) == [
        'the host port 8080/tcp is published by the old container']
    assert de.replace_reasons(spec(ports=['127.0.0.1:9090:80']), old) == []


def test_a_pinned_address_held_by_the_old_container_makes_it_stop_first():
    old = inspected(networks={'net': {'Aliases': [], 'IPAMConfig': {'IPv4Address': '10.1.0.5'}}})
    new = spec(networks=[{'name': 'net', 'ipv4_address': '10.1.0.5'}])
    assert de.replace_reasons(new, old) == ["the IPv4 address 10.1.0.5 on net is the old container's"]


# --- anonymous volumes ------------------------------------------------------------------------------


def test_anonymous_volumes_are_carried_by_target():
    old = inspected(mounts=[{'Type': 'volume', 'Name': ANON, 'Destination': '/data'},
                            {'Type': 'volume', 'Name': 'named', 'Destination': '/named'}],
                    host_mounts=[{'Type': 'volume', 'Target': '/data'}, {'Type': 'volume', 'Source': 'named', 'Target': '/named'}])
    new = spec(volumes=['/data', '/named', '/other'])
    carried = de.carried_volumes(new, old)
    assert carried == {'/data': ANON}
    assert de.replace_reasons(new, old, carried) == ['the anonymous volume ffffffffffff (/data) is carried from the old container']


def test_a_carried_volume_is_carried_again_and_hidden_from_the_comparison():
    old = inspected(mounts=[{'Type': 'volume', 'Name': ANON, 'Destination': '/data'}],
                    host_mounts=[{'Type': 'volume', 'Source': ANON, 'Target': '/data'}],
                    labels={de.LABEL_ANONYMOUS_VOLUMES: ANON, 'keep': 'me'})
    assert de.carried_volumes(spec(volumes=['/data']), old) == {'/data': ANON}
    assert de.engine_volumes(old) == [ANON]
    view = de.engine_view(old)
    assert view['Config']['Labels'] == {'keep': 'me'}
    assert view['HostConfig']['Mounts'] == [{'Type': 'volume', 'Target': '/data'}]
    assert old['HostConfig']['Mounts'][0]['Source'] == ANON  # the inspected container itself is not changed


def test_a_named_volume_is_never_carried():
    old = inspected(mounts=[{'Type': 'volume', 'Name': 'named', 'Destination': '/data'}],
                    host_mounts=[{'Type': 'volume', 'Source': 'named', 'Target': '/data'}])
    assert de.carried_volumes(spec(volumes=['/data']), old) == {}


# --- leftovers and ports ----------------------------------------------------------------------------


def test_leftover_pattern_matches_only_the_temporary_names_of_that_name():
    pattern = de.leftover_pattern('web.1')
    assert pattern.match('web.1-new-0123abcd') and pattern.match('web.1-old-0123456789ab')
    assert not pattern.match('web.1-new-x') and not pattern.match('webx1-new-0123abcd') and not pattern.match('web.1-api')


def listing(name, ip, port, protocol='tcp', cid='b' * 64):
    return {'Id': cid, 'Names': ['/' + name], 'Ports': [{'IP': ip, 'PrivatePort': 80, 'PublicPort': port, 'Type': protocol}]}


def test_port_conflicts_find_other_holders_and_skip_the_replaced_container():
    web = spec(name='web', ports=['127.0.0.1:8080:80'])
    assert de.port_conflicts([web], [listing('other', '0.0.0.0', 8080)]) == [
        {'name': 'web', 'port': '127.0.0.1:8080/tcp', 'holder': 'other'}]
    assert de.port_conflicts([web], [listing('other', '127.0.0.2', 8080)]) == []
    assert de.port_conflicts([web], [listing('other', '0.0.0.0', 8080, 'udp')]) == []
    assert de.port_conflicts([web], [listing('web', '127.0.0.1', 8080), listing('web-new-0123abcd', '127.0.0.1', 8080)]) == []
    assert de.port_conflicts([web], [listing('old', '127.0.0.1', 8080)], replacing=['old']) == []


def test_port_conflicts_between_specs():
    one = spec(name='one', ports=['8080:80'])
    two = spec(name='two', ports=['127.0.0.1:8080:80'])
    assert de.port_conflicts([one, two], []) == [{'name': 'two', 'port': '127.0.0.1:8080/tcp', 'holder': 'one'}]


# --- requests, with a fake engine -------------------------------------------------------------------


class Client(object):
    check_mode = False
    docker_host = 'unix:///var/run/docker.sock'
    params = {'timeout': 5}


class NetworkAPI(object):
    """Connects and disconnects; refuses the connections in ``refuse`` (``(network, aliases)``)."""

    def __init__(self, refuse=()):
        self.calls = []
        self.refuse = refuse

    def connect_container_to_network(self, cid, net, ipv4_address=None, aliases=None):
        self.calls.append(('connect', net, tuple(aliases or ())))
        if (net, tuple(aliases or ())) in self.refuse:
            raise docker.errors.APIError('refused', explanation='Address already in use')

    def disconnect_container_from_network(self, cid, net):
        self.calls.append(('disconnect', net))


def network_plan(before, after):
    container = inspected(networks=dict((name, {'Aliases': list(aliases)}) for name, aliases in before.items()))
    wanted = spec(networks=[{'name': name, 'aliases': list(aliases)} for name, aliases in after.items()])
    return dict(name='db', spec=wanted, container=container, differences=[de.compare_networks(wanted, container)])


def test_network_changes_connect_before_they_disconnect():
    api = NetworkAPI()
    engine = de.ContainerEngine(Client(), api=api)
    engine._update_networks(OLD_ID, network_plan({'a': ['x']}, {'b': ['y']}))
    assert api.calls == [('connect', 'b', ('y', )), ('disconnect', 'a')]


def test_a_refused_network_change_is_undone():
    api = NetworkAPI(refuse=[('b', ('y', ))])
    engine = de.ContainerEngine(Client(), api=api)
    with pytest.raises(de.ContainerEngineError) as caught:
        engine._update_networks(OLD_ID, network_plan({'a': ['x'], 'b': []}, {'b': ['y'], 'c': []}))
    assert caught.value.msg == ('The Docker engine at unix:///var/run/docker.sock could not connect the container db to the '
                                'network b: Address already in use. The networks of the container db were left as they were.')
    assert api.calls == [
        ('connect', 'c', ()),                            # the new network first
        ('disconnect', 'b'), ('connect', 'b', ('y', )),  # the changed one: refused
        ('disconnect', 'b'),                             # the half-made connection
        ('connect', 'b', ()),                            # undo: b as it was
        ('disconnect', 'c'),                             # undo: c
    ]
    assert ('disconnect', 'a') not in api.calls


class TimeoutAPI(object):
    """The create request times out, although the engine created the container."""

    def __init__(self):
        self.removed = []

    def create_container_from_config(self, config, name=None):
        raise requests.exceptions.ReadTimeout('Read timed out. (read timeout=5)')

    def remove_container(self, cid, force=False, v=False):
        self.removed.append(cid)


def test_a_create_that_times_out_leaves_no_container_and_says_so():
    api = TimeoutAPI()
    engine = de.ContainerEngine(Client(), api=api)
    with pytest.raises(de.ContainerEngineError) as caught:
        engine._create(spec(), 'db-new-0123abcd')
    assert api.removed == ['db-new-0123abcd']
    assert 'did not answer in time to create the container db-new-0123abcd (timeout: 5 s)' in caught.value.msg
    assert 'Cannot reach' not in caught.value.msg


class StopAPI(object):
    def __init__(self):
        self.stops = []

    def stop(self, cid, timeout=None):
        self.stops.append(timeout)

    def remove_container(self, cid, v=False, force=False):
        pass


def test_removal_passes_the_container_stop_timeout_so_the_request_waits_for_it():
    api = StopAPI()
    engine = de.ContainerEngine(Client(), api=api)
    engine._remove(OLD_ID, force=False, volumes=False, stop_timeout=None, running=True, container=inspected(stop_timeout=75))
    engine._remove(OLD_ID, force=False, volumes=False, stop_timeout=None, running=True, container=inspected())
    engine._remove(OLD_ID, force=False, volumes=False, stop_timeout=3, running=True, container=inspected(stop_timeout=75))
    assert api.stops == [75, de.DEFAULT_STOP_TIMEOUT, 3]


# --- messages ---------------------------------------------------------------------------------------


class Answer(object):
    def __init__(self, status):
        self.status_code = status


def test_an_html_answer_is_summarised_in_one_line():
    page = '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>' + 'x' * 5000 + '</body></html>'
    exc = docker.errors.APIError('404', response=Answer(404), explanation=page)
    message = dc.api_error_message('tcp://192.0.2.1:2375', 'tell its version', exc)
    assert message == ('The service at tcp://192.0.2.1:2375 answered HTTP 404 with a web page ("404 Not Found") instead of a '
                       'Docker engine answer: check docker_host (or DOCKER_HOST) points at the Docker engine.')


def test_a_read_timeout_is_not_called_unreachable():
    exc = requests.exceptions.ReadTimeout('UnixHTTPConnectionPool(host=localhost, port=None): Read timed out. (read timeout=60)')
    message = dc.connection_error_message('unix:///var/run/docker.sock', exc, 60, 'stop the container web')
    assert message.startswith('The Docker engine at unix:///var/run/docker.sock did not answer in time to stop the container '
                              'web (timeout: 60 s)')
    assert 'Cannot reach' not in message and 'running' not in message


class PullAPI(object):
    """A registry that needs credentials: without them the engine ends with its HTTP retry's error."""

    def __init__(self):
        self.auth = []

    def pull(self, repository, tag=None, stream=False, decode=False, auth_config=None):
        self.auth.append(auth_config)
        if auth_config is None:
            raise docker.errors.APIError('500', response=Answer(500), explanation='error parsing HTTP 400 response body: '
                                         '"Client sent an HTTP request to an HTTPS server.\\n"')
        return iter([{'status': 'Pulled'}])


def test_pulls_send_the_stored_credentials_and_say_when_there_are_none(tmp_path):
    config = tmp_path / 'config.json'
    config.write_text('{"auths": {"registry.example:5000": {"auth": "dXNlcjpzZWNyZXQ="}}}')
    client = Client()
    client.params = {'timeout': 5, 'config_path': str(config)}
    api = PullAPI()
    de.ContainerEngine(client, api=api)._pull('registry.example:5000/shop/web:1')
    assert api.auth == [{'serveraddress': 'registry.example:5000', 'username': 'user', 'password': 'secret'}]
    with pytest.raises(de.ContainerEngineError) as caught:
        de.ContainerEngine(client, api=api)._pull('other.example:5000/shop/web:1')
    assert caught.value.msg.endswith('No credentials for other.example:5000 were found in %s: log in first '
                                     '(hna.cloudos.registry_login or docker login).' % config)
    assert 'only accepts TLS' not in caught.value.msg and 'secret' not in caught.value.msg


# --- a new replica joins the aliases once healthy ----------------------------------------------------


class ReplicaAPI(NetworkAPI):
    """Creates, starts and inspects one container; it is healthy from the second inspection on."""

    api_version = '1.41'

    def __init__(self):
        NetworkAPI.__init__(self)
        self.inspections = 0

    def create_container_from_config(self, config, name=None):
        endpoints = (config.get('NetworkingConfig') or {}).get('EndpointsConfig') or {}
        self.calls.append(('create', name, dict((net, tuple(ep.get('Aliases') or ())) for net, ep in endpoints.items())))
        return {'Id': 'c' * 64}

    def start(self, cid):
        self.calls.append(('start', ))

    def inspect_container(self, cid):
        self.inspections += 1
        health = 'healthy' if self.inspections > 1 else 'starting'
        self.calls.append(('inspect', health))
        return {'Id': cid, 'Name': '/web-2', 'State': {'Running': True, 'Status': 'running', 'Health': {'Status': health}},
                'Config': {'Image': 'hnatest/web:1'}, 'HostConfig': {}, 'NetworkSettings': {'Networks': {}}}


def replica_plan(join_when_ready):
    wanted = spec(name='web-2', image='hnatest/web:1', networks=[{'name': 'shop', 'aliases': ['web']}])
    return dict(name='web-2', spec=wanted, container=None, action='create', actions=['create', 'start'], differences=[],
                state='started', join_when_ready=join_when_ready)


def test_a_new_replica_joins_the_aliases_only_once_healthy(monkeypatch):
    monkeypatch.setattr(de, 'POLL_INTERVAL', 0)
    api = ReplicaAPI()
    de.ContainerEngine(Client(), api=api).apply(replica_plan(True), wait='running', quota=False)
    assert api.calls[0] == ('create', 'web-2', {'shop': ()})
    assert api.calls[1:] == [('start', ), ('inspect', 'starting'), ('inspect', 'healthy'),
                             ('disconnect', 'shop'), ('connect', 'shop', ('web', 'web-2')), ('inspect', 'healthy')]


def test_a_first_container_is_created_with_its_aliases(monkeypatch):
    monkeypatch.setattr(de, 'POLL_INTERVAL', 0)
    api = ReplicaAPI()
    de.ContainerEngine(Client(), api=api).apply(replica_plan(False), wait='running', quota=False)
    assert api.calls[0] == ('create', 'web-2', {'shop': ('web', )})
    assert ('disconnect', 'shop') not in api.calls


# --- renames of running containers, apart from endpoint removals ------------------------------------


def _started(target):
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _through(hold, events, label):
    """A thread body that passes through the gate (``hold`` is its ``removing`` or ``renaming``), noting ``label``."""
    def body():
        with hold():
            events.append(label)
    return body


def _held_removal(gate, events, inside=None):
    """A removal that holds the gate until told to end; returns its thread and that event (once it is inside)."""
    entered = threading.Event()
    may_end = threading.Event()

    def body():
        with gate.removing():
            entered.set()
            if inside:
                inside()
            may_end.wait(5)
            events.append('first removal ends')

    thread = _started(body)
    assert entered.wait(5)
    return thread, may_end


def test_a_rename_waits_for_the_endpoint_removals_in_flight():
    gate = de._EndpointGate()
    events = []
    first, may_end = _held_removal(gate, events)
    renamer = _started(_through(gate.renaming, events, 'rename'))
    renamer.join(0.2)
    assert renamer.is_alive()  # held back by the removal
    may_end.set()
    first.join(5)
    renamer.join(5)
    assert events == ['first removal ends', 'rename']


def test_removals_run_side_by_side_but_wait_behind_a_waiting_rename():
    gate = de._EndpointGate()
    events = []
    # A second removal beside the first one is not held back.
    first, may_end = _held_removal(gate, events, inside=_through(gate.removing, events, 'second removal beside the first'))
    renamer = _started(_through(gate.renaming, events, 'rename'))
    deadline = time.monotonic() + 5
    while not gate._waiting and time.monotonic() < deadline:  # until the rename waits
        time.sleep(0.01)
    assert gate._waiting == 1
    late = _started(_through(gate.removing, events, 'late removal'))
    late.join(0.2)
    assert late.is_alive()  # a rename never waits for removals that arrive after it
    may_end.set()
    for thread in (first, renamer, late):
        thread.join(5)
    assert events == ['second removal beside the first', 'first removal ends', 'rename', 'late removal']


class RenameAPI(object):
    """Records what a rename of a running container asks of the engine, and whether the gate was held."""

    def __init__(self):
        self.calls = []

    def _held(self):
        return 'renaming' if de.ENDPOINTS._renaming else 'free'

    def inspect_container(self, cid):
        self.calls.append(('inspect', cid, self._held()))
        return {'Id': cid, 'NetworkSettings': {'Networks': {'shop': {}, 'shop-back': {}}}}

    def inspect_network(self, name):
        self.calls.append(('inspect network', name, self._held()))

    def rename(self, cid, name):
        self.calls.append(('rename', name, self._held()))


def test_a_rename_first_reloads_the_networks_of_the_container_under_the_gate():
    api = RenameAPI()
    de.ContainerEngine(Client(), api=api)._rename('rename it', OLD_ID, 'web')
    assert api.calls == [('inspect', OLD_ID, 'renaming'), ('inspect network', 'shop', 'renaming'),
                         ('inspect network', 'shop-back', 'renaming'), ('rename', 'web', 'renaming')]
    assert not de.ENDPOINTS._renaming


class RemovalAPI(object):
    """Records, for each request that removes an endpoint, how many removals held the gate meanwhile."""

    def __init__(self):
        self.calls = []

    def stop(self, cid, timeout=None):
        self.calls.append(('stop', de.ENDPOINTS._removals))

    def kill(self, cid):
        self.calls.append(('kill', de.ENDPOINTS._removals))

    def inspect_container(self, cid):
        self.calls.append(('inspect', de.ENDPOINTS._removals))
        return {'Id': cid}

    def remove_container(self, cid, v=False, force=False):
        self.calls.append(('remove', de.ENDPOINTS._removals))

    def disconnect_container_from_network(self, cid, net):
        self.calls.append(('disconnect', de.ENDPOINTS._removals))


def test_stops_kills_removals_and_disconnects_hold_the_gate_until_the_engine_is_done():
    api = RemovalAPI()
    engine = de.ContainerEngine(Client(), api=api)
    engine._stop(OLD_ID, 'db', False, 10)
    engine._stop(OLD_ID, 'db', True, 10)
    engine._remove(OLD_ID, force=False, volumes=False, stop_timeout=5, running=True, container={'Id': OLD_ID})
    engine._disconnect(OLD_ID, 'db', 'shop')
    assert api.calls == [('stop', 1), ('kill', 1), ('inspect', 1), ('stop', 1), ('remove', 1), ('disconnect', 1)]
    assert de.ENDPOINTS._removals == 0
