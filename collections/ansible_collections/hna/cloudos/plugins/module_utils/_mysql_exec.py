# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bash scripts that stream data in or out of a MySQL/MariaDB server's container (or of this host).

The backup and restore modules run their pipelines (dump, compression, mariabackup, import) where the
server's tools are: inside the server's container through the Docker engine's exec API
(:class:`ContainerExec`), or on the host of the module with ``subprocess`` (:class:`LocalExec`). Both
have the same methods:

- :meth:`put_files` creates a fresh private directory (mode 0700, :attr:`directory`) with an ``out``
  sub-directory and writes the given files into it (mode 0600): option files with credentials, so that
  no secret is ever on a command line or in an environment;
- :meth:`stream_out` runs a script and hands every chunk of its standard output to a callback (the
  module hashes and writes it); :meth:`stream_in` runs a script and writes the chunks of an iterable to
  its standard input. The standard error of the script goes to ``out/stderr`` (and the script sends the
  errors of each stage to files of its own in ``out``), never to the module; ``stream_in`` also sends the
  script's standard output to ``out/stdout``;
- :meth:`read_files` returns the files the script left in ``out`` (exit codes of every stage of a
  pipeline, ``${PIPESTATUS[*]}``, error output, positions); :meth:`cleanup` removes the directory.

Both calls return the script's exit code; a script still running when ``timeout`` seconds have passed
is killed (its whole session) and :class:`ExecError` is raised.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
import uuid

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text

CHUNK = 1024 * 1024
#: Size of the reads from the FIFO of :meth:`ContainerExec.stream_out` on the engine's own host.
FIFO_CHUNK = 4 * 1024 * 1024
#: Capacity asked for that FIFO: the default, 64 KiB, makes the compressor and the module take turns in small steps;
#: 1 MiB is the most a process may ask for without CAP_SYS_RESOURCE (/proc/sys/fs/pipe-max-size).
FIFO_CAPACITY = 1024 * 1024
#: ``fcntl`` command that sets the capacity of a pipe (Linux; in the ``fcntl`` module from Python 3.10).
F_SETPIPE_SZ = getattr(fcntl, 'F_SETPIPE_SZ', 1031)
#: Name of that FIFO in the ``out`` directory of a script.
FIFO_NAME = 'stream'
#: Where the private directories are created inside a container.
CONTAINER_TMP = '/tmp'
_STREAM_HEADER = struct.Struct('>BxxxL')


def read_to_sink(descriptor, sink, view):
    """Read once from ``descriptor`` for ``sink``; return the byte count (0 at the end of the input).

    A sink with a buffer of its own (``sink.buffer()``, a writable memoryview, then ``sink.advance(count)``) gets
    the bytes read straight into it; any other is called with a view of ``view``, the reader's buffer, valid only
    during the call.
    """
    if view is None:
        count = os.readv(descriptor, [sink.buffer()])
        if count:
            sink.advance(count)
        return count
    count = os.readv(descriptor, [view])
    if count:
        sink(view[:count])
    return count


class ExecError(Exception):
    """A script could not be run or followed, as one line."""


def _payload(content):
    if isinstance(content, bytes):
        return content
    return content.encode('utf-8')


def private_archive(directory, files, uid=0, gid=0):
    """A tar archive with ``directory`` and ``directory/out`` (mode 0700) and ``files`` in ``directory`` (mode 0600)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode='w') as archive:
        for name in (directory, directory + '/out'):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o700
            info.uid, info.gid = uid, gid
            info.mtime = int(time.time())
            archive.addfile(info)
        for name, content in sorted(files.items()):
            if '/' in name or name in ('', '.', '..', 'out'):
                raise ExecError('invalid file name %r for the private directory' % (name,))
            payload = _payload(content)
            info = tarfile.TarInfo('%s/%s' % (directory, name))
            info.mode = 0o600
            info.uid, info.gid = uid, gid
            info.size = len(payload)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(payload))
    return data.getvalue()


def read_archive(data):
    """The regular files of a tar archive (as the engine's ``get_archive`` returns it), by base name, as text."""
    result = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode='r') as archive:
        for member in archive.getmembers():
            if member.isfile():
                result[os.path.basename(member.name)] = archive.extractfile(member).read().decode('utf-8', 'replace')
    return result


def wrap_script(script, directory, stdout_to_file=False, watchdog=False, stdout_to_fifo=False):
    """The script as it is run: errors into ``out/stderr``, its process ID into ``out/pid``, strict bash settings.

    With ``stdout_to_fifo`` its standard output goes to the FIFO ``out/stream`` (the module reads it from the
    host, whose reading end is open before the script starts: the opening does not block).

    Commands added to the bash array ``HNA_AT_EXIT`` (see :func:`forget_files_trap`) run when the script
    ends, however it ends. With ``watchdog`` (a script whose standard input the module holds open and never
    writes to), a background reader ends the script's whole session as soon as that input closes: the
    module that started it is gone (killed), so nobody reads its output any more.
    """
    out = shlex.quote(directory + '/out')
    lines = ['exec 2>>%s/stderr' % out]
    if stdout_to_file:
        lines.append('exec >>%s/stdout' % out)
    elif stdout_to_fifo:
        lines.append('exec >%s/%s' % (out, FIFO_NAME))
    lines += ['echo $$ > %s/pid' % out, 'set -u -o pipefail', 'umask 077', 'cd %s' % shlex.quote(directory),
              'HNA_AT_EXIT=()',
              "trap 'for hna_command in \"${HNA_AT_EXIT[@]}\"; do eval \"$hna_command\"; done' EXIT"]
    if watchdog:
        lines += ['exec 3<&0 0</dev/null',
                  # Everything of the session but the script itself (which then ends and runs HNA_AT_EXIT) and the
                  # watchdog: TERM first (timeout passes it on and reaps its command), KILL what is left.
                  '{ cat <&3 > /dev/null; hna_me=$BASHPID; hna_others() { for hna_pid in $(pgrep -s $$); do'
                  ' [ "$hna_pid" = $$ ] || [ "$hna_pid" = "$hna_me" ] || echo "$hna_pid"; done; };'
                  ' kill -TERM $(hna_others); sleep 2; kill -KILL $(hna_others); } > /dev/null 2>&1 &',
                  'exec 3<&-',
                  'HNA_AT_EXIT+=("kill $! 2>/dev/null")']
    lines.append(script)
    return '\n'.join(lines) + '\n'


def stale_directories_cleanup(prefix):
    """A bash line that removes the private directories ``/tmp/<prefix>-*`` of scripts that no longer run.

    A killed module leaves its directory behind (the option files are gone, the results stay); the next run
    removes it. A directory counts as stale when the process ID in its ``out/pid`` is gone.
    """
    pattern = '%s/%s-*' % (CONTAINER_TMP, prefix)
    return ('for hna_dir in %s; do [ -d "$hna_dir" ] && [ "$hna_dir" != "$PWD" ] || continue; '
            'hna_pid=$(cat "$hna_dir/out/pid" 2>/dev/null) || continue; [ -n "$hna_pid" ] && [ -d "/proc/$hna_pid" ] '
            '&& continue; rm -rf -- "$hna_dir"; done' % pattern)


def forget_files_trap(directory, names):
    """A bash line that removes ``names`` (option files) of ``directory`` when the script ends, however it ends.

    A script that puts it first leaves no credential behind even when the module that started it is
    killed (the script then ends, and this runs). For scripts run by :class:`ContainerExec` and
    :class:`LocalExec` (it adds to the ``HNA_AT_EXIT`` array their wrapper sets up).
    """
    paths = ' '.join(shlex.quote('%s/%s' % (directory, name)) for name in names)
    return 'HNA_AT_EXIT+=(%s)' % shlex.quote('rm -f -- %s' % paths)


class _Exec:
    """What both implementations share."""

    directory = None

    def path(self, name):
        """The path of ``name`` in the private directory (as the script sees it)."""
        return '%s/%s' % (self.directory, name)

    @property
    def out(self):
        return self.directory + '/out'


class ContainerExec(_Exec):
    """Scripts inside a running container, through the Docker engine API of ``client`` (a ``DockerClient``).

    Every engine error becomes an :class:`ExecError` of one line naming the container.
    """

    def __init__(self, client, container, prefix='hna-mysql'):
        self.client = client
        self.api = client.api
        self.container = container
        self.directory = '%s/%s-%s' % (CONTAINER_TMP, prefix, uuid.uuid4().hex)
        self._prepared = False
        self._timeout = None
        #: How the last :meth:`stream_out` took the data out: ``fifo`` (through ``/proc``) or ``exec`` (the attach stream).
        self.transport = None

    def _call(self, what, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            # docker.errors.* and requests errors: one line, whatever the SDK raised.
            raise ExecError('container %s on %s: could not %s: %s'
                            % (self.container, getattr(self.client, 'docker_host', 'the Docker engine'), what,
                               error_text(exc))) from None

    def inspect(self):
        """The engine's description of the container; :class:`ExecError` unless it exists and runs."""
        info = self._call('inspect it', self.api.inspect_container, self.container)
        state = info.get('State') or {}
        if not state.get('Running'):
            raise ExecError('container %s on %s does not run (status %s): the server must run in it'
                            % (self.container, self.client.docker_host, state.get('Status', 'unknown')))
        return info

    check = inspect

    def put_files(self, files):
        self._call('copy files into it', self.api.put_archive, self.container, '/',
                   private_archive(self.directory.lstrip('/'), files))
        self._prepared = True

    def _ensure(self):
        if not self._prepared:
            self.put_files({})

    def run(self, script, timeout=60):
        """Run a short script (its output into ``out``); return its exit code."""
        return self.stream_out(script, lambda data: None, timeout)

    def host_root(self):
        """The root of the container as this host sees it (``/proc/<pid>/root``), or ``None``.

        Only when the engine listens on a unix socket (it runs on this host) and the private directory of this
        object is visible under ``/proc/<pid of the container's main process>/root``: the module runs as root in
        the host's process namespace. Anything else (a remote engine, no access) gives ``None``.
        """
        host = getattr(self.client, 'docker_host', None) or 'unix://'
        if not str(host).startswith('unix://'):
            return None
        self._ensure()
        try:
            pid = int(((self.api.inspect_container(self.container) or {}).get('State') or {}).get('Pid') or 0)
        except Exception:  # pylint: disable=broad-except
            return None
        if pid <= 0:
            return None
        root = '/proc/%d/root' % pid
        try:
            if not os.path.isdir(root + self.out) or not os.access(root + self.out, os.W_OK | os.X_OK):
                return None
        except OSError:
            return None
        return root

    def _start(self, script, stdin, what, stdout_to_file=False, watchdog=False, stdout_to_fifo=False):
        self._ensure()
        exec_id = self._call(what, self.api.exec_create, self.container,
                             ['bash', '-c', wrap_script(script, self.directory, stdout_to_file, watchdog, stdout_to_fifo)],
                             stdout=True, stderr=True, stdin=stdin)['Id']
        sock = self._call(what, self.api.exec_start, exec_id, socket=True)
        raw = getattr(sock, '_sock', sock)
        return exec_id, sock, raw

    def stream_out(self, script, sink, timeout, fifo=True):
        """Run ``script``, hand the chunks of its standard output to ``sink``; return its exit code.

        On the engine's own host (see :meth:`host_root`) the output goes through a FIFO in the private directory that
        the module reads directly (no copy through the engine); elsewhere, or with ``fifo`` false, it comes on the
        exec's attach stream. ``sink`` may get ``memoryview`` objects that are only valid during the call.
        """
        root = self.host_root() if fifo else None
        if root is not None:
            path = root + self.path('out/' + FIFO_NAME)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            try:
                os.mkfifo(path, 0o600)
                descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                root = None
            else:
                with contextlib.suppress(OSError):
                    fcntl.fcntl(descriptor, F_SETPIPE_SZ, FIFO_CAPACITY)
        if root is not None:
            self.transport = 'fifo'
            try:
                return self._stream_fifo(script, descriptor, sink, timeout)
            finally:
                os.close(descriptor)
        self.transport = 'exec'
        # Its standard input stays open and empty while the module lives: the watchdog of the script ends the
        # pipeline when it closes (the module was killed; the engine would otherwise let the pipeline run on).
        exec_id, sock, raw = self._start(script, True, 'start a script in it', watchdog=True)
        self._timeout = timeout
        deadline = time.monotonic() + timeout
        try:
            for kind, data in self._frames(raw, deadline, exec_id):
                if kind == 1:
                    sink(data)
        finally:
            with contextlib.suppress(Exception):
                sock.close()
        return self._exit_code(exec_id, deadline)

    def _stream_fifo(self, script, descriptor, sink, timeout):
        """The FIFO variant of :meth:`stream_out` (``descriptor``: its reading end, open non-blocking).

        The exec keeps its standard input open (the watchdog) and its attach stream is only watched for its end:
        when the script ends without ever opening the FIFO (it failed before), nothing waits for a writer.
        """
        exec_id, sock, raw = self._start(script, True, 'start a script in it', watchdog=True, stdout_to_fifo=True)
        self._timeout = timeout
        deadline = time.monotonic() + timeout
        view = None if hasattr(sink, 'buffer') else memoryview(bytearray(FIFO_CHUNK))
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        poller.register(raw.fileno(), select.POLLIN)
        exec_open = True
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._timed_out(exec_id, timeout)
                events = dict(poller.poll(int(min(remaining, 1.0) * 1000) + 1))
                if exec_open and raw.fileno() in events:
                    try:
                        data = raw.recv(65536)
                    except BlockingIOError:
                        data = b'-'
                    except OSError:
                        data = b''
                    if not data:
                        # The script ended: whatever still holds the FIFO open ends with it; read to its end.
                        exec_open = False
                        poller.unregister(raw.fileno())
                if descriptor in events or not exec_open:
                    try:
                        count = read_to_sink(descriptor, sink, view)
                    except BlockingIOError:
                        continue  # a writer is there, nothing to read yet
                    if not count:
                        break  # every writer closed it (or none ever opened it and the script ended)
        finally:
            if view is not None:
                view.release()
            with contextlib.suppress(Exception):
                sock.close()
        return self._exit_code(exec_id, deadline)

    def stream_in(self, script, source, timeout):
        exec_id, sock, raw = self._start(script, True, 'start a script in it', stdout_to_file=True)
        self._timeout = timeout
        deadline = time.monotonic() + timeout
        try:
            try:
                for chunk in source:
                    if not chunk:
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._timed_out(exec_id, timeout)
                    raw.settimeout(remaining)
                    try:
                        raw.sendall(chunk)
                    except socket.timeout:
                        self._timed_out(exec_id, timeout)
                    except OSError:
                        break  # the script stopped reading (it ended): its exit code tells why
                with contextlib.suppress(OSError):
                    raw.shutdown(socket.SHUT_WR)
            except BaseException:
                # The module stops feeding (an error of the source, a timeout): end the script too.
                self._kill(exec_id)
                raise
            for _frame in self._frames(raw, deadline, exec_id):
                pass
        finally:
            with contextlib.suppress(Exception):
                sock.close()
        return self._exit_code(exec_id, deadline)

    def _frames(self, raw, deadline, exec_id):
        """The ``(stream, bytes)`` frames of an attached exec (stdout 1, stderr 2) until the end of the stream."""
        def read_exact(count):
            parts, missing = [], count
            while missing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._timed_out(exec_id, self._timeout)
                raw.settimeout(remaining)
                try:
                    data = raw.recv(min(missing, CHUNK))
                except socket.timeout:
                    self._timed_out(exec_id, self._timeout)
                except OSError as exc:
                    raise ExecError('container %s: the connection to the script broke: %s'
                                    % (self.container, exc.strerror or exc)) from None
                if not data:
                    return b''.join(parts) if parts else None
                parts.append(data)
                missing -= len(data)
            return b''.join(parts)

        while True:
            header = read_exact(_STREAM_HEADER.size)
            if not header:
                return
            if len(header) < _STREAM_HEADER.size:
                raise ExecError('container %s: the stream of the script ended in the middle of a frame' % self.container)
            kind, length = _STREAM_HEADER.unpack(header)
            if not length:
                continue
            while length:
                data = read_exact(min(length, CHUNK))
                if data is None:
                    raise ExecError('container %s: the stream of the script ended in the middle of a frame' % self.container)
                length -= len(data)
                yield kind, data

    def _exit_code(self, exec_id, deadline):
        while True:
            info = self._call('read the exit code of a script', self.api.exec_inspect, exec_id)
            if not info.get('Running'):
                return info.get('ExitCode')
            if time.monotonic() >= deadline:
                self._timed_out(exec_id, self._timeout)
            time.sleep(0.1)

    def _kill(self, exec_id):
        """End the script's whole session (the exec's process is a session leader; ``timeout`` makes process groups)."""
        with contextlib.suppress(Exception):
            pid = self.api.exec_inspect(exec_id).get('Pid')
            if not pid:
                return
            # Pid is the process ID on the host; out/pid holds the one inside the container.
            killer = self.api.exec_create(self.container, ['bash', '-c', 'pid=$(cat %s/pid) && { pkill -KILL -s "$pid"; kill -KILL '
                                                           '-- "-$pid"; } 2>/dev/null; true' % shlex.quote(self.out)],
                                          stdout=True, stderr=True)['Id']
            self.api.exec_start(killer)

    def _timed_out(self, exec_id, timeout):
        self._kill(exec_id)
        raise ExecError('container %s: the script did not finish in time (timeout%s) and was stopped'
                        % (self.container, '' if timeout is None else ' %d s' % timeout))

    def read_files(self):
        try:
            stream, _stat = self.api.get_archive(self.container, self.out)
            return read_archive(b''.join(stream))
        except Exception as exc:  # pylint: disable=broad-except
            raise ExecError('container %s: could not read the results of the script: %s'
                            % (self.container, error_text(exc))) from None

    def cleanup(self):
        """Remove the private directory; return ``None``, or one line saying why it could not be removed."""
        if not self._prepared:
            return None
        try:
            exec_id = self.api.exec_create(self.container, ['rm', '-rf', '--', self.directory], stdout=True, stderr=True)['Id']
            self.api.exec_start(exec_id)
            code = self.api.exec_inspect(exec_id).get('ExitCode')
            if code:
                raise RuntimeError('rm exited with %s' % code)
        except Exception as exc:  # pylint: disable=broad-except
            return ('could not remove %s from container %s (%s): remove it, it may hold option files with passwords'
                    % (self.directory, self.container, error_text(exc)))
        self._prepared = False
        return None


class LocalExec(_Exec):
    """Scripts on the host of the module (the server's tools installed there)."""

    def __init__(self, prefix='hna-mysql'):
        self.prefix = prefix
        self.container = None
        self.directory = tempfile.mkdtemp(prefix=prefix + '-')
        os.chmod(self.directory, 0o700)
        os.mkdir(os.path.join(self.directory, 'out'), 0o700)

    def put_files(self, files):
        if self.directory is None:
            raise ExecError('the private directory was removed already')
        for name, content in files.items():
            if '/' in name or name in ('', '.', '..', 'out'):
                raise ExecError('invalid file name %r for the private directory' % (name,))
            descriptor = os.open(os.path.join(self.directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, 'wb') as handle:
                handle.write(_payload(content))

    def _ensure(self):
        if self.directory is None:
            raise ExecError('the private directory was removed already')

    def check(self, tools=('bash',)):
        missing = [tool for tool in tools if not shutil.which(tool)]
        if missing:
            raise ExecError('this host lacks %s: install it, or set container to the container of the server'
                            % ', '.join(missing))

    def run(self, script, timeout=60):
        return self.stream_out(script, lambda data: None, timeout)

    def _popen(self, script, stdin, stdout_to_file=False):
        self._ensure()
        return subprocess.Popen(['bash', '-c', wrap_script(script, self.directory, stdout_to_file)], stdin=stdin,
                                stdout=subprocess.DEVNULL if stdout_to_file else subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def _kill(self, process):
        with contextlib.suppress(OSError):
            subprocess.run(['pkill', '-KILL', '-s', str(process.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            process.wait(5)

    def _timed_out(self, process, timeout):
        self._kill(process)
        raise ExecError('the script did not finish in time (timeout %d s) and was stopped' % timeout)

    def stream_out(self, script, sink, timeout):
        deadline = time.monotonic() + timeout
        with open(os.devnull, 'rb') as devnull:
            process = self._popen(script, devnull)
        try:
            descriptor = process.stdout.fileno()
            view = None if hasattr(sink, 'buffer') else memoryview(bytearray(CHUNK))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._timed_out(process, timeout)
                ready, _w, _x = select.select([descriptor], [], [], min(remaining, 1.0))
                if not ready:
                    continue
                if not read_to_sink(descriptor, sink, view):
                    break
            remaining = deadline - time.monotonic()
            try:
                return process.wait(max(remaining, 0.1))
            except subprocess.TimeoutExpired:
                self._timed_out(process, timeout)
        except BaseException:
            if process.poll() is None:
                self._kill(process)
            raise
        finally:
            process.stdout.close()

    def stream_in(self, script, source, timeout):
        deadline = time.monotonic() + timeout
        process = self._popen(script, subprocess.PIPE, stdout_to_file=True)
        try:
            try:
                for chunk in source:
                    if time.monotonic() > deadline:
                        self._timed_out(process, timeout)
                    if chunk:
                        process.stdin.write(chunk)
            except BrokenPipeError:
                pass  # the script stopped reading: its exit code tells why
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            try:
                return process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._timed_out(process, timeout)
        except BaseException:
            if process.poll() is None:
                self._kill(process)
            raise

    def read_files(self):
        result = {}
        if self.directory is None:
            return result
        out = os.path.join(self.directory, 'out')
        for name in os.listdir(out):
            path = os.path.join(out, name)
            if os.path.isfile(path):
                with open(path, encoding='utf-8', errors='replace') as handle:
                    result[name] = handle.read()
        return result

    def cleanup(self):
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        return None
