# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The backup directory of MySQL/MariaDB backups: layout, manifests, status, lock, checksums and retention.

Layout (one directory per database instance, mode 0700)::

    <backup_dir>/<instance>/<id>.<ext>          the data file (sql.zst, sql.gz, xb.zst, xb.gz)
    <backup_dir>/<instance>/<id>.json           its manifest: only a manifest makes a data file a backup
    <backup_dir>/<instance>/.<name>.partial     a file being written (never a backup)
    <backup_dir>/<instance>/.lock               the flock of the instance, with a JSON line naming its holder

A data file is written under its partial name, flushed, fsynced and renamed into place only when the
whole pipeline succeeded; the manifest is written after it the same way (:func:`write_manifest`), and
the directory is fsynced after each rename. A crash therefore leaves at most a partial file, or a data
file without a manifest: both are ``incomplete`` and never count as a backup.

Everything here is plain Python on the host of the module (no server, no Docker), so that it can be
unit tested.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import socket
import time

from ansible_collections.hna.cloudos.plugins.module_utils._durable import fsync_directory
from ansible_collections.hna.cloudos.plugins.module_utils._lock import FlockLock

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = '.json'
PARTIAL_SUFFIX = '.partial'
LOCK_NAME = '.lock'
CHUNK = 1024 * 1024

#: Extension of the data file by method and compression.
EXTENSIONS = {
    ('logical', 'zstd'): 'sql.zst',
    ('logical', 'gzip'): 'sql.gz',
    ('physical', 'zstd'): 'xb.zst',
    ('physical', 'gzip'): 'xb.gz',
}

#: Status of a backup, as ``mysql_backup_info`` reports it.
VERIFIED = 'verified'
UNVERIFIED = 'unverified'
CORRUPT = 'corrupt'
INCOMPLETE = 'incomplete'

_INSTANCE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$')
_ID_RE = re.compile(r'^(?P<instance>.+)-(?P<stamp>\d{8}T\d{6}Z)-(?P<method>logical|physical)(?:-(?P<serial>\d+))?$')
_DATA_RE = re.compile(r'^(?P<id>.+?)\.(?P<ext>sql\.zst|sql\.gz|xb\.zst|xb\.gz)$')
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


class StoreError(Exception):
    """A problem with the backup directory, as one line."""


# -- Names and paths ----------------------------------------------------------------------------------------

def validate_instance(instance):
    """Check an instance name (it becomes a directory name and the start of every backup id)."""
    if not isinstance(instance, str) or not _INSTANCE_RE.match(instance) or instance in ('.', '..'):
        raise StoreError('instance %r is not a valid name: use 1 to 100 letters, digits, dots, underscores or hyphens,'
                         ' starting with a letter or digit' % (instance,))
    return instance


def instance_dir(backup_dir, instance, create=True):
    """The directory of ``instance`` under ``backup_dir``; created with mode 0700 (and its parents) unless ``create`` is false."""
    validate_instance(instance)
    if not backup_dir or not os.path.isabs(backup_dir):
        raise StoreError('backup_dir %r must be an absolute path' % (backup_dir,))
    path = os.path.join(backup_dir, instance)
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o700)
        except OSError as exc:
            raise StoreError('cannot create the backup directory %s: %s; check backup_dir and its permissions'
                             % (path, exc.strerror or exc)) from None
    return path


def to_utc(now=None):
    """A timezone-aware UTC datetime from ``now`` (datetime, epoch seconds or ``None`` for the current time)."""
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, (int, float)):
        return datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    if now.tzinfo is None:
        return now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc)


def format_time(moment):
    """``2026-12-01T13:05:01Z`` for a datetime or epoch seconds."""
    return to_utc(moment).strftime(TIME_FORMAT)


def parse_time(text):
    """The UTC datetime of ``2026-12-01T13:05:01Z`` (fractions of a second accepted); ``None`` when unreadable."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value.endswith('Z'):
        value = value[:-1] + '+00:00'
    try:
        return to_utc(datetime.datetime.fromisoformat(value))
    except ValueError:
        return None


def parse_backup_id(backup_id):
    """``dict(instance, time, method, serial)`` of a backup id, or ``None`` when it is not one."""
    match = _ID_RE.match(backup_id or '')
    if not match:
        return None
    stamp = datetime.datetime.strptime(match.group('stamp'), STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
    return dict(instance=match.group('instance'), time=stamp, method=match.group('method'),
                serial=int(match.group('serial') or 1))


def data_extension(method, compression):
    """The extension of a data file (``sql.zst`` ...)."""
    try:
        return EXTENSIONS[(method, compression)]
    except KeyError:
        raise StoreError('unknown method/compression %s/%s' % (method, compression)) from None


def _taken_ids(directory):
    """Every id that has a file (backup, manifest or partial) in ``directory``."""
    taken = set()
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            bare = name[1:-len(PARTIAL_SUFFIX)] if name.startswith('.') and name.endswith(PARTIAL_SUFFIX) else name
            if bare.endswith(MANIFEST_SUFFIX):
                taken.add(bare[:-len(MANIFEST_SUFFIX)])
                continue
            match = _DATA_RE.match(bare)
            if match:
                taken.add(match.group('id'))
    return taken


def new_backup_id(directory, instance, method, now=None):
    """A fresh id ``<instance>-<UTC %Y%m%dT%H%M%SZ>-<method>``; ``-2``, ``-3`` ... when it is taken in ``directory``."""
    validate_instance(instance)
    if method not in ('logical', 'physical'):
        raise StoreError('unknown backup method %r' % (method,))
    base = '%s-%s-%s' % (instance, to_utc(now).strftime(STAMP_FORMAT), method)
    taken = _taken_ids(directory)
    candidate, serial = base, 1
    while candidate in taken:
        serial += 1
        candidate = '%s-%d' % (base, serial)
    return candidate


def partial_path(path):
    """The temporary name of ``path`` while it is written: ``.<name>.partial`` beside it."""
    head, tail = os.path.split(path)
    return os.path.join(head, '.%s%s' % (tail, PARTIAL_SUFFIX))


def manifest_path(directory, backup_id):
    return os.path.join(directory, backup_id + MANIFEST_SUFFIX)


def data_path(directory, manifest):
    """The path of a manifest's data file (its ``file``, a plain name inside ``directory``)."""
    name = manifest.get('file') if isinstance(manifest, dict) else None
    if not isinstance(name, str) or not name or os.path.basename(name) != name or name.startswith('.'):
        raise StoreError('the manifest of %s names no valid data file (%r)' % (
            (manifest or {}).get('id', '?') if isinstance(manifest, dict) else '?', name))
    return os.path.join(directory, name)


# -- Durable writes -----------------------------------------------------------------------------------------

def create_partial(path):
    """Open the partial file of ``path`` for writing (mode 0600, must not exist); return ``(file object, partial path)``."""
    partial = partial_path(path)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, 'wb'), partial


def commit_partial(handle, partial, path):
    """Flush and fsync ``handle`` (open on ``partial``), close it, rename it to ``path`` and fsync the directory."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    if os.path.exists(path):
        raise StoreError('%s exists already: refusing to replace it' % path)
    os.rename(partial, path)
    fsync_directory(os.path.dirname(path) or '.')


def write_atomic(path, payload, replace=False):
    """Write ``payload`` (bytes) to ``path`` through its partial name; ``replace`` allows an existing ``path``."""
    handle, partial = create_partial(path)
    try:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        if not replace and os.path.exists(path):
            raise StoreError('%s exists already: refusing to replace it' % path)
        os.replace(partial, path)
        fsync_directory(os.path.dirname(path) or '.')
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def read_manifest(path):
    """The manifest at ``path`` as a dict; :class:`StoreError` when it cannot be read or is not a format 1 manifest."""
    try:
        with open(path, 'rb') as handle:
            manifest = json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError) as exc:
        raise StoreError('cannot read the manifest %s: %s' % (path, getattr(exc, 'strerror', None) or exc)) from None
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT or not manifest.get('id'):
        raise StoreError('%s is not a backup manifest of format %d' % (path, MANIFEST_FORMAT))
    return manifest


def manifest_bytes(manifest):
    return (json.dumps(manifest, indent=2, sort_keys=True) + '\n').encode('utf-8')


def write_manifest(directory, manifest, replace=None):
    """Write ``manifest`` as ``<directory>/<id>.json`` atomically (partial, fsync, rename, fsync of the directory).

    A new manifest never replaces an existing one; updates (``replace=True``, the default when the file
    exists and its id matches) rewrite it the same atomic way. Returns the path.
    """
    if manifest.get('format') != MANIFEST_FORMAT or not manifest.get('id'):
        raise StoreError('refusing to write a manifest without format %d and id' % MANIFEST_FORMAT)
    path = manifest_path(directory, manifest['id'])
    if replace is None:
        replace = os.path.exists(path)
    write_atomic(path, manifest_bytes(manifest), replace=replace)
    return path


def mark_verified(directory, manifest, how, now=None):
    """Record a successful verification (``checksum`` or ``restore``) in the manifest; return the new manifest."""
    updated = dict(manifest, verified=how, verified_at=format_time(to_utc(now)), status='complete')
    write_manifest(directory, updated, replace=True)
    return updated


def mark_corrupt(directory, manifest, now=None):
    """Record that a verification found the data file damaged; return the new manifest."""
    updated = dict(manifest, status='corrupt', verified=None, verified_at=None, corrupt_at=format_time(to_utc(now)))
    write_manifest(directory, updated, replace=True)
    return updated


# -- Checksums ----------------------------------------------------------------------------------------------

def sha256_file(path, chunk=CHUNK):
    """The sha256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(directory, manifest):
    """Re-read the data file of ``manifest`` against its size and sha256: ``(ok, message)``."""
    path = data_path(directory, manifest)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return False, 'the data file %s of backup %s cannot be read: %s' % (path, manifest.get('id'), exc.strerror or exc)
    if size != manifest.get('size'):
        return False, ('the data file %s of backup %s has %d bytes, its manifest says %s: it is damaged'
                       % (path, manifest.get('id'), size, manifest.get('size')))
    try:
        actual = sha256_file(path)
    except OSError as exc:
        return False, 'the data file %s of backup %s cannot be read: %s' % (path, manifest.get('id'), exc.strerror or exc)
    if actual != manifest.get('sha256'):
        return False, ('the sha256 of %s (%s) differs from the one in its manifest (%s): backup %s is corrupt'
                       % (path, actual, manifest.get('sha256'), manifest.get('id')))
    return True, 'backup %s: %d bytes, sha256 %s matches its manifest' % (manifest.get('id'), size, actual)


# -- Listing ------------------------------------------------------------------------------------------------

def _age(moment, now):
    if moment is None:
        return None
    return max(0, int((now - moment).total_seconds()))


def _status_of(manifest, size):
    """Status of a backup that has a manifest, from the manifest and the data file's size (``None``: missing)."""
    if size is None:
        return INCOMPLETE
    if manifest.get('status') == 'corrupt' or size != manifest.get('size'):
        return CORRUPT
    if manifest.get('status') != 'complete':
        return INCOMPLETE
    return VERIFIED if manifest.get('verified') in ('checksum', 'restore') else UNVERIFIED


def _sort_key(entry):
    parsed = parse_backup_id(entry['id'])
    moment = entry.get('time') or (parsed['time'] if parsed else None)
    epoch = moment.timestamp() if moment else 0
    return (epoch, parsed['serial'] if parsed else 0, entry['id'])


def list_backups(directory, now=None):
    """Every backup (and incomplete leftover) in an instance directory, newest first.

    Each entry: ``id``, ``file`` (data file name or ``None``), ``path`` (data file path or ``None``),
    ``manifest_path``, ``manifest`` (dict or ``None``), ``status``, ``size`` (bytes of the data file),
    ``age`` (seconds since the backup started), ``time`` (datetime of its start), ``started``,
    ``position``, ``method``, ``verified``, ``partial`` (the leftover is a partial file).
    """
    now = to_utc(now)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError('cannot list the backup directory %s: %s' % (directory, exc.strerror or exc)) from None
    entries = {}
    data_files = {}
    partials = []
    for name in names:
        if name == LOCK_NAME:
            continue
        if name.startswith('.') and name.endswith(PARTIAL_SUFFIX):
            partials.append(name)
            continue
        if name.endswith(MANIFEST_SUFFIX) and not name.startswith('.'):
            backup_id = name[:-len(MANIFEST_SUFFIX)]
            path = os.path.join(directory, name)
            try:
                manifest = read_manifest(path)
            except StoreError:
                manifest = None
            entries[backup_id] = dict(id=backup_id, manifest_path=path, manifest=manifest)
            continue
        match = _DATA_RE.match(name)
        if match and not name.startswith('.'):
            data_files[name] = match.group('id')
    backups = []
    claimed = set()
    for backup_id, entry in entries.items():
        manifest = entry['manifest']
        data_name = None
        if manifest is not None:
            try:
                data_name = os.path.basename(data_path(directory, manifest))
            except StoreError:
                data_name = None
        size = None
        if data_name is not None:
            claimed.add(data_name)
            with contextlib.suppress(OSError):
                size = os.path.getsize(os.path.join(directory, data_name))
        status = INCOMPLETE if manifest is None else _status_of(manifest, size)
        moment = parse_time((manifest or {}).get('started')) if manifest else None
        if moment is None:
            parsed = parse_backup_id(backup_id)
            moment = parsed['time'] if parsed else None
        backups.append(dict(
            id=backup_id, file=data_name, path=os.path.join(directory, data_name) if data_name and size is not None else None,
            manifest_path=entry['manifest_path'], manifest=manifest, status=status, size=size,
            time=moment, started=format_time(moment) if moment else None, age=_age(moment, now),
            position=(manifest or {}).get('position'), method=(manifest or {}).get('method') or _method_of(backup_id),
            verified=(manifest or {}).get('verified') if status == VERIFIED else None, partial=False))
    for name, backup_id in data_files.items():
        if name in claimed or backup_id in entries:
            continue
        path = os.path.join(directory, name)
        parsed = parse_backup_id(backup_id)
        size = None
        with contextlib.suppress(OSError):
            size = os.path.getsize(path)
        moment = parsed['time'] if parsed else None
        backups.append(dict(id=backup_id, file=name, path=path, manifest_path=None, manifest=None, status=INCOMPLETE,
                            size=size, time=moment, started=format_time(moment) if moment else None, age=_age(moment, now),
                            position=None, method=_method_of(backup_id), verified=None, partial=False))
    for name in partials:
        bare = name[1:-len(PARTIAL_SUFFIX)]
        backup_id = bare[:-len(MANIFEST_SUFFIX)] if bare.endswith(MANIFEST_SUFFIX) else (
            _DATA_RE.match(bare).group('id') if _DATA_RE.match(bare) else bare)
        if backup_id in entries:
            continue  # a manifest being rewritten (verification): the backup is listed already
        path = os.path.join(directory, name)
        size = None
        with contextlib.suppress(OSError):
            size = os.path.getsize(path)
        parsed = parse_backup_id(backup_id)
        moment = parsed['time'] if parsed else None
        backups.append(dict(id=backup_id, file=name, path=path, manifest_path=None, manifest=None, status=INCOMPLETE,
                            size=size, time=moment, started=format_time(moment) if moment else None, age=_age(moment, now),
                            position=None, method=_method_of(backup_id), verified=None, partial=True))
    backups.sort(key=_sort_key, reverse=True)
    return backups


def _method_of(backup_id):
    parsed = parse_backup_id(backup_id)
    return parsed['method'] if parsed else None


def latest_verified(backups):
    """The newest backup whose status is ``verified`` (``backups`` newest first, as :func:`list_backups` gives them)."""
    for backup in backups:
        if backup['status'] == VERIFIED:
            return backup
    return None


def public_entry(backup):
    """What the info module returns for one backup (no datetime objects, no full manifest)."""
    return dict(
        id=backup['id'], status=backup['status'], size=backup['size'], age_seconds=backup['age'],
        started=backup['started'], position=backup['position'], method=backup['method'], verified=backup['verified'],
        path=backup['path'], manifest_path=backup['manifest_path'],
        sha256=(backup['manifest'] or {}).get('sha256'), databases=(backup['manifest'] or {}).get('databases'),
        compression=(backup['manifest'] or {}).get('compression'),
    )


# -- Removal ------------------------------------------------------------------------------------------------

def cleanup_partials(directory):
    """Remove every ``.partial`` file of an instance directory (left by a killed run; call with the lock held).

    Returns the names removed.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(directory)):
            if name.startswith('.') and name.endswith(PARTIAL_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
                removed.append(name)
    if removed:
        fsync_directory(directory)
    return removed


def delete_backup(directory, backup):
    """Remove a backup listed by :func:`list_backups`: its manifest first (so it stops being a backup), then its data."""
    paths = []
    if backup.get('manifest_path'):
        paths.append(backup['manifest_path'])
    if backup.get('file'):
        paths.append(os.path.join(directory, backup['file']))
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    fsync_directory(directory)
    return paths


# -- Retention ----------------------------------------------------------------------------------------------

def _buckets(backups, count, key):
    """Ids of the newest backup in each of the ``count`` most recent periods (``key(time)``) that hold one."""
    kept, seen = [], []
    for backup in backups:
        period = key(backup['time'])
        if period in seen:
            continue
        if len(seen) >= count:
            break
        seen.append(period)
        kept.append(backup['id'])
    return kept


def retention_plan(backups, keep_last=None, keep_daily=None, keep_weekly=None, keep_monthly=None, now=None, locked=True):
    """Which backups to keep and which to delete: ``(keep_ids, delete_ids)``, both newest first.

    Only verified backups count and only they are kept by the rules: ``keep_last`` newest ones, and the
    newest one of each of the ``keep_daily`` most recent days (UTC) that hold one, ``keep_weekly`` ISO
    weeks and ``keep_monthly`` months. Periods without a backup do not use up a count, so backups stop
    being deleted when backups stop being taken. The newest verified backup is never deleted.

    The others: unverified ones newer than the newest verified backup are kept (they may still be
    verified), older ones are deleted; corrupt ones are deleted, and so are incomplete ones when
    ``locked`` (without the lock they may belong to a running backup). Without any verified backup nothing is
    deleted. With no rule at all (every count ``None``) nothing is deleted. ``now`` is accepted for
    symmetry with the other calls; periods are those of the backups' own start times.
    """
    del now
    rules = (keep_last, keep_daily, keep_weekly, keep_monthly)
    for name, value in zip(('keep_last', 'keep_daily', 'keep_weekly', 'keep_monthly'), rules):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise StoreError('%s must be a whole number of 0 or more, not %r' % (name, value))
    ordered = sorted(backups, key=_sort_key, reverse=True)
    all_ids = [backup['id'] for backup in ordered]
    if all(value is None for value in rules):
        return all_ids, []
    verified = [backup for backup in ordered if backup['status'] == VERIFIED and backup.get('time') is not None]
    if not verified:
        return all_ids, []
    newest = verified[0]
    keep = {newest['id']}
    keep.update(backup['id'] for backup in verified[:keep_last or 0])
    keep.update(_buckets(verified, keep_daily or 0, lambda moment: moment.date()))
    keep.update(_buckets(verified, keep_weekly or 0, lambda moment: tuple(moment.isocalendar())[:2]))
    keep.update(_buckets(verified, keep_monthly or 0, lambda moment: (moment.year, moment.month)))
    newest_key = _sort_key(newest)
    delete = set()
    for backup in ordered:
        if backup['id'] in keep:
            continue
        if backup['status'] == VERIFIED:
            delete.add(backup['id'])
        elif backup['status'] == UNVERIFIED and _sort_key(backup) > newest_key:
            keep.add(backup['id'])
        elif backup['status'] == INCOMPLETE and not locked:
            keep.add(backup['id'])
        else:
            delete.add(backup['id'])
    return [i for i in all_ids if i not in delete], [i for i in all_ids if i in delete]


# -- Lock ---------------------------------------------------------------------------------------------------

def describe_holder(holder, now=None):
    """One line about the holder of an instance lock (as written by :class:`InstanceLock`)."""
    if not holder:
        return 'another run (it wrote no details)'
    now = time.time() if now is None else now
    text = 'process %s on %s' % (holder.get('pid', '?'), holder.get('host', '?'))
    if holder.get('what'):
        text += ' (%s' % holder['what']
        text += ' %s)' % holder['id'] if holder.get('id') else ')'
    elif holder.get('id'):
        text += ' (%s)' % holder['id']
    if holder.get('since'):
        text += ' since %s' % holder['since']
        if isinstance(holder.get('since_epoch'), (int, float)):
            text += ' (%d s ago)' % max(0, int(now - holder['since_epoch']))
    return text


class InstanceLock(FlockLock):
    """The exclusive lock of one instance directory: an ``flock`` on ``<directory>/.lock``.

    Use as a context manager. ``what`` says what the holder does (``backup``, ``restore``,
    ``retention``); :meth:`update` adds the id it works on. A second run waits up to ``timeout`` seconds,
    then raises :class:`StoreError` naming the holder. The kernel frees the lock when the holder dies.
    """

    def __init__(self, directory, what, timeout=600):
        super().__init__(os.path.join(directory, LOCK_NAME), timeout)
        self.directory = directory
        self.what = what

    def details(self):
        return dict(pid=os.getpid(), host=socket.gethostname(), what=self.what, id=None,
                    since=format_time(time.time()), since_epoch=time.time())

    def failure(self, text):
        return StoreError(text)

    def busy(self, holder, waited):
        return StoreError('the backups of %s are locked by %s; waited %d s (lock_timeout): let that run finish'
                          ' or raise lock_timeout' % (self.directory, describe_holder(holder), waited))
