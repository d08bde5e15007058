# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the release files on a host: atomic writes, modes, bundles, the ledger and the release lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _release as rel
from ansible_collections.hna.cloudos.plugins.module_utils import _release_store as store

ROOT = os.path.dirname(os.path.abspath(__file__))
for _ in range(7):
    ROOT = os.path.dirname(ROOT)  # .../<root> holding ansible_collections/

IMAGE = 'cloudos/fleet@sha256:' + 'ab' * 32
EPOCH = 1796126400.0  # 2026-12-01T12:00:00Z


class Clock(object):
    """A clock that moves only when something sleeps."""

    def __init__(self, now=EPOCH):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def files(tmp_path):
    return store.ReleaseFiles(str(tmp_path / 'releases'), 'production', 'fleet')


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_times():
    assert store.format_time(EPOCH) == '2026-12-01T12:00:00Z'
    assert store.parse_time('2026-12-01T12:00:00Z') == EPOCH
    assert store.parse_time('yesterday') is None


def test_names_are_checked_before_any_path_is_made(tmp_path):
    with pytest.raises(rel.ReleaseError, match=r'app "\.\./etc" is not'):
        store.ReleaseFiles(str(tmp_path), 'production', '../etc')
    with pytest.raises(rel.ReleaseError, match=r'version "\.\./x" is not'):
        store.ReleaseFiles(str(tmp_path), 'production', 'fleet').bundle_path('../x')


def test_write_json_is_atomic_with_modes(tmp_path, files):
    old_umask = os.umask(0o077)
    try:
        path = os.path.join(files.directory, 'ledger.json')
        assert store.write_json(path, {'a': 1}) is True
    finally:
        os.umask(old_umask)
    assert json.loads(open(path).read()) == {'a': 1}
    assert _mode(path) == 0o640
    for directory in (files.directory, os.path.dirname(files.directory), str(tmp_path / 'releases')):
        assert _mode(directory) == 0o750
    assert store.write_json(path, {'a': 2}) is True
    assert store.write_json(path, {'a': 3}, replace=False) is False
    assert json.loads(open(path).read()) == {'a': 2}
    assert sorted(os.listdir(files.directory)) == ['ledger.json']  # no temporary file left


def test_a_failed_write_leaves_the_old_file(files, monkeypatch):
    path = os.path.join(files.directory, 'ledger.json')
    store.write_json(path, {'a': 1})

    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(store.os, 'replace', broken_replace)
    with pytest.raises(store.StoreError, match='cannot write .*ledger.json: No space left on device'):
        store.write_json(path, {'a': 2})
    assert json.loads(open(path).read()) == {'a': 1}
    assert sorted(os.listdir(files.directory)) == ['ledger.json']


def test_broken_json_names_the_file(files):
    store.ensure_dir(files.directory)
    with open(files.ledger_path, 'w') as handle:
        handle.write('{"format": 1,')
    with pytest.raises(store.StoreError, match='ledger.json is not valid JSON'):
        files.read_ledger()


def test_bundles_are_stored_once(files):
    bundle = rel.build_bundle('fleet', 'production', '2', IMAGE, env={'A': '1'}, created='t1', created_by='alice')
    stored, changed = files.store_bundle(bundle)
    assert changed and stored == bundle
    assert _mode(files.bundle_path('2')) == 0o640
    again = rel.build_bundle('fleet', 'production', '2', IMAGE, env={'A': '1'}, created='t2', created_by='bob')
    stored, changed = files.store_bundle(again)
    assert not changed and stored['created'] == 't1'
    other = rel.build_bundle('fleet', 'production', '2', IMAGE, env={'A': '2'})
    with pytest.raises(rel.ReleaseError, match='version 2 of fleet already exists with other content'):
        files.store_bundle(other)
    assert files.bundles() == {'2': bundle}


def test_check_mode_writes_nothing(files):
    bundle = rel.build_bundle('fleet', 'production', '2', IMAGE)
    stored, changed = files.store_bundle(bundle, check_mode=True)
    assert changed and stored == bundle
    outcome = files.acquire_lock('alice', 60, check_mode=True)
    assert outcome['changed']
    assert not os.path.exists(os.path.dirname(files.directory))


def test_ledger_of_another_app_is_refused(files):
    store.write_json(files.ledger_path, rel.new_ledger('other', 'production'))
    with pytest.raises(store.StoreError, match=r'belongs to other \(production\), not to fleet \(production\)'):
        files.read_ledger()


# -- The release lock -----------------------------------------------------------------------------------------

def test_lock_take_keep_and_release(files):
    clock = Clock()
    outcome = files.acquire_lock('alice', 600, message='trip export', action='release', version='2',
                                 clock=clock, sleep=clock.sleep)
    assert outcome['changed'] and outcome['taken_over'] is None
    lock = files.read_lock()
    assert lock == {'owner': 'alice', 'started': '2026-12-01T12:00:00Z', 'expires': '2026-12-01T12:10:00Z',
                    'message': 'trip export', 'action': 'release', 'version': '2'}
    assert _mode(files.lock_path) == 0o640
    again = files.acquire_lock('alice', 600, clock=clock, sleep=clock.sleep)
    assert not again['changed'] and again['lock'] == lock
    with pytest.raises(store.LockHeld) as error:
        files.release_lock('bob')
    assert 'held by alice since 2026-12-01T12:00:00Z for release 2 ("trip export")' in str(error.value)
    assert 'only its owner releases it' in str(error.value)
    assert files.release_lock('alice') == {'lock': lock, 'changed': True}
    assert files.read_lock() is None
    assert files.release_lock('alice') == {'lock': None, 'changed': False}


def test_lock_held_fails_after_waiting_and_names_the_holder(files):
    clock = Clock()
    files.acquire_lock('alice', 600, message='trip export', action='release', version='2', clock=clock, sleep=clock.sleep)
    with pytest.raises(store.LockHeld) as error:
        files.acquire_lock('bob', 600, wait_timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.slept == []
    with pytest.raises(store.LockHeld) as error:
        files.acquire_lock('bob', 600, wait_timeout=3, clock=clock, sleep=clock.sleep)
    message = str(error.value)
    assert message.startswith('the release lock of fleet (production) is held by alice since 2026-12-01T12:00:00Z '
                              'for release 2 ("trip export"), expires at 2026-12-01T12:10:00Z; waited 3 s')
    assert 'force=true' in message and '\n' not in message
    assert 2.9 < sum(clock.slept) < 3.6


def test_expired_lock_is_taken_over_and_reported(files):
    clock = Clock()
    files.acquire_lock('alice', 60, message='old', clock=clock, sleep=clock.sleep)
    clock.now += 61
    outcome = files.acquire_lock('bob', 60, clock=clock, sleep=clock.sleep)
    assert outcome['changed'] and outcome['taken_over']['owner'] == 'alice'
    assert files.read_lock()['owner'] == 'bob'


def test_waiting_ends_when_the_lock_expires(files):
    clock = Clock()
    files.acquire_lock('alice', 2, clock=clock, sleep=clock.sleep)
    outcome = files.acquire_lock('bob', 60, wait_timeout=10, clock=clock, sleep=clock.sleep)
    assert outcome['lock']['owner'] == 'bob' and outcome['taken_over']['owner'] == 'alice'
    assert 2 <= outcome['waited'] < 3


def test_force_releases_another_owners_lock(files):
    files.acquire_lock('alice', 60)
    assert files.release_lock('bob', force=True, check_mode=True)['changed']
    assert files.read_lock()['owner'] == 'alice'
    assert files.release_lock('bob', force=True)['lock']['owner'] == 'alice'
    assert files.read_lock() is None


def test_describe_and_state_of_a_lock(files):
    lock = {'owner': 'alice', 'started': '2026-12-01T12:00:00Z', 'expires': '2026-12-01T12:10:00Z'}
    assert store.describe_lock(lock, files, now=EPOCH + 601).endswith('expired at 2026-12-01T12:10:00Z')
    assert store.lock_state(lock, now=EPOCH)['expired'] is False
    assert store.lock_state(lock, now=EPOCH + 600)['expired'] is True
    assert store.lock_state(None) is None


def test_concurrent_processes_get_the_lock_once(files):
    """Eight real processes try to take the same free lock at once: exactly one gets it."""
    code = textwrap.dedent('''
        import sys
        sys.path.insert(0, %r)
        from ansible_collections.hna.cloudos.plugins.module_utils import _release_store as store
        files = store.ReleaseFiles(%r, 'production', 'fleet')
        try:
            files.acquire_lock(sys.argv[1], 600)
            print('got')
        except store.LockHeld as exc:
            print('held: %%s' %% exc)
    ''' % (ROOT, os.path.dirname(os.path.dirname(files.directory))))
    processes = [subprocess.Popen([sys.executable, '-c', code, 'owner%d' % number], stdout=subprocess.PIPE, text=True)
                 for number in range(8)]
    outputs = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert outputs.count('got') == 1, outputs
    winner = files.read_lock()['owner']
    assert outputs[int(winner[len('owner'):])] == 'got'
    assert all(('held by %s' % winner) in output for output in outputs if output != 'got')


def test_the_mutex_is_a_flock_with_a_clear_error(files):
    with files.mutex() as held:
        assert held.holder()['pid'] == os.getpid()
        with pytest.raises(store.StoreError, match='are being changed by another run'):
            store.Mutex(files.directory, timeout=0).acquire()
