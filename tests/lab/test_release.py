"""Releases of the fleet app on the lab (playbooks/release.yml, rollback.yml, release_unlock.yml), under load.

A bounded load client (Python threads, about 50 requests/s in all, aimed only at the lab's global load balancer,
``glb_url``) runs during each release and rollback and counts every failed request (a connection error or an answer
that is not 2xx); a keepalive connection that the server closed while idle (an old nginx worker shutting down after a
reload) is resent once and counted apart, as HTTP clients do for idempotent requests.

The tests run in this order and leave the lab as `make lab` leaves it, at version 1:
- a rerun of the release of version 1 changes nothing, and check mode prints the plan of version 2 and changes
  nothing;
- release 1 -> 2 under load: 0 failed requests, then every answer is 2, and the ledger has the entry with every
  host's results; the file of a secret that left the inventory is removed, fleet's own kept;
- release of the broken version 3: the play fails naming a host and the health check, 0 failed requests, every
  load balancer and every node still serve 2;
- a second release while the lock is held fails naming the holder; release_unlock.yml frees it;
- a cloud drained at the global load balancer (playbooks/glb_drain.yml) under load: every answer comes from the other
  cloud's load balancer, 0 failed requests; undrained, both answer again;
- rollback 2 -> 1 under load (warm: a load-balancer switch only): 0 failed requests, the switch time is printed and at
  most 3 s, every answer is 1;
- release 1 -> 2 again, cloud by cloud, with a failure injected after the first cloud has switched (the new container
  of a node of the second cloud is stopped): the play fails naming that node, both clouds end on 1, 0 failed requests;
- a cold rollback to 2 (its containers removed on every node) under load: started from version 2's bundle, with
  version 2's environment (TZ, set for that release only), not today's; 0 failed requests;
- rollback to 1 (warm) leaves the lab as make lab left it; release_finish.yml with keep=2 then removes nothing, and
  keep=1 is refused.
"""

import http.client
import json
import re
import threading
import time
import urllib.parse

import pytest

from conftest import FLEET_ENV_2, HOSTVARS, INV, NODES, explain, node_host, run_module, run_playbook
from loadclient import Load

SECRETS_DIR = '/etc/hna-cloudos/releases/production/fleet/secrets'

GLB_URL = HOSTVARS['bj2-node1'].get('glb_url', 'http://10.231.0.12:8088')
LBS = INV.get('lb', {}).get('hosts', [])
LOCK_HOST = 'bj2-node1'
CLOUDS = sorted({HOSTVARS[n]['cloud_name'] for n in NODES})
ENV_2 = FLEET_ENV_2  # version 2's own environment (conftest)
# Post-switch checks of 5 s (10 by default) keep the runs short; the failure injected below needs 8.
VERIFY = 'release_verify_seconds=5'


def mixed_window(records, old, new):
    """Seconds from the first answer of ``new`` to the last answer of ``old`` seen through the GLB (0 if none)."""
    firsts = [r[0] for r in records if r[2] == new]
    lasts = [r[0] for r in records if r[2] == old]
    if not firsts or not lasts:
        return 0.0
    return max(0.0, max(lasts) - min(firsts))


def get_version(url):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
    try:
        conn.request('GET', parts.path or '/version')
        response = conn.getresponse()
        body = response.read().decode().strip()
        return response.status, response.getheader('X-App-Version'), body
    finally:
        conn.close()


def answers(count=20):
    return [get_version(GLB_URL + '/version') for _ in range(count)]


def recap(output):
    """``{host: {ok: N, changed: N, ...}}`` from the PLAY RECAP of ansible-playbook's output."""
    result = {}
    text = output.split('PLAY RECAP', 1)[-1]
    for line in text.splitlines():
        match = re.match(r'^(\S+)\s+:\s+(.*)$', line)
        if match:
            result[match.group(1)] = {k: int(v) for k, v in (item.split('=') for item in match.group(2).split())}
    return result


def ledger():
    rc, result = run_module(LOCK_HOST, 'hna.cloudos.release_info', 'app=fleet')
    assert rc == 0, result
    return result['ledger']


def release(*args):
    started = time.monotonic()
    res = run_playbook('playbooks/release.yml', '-e', 'app=fleet', '-e', VERIFY, *args)
    return res, time.monotonic() - started


@pytest.fixture(scope='module', autouse=True)
def at_version_1():
    """The lab must be at version 1, as make lab leaves it."""
    assert ledger()['current'] == '1', 'the lab is not at fleet 1: run make lab (or playbooks/rollback.yml)'
    yield


def test_rerun_of_the_current_release_changes_nothing():
    res, _ = release('-e', 'version=1')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    assert 'nothing to do' in res.stdout
    counts = recap(res.stdout)
    assert counts and all(c['changed'] == 0 and c['failed'] == 0 for c in counts.values()), counts


def test_check_mode_prints_the_plan_and_changes_nothing():
    before = ledger()['generation']
    res, _ = release('-e', 'version=2', '-e', ENV_2, '--check')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    text = ' '.join(res.stdout.split())  # the callback folds long messages
    for node in NODES:
        assert re.search(r'would run fleet-2 \(\S*@sha256:[0-9a-f]{64}\) on %s:' % re.escape(HOSTVARS[node]['ansible_host']),
                         text), res.stdout[-3000:]
    assert text.count('would switch the load balancer of') == len(LBS)
    assert ledger()['generation'] == before
    assert all(a[1] == '1' for a in answers(5))


def container_env(node, name):
    """The environment of container ``name`` on lab node ``node``, as a dict."""
    out = node_host(node).check_output("docker inspect --format '{{json .Config.Env}}' %s" % name)
    return dict(item.split('=', 1) for item in json.loads(out))


def test_release_1_to_2_under_load():
    # The file of a secret that was taken out of the inventory: the release removes it, and keeps fleet's own.
    for node in NODES:
        node_host(node).check_output("sh -c 'echo stale > %s/gone-token'" % SECRETS_DIR)
    with Load(GLB_URL) as load:
        res, wall = release('-e', 'version=2', '-e', ENV_2)
        time.sleep(2)
    print('release 1 -> 2: %.1f s, both versions answered for %.2f s at the GLB; %s'
          % (wall, mixed_window(load.records, '1', '2'), load.summary()))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr
    assert load.failures() == [], explain(load)
    assert len(load.records) > 100
    assert all(a[0] == 200 and a[1] == '2' and a[2] == '2' for a in answers()), answers(3)
    book = ledger()
    assert book['current'] == '2' and book['previous'] == '1'
    entry = book['history'][-1]
    assert entry['action'] == 'release' and entry['version'] == '2' and entry['from_version'] == '1'
    assert entry['result'] == 'ok'
    assert set(entry['hosts']) == set(NODES)
    assert all(steps == {'staged': 'ok', 'health': 'ok', 'switched': 'ok', 'verified': 'ok'}
               for steps in entry['hosts'].values()), entry['hosts']
    assert 'fleet (production): current 2, previous 1' in res.stdout
    for node in NODES:
        assert container_env(node, 'fleet-2')['TZ'] == 'Asia/Shanghai'
        assert container_env(node, 'fleet-1')['TZ'] == 'UTC'
        assert node_host(node).check_output('ls %s' % SECRETS_DIR).split() == ['db-password'], node


def test_release_of_the_broken_version_stops_at_the_health_gate():
    with Load(GLB_URL) as load:
        res, wall = release('-e', 'version=3')
    print('release 2 -> 3 (broken): %.1f s; %s' % (wall, load.summary()))
    assert res.returncode != 0, res.stdout[-3000:]
    message = re.search(r'release of fleet 3 failed on (\S+): (.*)', res.stdout)
    assert message, res.stdout[-4000:]
    assert message.group(1).rstrip(':') in NODES
    assert 'health check' in message.group(2)
    assert load.failures() == [], explain(load)
    assert all(r[2] == '2' for r in load.records if r[2] is not None)
    for lb in LBS:
        assert get_version('http://%s/version' % HOSTVARS[lb]['ansible_host'])[1] == '2'
    for node in NODES:
        assert get_version('http://%s:18001/version' % HOSTVARS[node]['ansible_host'])[1] == '2'
    book = ledger()
    assert book['current'] == '2' and '3' not in book['retained']
    entry = book['history'][-1]
    assert entry['version'] == '3' and entry['result'] == 'failed' and entry['failed_host'] in NODES


def test_a_second_release_fails_naming_the_holder():
    holder = 'alice@awx-job-4242'
    rc, result = run_module(LOCK_HOST, 'hna.cloudos.release_lock',
                            'app=fleet owner=%s action=release version=9 note=trip-export ttl=600' % holder)
    assert rc == 0, result
    try:
        res, _ = release('-e', 'version=2', '-e', ENV_2)
        assert res.returncode != 0
        assert holder in res.stdout and 'trip-export' in res.stdout, res.stdout[-3000:]
    finally:
        res = run_playbook('playbooks/release_unlock.yml', '-e', 'app=fleet', '-e', 'force=true')
    assert res.returncode == 0, res.stdout[-3000:]
    assert holder in res.stdout
    _, info = run_module(LOCK_HOST, 'hna.cloudos.release_info', 'app=fleet')
    assert info['lock'] is None


def rollback_under_load(old, new, *args):
    """Run rollback.yml under load; check 0 failed requests and every answer ``new``; return (result, switch seconds)."""
    with Load(GLB_URL) as load:
        started = time.monotonic()
        res = run_playbook('playbooks/rollback.yml', '-e', 'app=fleet', '-e', VERIFY, *args)
        wall = time.monotonic() - started
        time.sleep(2)
    switch = re.search(r'the\s+last\s+load\s+balancer\s+served\s+%s\s+([0-9.]+)\s+s\s+after' % re.escape(new), res.stdout)
    task = re.search(r'the\s+switch\s+task\s+took\s+([0-9.]+)\s+s', res.stdout)
    seen = mixed_window(load.records, old, new)
    print('rollback %s -> %s: %.1f s, switch %s s (printed; the switch task %s s), both versions answered for %.2f s at the '
          'GLB; %s' % (old, new, wall, switch and switch.group(1), task and task.group(1), seen, load.summary()))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr
    assert switch, res.stdout[-3000:]
    assert load.failures() == [], explain(load)
    assert all(a[0] == 200 and a[1] == new for a in answers()), answers(3)
    book = ledger()
    assert book['current'] == new and book['previous'] == old
    assert book['history'][-1]['action'] == 'rollback' and book['history'][-1]['result'] == 'ok'
    return res, float(switch.group(1)), seen


def test_cloud_drain_at_the_glb_under_load():
    drained, other = CLOUDS[0], CLOUDS[1]
    other_lbs = {lb for lb in LBS if HOSTVARS[lb]['cloud_name'] == other}
    try:
        with Load(GLB_URL) as load:
            res = run_playbook('playbooks/glb_drain.yml', '-e', 'app=fleet', '-e', 'cloud=%s' % drained)
            assert res.returncode == 0, res.stdout[-3000:] + res.stderr
            time.sleep(3)
        after = Load(GLB_URL)
        with after:
            time.sleep(4)
        print('drain of %s: %s; afterwards %s, by load balancer %s' % (drained, load.summary(), after.summary(), after.lbs))
        assert load.failures() == [], explain(load)
        assert after.failures() == [], explain(after)
        assert len(after.records) > 50 and set(after.lbs) == other_lbs, after.lbs
    finally:
        with Load(GLB_URL) as back:
            res = run_playbook('playbooks/glb_drain.yml', '-e', 'app=fleet', '-e', 'cloud=%s' % drained, '-e', 'drain=false')
            time.sleep(3)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    assert back.failures() == [], explain(back)
    served_by = {get_lb() for _ in range(30)}
    assert served_by == set(LBS), served_by


def get_lb():
    parts = urllib.parse.urlsplit(GLB_URL)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
    try:
        conn.request('GET', '/version')
        response = conn.getresponse()
        response.read()
        return response.getheader('X-LB')
    finally:
        conn.close()


def test_rollback_2_to_1_under_load():
    _res, switch, seen = rollback_under_load('2', '1')
    assert switch <= 3.0
    assert seen <= 3.0


def test_failure_after_the_first_cloud_switched_puts_both_clouds_back():
    first, second = CLOUDS[1], CLOUDS[0]  # the order of release_cloud_order, not the alphabetical one
    victim = sorted(n for n in NODES if HOSTVARS[n]['cloud_name'] == second)[-1]
    stopped = {}

    def inject(load):
        """Once an answer of 2 comes through the GLB (the first cloud switched), stop the victim's fleet-2."""
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not load._stop.is_set():  # pylint: disable=protected-access
            if any(r[2] == '2' for r in list(load.records)):
                stopped['at'] = time.monotonic()
                stopped['out'] = node_host(victim).run('docker stop -t 1 fleet-2')
                return
            time.sleep(0.1)

    with Load(GLB_URL) as load:
        injector = threading.Thread(target=inject, args=(load, ), daemon=True)
        injector.start()
        res, wall = release('-e', 'version=2', '-e', ENV_2, '-e', '{"release_cloud_order": ["%s", "%s"]}' % (first, second),
                            '-e', 'release_verify_seconds=8')
        ended = time.monotonic()
        injector.join(30)
        time.sleep(2)
    print('release 1 -> 2 cloud by cloud (%s, then %s), fleet-2 stopped on %s: %.1f s; %s'
          % (first, second, victim, wall, load.summary()))
    assert 'at' in stopped and stopped['out'].rc == 0, stopped
    assert res.returncode != 0, res.stdout[-3000:]
    message = re.search(r'release of fleet 2 failed on (\S+): (.*)', res.stdout)
    assert message, res.stdout[-4000:]
    assert message.group(1).rstrip(':') == victim, message.group(0)
    assert load.failures() == [], explain(load)
    assert [r[2] for r in load.records if r[0] > ended] and all(r[2] == '1' for r in load.records if r[0] > ended)
    assert all(a[0] == 200 and a[1] == '1' for a in answers()), answers(3)
    for lb in LBS:
        assert get_version('http://%s/version' % HOSTVARS[lb]['ansible_host'])[1] == '1'
    book = ledger()
    assert book['current'] == '1' and book['previous'] == '2'
    entry = book['history'][-1]
    assert entry['version'] == '2' and entry['result'] == 'failed' and entry['failed_host'] == victim


def test_cold_rollback_starts_the_version_from_its_bundle():
    for node in NODES:
        node_host(node).check_output('docker rm -f fleet-2')
    _res, switch, _seen = rollback_under_load('1', '2')
    print('cold rollback to 2: the switch took %.2f s after the containers were started' % switch)
    for node in NODES:
        env = container_env(node, 'fleet-2')
        assert env['TZ'] == 'Asia/Shanghai', (node, env.get('TZ'))


def test_rollback_to_1_leaves_the_lab_as_make_lab_left_it():
    _res, switch, seen = rollback_under_load('2', '1')
    assert switch <= 3.0
    assert seen <= 3.0


def test_release_finish_keeps_the_current_and_previous_version():
    """With two retained versions (1 current, 2 previous) and keep=2, release_finish.yml removes nothing."""
    res = run_playbook('playbooks/release_finish.yml', '-e', 'app=fleet', '-e', 'keep=2')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    assert 'Nothing to remove: fleet retains' in ' '.join(res.stdout.split())
    counts = recap(res.stdout)
    assert counts and all(c['changed'] == 0 and c['failed'] == 0 for c in counts.values()), counts
    book = ledger()
    assert book['current'] == '1' and sorted(book['retained']) == ['1', '2']
    refused = run_playbook('playbooks/release_finish.yml', '-e', 'app=fleet', '-e', 'keep=1')
    assert refused.returncode != 0 and 'at least 2' in refused.stdout
