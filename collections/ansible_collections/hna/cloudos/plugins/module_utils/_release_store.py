# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The release files on a host: bundles, the ledger and the release lock.

Layout, under the root (``/var/lib/hna-cloudos/releases`` by default)::

    <environment>/<app>/bundles/<version>.json   immutable bundles
    <environment>/<app>/ledger.json              the ledger (this host's copy)
    <environment>/<app>/lock.json                the release lock (on the lock host only)
    <environment>/<app>/.mutex                   flock held while one run reads and changes the files above

Every file is written through a temporary file in the same directory that is flushed, fsynced, given mode
0640 and renamed into place; the directory is fsynced after the rename. Directories get mode 0750. A new
bundle and a new lock are linked into place, which fails when the name exists (no run ever replaces another's
bundle or lock by accident).

The release lock is not a process lock: it is held by a person or a job across a whole playbook (many module
runs), so it is a file with an owner and an expiry. Reading it, deciding and writing happen under the short
``.mutex`` flock, so that two runs that find the same expired lock do not both take it over.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import tempfile
import time

from ansible_collections.hna.cloudos.plugins.module_utils import _release as rel
from ansible_collections.hna.cloudos.plugins.module_utils._durable import fsync_directory
from ansible_collections.hna.cloudos.plugins.module_utils._lock import FlockLock, LockError

DEFAULT_ROOT = '/var/lib/hna-cloudos/releases'
FILE_MODE = 0o640
DIR_MODE = 0o750
MUTEX_TIMEOUT = 30
LOCK_POLL = 0.5


class StoreError(Exception):
    """A release file cannot be read or written; the message is one line naming the file."""


class LockHeld(StoreError):
    """The release lock is held by another owner."""


# -- Time -----------------------------------------------------------------------------------------------------

def format_time(epoch):
    """Return ``epoch`` (seconds) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_time(text):
    """Return the epoch of a ``YYYY-MM-DDTHH:MM:SSZ`` time (None when it is not one)."""
    try:
        moment = datetime.datetime.strptime(str(text), '%Y-%m-%dT%H:%M:%SZ')
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc).timestamp()


# -- Files ----------------------------------------------------------------------------------------------------

def app_dir(root, environment, app):
    """Return the directory of ``app`` in ``environment`` under ``root`` (names checked)."""
    return os.path.join(root, rel.validate_name('environment', environment), rel.validate_name('app', app))


def ensure_dir(path):
    """Create ``path`` and its missing parents with mode 0750."""
    missing = []
    head = path
    while head and not os.path.isdir(head):
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
            os.chmod(directory, DIR_MODE)  # not narrowed by the umask
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError('cannot create the directory %s: %s.' % (directory, exc.strerror or exc)) from None


def write_json(path, document, replace=True):
    """Write ``document`` to ``path`` atomically (mode 0640). Without ``replace``, return False if ``path`` exists."""
    directory = os.path.dirname(path)
    ensure_dir(directory)
    payload = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + '\n').encode('utf-8')
    return write_file(path, payload, replace=replace)


def write_file(path, payload, mode=FILE_MODE, replace=True, owner=None):
    """Write ``payload`` (bytes) to ``path`` in an existing directory atomically: a temporary file beside it, given
    ``mode`` (and ``owner``, a ``(uid, gid)``, when given), fsynced, then renamed over ``path`` (or, without
    ``replace``, linked into place: False if ``path`` exists); the directory is fsynced after."""
    directory = os.path.dirname(path)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    except OSError as exc:
        raise StoreError('cannot write in %s: %s.' % (directory, exc.strerror or exc)) from None
    try:
        with os.fdopen(descriptor, 'wb') as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(temporary)
        fsync_directory(directory)
        return True
    except OSError as exc:
        raise StoreError('cannot write %s: %s.' % (path, exc.strerror or exc)) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


SECRET_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
SECRET_MODE = 0o400
SECRETS_DIR_MODE = 0o500
#: The temporary file of :func:`write_file` for a secret (``.<name>.<random>.tmp``), left behind when a write was killed.
SECRET_TEMPORARY = re.compile(r'^\.[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.[a-z0-9_]{8}\.tmp$')
#: A temporary file older than this is a leftover; a write in progress holds its file for milliseconds.
STALE_TEMPORARY_SECONDS = 60


def list_names(directory):
    """The sorted names in ``directory``; none when it does not exist."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError('cannot list %s: %s.' % (directory, exc.strerror or exc)) from None


def stale_temporaries(directory, names, now=None):
    """Those of ``names`` (in ``directory``) that are temporary files of secrets a killed write left behind."""
    now = time.time() if now is None else now
    stale = []
    for name in names:
        if not SECRET_TEMPORARY.match(name):
            continue
        try:
            info = os.lstat(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        if now - info.st_mtime >= STALE_TEMPORARY_SECONDS:
            stale.append(name)
    return stale


def write_secrets(directory, secrets, uid=0, gid=0, check_mode=False, keep=None):
    """Write each of ``secrets`` ({name: text}) as ``directory/<name>``, mode 0400, owned by ``uid``:``gid``.

    ``directory`` gets mode 0500 and the same owner (its parents 0750, root's). A file is replaced atomically by
    :func:`write_file` (a container that mounts the directory sees the new file at its next open) and only when its
    content, mode or owner differ. Without ``keep`` the other files of ``directory`` are left alone; with ``keep`` (a
    list of names, possibly empty) every other file whose name is neither in ``secrets`` nor in ``keep`` is removed
    (action removed), and with no secret to write a missing ``directory`` is not created (action absent). The
    temporary files that a killed write left behind (see :func:`stale_temporaries`) are removed either way, under
    their own names (action removed): they hold a secret's value. Return
    ``({name: action}, action of the folder)``, each action created, updated, unchanged or removed; no value ever
    appears in a message.
    """
    if not os.path.isabs(directory or ''):
        raise StoreError('secrets_dir must be an absolute path, not %s.' % json.dumps(str(directory)))
    for name in list(secrets) + list(keep or []):
        if not SECRET_NAME.match(str(name)):
            raise StoreError('secret name %s is not a file name (letters, digits, ., _ and -, at most 128, not '
                             'starting with . or -).' % json.dumps(str(name)))
    for name, value in secrets.items():
        if not isinstance(value, str):
            raise StoreError('the value of secret %s must be text, not %s: quote it.' % (name, type(value).__name__))
    actions = {}
    for name in sorted(secrets):
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            actions[name] = 'created'
            continue
        except OSError as exc:
            raise StoreError('cannot read %s: %s.' % (path, exc.strerror or exc)) from None
        try:
            with open(path, 'rb') as handle:
                same = handle.read() == secrets[name].encode('utf-8')
        except OSError:
            same = False
        same = same and (info.st_mode & 0o7777) == SECRET_MODE and info.st_uid == uid and info.st_gid == gid
        actions[name] = 'unchanged' if same else 'updated'
    try:
        info = os.stat(directory)
        folder = 'unchanged' if (info.st_mode & 0o7777) == SECRETS_DIR_MODE and (info.st_uid, info.st_gid) == (uid, gid) \
            else 'updated'
    except FileNotFoundError:
        folder = 'created' if secrets or keep is None else 'absent'
    present = list_names(directory) if folder not in ('created', 'absent') else []
    if keep is not None:
        allowed = set(secrets) | set(keep)
        for name in present:
            if name not in allowed and not name.startswith('.'):
                actions[name] = 'removed'
    for name in stale_temporaries(directory, present):
        actions[name] = 'removed'
    if check_mode or folder == 'absent':
        return actions, folder
    if folder != 'unchanged':
        ensure_dir(os.path.dirname(directory))
        try:
            if folder == 'created':
                os.mkdir(directory, SECRETS_DIR_MODE)
            os.chown(directory, uid, gid)
            os.chmod(directory, SECRETS_DIR_MODE)
        except OSError as exc:
            raise StoreError('cannot prepare the folder %s: %s.' % (directory, exc.strerror or exc)) from None
    for name, action in sorted(actions.items()):
        if action == 'removed':
            remove(os.path.join(directory, name))
        elif action != 'unchanged':
            write_file(os.path.join(directory, name), secrets[name].encode('utf-8'), mode=SECRET_MODE, owner=(uid, gid))
    return actions, folder


def read_json(path):
    """Return the JSON document in ``path``, or None when there is no such file."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StoreError('%s is not valid JSON (%s); restore it from another host or remove it.' % (path, exc)) from None
    except OSError as exc:
        raise StoreError('cannot read %s: %s.' % (path, exc.strerror or exc)) from None


def remove(path):
    """Remove ``path`` (and make that durable); return False when it did not exist."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError('cannot remove %s: %s.' % (path, exc.strerror or exc)) from None
    fsync_directory(os.path.dirname(path))
    return True


class Mutex(FlockLock):
    """The short ``flock`` on ``<app dir>/.mutex`` held while one run reads and changes the release files."""

    mode = FILE_MODE

    def __init__(self, directory, timeout=MUTEX_TIMEOUT):
        super().__init__(os.path.join(directory, '.mutex'), timeout)
        self.directory = directory

    def acquire(self):
        ensure_dir(self.directory)
        try:
            return super().acquire()
        except LockError as exc:
            raise StoreError(str(exc)) from None

    def failure(self, text):
        return StoreError('%s.' % text)

    def busy(self, holder, waited):
        return StoreError('the release files in %s are being changed by another run (%s) for %d s; try again.'
                          % (self.directory, holder.get('pid', '?'), waited))


# -- Bundles and ledger ---------------------------------------------------------------------------------------

class ReleaseFiles(object):
    """The bundles, the ledger and the lock of one app in one environment on this host."""

    def __init__(self, root, environment, app):
        self.app = rel.validate_name('app', app)
        self.environment = rel.validate_name('environment', environment)
        self.directory = app_dir(root, environment, app)
        self.bundle_dir = os.path.join(self.directory, 'bundles')
        self.ledger_path = os.path.join(self.directory, 'ledger.json')
        self.lock_path = os.path.join(self.directory, 'lock.json')

    def mutex(self, check_mode=False):
        """Return the mutex of the release files; nothing in check mode, which only reads (and creates nothing)."""
        return contextlib.nullcontext() if check_mode else Mutex(self.directory)

    def bundle_path(self, version):
        return os.path.join(self.bundle_dir, '%s.json' % rel.validate_name('version', version))

    def read_bundle(self, version):
        return read_json(self.bundle_path(version))

    def bundles(self):
        """Return every bundle on this host by version."""
        result = {}
        try:
            names = sorted(os.listdir(self.bundle_dir))
        except FileNotFoundError:
            return result
        for name in names:
            if name.endswith('.json') and not name.startswith('.'):
                bundle = read_json(os.path.join(self.bundle_dir, name))
                if isinstance(bundle, dict) and bundle.get('version'):
                    result[bundle['version']] = bundle
        return result

    def store_bundle(self, bundle, check_mode=False):
        """Store ``bundle`` unless the same one is there; return ``(bundle on the host, changed)``.

        The same version with other content raises :class:`ReleaseError`.
        """
        stored = self.read_bundle(bundle['version'])
        if rel.compare_bundle(stored, bundle):
            return stored, False
        if not check_mode and not write_json(self.bundle_path(bundle['version']), bundle, replace=False):
            # Another run stored this version in between: same content or a clear error.
            stored = self.read_bundle(bundle['version'])
            rel.compare_bundle(stored, bundle)
            return stored, False
        return bundle, True

    def read_ledger(self):
        """Return this host's ledger (checked), or None when there is none."""
        ledger = read_json(self.ledger_path)
        if ledger is None:
            return None
        try:
            return rel.check_ledger(ledger, self.app, self.environment, source=self.ledger_path)
        except rel.ReleaseError as exc:
            raise StoreError(str(exc)) from None

    def write_ledger(self, ledger):
        write_json(self.ledger_path, ledger)

    # -- The release lock --------------------------------------------------------------------------------------

    def read_lock(self):
        return read_json(self.lock_path)

    def read_lock_quietly(self):
        """Return the lock, or None when there is none or it cannot be read."""
        try:
            return self.read_lock()
        except StoreError:
            return None

    def acquire_lock(self, owner, ttl, wait_timeout=0, message=None, action=None, version=None, check_mode=False,
                     clock=time.time, sleep=time.sleep):
        """Take the release lock for ``owner``; return ``{'lock', 'changed', 'taken_over', 'waited'}``.

        A lock of the same owner is kept as it is (no change). An expired lock of another owner is taken over
        (``taken_over`` is what it said). A live one is waited for up to ``wait_timeout`` seconds, then
        :class:`LockHeld` names its owner, start, message and expiry.
        """
        started = clock()
        while True:
            with self.mutex(check_mode):
                now = clock()
                held = self.read_lock()
                expires = parse_time((held or {}).get('expires'))
                if held is not None and held.get('owner') == owner and (expires is None or expires > now):
                    return {'lock': held, 'changed': False, 'taken_over': None, 'waited': round(now - started, 1)}
                if held is None or expires is None or expires <= now:
                    lock = {'owner': owner, 'started': format_time(now), 'expires': format_time(now + ttl),
                            'message': message, 'action': action, 'version': version}
                    if not check_mode:
                        self._write_lock(lock, replace=held is not None)
                    return {'lock': lock, 'changed': True, 'taken_over': held, 'waited': round(now - started, 1)}
                waited = now - started
                if waited >= wait_timeout:
                    raise LockHeld('%s; waited %d s (wait_timeout). Wait for that run, or release the lock with '
                                   'state=absent force=true if it is dead.' % (describe_lock(held, self, now), waited))
            sleep(min(LOCK_POLL, max(0.05, wait_timeout - waited)))

    def _write_lock(self, lock, replace):
        if replace:
            write_json(self.lock_path, lock)
        elif not write_json(self.lock_path, lock, replace=False):
            raise StoreError('%s appeared while the release mutex was held: another tool writes it; look at it.'
                             % self.lock_path)

    def release_lock(self, owner, force=False, check_mode=False):
        """Release the lock held by ``owner`` (any owner's with ``force``); return ``{'lock', 'changed'}``."""
        with self.mutex(check_mode):
            held = self.read_lock()
            if held is None:
                return {'lock': None, 'changed': False}
            if held.get('owner') != owner and not force:
                raise LockHeld('%s, not by %s; only its owner releases it (or force=true).'
                               % (describe_lock(held, self), owner))
            if not check_mode:
                remove(self.lock_path)
            return {'lock': held, 'changed': True}


def describe_lock(lock, files, now=None):
    """Return one line about a release lock: who holds it, since when, why and until when."""
    now = time.time() if now is None else now
    expires = parse_time(lock.get('expires'))
    text = 'the release lock of %s (%s) is held by %s since %s' % (
        files.app, files.environment, lock.get('owner') or '?', lock.get('started') or '?')
    doing = ' '.join(str(part) for part in (lock.get('action'), lock.get('version')) if part)
    if doing:
        text += ' for %s' % doing
    if lock.get('message'):
        text += ' (%s)' % json.dumps(str(lock['message']), ensure_ascii=False)
    if expires is not None:
        text += ', %s %s' % ('expired at' if expires <= now else 'expires at', lock['expires'])
    return text


def lock_state(lock, now=None):
    """Return ``lock`` with ``expired`` (bool) added, or None."""
    if lock is None:
        return None
    now = time.time() if now is None else now
    expires = parse_time(lock.get('expires'))
    return dict(lock, expired=expires is not None and expires <= now)
