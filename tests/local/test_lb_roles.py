"""The lb and glb roles and playbooks/glb_drain.yml, run with ansible-playbook against localhost and the local engine.

The roles run their containers (named after the test prefix) on the test network, in front of the two test
backends ``a`` and ``b``; their ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
import yaml

from lbtest import REPO, Load, get, recap, run_playbook, wait_for
from lbtest import backends, engine, network, tag, workdir  # noqa: F401  pylint: disable=unused-import  (fixtures)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_playbook(directory, role):
    playbook = directory / ('%s.yml' % role)
    playbook.write_text(yaml.safe_dump([{
        'name': 'Apply the %s role' % role, 'hosts': 'all', 'gather_facts': False, 'roles': [{'role': role}],
    }]))
    return playbook


def write_inventory(path, group, variables):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': __import__('sys').executable}
    path.write_text(yaml.safe_dump({'all': {'children': {group: {'hosts': {'localhost': host}, 'vars': variables}}}}))
    return path


def play(playbook, inventory, *args):
    result = run_playbook(playbook, inventory, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return recap(result.stdout), result.stdout


@pytest.fixture(scope='module')
def lb_setup(workdir, network, backends, tag):
    directory = workdir / 'role-lb'
    directory.mkdir()
    port = free_port()
    variables = dict(lb_container_name=tag + '-rlb', lb_config_dir=str(directory / 'conf.d'), lb_state_dir=str(directory / 'state'),
                     lb_bind_address='127.0.0.1',
                     lb_networks=[{'name': network}], lb_wait_timeout=120)

    def apps(target, version, extra=False):
        result = [dict(name='fleet', listen_port=port, servers=[{'address': backends[target], 'port': 8080}],
                       backup_servers=[{'address': backends['b' if target == 'a' else 'a'], 'port': 8080}],
                       labels={'version': version})]
        if extra:
            result.append(dict(name='extra', listen_port=port, server_name='extra.test',
                               servers=[{'address': backends['a'], 'port': 8080}]))
        return result

    def inventory(name, lb_apps):
        return write_inventory(directory / name, 'lb', dict(variables, lb_apps=lb_apps))

    return dict(directory=directory, port=port, apps=apps, inventory=inventory, playbook=write_playbook(directory, 'lb'))


def test_lb_role_runs_twice_switches_and_removes(lb_setup, engine, tag):
    setup = lb_setup
    port, conf = setup['port'], setup['directory'] / 'conf.d'
    first = setup['inventory']('first.yml', setup['apps']('a', '1'))

    # Check mode on a host without the load balancer: reports the changes, creates nothing.
    counts, dummy = play(setup['playbook'], first, '--check')
    assert counts['changed'] > 0 and not conf.exists()
    assert not engine.containers.list(all=True, filters={'name': tag + '-rlb'})

    counts, dummy = play(setup['playbook'], first)
    assert counts['changed'] > 0 and counts['failed'] == 0
    wait_for(lambda: get(port)[0] == 200, what='the load balancer to answer')
    status, body, headers = get(port)
    assert (status, body, headers.get('X-LB'), headers.get('X-Release-Version')) == (200, 'a', 'localhost', '1')
    assert get(port, '/__lb/health')[:2] == (200, 'ok')
    mounts = engine.containers.get(tag + '-rlb').attrs['Mounts']
    assert [(m['Destination'], m['RW']) for m in mounts] == [('/etc/nginx/conf.d', False)]

    counts, dummy = play(setup['playbook'], first)
    assert counts['changed'] == 0, counts
    counts, dummy = play(setup['playbook'], first, '--check')
    assert counts['changed'] == 0, counts

    # The JSON access log, as the A/B analysis will read it.
    logs = engine.containers.get(tag + '-rlb').logs(stdout=True, stderr=False).decode()
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith('{')]
    entry = [e for e in entries if e['uri'] == '/'][-1]
    assert entry['app'] == 'fleet' and entry['lb'] == 'localhost' and entry['version'] == '1' and entry['status'] == 200
    assert entry['upstream_addr'].endswith(':8080') and float(entry['upstream_response_time']) >= 0

    # The id of a request: one the global load balancer gave (32 hex digits) is kept, in the answer and in the log;
    # anything else is replaced by a new one.
    given = '0123456789abcdef0123456789abcdef'
    assert get(port, headers={'X-Request-Id': given})[2].get('X-Request-Id') == given
    new_id = get(port, headers={'X-Request-Id': 'x; rm -rf'})[2].get('X-Request-Id')
    assert len(new_id) == 32 and new_id != given and int(new_id, 16) >= 0

    def logged_ids():
        logs = engine.containers.get(tag + '-rlb').logs(stdout=True, stderr=False, tail=10).decode()
        return [json.loads(line)['request_id'] for line in logs.splitlines() if line.startswith('{')]

    # The engine takes the log lines in a moment after the answers.
    wait_for(lambda: new_id in logged_ids(), what='the access log of the last request')
    assert logged_ids()[-2:] == [given, new_id], logged_ids()

    # Switch to version 2 on backend b, with a second app on the same port, under load.
    second = setup['inventory']('second.yml', setup['apps']('b', '2', extra=True))
    with Load(port, threads=4, rate=150) as load:
        time.sleep(1.0)
        counts, output = play(setup['playbook'], second)
        done = time.monotonic()
        time.sleep(1.0)
    assert counts['changed'] == 2, output  # fleet.conf and extra.conf in one task, and apps.json
    assert load.failures() == []
    assert set(load.bodies_started_after(done)) == {'b'}
    assert sorted(p.name for p in conf.glob('*.conf')) == ['_status.conf', 'extra.conf', 'fleet.conf']
    assert get(port)[2].get('X-Release-Version') == '2'

    # The extra app is removed by a run that no longer lists it.
    counts, dummy = play(setup['playbook'], setup['inventory']('third.yml', setup['apps']('b', '2')))
    assert counts['changed'] == 2  # extra.conf removed, apps.json
    assert sorted(p.name for p in conf.glob('*.conf')) == ['_status.conf', 'fleet.conf']
    assert (conf / 'extra.conf.previous').exists()


@pytest.fixture(scope='module')
def glb_setup(workdir, network, backends, tag):
    directory = workdir / 'role-glb'
    directory.mkdir()
    port = free_port()
    variables = dict(glb_container_name=tag + '-glb', glb_config_dir=str(directory / 'conf.d'),
                     glb_state_dir=str(directory / 'state'), glb_bind_address='127.0.0.1', glb_listen_port=port,
                     glb_networks=[{'name': network}], glb_wait_timeout=120)
    apps = [dict(name='fleet', clouds=[
        dict(name='cloud-a', address=backends['a'], port=8080, weight=1, drain=False),
        dict(name='cloud-b', address=backends['b'], port=8080, weight=1, drain=False)])]
    return dict(directory=directory, port=port,
                inventory=write_inventory(directory / 'inventory.yml', 'glb', dict(variables, glb_apps=apps)),
                bare_inventory=write_inventory(directory / 'bare.yml', 'glb', variables),
                playbook=write_playbook(directory, 'glb'))


def answers(port, count=20):
    return [get(port)[1] for dummy in range(count)]


def test_glb_weights_drain_and_failover(glb_setup, engine, tag):
    setup = glb_setup
    port, drain = setup['port'], REPO / 'playbooks' / 'glb_drain.yml'
    drain_file = setup['directory'] / 'state' / 'drain.json'

    counts, dummy = play(setup['playbook'], setup['inventory'])
    assert counts['changed'] > 0
    wait_for(lambda: get(port)[0] == 200, what='the global load balancer to answer')
    assert set(answers(port)) == {'a', 'b'}
    headers = get(port)[2]
    assert headers.get('X-GLB') == 'localhost' and len(headers.get('X-Request-Id', '')) == 32, headers

    def glb_logged_ids():
        logs = engine.containers.get(tag + '-glb').logs(stdout=True, stderr=False, tail=10).decode()
        return [json.loads(line)['request_id'] for line in logs.splitlines() if line.startswith('{')]

    wait_for(lambda: headers['X-Request-Id'] in glb_logged_ids(), what='the request id in the access log of the GLB')

    # Drain cloud-a under load: no failure, and then only b.
    with Load(port, threads=4, rate=150) as load:
        time.sleep(1.0)
        counts, dummy = play(drain, setup['inventory'], '-e', 'cloud=cloud-a', '-e', 'app=fleet')
        done = time.monotonic()
        time.sleep(1.0)
    assert counts['changed'] == 2  # drain.json and fleet.conf
    assert load.failures() == []
    assert set(load.bodies_started_after(done)) == {'b'}
    assert json.loads(drain_file.read_text())['apps']['fleet']['cloud-a']['drain'] is True
    assert '# Cloud cloud-a' in (setup['directory'] / 'conf.d' / 'fleet.conf').read_text()

    # Draining the last cloud is refused and changes nothing.
    before = drain_file.read_text()
    result = run_playbook(drain, setup['inventory'], '-e', 'cloud=cloud-b', '-e', 'app=fleet')
    assert result.returncode != 0
    assert 'would leave app fleet without a cloud' in result.stdout
    assert drain_file.read_text() == before

    # The role keeps the drain (drain.json wins over the inventory's flag): no change, still only b.
    counts, dummy = play(setup['playbook'], setup['inventory'])
    assert counts['changed'] == 0
    assert set(answers(port)) == {'b'}

    # Undrain, with an inventory without glb_apps: the playbook takes them from apps.json.
    counts, dummy = play(drain, setup['bare_inventory'], '-e', 'cloud=cloud-a', '-e', 'app=fleet', '-e', 'drain=false')
    assert counts['changed'] == 2
    assert set(answers(port)) == {'a', 'b'}

    # Failover: cloud-a dies under load; its requests are retried on cloud-b, the client sees no failure.
    backend_a = engine.containers.get(tag + '-backend-a')
    try:
        with Load(port, threads=4, rate=150) as load:
            time.sleep(1.0)
            backend_a.stop(timeout=1)
            time.sleep(3.0)
        assert load.failures() == []
        assert set(load.bodies_started_after(load.records[-1][0] - 1.0)) == {'b'}
    finally:
        backend_a.start()


def test_glb_tries_every_cloud_again_before_it_answers_502(glb_setup):
    """A cloud marked failed (max_fails failures within fail_timeout: a load balancer's reload that closes idle
    connections under the GLB counts as failures) and a failure of the other cloud for one request: the request is
    tried on each cloud once more before the GLB answers 502."""
    port = glb_setup['port']
    play(glb_setup['playbook'], glb_setup['inventory'])
    wait_for(lambda: set(answers(port)) == {'a', 'b'}, what='both clouds to answer')
    # cloud-b fails 30 requests within a second (each retried on cloud-a): every worker of the GLB leaves it out.
    assert {get(port, headers={'X-Fail': 'b'})[:2] for dummy in range(30)} == {(200, 'a')}
    # cloud-a fails the next request: the GLB tries cloud-a and cloud-b once more, and cloud-b answers.
    status, body, headers = get(port, headers={'X-Fail': 'a'})
    assert (status, body) == (200, 'b'), (status, body, headers)


def test_lb_render_and_prune_false(lb_setup, backends):
    """render writes nothing and gives the file the role writes; lb_prune false leaves the other apps' files."""
    setup = lb_setup
    conf = setup['directory'] / 'conf.d'
    current = setup['apps']('b', '2')
    out = setup['directory'] / 'rendered.json'
    render = setup['directory'] / 'render-play.yml'
    render.write_text(yaml.safe_dump([{'name': 'Render', 'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'Render', 'ansible.builtin.include_role': {'name': 'lb', 'tasks_from': 'render'}},
        {'name': 'Keep', 'ansible.builtin.copy': {'content': '{{ lb_rendered | to_json }}', 'dest': str(out), 'mode': '0644'}},
    ]}]))
    before = sorted(p.name for p in conf.iterdir())
    play(render, setup['inventory']('render.yml', current))
    rendered = json.loads(out.read_text())
    assert rendered['container'].endswith('-rlb') and rendered['reload_timeout'] == 10
    assert [f['path'] for f in rendered['files']] == [str(conf / 'fleet.conf')]
    assert rendered['files'][0]['content'].rstrip('\n') == (conf / 'fleet.conf').read_text().rstrip('\n')
    assert sorted(p.name for p in conf.iterdir()) == before

    # Only another app on a port of its own, without pruning: fleet.conf stays, and the container (recreated to
    # publish the new port) still publishes fleet's.
    other_port = free_port()
    other = [dict(name='other', listen_port=other_port, servers=[{'address': backends['a'], 'port': 8080}])]
    counts, dummy = play(setup['playbook'], setup['inventory']('other-only.yml', other), '-e', 'lb_prune=false')
    assert counts['changed'] > 0
    assert {'fleet.conf', 'other.conf'} <= {p.name for p in conf.glob('*.conf')}
    wait_for(lambda: get(other_port)[0] == 200, what='the other app to answer')
    assert get(other_port)[1] == 'a'
    assert get(setup['port'])[2].get('X-Release-Version') == '2'
    applied = json.loads((setup['directory'] / 'state' / 'apps.json').read_text())
    assert sorted(app['name'] for app in applied['apps']) == ['fleet', 'other']
    counts, dummy = play(setup['playbook'], setup['inventory']('other-only.yml', other), '-e', 'lb_prune=false')
    assert counts['changed'] == 0, counts


def test_glb_prune_false_changes_only_the_apps_given(glb_setup):
    setup = glb_setup
    conf = setup['directory'] / 'conf.d'
    applied = setup['directory'] / 'state' / 'apps.json'
    fleet_before = (conf / 'fleet.conf').read_text()
    other = [dict(name='other', listen_port=setup['port'], server_name='other.test', clouds=[dict(name='cloud-a', address='127.0.0.1', port=9, weight=1)])]
    inventory = write_inventory(setup['directory'] / 'other.yml', 'glb',
                                dict(yaml.safe_load(setup['inventory'].read_text())['all']['children']['glb']['vars'],
                                     glb_apps=other))
    counts, dummy = play(setup['playbook'], inventory, '-e', 'glb_prune=false', '--check')
    assert counts['changed'] > 0 and not (conf / 'other.conf').exists()
    counts, dummy = play(setup['playbook'], inventory, '-e', 'glb_prune=false')
    assert counts['changed'] > 0
    assert (conf / 'fleet.conf').read_text() == fleet_before and (conf / 'other.conf').exists()
    assert sorted(a['name'] for a in json.loads(applied.read_text())['apps']) == ['fleet', 'other']
    counts, dummy = play(setup['playbook'], inventory, '-e', 'glb_prune=false')
    assert counts['changed'] == 0
    # The default prunes: the inventory's apps only.
    counts, dummy = play(setup['playbook'], setup['inventory'])
    assert not (conf / 'other.conf').exists() and (conf / 'fleet.conf').exists()
    assert [a['name'] for a in json.loads(applied.read_text())['apps']] == ['fleet']


def get_with(port, headers):
    """One GET with request ``headers``; return ``(body, X-Variant, the bucket's cookie or None)``."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        conn.request('GET', '/', headers=headers)
        response = conn.getresponse()
        body = response.read().decode().strip()
        cookie = response.getheader('Set-Cookie')
        return body, response.getheader('X-Variant'), cookie.split(';')[0] if cookie else None
    finally:
        conn.close()


def test_lb_ab_split_sticky_forced_and_logged(lb_setup, backends, engine, tag):
    """An app with a variant: new clients split by weight, kept by their cookie or by a header, forced by X-Variant
    or hna_variant, and every log line names its variant; the weight only moves clients from a to b."""
    setup = lb_setup
    port = setup['port']

    def apps(weight, key=''):
        return [dict(name='fleet', listen_port=port, servers=[{'address': backends['a'], 'port': 8080}],
                     labels={'version': '1'},
                     variant=dict(version='2', servers=[{'address': backends['b'], 'port': 8080}], weight=weight,
                                  key=key, salt='7'))]

    counts, dummy = play(setup['playbook'], setup['inventory']('ab-20.yml', apps(20)))
    assert counts['changed'] > 0
    counts, dummy = play(setup['playbook'], setup['inventory']('ab-20.yml', apps(20)))
    assert counts['changed'] == 0, counts
    firsts = [get_with(port, {}) for dummy in range(1000)]
    assert all(variant == {'a': 'a', 'b': 'b'}[body] and cookie.startswith('hna_ab_fleet=') for body, variant, cookie in firsts)
    share = sum(1 for body, dummy, dummy2 in firsts if body == 'b') / 10.0
    assert 15.0 <= share <= 25.0, share
    # Repeated with its cookie, a client stays; at 50% every client of b stays on b and some of a move to b.
    assert all(get_with(port, {'Cookie': cookie})[0] == body for body, dummy, cookie in firsts[:200])
    for forced, body in (('b', 'b'), ('a', 'a'), ('B', 'b')):
        assert get_with(port, {'X-Variant': forced})[:2] == (body, body)
        assert get_with(port, {'Cookie': 'hna_variant=%s' % forced.lower()})[0] == body
    assert get_with(port, {'X-Variant': 'a', 'Cookie': 'hna_ab_fleet=0; hna_variant=b'})[0] == 'a'
    assert get_with(port, {'Cookie': 'hna_ab_fleet=19'})[0] == 'b' and get_with(port, {'Cookie': 'hna_ab_fleet=20'})[0] == 'a'

    play(setup['playbook'], setup['inventory']('ab-50.yml', apps(50)))
    after = [get_with(port, {'Cookie': cookie})[0] for dummy, dummy2, cookie in firsts]
    assert all(new == 'b' for (old, dummy, dummy2), new in zip(firsts, after) if old == 'b')
    assert 40.0 <= sum(1 for body in after if body == 'b') / 10.0 <= 60.0

    # Each line of the access log names the variant and the version that served.
    logs = engine.containers.get(tag + '-rlb').logs(stdout=True, stderr=False, tail=50).decode()
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith('{')]
    assert entries and all((e['variant'], e['version']) in (('a', '1'), ('b', '2')) for e in entries), entries[-3:]

    # A header as the key: the same user gets the same variant without a cookie; weight 0 and 100.
    play(setup['playbook'], setup['inventory']('ab-key.yml', apps(20, key='X-User')))
    users = [get_with(port, {'X-User': 'user%d' % index}) for index in range(300)]
    assert all(cookie is None for dummy, dummy2, cookie in users)
    assert [get_with(port, {'X-User': 'user%d' % index})[0] for index in range(300)] == [body for body, dummy, dummy2 in users]
    assert 0 < sum(1 for body, dummy, dummy2 in users if body == 'b') < 150
    play(setup['playbook'], setup['inventory']('ab-0.yml', apps(0)))
    assert {get_with(port, {})[0] for dummy in range(50)} == {'a'}
    play(setup['playbook'], setup['inventory']('ab-100.yml', apps(100)))
    assert {get_with(port, {})[0] for dummy in range(50)} == {'b'}
    assert get_with(port, {'X-Variant': 'a'})[0] == 'a'
