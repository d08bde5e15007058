"""The data of the fleet app in the lab, as `make lab` leaves it (version 1 current): every node's fleet writes the
lab's MariaDB primary (the rows are read back through the global load balancer and replicate to the replica in the
other cloud) and counts in the Redis of the namespace fleet on its node; the database password is a 0400 file of
the container's user, mounted from the host, and is in no environment variable, bundle or ledger.

It runs alone, after the two groups of tools/test-lab.sh: the database group switches the primary over and fails it
over, and the other group moves fleet from version to version; both end as make lab left the lab. Every request goes
to the lab's own addresses.
"""

import http.client
import json
import time
import urllib.parse

import pymysql

from conftest import HOSTVARS, INV, NODES, REPO, node_host, run_module, wait_for

LOCK_HOST = 'bj2-node1'
GLB_URL = HOSTVARS[LOCK_HOST].get('glb_url', 'http://10.231.0.12:8088')
PRIMARY = HOSTVARS[INV['db_servers']['hosts'][0]].get('db_primary', 'bj2-node1')
REPLICA = [h for h in INV['db_servers']['hosts'] if h != PRIMARY][0]
SECRETS = REPO / '.lab' / 'secrets'
SECRETS_DIR = '/etc/hna-cloudos/releases/production/fleet/secrets'
RELEASES_DIR = '/var/lib/hna-cloudos/releases/production/fleet'


def request(host, port, method, path):
    """``(status, JSON body)`` of ``method path`` on ``host:port``."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, json.loads(response.read().decode() or 'null')
    finally:
        conn.close()


def current():
    """The current version of fleet and the host port of its containers."""
    rc, result = run_module(LOCK_HOST, 'hna.cloudos.release_info', 'app=fleet')
    assert rc == 0, result
    version = result['ledger']['current']
    return version, int(HOSTVARS[LOCK_HOST].get('release_base_port', 18000)) + int(result['ledger']['slots'][version])


def test_every_node_writes_the_primary_and_counts_in_its_namespaces_redis():
    version, port = current()
    tag = '%x' % int(time.time() * 1000)
    for node in NODES:
        address = HOSTVARS[node]['ansible_host']
        status, body = request(address, port, 'POST', '/vehicles?id=probe-%s-%s&name=%s' % (tag, node, node))
        assert status == 200, (node, status, body)
        hits = [request(address, port, 'GET', '/hits') for _ in range(2)]
        assert [h[0] for h in hits] == [200, 200], (node, hits)
        assert hits[1][1]['hits'] == hits[0][1]['hits'] + 1, (node, hits)
        status, body = request(address, port, 'GET', '/health?deep=1')
        assert status == 200 and body['database'] == 'ok' and body['redis'] == 'ok', (node, status, body)
    # Read back through the GLB: every node's row, written by the current version, whichever node answers.
    parts = urllib.parse.urlsplit(GLB_URL)
    status, body = request(parts.hostname, parts.port or 80, 'GET', '/vehicles')
    assert status == 200, body
    mine = {v['id']: v for v in body['vehicles'] if v['id'].startswith('probe-%s-' % tag)}
    assert sorted(mine) == sorted('probe-%s-%s' % (tag, node) for node in NODES), body
    assert {v['written_by_version'] for v in mine.values()} == {version}

    # The rows are in the primary's database, and replicate to the other cloud.
    root = (SECRETS / 'mysql-root-password').read_text().strip()

    def rows(host):
        with pymysql.connect(host=HOSTVARS[host]['lab_interconnect_address'], user='root', password=root,
                             database='fleet', connect_timeout=10) as conn, conn.cursor() as cur:
            cur.execute('SELECT COUNT(*) FROM vehicles WHERE id LIKE %s', ('probe-%s-%%' % tag,))
            return cur.fetchone()[0]
    assert rows(PRIMARY) == len(NODES)
    wait_for(lambda: rows(REPLICA) == len(NODES), 30, 'the rows on the replica in the other cloud')


def test_the_password_is_a_file_of_the_containers_user_and_nowhere_else():
    version, _ = current()
    password = (SECRETS / 'fleet-db-password').read_text().strip()
    for node in NODES:
        host = node_host(node)
        env = dict(item.split('=', 1) for item in json.loads(
            host.check_output("docker inspect --format '{{json .Config.Env}}' fleet-%s" % version)))
        assert env['DB_PASSWORD_FILE'] == '/run/secrets/db-password' and 'DB_PASSWORD' not in env, (node, sorted(env))
        assert host.check_output('stat -c %%a:%%u %s %s/db-password' % (SECRETS_DIR, SECRETS_DIR)).split() == \
            ['500:999', '400:999'], node
        for command in ('docker inspect fleet-%s' % version, 'cat %s/ledger.json %s/bundles/*.json' % (RELEASES_DIR, RELEASES_DIR)):
            out = host.check_output(command)
            leaked = password in out  # compared apart, so that a failure never prints the password
            assert out and not leaked, (node, command)
