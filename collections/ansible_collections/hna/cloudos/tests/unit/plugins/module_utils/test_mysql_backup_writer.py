# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the backup stream writer on real files: every byte written and hashed, direct I/O, failures."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup as backup
from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_exec as mexec

BLOCK = backup.WRITE_BLOCK
SIZES = [0, 1, 4095, 4096, 65537, BLOCK - 1, BLOCK, BLOCK + 4097, 3 * BLOCK + 12345]


def _direct_io_works(directory):
    """Whether this file system takes O_DIRECT at all (probed on a file of its own)."""
    path = os.path.join(directory, 'probe')
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(descriptor)
    os.unlink(path)
    return True


def _is_direct(descriptor):
    return bool(fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_DIRECT)


def _feed(writer, data, how, seed):
    """Give ``data`` to the writer as a reader would: into its buffer in uneven reads, or in chunks of its own."""
    chance = random.Random(seed)
    offset = 0
    while offset < len(data):
        if how == 'buffer':
            room = writer.buffer()
            count = min(len(room), len(data) - offset, chance.choice([1, 511, 4096, 65536, 1 << 20, 4 << 20]))
            room[:count] = data[offset:offset + count]
            room.release()
            writer.advance(count)
        else:
            count = min(len(data) - offset, chance.choice([1, 777, 65536, 3 << 20, 20 << 20]))
            writer(memoryview(data)[offset:offset + count])
        offset += count


@pytest.mark.parametrize('how', ['buffer', 'call'])
@pytest.mark.parametrize('size', SIZES)
def test_every_byte_is_written_and_hashed(tmp_path, size, how):
    data = random.Random(size).randbytes(size)
    path = str(tmp_path / 'b.sql.zst')
    writer = backup.StreamWriter(path)
    _feed(writer, data, how, size)
    writer.commit()
    assert writer.error is None and writer.size == writer.written == size
    assert writer.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    with open(path, 'rb') as handle:
        assert handle.read() == data
    assert not os.path.exists(writer.partial)
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_the_file_is_written_with_direct_io_where_the_file_system_takes_it(tmp_path):
    # The blocks go to the disk without a copy into the page cache (and without the kernel's writeback later).
    assert _direct_io_works(str(tmp_path)), 'the test directory does not take O_DIRECT: run the tests on a disk file system'
    writer = backup.StreamWriter(str(tmp_path / 'b.sql.zst'))
    try:
        assert writer.direct and _is_direct(writer.descriptor)
        _feed(writer, b'x' * (BLOCK + 10), 'buffer', 1)
        writer.close()
        assert writer.error is None and writer.written == BLOCK + 10
    finally:
        writer.discard()


def test_without_direct_io_the_page_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(backup, 'set_direct_io', lambda descriptor, on: False)
    monkeypatch.setattr(backup, 'WRITEBACK_BYTES', BLOCK)
    data = random.Random(7).randbytes(3 * BLOCK + 99)
    writer = backup.StreamWriter(str(tmp_path / 'b.sql.zst'))
    assert not writer.direct and not _is_direct(writer.descriptor)
    _feed(writer, data, 'buffer', 7)
    writer.commit()
    assert writer.digest.hexdigest() == hashlib.sha256(data).hexdigest()
    with open(str(tmp_path / 'b.sql.zst'), 'rb') as handle:
        assert handle.read() == data


def test_a_direct_write_refused_goes_on_through_the_page_cache(tmp_path, monkeypatch):
    assert _direct_io_works(str(tmp_path))
    real_write, refused = os.write, []

    def write(descriptor, data):
        if _is_direct(descriptor) and not refused:
            refused.append(len(data))
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_write(descriptor, data)

    monkeypatch.setattr(backup.os, 'write', write)
    data = random.Random(3).randbytes(2 * BLOCK + 5)
    writer = backup.StreamWriter(str(tmp_path / 'b.sql.zst'))
    _feed(writer, data, 'call', 3)
    writer.commit()
    assert refused and not writer.direct
    with open(str(tmp_path / 'b.sql.zst'), 'rb') as handle:
        assert handle.read() == data


def test_a_failing_write_stops_the_reader_and_nothing_is_kept(tmp_path, monkeypatch):
    def write(descriptor, data):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(backup.os, 'write', write)
    writer = backup.StreamWriter(str(tmp_path / 'b.sql.zst'))
    with pytest.raises(OSError) as caught:
        # The first block fails in the thread; a later call of the reader raises that error.
        for dummy in range(20):
            _feed(writer, b'y' * BLOCK, 'buffer', 0)
    assert caught.value.errno == errno.ENOSPC
    writer.close()
    assert writer.error.errno == errno.ENOSPC
    with pytest.raises(OSError):
        writer.commit()
    writer.discard()
    assert os.listdir(str(tmp_path)) == []


def test_discard_mid_stream_removes_the_partial_file(tmp_path):
    writer = backup.StreamWriter(str(tmp_path / 'b.sql.zst'))
    _feed(writer, b'z' * (2 * BLOCK + 1), 'buffer', 2)
    writer.discard()
    assert os.listdir(str(tmp_path)) == []


def test_a_local_script_streams_into_the_writer(tmp_path):
    runner = mexec.LocalExec()
    try:
        writer = backup.StreamWriter(str(tmp_path / 'b.raw'))
        assert runner.stream_out('head -c 20000003 /dev/zero | tr "\\0" q', writer, 30) == 0
        writer.commit()
    finally:
        runner.cleanup()
    assert writer.size == 20000003
    assert writer.digest.hexdigest() == hashlib.sha256(b'q' * 20000003).hexdigest()
    assert os.path.getsize(str(tmp_path / 'b.raw')) == 20000003
