"""Helpers and fixtures for the tests that run load balancers on the local Docker engine.

Not a ``conftest.py``: the lab tests import theirs by that name. The test modules import the fixtures from
here, so each module gets its own network and backends.

Everything these tests create is named ``<prefix>-<random>-*`` (containers, the network) and removed at the
end of the module; the prefix is ``$LB_TEST_PREFIX`` or ``hnadev-lb``. The containers run the lab's nginx image
(``cloudos/nginx:1.22``, built by ``make lab``), and the backends are that same image serving a
fixed answer. Clients only talk to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get('LB_TEST_IMAGE', 'cloudos/nginx:1.22')
PREFIX = os.environ.get('LB_TEST_PREFIX', 'hnadev-lb')
DOCKER_SOCKET = Path('/var/run/docker.sock')

# A backend answers 502 to a request whose X-Fail header names it (a failure that the test chooses).
BACKEND_CONF = '''server {
    listen 8080;
    location / {
        if ($http_x_fail = %(name)s) {
            return 502;
        }
        add_header X-Backend %(name)s;
        return 200 "%(name)s\\n";
    }
}
'''


def tool(name):
    """An Ansible command next to the running Python, else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def ansible_env(**extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_ROLES_PATH=str(REPO / 'roles'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    env.update(extra)
    return env


def run_module(module, args, check=False, diff=False):
    """Run ``module`` once on localhost (local connection); return ``(rc, result, wall seconds)``."""
    cmd = [tool('ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, '-m', module, '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                         env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='0'))
    wall = time.monotonic() - started
    out = res.stdout
    start = out.rfind('localhost | ')
    brace = out.find('{', start) if start >= 0 else -1
    assert brace >= 0, 'no result from %s:\n%s\n%s' % (module, out, res.stderr)
    result = json.loads(out[brace:])
    result['_stdout'] = out
    return res.returncode, result, wall


def run_playbook(playbook, inventory, *args):
    """Run ``ansible-playbook``; return the CompletedProcess."""
    return subprocess.run([tool('ansible-playbook'), '-i', str(inventory), str(playbook), *args],
                          capture_output=True, text=True, cwd=REPO, env=ansible_env())


def recap(output):
    """The ``ok=N changed=N ... failed=N`` numbers of the localhost line of a play recap."""
    for line in output.splitlines():
        if line.startswith('localhost') and 'changed=' in line:
            return {key: int(value) for key, value in (item.split('=') for item in line.split(':', 1)[1].split())}
    raise AssertionError('no play recap in:\n' + output)


def get(port, path='/', timeout=5, headers=None):
    """One GET on a new connection to 127.0.0.1; return ``(status, body, headers)``."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode().strip(), dict(response.getheaders())
    finally:
        conn.close()


class Load:
    """A steady load of GET requests on 127.0.0.1:``port`` from ``threads`` threads, ``rate`` requests/s in all.

    Most threads open a new connection per request; ``keepalive`` of them reuse one connection, and resend a request
    once when the server had closed that idle connection before answering (as HTTP clients do for idempotent requests;
    counted in ``resent``). ``records`` holds ``(start, end, status, body, error)`` per request (monotonic times).
    """

    def __init__(self, port, threads=4, rate=200, keepalive=1):
        self.port = port
        self.threads = threads
        self.interval = threads / float(rate)
        self.keepalive = keepalive
        self.records = []
        self.resent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = []

    def _request(self, conn):
        conn.request('GET', '/')
        response = conn.getresponse()
        return response.status, response.read().decode().strip()

    def _run(self, reuse):
        conn = None
        while not self._stop.is_set():
            started = time.monotonic()
            status = body = error = None
            try:
                reused = conn is not None
                if conn is None:
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
                try:
                    status, body = self._request(conn)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    # The idle connection was closed by the server (an old worker shutting down): resend once.
                    conn.close()
                    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
                    with self._lock:
                        self.resent += 1
                    status, body = self._request(conn)
            except Exception as exc:  # pylint: disable=broad-except
                error = repr(exc)
            if not reuse or error:
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.records.append((started, time.monotonic(), status, body, error))
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        if conn is not None:
            conn.close()

    def __enter__(self):
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index < self.keepalive, ), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for worker in self._workers:
            worker.join(10)
        return False

    def failures(self):
        return [record for record in self.records if record[4] is not None or record[2] != 200]

    def bodies_started_after(self, moment):
        return [record[3] for record in self.records if record[0] > moment]


@pytest.fixture(scope='module')
def engine():
    if not DOCKER_SOCKET.exists():
        pytest.skip('needs a local Docker engine: %s does not exist' % DOCKER_SOCKET)
    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip('needs the image %s (make lab builds it)' % IMAGE)
    yield client
    client.close()


@pytest.fixture(scope='module')
def tag():
    """The start of the name of everything the module creates."""
    return '%s-%s' % (PREFIX, uuid.uuid4().hex[:6])


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('lb')


@pytest.fixture(scope='module')
def network(engine, tag):
    net = engine.networks.create(tag + '-net', driver='bridge')
    yield net.name
    for container in engine.containers.list(all=True, filters={'name': tag + '-'}):
        container.remove(force=True)
    net.remove()


def nginx_container(engine, name, conf_dir, network, ports=None):
    """An nginx container of ``IMAGE`` named ``name``, ``conf_dir`` mounted read-only at ``/etc/nginx/conf.d``."""
    container = engine.containers.run(IMAGE, name=name, detach=True, entrypoint=['nginx', '-g', 'daemon off;'],
                                      volumes={str(conf_dir): {'bind': '/etc/nginx/conf.d', 'mode': 'ro'}},
                                      network=network, ports=ports or {})
    container.reload()
    return container


def wait_for(predicate, timeout=20, what='the condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.fixture(scope='module')
def backends(engine, network, workdir, tag):
    """Two backends on the test network, answering ``a`` and ``b``: ``{name: address}``."""
    result = {}
    for name in ('a', 'b'):
        conf = workdir / ('backend-' + name)
        conf.mkdir()
        (conf / 'backend.conf').write_text(BACKEND_CONF % {'name': name})
        container = nginx_container(engine, '%s-backend-%s' % (tag, name), conf, network)
        result[name] = container.attrs['NetworkSettings']['Networks'][network]['IPAddress']
    return result
