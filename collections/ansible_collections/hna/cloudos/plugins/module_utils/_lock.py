# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One lock per namespace (or per lone container) on the host where the module runs.

Every module that changes the containers of a namespace (``stack``, ``container``, ``namespace``)
holds the namespace's lock from before it inspects anything until it has finished, so that two runs
against the same namespace never interleave their plans and changes, and quotas are checked with
nobody else adding containers in between.

The lock is an advisory ``flock`` on a file under ``/run/lock/hna-cloudos`` (or the system's temporary
directory when that cannot be used), one file per Docker engine address and namespace. The kernel
releases it when the process that holds it dies, so a killed run never leaves a stale lock. The file
holds a JSON line describing the holder (process ID, host, module, since when), which a waiting run
shows when it gives up.

The modules talk to the engine on the same host in the usual set-up (``unix:///var/run/docker.sock``):
then the lock is on the engine host. Runs that reach one engine over TCP from different machines are
not serialised by it.

:class:`FlockLock` is the plain host-file lock underneath (a path, a timeout, a holder line); the backup
store's instance lock and the release files' mutex build on it too.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import socket
import tempfile
import time

LOCK_DIRS = ('/run/lock/hna-cloudos', os.path.join(tempfile.gettempdir(), 'hna-cloudos-locks'))
POLL_INTERVAL = 0.2
_SAFE_RE = re.compile(r'[^a-zA-Z0-9_.-]+')


def utc_now():
    """Return the current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class LockError(Exception):
    """The lock could not be taken; the message (one line) says who holds it or what went wrong."""


def lock_path(docker_host, scope, name, directories=LOCK_DIRS):
    """Return the path of the lock file for ``scope`` (``namespace`` or ``container``) ``name`` on ``docker_host``.

    The first of ``directories`` that exists or can be created (and written to) is used.
    """
    engine = hashlib.sha256(str(docker_host or 'default').encode('utf-8')).hexdigest()[:12]
    filename = '%s-%s-%s.lock' % (engine, _SAFE_RE.sub('_', scope), _SAFE_RE.sub('_', str(name))[:100])
    problems = []
    for directory in directories:
        try:
            os.makedirs(directory, mode=0o1777, exist_ok=True)
        except OSError as exc:
            problems.append('%s (%s)' % (directory, exc.strerror or exc))
            continue
        if os.access(directory, os.W_OK | os.X_OK):
            return os.path.join(directory, filename)
        problems.append('%s (not writable)' % directory)
    raise LockError('No directory for the lock of %s %s can be used: %s.' % (scope, name, '; '.join(problems)))


def describe_holder(holder, now=None):
    """Return one line about the holder of a lock (as written by :class:`EngineLock`)."""
    if not holder:
        return 'another run (it wrote no details)'
    now = time.time() if now is None else now
    parts = ['process %s' % holder.get('pid', '?')]
    if holder.get('host'):
        parts[0] += ' on %s' % holder['host']
    if holder.get('module'):
        parts.append('running %s' % holder['module'])
    if holder.get('since'):
        held = ''
        if isinstance(holder.get('since_epoch'), (int, float)):
            held = ', %d s ago' % max(0, int(now - holder['since_epoch']))
        parts.append('since %s%s' % (holder['since'], held))
    return ' '.join(parts)


class FlockLock(object):
    """An exclusive ``flock`` on the file ``path``, held by this process until :meth:`release` (or its death).

    The base of the host-file locks of the collection. ``timeout`` is how long :meth:`acquire` waits, in seconds
    (0: do not wait); then it raises what :meth:`busy` returns. The holder writes one JSON line of
    :meth:`details` into the file for waiters to show. ``mode`` is the mode of a new lock file.
    """

    mode = 0o600

    def __init__(self, path=None, timeout=0):
        self.path = path
        self.timeout = timeout
        self.waited = 0.0
        self.info = None
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def locate(self):
        """Return the path of the lock file (subclasses may compute it when the lock is taken)."""
        return self.path

    def details(self):
        """Return what the holder writes about itself."""
        return dict(pid=os.getpid(), host=socket.gethostname(), since=utc_now(), since_epoch=time.time())

    def failure(self, text):
        """Return the exception for a lock file that cannot be used (``text`` says why)."""
        return LockError('%s.' % text)

    def busy(self, holder, waited):
        """Return the exception for a lock still held by ``holder`` after ``waited`` seconds."""
        return LockError('%s is locked by %s; waited %d s.' % (self.path, describe_holder(holder), waited))

    def holder(self):
        """Return what the lock file says about its holder (``{}`` when it says nothing readable)."""
        try:
            with open(self.path or self.locate(), 'r', encoding='utf-8') as handle:
                text = handle.read(4096).strip()
            return json.loads(text.splitlines()[0]) if text else {}
        except (OSError, ValueError, IndexError, LockError):
            return {}

    def acquire(self):
        """Take the lock, waiting up to ``timeout`` seconds; raise :meth:`busy`'s exception otherwise."""
        self.path = self.locate()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, self.mode)
        except OSError as exc:
            raise self.failure('cannot open the lock file %s: %s' % (self.path, exc.strerror or exc)) from None
        start = time.monotonic()
        deadline = start + max(0, self.timeout or 0)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise self.failure('cannot lock %s: %s' % (self.path, exc.strerror or exc)) from None
                if time.monotonic() >= deadline:
                    raise self.busy(self.holder(), int(round(time.monotonic() - start)))
                time.sleep(POLL_INTERVAL)
        except BaseException:
            os.close(fd)
            raise
        self.waited = round(time.monotonic() - start, 3)
        self._fd = fd
        self.info = self.details()
        self._write()
        return self

    def update(self, **details):
        """Add ``details`` to the holder line."""
        if self.info is not None:
            self.info.update(details)
            self._write()

    def _write(self):
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, (json.dumps(self.info, sort_keys=True) + '\n').encode('utf-8'), 0)
        except OSError:
            pass  # the details are a courtesy to waiters; the lock itself is held

    def release(self):
        """Release the lock (the holder line is cleared first). Safe to call twice."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False


class EngineLock(FlockLock):
    """An exclusive lock on one namespace (or lone container) of one Docker engine.

    Use as a context manager, or :meth:`acquire` then :meth:`release`. ``timeout`` is how long to
    wait for another run to finish, in seconds (0: do not wait).
    """

    mode = 0o666

    def __init__(self, docker_host, scope, name, module='', timeout=300, directories=LOCK_DIRS):
        super(EngineLock, self).__init__(None, timeout)
        self.docker_host = docker_host
        self.scope = scope
        self.name = name
        self.module = module
        self.directories = directories

    def locate(self):
        return lock_path(self.docker_host, self.scope, self.name, self.directories)

    def details(self):
        return dict(pid=os.getpid(), host=socket.gethostname(), module=self.module, scope=self.scope, name=self.name,
                    engine=self.docker_host, since=utc_now(), since_epoch=time.time())

    def failure(self, text):
        return LockError('%s%s (the lock of %s %s).' % (text[0].upper(), text[1:], self.scope, self.name))

    def busy(self, holder, waited):
        return LockError('%s %s on the Docker engine at %s is locked by %s; waited %d s (lock_timeout). Let that run '
                         'finish, or raise lock_timeout. The lock is released when that process ends.' % (
                             self.scope.capitalize(), self.name, self.docker_host, describe_holder(holder), waited))


def _client_lock(scope, client, name, module, timeout):
    """Return the (not yet acquired) lock of ``scope`` ``name`` on the engine of ``client`` (a ``DockerClient``)."""
    return EngineLock(getattr(client, 'docker_host', None), scope, name, module=module, timeout=timeout)


#: ``namespace_lock(client, namespace, module, timeout)``: the (not yet acquired) lock of ``namespace`` on the engine
#: of ``client`` (a ``DockerClient``).
namespace_lock = functools.partial(_client_lock, 'namespace')
#: ``container_lock(client, name, module, timeout)``: the (not yet acquired) lock of a container that belongs to no
#: namespace.
container_lock = functools.partial(_client_lock, 'container')
