# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the script runners: LocalExec for real (bash on this host), ContainerExec against a fake engine."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import struct
import tarfile
import threading

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_exec as mexec


def test_local_stream_out_hashes_the_stream_and_keeps_stderr_out():
    runner = mexec.LocalExec()
    try:
        runner.put_files({'client.cnf': '[client]\npassword="s"\n'})
        assert stat.S_IMODE(os.stat(runner.directory).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(runner.path('client.cnf')).st_mode) == 0o600
        digest, chunks = hashlib.sha256(), []

        def sink(data):
            digest.update(data)
            chunks.append(len(data))

        script = '\n'.join([
            mexec.forget_files_trap(runner.directory, ['client.cnf']),
            'head -c 3000000 /dev/zero | tr "\\0" a | cat',
            'echo "${PIPESTATUS[*]}" > out/status',
            'echo "a warning" >&2',
        ])
        assert runner.stream_out(script, sink, 30) == 0
        assert sum(chunks) == 3000000
        assert digest.hexdigest() == hashlib.sha256(b'a' * 3000000).hexdigest()
        files = runner.read_files()
        assert files['status'].split() == ['0', '0', '0']
        assert files['stderr'] == 'a warning\n'
        assert not os.path.exists(runner.path('client.cnf'))  # the trap removed it
        assert runner.stream_out('exit 7', sink, 10) == 7
    finally:
        directory = runner.directory
        runner.cleanup()
    assert not os.path.exists(directory)


def test_local_stream_in_and_timeout():
    runner = mexec.LocalExec()
    try:
        assert runner.stream_in('wc -c > out/count; echo ignored', (b'x' * 1000 for dummy in range(1000)), 30) == 0
        assert runner.read_files()['count'].strip() == '1000000'
        # A script that stops reading: the rest of the source is dropped and its exit code returned.
        assert runner.stream_in('head -c 10 > /dev/null; exit 3', (b'y' * 65536 for dummy in range(100)), 30) == 3
        with pytest.raises(mexec.ExecError, match='did not finish in time'):
            runner.stream_out('sleep 20 | cat', lambda data: None, 1)
    finally:
        runner.cleanup()


def test_wrap_script_sends_errors_to_a_file():
    text = mexec.wrap_script('mariadb-dump', '/tmp/x y')
    assert text.splitlines()[0] == "exec 2>>'/tmp/x y/out'/stderr"
    assert 'set -u -o pipefail' in text and text.endswith('mariadb-dump\n')
    assert 'exec >>' in mexec.wrap_script('x', '/tmp/d', stdout_to_file=True)


def test_private_archive_modes():
    data = mexec.private_archive('tmp/d', {'a.cnf': 'x', 'b.cnf': b'y'})
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        modes = dict((member.name, (member.mode, member.isdir())) for member in archive.getmembers())
    assert modes == {'tmp/d': (0o700, True), 'tmp/d/out': (0o700, True), 'tmp/d/a.cnf': (0o600, False),
                     'tmp/d/b.cnf': (0o600, False)}
    with pytest.raises(mexec.ExecError):
        mexec.private_archive('tmp/d', {'../x': 'y'})


class _FakeAPI:
    """Just enough of docker.APIClient for ContainerExec: one exec whose attached stream is a socket pair."""

    def __init__(self, frames, exit_code=0):
        self.frames = frames
        self.exit_code = exit_code
        self.archives = []
        self.created = []
        self.received = b''

    def put_archive(self, container, path, data):
        self.archives.append((container, path, data))
        return True

    def exec_create(self, container, cmd, **kwargs):
        self.created.append((cmd, kwargs))
        return {'Id': 'e%d' % len(self.created)}

    def exec_start(self, exec_id, **kwargs):
        if not kwargs.get('socket'):
            return b''
        ours, theirs = _socketpair()
        payload = b''.join(struct.pack('>BxxxL', kind, len(data)) + data for kind, data in self.frames)

        def send():
            theirs.sendall(payload)
            theirs.shutdown(socket.SHUT_WR)

        def drain():
            # What the module writes (stream_in), until it half-closes or closes.
            while True:
                data = theirs.recv(65536)
                if not data:
                    break
                self.received += data

        self.threads = [threading.Thread(target=target, daemon=True) for target in (send, drain)]
        for thread in self.threads:
            thread.start()
        return ours

    def exec_inspect(self, exec_id):
        for thread in getattr(self, 'threads', []):
            thread.join(5)  # the module has closed its end: everything it wrote is read
        return {'Running': False, 'ExitCode': self.exit_code, 'Pid': 1}

    def get_archive(self, container, path):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode='w') as archive:
            payload = b'0 0\n'
            info = tarfile.TarInfo('out/status')
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        return [data.getvalue()], {}


def _socketpair():
    left, right = socket.socketpair()
    return left, right


class _Client:
    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, api):
        self.api = api


def test_container_stream_out_demultiplexes_stdout():
    api = _FakeAPI([(1, b'abc'), (2, b'noise'), (1, b'def' * 100000)], exit_code=0)
    runner = mexec.ContainerExec(_Client(api), 'mysql')
    runner.put_files({'client.cnf': 'secret'})
    received = []
    assert runner.stream_out('true', received.append, 10) == 0
    assert b''.join(received) == b'abc' + b'def' * 100000
    command, options = api.created[0]
    assert command[:2] == ['bash', '-c'] and 'secret' not in command[2]
    # stdin held open for the watchdog, which ends the pipeline when the module goes away
    assert options['stdin'] is True and 'cat <&3' in command[2]
    assert runner.directory.startswith('/tmp/hna-mysql-')
    assert runner.read_files() == {'status': '0 0\n'}


def test_container_stream_in_half_closes():
    api = _FakeAPI([], exit_code=0)
    runner = mexec.ContainerExec(_Client(api), 'mysql')
    assert runner.stream_in('cat > /dev/null', [b'1' * 1000, b'', b'2' * 5], 10) == 0
    assert api.received == b'1' * 1000 + b'2' * 5
    assert api.created[0][1]['stdin'] is True


class _LocalContainerExec(mexec.ContainerExec):
    """A ContainerExec whose "container" is this host: the private directory is local, the exec a bash process.

    The attach stream ends when the process ends (as the engine's does); its standard input stays open for the
    watchdog until the module closes its end.
    """

    def __init__(self, root='', inspect_pid=1):
        super().__init__(_Client(None), 'local')
        self.directory = __import__('tempfile').mkdtemp(prefix='hna-test-')
        os.mkdir(self.directory + '/out', 0o700)
        self._prepared = True
        self.root = root
        self.process = None
        self.ignore_fifo = False

    def host_root(self):
        return self.root

    def _start(self, script, stdin, what, stdout_to_file=False, watchdog=False, stdout_to_fifo=False):
        import subprocess
        fifo = stdout_to_fifo and not self.ignore_fifo
        self.process = subprocess.Popen(
            ['bash', '-c', mexec.wrap_script(script, self.directory, stdout_to_file, watchdog, fifo)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        ours, theirs = _socketpair()

        def follow():
            self.process.wait()
            theirs.close()

        threading.Thread(target=follow, daemon=True).start()
        return 'e1', ours, ours

    def _exit_code(self, exec_id, deadline):
        code = self.process.wait(10)
        self.process.stdin.close()
        return code

    def _kill(self, exec_id):
        os.killpg(self.process.pid, 9)

    def remove(self):
        import shutil
        shutil.rmtree(self.directory, ignore_errors=True)


def _collect():
    digest, sizes = hashlib.sha256(), []

    def sink(data):
        digest.update(data)
        sizes.append(len(data))
    return digest, sizes, sink


def test_container_stream_out_through_the_fifo():
    runner = _LocalContainerExec()
    try:
        digest, sizes, sink = _collect()
        code = runner.stream_out('head -c 9000000 /dev/zero | tr "\\0" b\necho "${PIPESTATUS[*]}" > out/status', sink, 30)
        assert code == 0 and runner.transport == 'fifo'
        assert sum(sizes) == 9000000 and max(sizes) <= mexec.FIFO_CHUNK
        assert digest.hexdigest() == hashlib.sha256(b'b' * 9000000).hexdigest()
        assert stat.S_ISFIFO(os.stat(runner.directory + '/out/stream').st_mode)
        with open(runner.directory + '/out/status') as handle:
            assert handle.read() == '0 0\n'
    finally:
        runner.remove()


class _BufferSink:
    """A sink with a buffer of its own: the readers read straight into it."""

    def __init__(self):
        self.area = bytearray(1 << 20)
        self.digest = hashlib.sha256()
        self.counts = []

    def buffer(self):
        return memoryview(self.area)

    def advance(self, count):
        self.digest.update(memoryview(self.area)[:count])
        self.counts.append(count)

    def __call__(self, data):
        raise AssertionError('a sink with a buffer of its own is not called with chunks')


def test_container_fifo_reads_into_the_sink_s_own_buffer():
    runner = _LocalContainerExec()
    try:
        sink = _BufferSink()
        assert runner.stream_out('head -c 9000000 /dev/zero | tr "\\0" b', sink, 30) == 0
        assert runner.transport == 'fifo' and sum(sink.counts) == 9000000
        assert sink.digest.hexdigest() == hashlib.sha256(b'b' * 9000000).hexdigest()
    finally:
        runner.remove()


def test_local_stream_out_reads_into_the_sink_s_own_buffer():
    runner = mexec.LocalExec()
    try:
        sink = _BufferSink()
        assert runner.stream_out('head -c 3000000 /dev/zero | tr "\\0" c', sink, 30) == 0
        assert sum(sink.counts) == 3000000
        assert sink.digest.hexdigest() == hashlib.sha256(b'c' * 3000000).hexdigest()
    finally:
        runner.cleanup()


def test_container_fifo_script_failing_at_once_does_not_hang():
    runner = _LocalContainerExec()
    try:
        digest, sizes, sink = _collect()
        assert runner.stream_out('exit 3', sink, 10) == 3
        assert sum(sizes) == 0
    finally:
        runner.remove()


def test_container_fifo_never_opened_by_the_script_does_not_hang():
    runner = _LocalContainerExec()
    runner.ignore_fifo = True  # the script ends before it opens its output
    try:
        digest, sizes, sink = _collect()
        assert runner.stream_out('sleep 0.3; exit 5', sink, 10) == 5
        assert sum(sizes) == 0
    finally:
        runner.remove()


def test_container_fifo_is_read_to_its_end_after_the_script():
    runner = _LocalContainerExec()
    try:
        digest, sizes, sink = _collect()
        # A process of the script writes on after the script itself has ended.
        script = 'trap - EXIT\nprintf first\n( sleep 0.5; printf last ) &\nexit 0'
        assert runner.stream_out(script, sink, 10) == 0
        assert digest.hexdigest() == hashlib.sha256(b'firstlast').hexdigest()
    finally:
        runner.remove()


def test_container_fifo_timeout_stops_the_script():
    runner = _LocalContainerExec()
    try:
        digest, sizes, sink = _collect()
        with pytest.raises(mexec.ExecError, match='did not finish in time'):
            runner.stream_out('sleep 30', sink, 1)
    finally:
        runner.remove()


def test_container_fifo_sink_error_closes_the_reader():
    runner = _LocalContainerExec()
    try:
        def sink(data):
            raise OSError(28, 'No space left on device')
        with pytest.raises(OSError):
            runner.stream_out('head -c 9000000 /dev/zero\necho "${PIPESTATUS[*]}" > out/status', sink, 10)
        # The writer got a broken pipe once the module stopped reading: the script ends, it is not left blocked.
        assert runner.process.wait(10) is not None
    finally:
        runner.remove()


def test_host_root_only_on_a_local_engine(tmp_path):
    class API:
        def inspect_container(self, name):
            return {'State': {'Pid': os.getpid(), 'Running': True}}

    class Remote(_Client):
        docker_host = 'tcp://10.0.0.1:2376'

    runner = mexec.ContainerExec(Remote(API()), 'mysql')
    runner._prepared = True
    assert runner.host_root() is None
    runner = mexec.ContainerExec(_Client(API()), 'mysql')
    runner._prepared = True
    runner.directory = str(tmp_path)
    # our own process: /proc/<pid>/root is "/", where tmp_path is; without out/ it is not ours
    assert runner.host_root() is None
    (tmp_path / 'out').mkdir()
    assert runner.host_root() == '/proc/%d/root' % os.getpid()


def test_container_stream_out_falls_back_to_the_attach_stream():
    api = _FakeAPI([(1, b'abc')], exit_code=0)
    runner = mexec.ContainerExec(_Client(api), 'mysql')
    received = []
    assert runner.stream_out('true', received.append, 10) == 0
    assert runner.transport == 'exec' and b''.join(received) == b'abc'
    assert '/out/stream' not in api.created[0][0][2]


def test_wrap_script_fifo_output():
    text = mexec.wrap_script('true', '/tmp/x', watchdog=True, stdout_to_fifo=True)
    assert 'exec >/tmp/x/out/stream' in text
    assert text.index('exec >/tmp/x/out/stream') < text.index('cat <&3')
