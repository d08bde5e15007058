# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of the ``hna.cloudos.nginx_log_info`` module: the access log of an nginx container, summarised.

The access log is the container's stdout. It is read through the Docker engine with the engine's timestamps
(nanoseconds), streamed line by line, kept when its timestamp is in the window ``[since, until)`` and summarised
with :func:`_nginx_log.summarise` as it goes, so that a long log never sits in memory as a whole. The engine is
asked for whole seconds around the window; the exact window is applied here, on its nanosecond timestamps.
"""

from __future__ import annotations

import calendar
import math
import re
import time

from decimal import Decimal, InvalidOperation

try:
    from docker.errors import NotFound
except ImportError:
    # The client module reports the missing Docker SDK; this stand-in only keeps the import working.
    class NotFound(Exception):
        """Stand-in when the Docker SDK for Python is missing."""

from ansible_collections.hna.cloudos.plugins.module_utils._nginx_log import (
    LogError,
    check_error_status,
    check_fields,
    parse_line,
    skip_reason,
    summarise,
)

#: Nanoseconds in a second.
NS = 1000000000

#: Why lines in the window are left out (the keys of ``skipped_reasons``).
SKIP_REASONS = ('not_json', 'other_app', 'no_match')

# The engine's timestamps (RFC 3339 with nanoseconds, such as 2026-12-02T11:00:00.123456789Z).
_TIMESTAMP_RE = re.compile(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$')


def argument_spec():
    """The module's own options (the connection options are added by ``DockerClient``)."""
    return dict(
        container=dict(type='str', required=True),
        since=dict(type='float', required=True),
        until=dict(type='float'),
        app=dict(type='str'),
        group_by=dict(type='list', elements='str', default=['variant']),
        error_status=dict(type='int', default=500),
        match=dict(type='dict'),
    )


def parse_timestamp(text):
    """The engine timestamp ``text`` (bytes or text) in nanoseconds since the epoch; ``None`` when it is not one."""
    if isinstance(text, bytes):
        text = text.decode('ascii', 'replace')
    match = _TIMESTAMP_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    fraction = int((match.group(7) or '').ljust(9, '0'))
    zone = match.group(8)
    if zone != 'Z':
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == '+' else -offset
    return seconds * NS + fraction


def seconds_to_ns(seconds):
    """Epoch ``seconds`` (a float) in nanoseconds, from the shortest decimal that gives that float back (so that
    ``1764615600.123456`` is 1764615600123456000, not the nearest binary fraction)."""
    try:
        return int((Decimal(repr(float(seconds))) * NS).to_integral_value())
    except (InvalidOperation, OverflowError, ValueError):
        raise LogError('%r is not a number of seconds.' % (seconds, )) from None


def window(since, until, now):
    """The absolute window ``(since, until)`` in epoch seconds: a negative ``since`` or ``until`` is that many seconds
    before ``now``, ``until`` ``None`` is ``now``. :class:`LogError` unless ``since`` comes before ``until``."""
    for name, value in (('since', since), ('until', until)):
        if value is not None and not math.isfinite(value):
            raise LogError('%s %s is not a number of seconds: give epoch seconds, or a negative number of seconds before now.'
                           % (name, value))
    start = now + since if since < 0 else since
    end = now if until is None else (now + until if until < 0 else until)
    if end <= start:
        raise LogError('until (%.6f) must come after since (%.6f): the window is [since, until), in seconds since the '
                       'epoch (a negative value counts back from now).' % (end, start))
    return start, end


def check_match(match):
    """Return ``match`` (field -> value or list of values) if every value is a number, a text or a list of them."""
    for field, value in (match or {}).items():
        values = value if isinstance(value, list) else [value]
        if not values or any(item is None or isinstance(item, (dict, list)) for item in values):
            raise LogError('match.%s must be a value (text or number) or a list of values the field may have, not %r.' % (field, value))
    return match or {}


def split_lines(chunks):
    """The lines (bytes, without the newline) of a stream of ``chunks`` (bytes or text, cut anywhere)."""
    pending = bytearray()
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode('utf-8')
        start = 0
        while True:
            end = chunk.find(b'\n', start)
            if end < 0:
                pending += chunk[start:]
                break
            pending += chunk[start:end]
            line = bytes(pending)
            pending.clear()
            start = end + 1
            yield line[:-1] if line.endswith(b'\r') else line
    if pending:
        yield bytes(pending)


class LogScan(object):
    """The lines of the window ``[since_ns, until_ns)`` turned into records, with counters.

    ``lines`` counts the lines in the window, ``records`` those kept, ``skipped`` the others, by reason in ``reasons``
    (not JSON, of another app, not matching ``match``); ``first_ns``/``last_ns`` are the engine timestamps of the first
    and last records kept. A line without an engine timestamp counts as a line in the window that is not JSON.

    The module returns ``skipped`` as ``skipped_lines``: a true ``skipped`` in a result makes Ansible report the task
    as skipped.
    """

    def __init__(self, since_ns, until_ns, app=None, match=None):
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.app = app
        self.match = match
        self.lines = 0
        self.records = 0
        self.skipped = 0
        self.reasons = dict((reason, 0) for reason in SKIP_REASONS)
        self.first_ns = None
        self.last_ns = None

    def scan(self, lines):
        """Yield the records of ``lines`` (``<engine timestamp> <text>``, bytes) that are kept."""
        for line in lines:
            stamp_text, _sep, text = line.partition(b' ')
            stamp = parse_timestamp(stamp_text)
            if stamp is not None and not self.since_ns <= stamp < self.until_ns:
                continue
            self.lines += 1
            record = parse_line(text) if stamp is not None else None
            reason = skip_reason(record, self.app, self.match)
            if reason:
                self.skipped += 1
                self.reasons[reason] += 1
                continue
            self.records += 1
            if self.first_ns is None or stamp < self.first_ns:
                self.first_ns = stamp
            if self.last_ns is None or stamp > self.last_ns:
                self.last_ns = stamp
            yield record


def epoch_seconds(ns):
    """Nanoseconds ``ns`` as epoch seconds, rounded down to the microsecond (``None`` stays ``None``).

    A float holds about a quarter of a microsecond at today's epoch: rounded down to the microsecond, the value prints
    as its six decimals and reads back (:func:`seconds_to_ns`) as an instant at or before ``ns``, so that a ``since``
    of it includes the line it came from.
    """
    return None if ns is None else (ns // 1000) / 1e6


def run_module(client):
    """The module ``hna.cloudos.nginx_log_info`` with ``client`` (a ``DockerClient`` built with :func:`argument_spec`)."""
    params = client.params
    name = params['container']
    now = time.time()
    try:
        fields = check_fields(params['group_by'], 'group_by')
        error_status = check_error_status(params['error_status'])
        since, until = window(params['since'], params['until'], now)
        match = check_match(params['match'])
        since_ns, until_ns = seconds_to_ns(since), seconds_to_ns(until)
    except LogError as exc:
        client.fail(str(exc))
    results = dict(changed=False, container=name, since=since, until=until)

    with client.api_errors('inspect container %s' % name, **results):
        try:
            info = client.api.inspect_container(name)
        except NotFound:
            client.fail('container %s does not exist on the Docker engine at %s: give the name or ID of the container of '
                        'nginx whose access log goes to its stdout.' % (name, client.docker_host), **results)
    driver = ((info.get('HostConfig') or {}).get('LogConfig') or {}).get('Type')
    if driver == 'none':
        client.fail('container %s keeps no log (its log driver is none): run it with a log driver the engine can read '
                    'back, such as json-file or local.' % name, **results)

    scan = LogScan(since_ns, until_ns, app=params['app'], match=match)
    # The engine filters by whole seconds around the window (since 0 reads from the start); the exact window is
    # applied to the nanosecond timestamps of the lines.
    engine_window = dict(until=until_ns // NS + 1)
    if since_ns >= NS:
        engine_window['since'] = since_ns // NS
    with client.api_errors('read the log of container %s' % name, **results):
        chunks = client.api.logs(name, stdout=True, stderr=False, timestamps=True, stream=True, follow=False, **engine_window)
        groups = summarise(scan.scan(split_lines(chunks)), group_by=fields, error_status=error_status)
    client.close()
    results.update(groups=groups, lines=scan.lines, records=scan.records, skipped_lines=scan.skipped, skipped_reasons=scan.reasons,
                   first_time=epoch_seconds(scan.first_ns), last_time=epoch_seconds(scan.last_ns))
    client.module.exit_json(**results)
