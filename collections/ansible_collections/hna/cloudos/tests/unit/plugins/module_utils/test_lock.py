# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the namespace lock with real processes and real file locks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _lock

ROOT = os.path.dirname(os.path.abspath(__file__))
for _ in range(7):
    ROOT = os.path.dirname(ROOT)  # .../<root> holding ansible_collections/


def _holder(directory, name='shop', module='hna.cloudos.stack'):
    """Start a process that takes the lock and holds it until killed; return it once it holds the lock."""
    code = textwrap.dedent('''
        import sys, time
        sys.path.insert(0, %r)
        from ansible_collections.hna.cloudos.plugins.module_utils import _lock
        lock = _lock.EngineLock('unix:///var/run/docker.sock', 'namespace', %r, module=%r, timeout=5, directories=(%r,))
        lock.acquire()
        print('locked', flush=True)
        time.sleep(60)
    ''' % (ROOT, name, module, directory))
    process = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'locked'
    return process


def _lock_in(directory, name='shop', timeout=0):
    return _lock.EngineLock('unix:///var/run/docker.sock', 'namespace', name, module='hna.cloudos.container',
                            timeout=timeout, directories=(directory, ))


def test_acquire_release_and_reacquire(tmp_path):
    lock = _lock_in(str(tmp_path))
    with lock:
        assert lock.holder()['pid'] == os.getpid()
        assert lock.holder()['module'] == 'hna.cloudos.container'
    assert lock.holder() == {}
    with _lock_in(str(tmp_path)):
        pass


def test_waiter_times_out_and_names_the_holder(tmp_path):
    holder = _holder(str(tmp_path))
    try:
        start = time.monotonic()
        with pytest.raises(_lock.LockError) as error:
            _lock_in(str(tmp_path), timeout=1).acquire()
        waited = time.monotonic() - start
        message = str(error.value)
        assert 0.9 <= waited < 5
        assert 'Namespace shop' in message
        assert 'process %d' % holder.pid in message
        assert 'hna.cloudos.stack' in message
        assert 'lock_timeout' in message
        assert '\n' not in message
    finally:
        holder.kill()
        holder.wait()


def test_other_namespaces_and_engines_are_not_blocked(tmp_path):
    holder = _holder(str(tmp_path))
    try:
        with _lock_in(str(tmp_path), name='other'):
            pass
        other_engine = _lock.EngineLock('tcp://10.0.0.1:2376', 'namespace', 'shop', timeout=0, directories=(str(tmp_path), ))
        with other_engine:
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_releases_the_lock(tmp_path):
    holder = _holder(str(tmp_path))
    with pytest.raises(_lock.LockError):
        _lock_in(str(tmp_path)).acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with _lock_in(str(tmp_path), timeout=0):
        pass


def test_a_waiter_gets_the_lock_when_the_holder_ends(tmp_path):
    holder = _holder(str(tmp_path))
    subprocess.Popen(['sh', '-c', 'sleep 0.5; kill %d' % holder.pid])
    lock = _lock_in(str(tmp_path), timeout=10)
    with lock:
        assert 0.3 < lock.waited < 10
    holder.wait()


def test_lock_path_falls_back_to_a_usable_directory(tmp_path):
    blocked = tmp_path / 'file'
    blocked.write_text('not a directory')
    path = _lock.lock_path('unix:///var/run/docker.sock', 'namespace', 'shop/../x',
                           directories=(str(blocked / 'sub'), str(tmp_path / 'locks')))
    assert os.path.dirname(path) == str(tmp_path / 'locks')
    assert os.path.basename(path).endswith('-namespace-shop_.._x.lock')  # no path separator survives


def test_lock_path_fails_clearly_without_a_directory(tmp_path):
    blocked = tmp_path / 'file'
    blocked.write_text('x')
    with pytest.raises(_lock.LockError, match='No directory for the lock of namespace shop'):
        _lock.lock_path('unix:///var/run/docker.sock', 'namespace', 'shop', directories=(str(blocked / 'a'), ))


def test_describe_holder():
    assert _lock.describe_holder({}) == 'another run (it wrote no details)'
    text = _lock.describe_holder(dict(pid=42, host='node1', module='hna.cloudos.stack', since='2026-01-01T00:00:00Z',
                                      since_epoch=100.0), now=160.0)
    assert text == 'process 42 on node1 running hna.cloudos.stack since 2026-01-01T00:00:00Z, 60 s ago'


def test_namespace_and_container_locks_of_a_client():
    class Client(object):
        docker_host = 'tcp://10.0.0.1:2376'

    lock = _lock.namespace_lock(Client(), 'shop', 'hna.cloudos.stack', 7)
    assert (lock.docker_host, lock.scope, lock.name, lock.module, lock.timeout) == (
        'tcp://10.0.0.1:2376', 'namespace', 'shop', 'hna.cloudos.stack', 7)
    lock = _lock.container_lock(object(), 'web', module='hna.cloudos.container', timeout=0)
    assert (lock.docker_host, lock.scope, lock.name, lock.module, lock.timeout) == (None, 'container', 'web', 'hna.cloudos.container', 0)


def test_the_holder_says_since_when_in_utc(tmp_path):
    with _lock_in(str(tmp_path)) as lock:
        assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', lock.holder()['since'])
