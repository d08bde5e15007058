# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the backup directory: ids, manifests, status, checksums, retention and the instance lock."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store

ROOT = os.path.dirname(os.path.abspath(__file__))
for _ in range(7):
    ROOT = os.path.dirname(ROOT)  # .../<root> holding ansible_collections/

UTC = datetime.timezone.utc


def _at(text):
    return datetime.datetime.strptime(text, '%Y-%m-%d %H:%M').replace(tzinfo=UTC)


def _backup(directory, moment, verified='checksum', instance='db', method='logical', payload=b'data', status='complete'):
    """Write a backup (data file and manifest) as the backup module does; return its manifest."""
    backup_id = store.new_backup_id(directory, instance, method, moment)
    name = '%s.%s' % (backup_id, store.data_extension(method, 'zstd'))
    store.write_atomic(os.path.join(directory, name), payload)
    manifest = dict(format=1, id=backup_id, instance=instance, file=name, method=method, compression='zstd',
                    size=len(payload), sha256=hashlib.sha256(payload).hexdigest(), raw_size=None,
                    position=dict(gtid='0-1-%d' % int(moment.timestamp()), binlog_file=None, binlog_pos=None),
                    started=store.format_time(moment), verified=verified, verified_at=None, status=status)
    store.write_manifest(directory, manifest)
    return manifest


def test_instance_dir_is_private(tmp_path):
    path = store.instance_dir(str(tmp_path / 'backups'), 'testlog')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    with pytest.raises(store.StoreError, match='not a valid name'):
        store.instance_dir(str(tmp_path), '../etc')
    with pytest.raises(store.StoreError, match='absolute'):
        store.instance_dir('relative', 'db')


def test_new_backup_id_adds_a_serial_when_taken(tmp_path):
    moment = _at('2026-12-01 13:05')
    first = store.new_backup_id(str(tmp_path), 'testlog', 'logical', moment)
    assert first == 'testlog-20261201T130500Z-logical'
    (tmp_path / (first + '.sql.zst')).write_bytes(b'x')
    second = store.new_backup_id(str(tmp_path), 'testlog', 'logical', moment)
    assert second == first + '-2'
    (tmp_path / ('.%s.json.partial' % second)).write_bytes(b'x')
    assert store.new_backup_id(str(tmp_path), 'testlog', 'logical', moment) == first + '-3'
    parsed = store.parse_backup_id(first + '-3')
    assert parsed['serial'] == 3 and parsed['method'] == 'logical' and parsed['instance'] == 'testlog'


def test_manifest_round_trip_and_mode(tmp_path):
    manifest = _backup(str(tmp_path), _at('2026-12-01 10:00'))
    path = store.manifest_path(str(tmp_path), manifest['id'])
    assert store.read_manifest(path) == manifest
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [name for name in os.listdir(str(tmp_path)) if name.endswith('.partial')]
    with pytest.raises(store.StoreError):
        store.write_atomic(store.data_path(str(tmp_path), manifest), b'other')
    (tmp_path / 'bad.json').write_text('{"format": 2, "id": "x"}')
    with pytest.raises(store.StoreError, match='not a backup manifest'):
        store.read_manifest(str(tmp_path / 'bad.json'))


def test_data_path_refuses_paths_outside_the_directory(tmp_path):
    with pytest.raises(store.StoreError):
        store.data_path(str(tmp_path), dict(id='x', file='../x.sql.zst'))
    with pytest.raises(store.StoreError):
        store.data_path(str(tmp_path), dict(id='x', file='.x.sql.zst.partial'))


def test_statuses(tmp_path):
    directory = str(tmp_path)
    good = _backup(directory, _at('2026-12-01 10:00'))
    plain = _backup(directory, _at('2026-12-01 11:00'), verified=None)
    flipped = _backup(directory, _at('2026-12-01 12:00'))
    (tmp_path / flipped['file']).write_bytes(b'datX')  # same size: only a verify finds it
    short = _backup(directory, _at('2026-12-01 13:00'))
    (tmp_path / short['file']).write_bytes(b'dat')
    orphan = _backup(directory, _at('2026-12-01 14:00'))
    os.unlink(store.manifest_path(directory, orphan['id']))
    missing = _backup(directory, _at('2026-12-01 15:00'))
    os.unlink(str(tmp_path / missing['file']))
    (tmp_path / '.db-20261201T160000Z-logical.sql.zst.partial').write_bytes(b'half')
    backups = store.list_backups(directory, now=_at('2026-12-01 17:00'))
    status = dict((backup['id'], backup['status']) for backup in backups)
    assert status == {
        good['id']: 'verified', plain['id']: 'unverified', flipped['id']: 'verified', short['id']: 'corrupt',
        orphan['id']: 'incomplete', missing['id']: 'incomplete', 'db-20261201T160000Z-logical': 'incomplete'}
    assert [backup['id'] for backup in backups][0] == 'db-20261201T160000Z-logical'
    assert backups[-1]['age'] == 7 * 3600
    assert store.latest_verified(backups)['id'] == flipped['id']
    ok, message = store.verify_checksum(directory, flipped)
    assert not ok and 'corrupt' in message
    store.mark_corrupt(directory, flipped)
    assert store.latest_verified(store.list_backups(directory))['id'] == good['id']
    ok, message = store.verify_checksum(directory, good)
    assert ok, message
    entry = store.public_entry(backups[0])
    json.dumps(entry)
    assert entry['status'] == 'incomplete'


def test_cleanup_partials(tmp_path):
    (tmp_path / '.a.sql.zst.partial').write_bytes(b'x')
    (tmp_path / '.a.json.partial').write_bytes(b'x')
    (tmp_path / 'keep.sql.zst').write_bytes(b'x')
    assert store.cleanup_partials(str(tmp_path)) == ['.a.json.partial', '.a.sql.zst.partial']
    assert os.listdir(str(tmp_path)) == ['keep.sql.zst']


def test_mark_verified_rewrites_atomically(tmp_path):
    manifest = _backup(str(tmp_path), _at('2026-12-01 10:00'), verified=None)
    updated = store.mark_verified(str(tmp_path), manifest, 'restore', now=_at('2026-12-01 11:00'))
    assert store.read_manifest(store.manifest_path(str(tmp_path), manifest['id'])) == updated
    assert updated['verified'] == 'restore' and updated['verified_at'] == '2026-12-01T11:00:00Z'


def _entries(spec):
    """Backups from ``(time, status)`` pairs, newest first like list_backups."""
    result = []
    for moment, status in spec:
        when = _at(moment)
        result.append(dict(id='db-%s-logical' % when.strftime('%Y%m%dT%H%M%SZ'), status=status, time=when))
    return sorted(result, key=lambda entry: entry['time'], reverse=True)


def test_retention_twelve_backups_three_unverified():
    # One backup a day from Nov 20 to Dec 1; Nov 22, Nov 27 and Dec 1 (the newest) are unverified.
    spec = []
    for day in range(12):
        moment = (_at('2026-11-20 02:00') + datetime.timedelta(days=day)).strftime('%Y-%m-%d %H:%M')
        spec.append((moment, 'unverified' if day in (2, 7, 11) else 'verified'))
    backups = _entries(spec)
    keep, delete = store.retention_plan(backups, keep_last=3, keep_daily=None, keep_weekly=None, keep_monthly=None)
    assert keep == ['db-20261201T020000Z-logical', 'db-20261130T020000Z-logical', 'db-20261129T020000Z-logical',
                    'db-20261128T020000Z-logical']
    assert len(delete) == 8 and 'db-20261127T020000Z-logical' in delete and 'db-20261122T020000Z-logical' in delete
    keep, delete = store.retention_plan(backups, keep_last=1, keep_daily=None, keep_weekly=2, keep_monthly=None)
    # Newest verified (Nov 30, week 49), newest of week 48 (Nov 29 is a Sunday: week 48 as well).
    assert 'db-20261130T020000Z-logical' in keep and 'db-20261129T020000Z-logical' in keep
    assert 'db-20261201T020000Z-logical' in keep  # unverified, newer than the newest verified one
    assert 'db-20261128T020000Z-logical' in delete


def test_retention_never_deletes_the_newest_verified_one():
    backups = _entries([('2026-12-01 10:00', 'corrupt'), ('2026-11-30 10:00', 'verified'), ('2026-11-29 10:00', 'verified')])
    keep, delete = store.retention_plan(backups, keep_last=0)
    assert keep == ['db-20261130T100000Z-logical']
    assert delete == ['db-20261201T100000Z-logical', 'db-20261129T100000Z-logical']
    assert store.retention_plan(backups)[1] == []


def test_retention_daily_monthly_and_incomplete():
    backups = _entries([('2026-12-01 10:00', 'verified'), ('2026-12-01 09:00', 'verified'), ('2026-11-30 10:00', 'verified'),
                        ('2026-11-30 08:00', 'incomplete'), ('2026-10-15 10:00', 'verified'), ('2026-09-15 10:00', 'verified')])
    keep, delete = store.retention_plan(backups, keep_daily=2, keep_monthly=3)
    assert keep == ['db-20261201T100000Z-logical', 'db-20261130T100000Z-logical', 'db-20261015T100000Z-logical']
    assert delete == ['db-20261201T090000Z-logical', 'db-20261130T080000Z-logical', 'db-20260915T100000Z-logical']
    keep, delete = store.retention_plan(backups, keep_daily=2, keep_monthly=3, locked=False)
    assert 'db-20261130T080000Z-logical' in keep


def test_retention_without_verified_backups_deletes_nothing():
    backups = _entries([('2026-12-01 10:00', 'unverified'), ('2026-11-30 10:00', 'corrupt')])
    assert store.retention_plan(backups, keep_last=1)[1] == []
    with pytest.raises(store.StoreError, match='keep_last'):
        store.retention_plan(backups, keep_last=-1)


def _holder(directory):
    code = textwrap.dedent('''
        import sys, time
        sys.path.insert(0, %r)
        from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store
        lock = store.InstanceLock(%r, 'backup', 5)
        lock.acquire()
        lock.update(id='db-20261201T130501Z-logical')
        print('locked', flush=True)
        time.sleep(60)
    ''' % (ROOT, directory))
    process = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'locked'
    return process


def test_lock_names_the_holder_and_is_freed_by_kill(tmp_path):
    process = _holder(str(tmp_path))
    try:
        started = time.monotonic()
        with pytest.raises(store.StoreError) as failure:
            store.InstanceLock(str(tmp_path), 'backup', 1).acquire()
        assert time.monotonic() - started >= 0.9
        message = str(failure.value)
        assert 'process %d' % process.pid in message and 'db-20261201T130501Z-logical' in message
        assert 'lock_timeout' in message and '\n' not in message
    finally:
        process.kill()
        process.wait()
    with store.InstanceLock(str(tmp_path), 'retention', 5) as lock:
        assert lock.holder()['what'] == 'retention' and lock.held
    assert not lock.held
