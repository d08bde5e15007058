# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The JSON access log of the nginx load balancers, summarised, and the verdict of an A/B test: pure logic, no I/O.

Each load balancer writes one JSON object per request (the ``log_format`` of the ``lb`` role), for example::

    {"time": "2026-12-02T11:00:00+00:00", "lb": "bj2-lb", "app": "fleet", "variant": "b", "version": "3",
     "status": 200, "request_time": 0.003, "upstream_status": "200", ...}

:func:`parse_line` reads one line; :func:`summarise` counts the requests, errors and statuses of each group of
records (by default by ``variant``) and keeps their latencies (``request_time``, the time nginx spent on the request,
upstream included) in a :class:`Histogram` with fixed bucket bounds. Because the bounds are fixed, the summaries of
several load balancers add up: :func:`merge` regroups them (by a part of their key) and computes the rates and
percentiles again. :func:`verdict` compares a candidate variant with the baseline variant and says ``pass``, ``fail``
or ``inconclusive``, naming the check that decided it with the figures.

Every problem with the input raises :class:`LogError` with a one-line message that names the input and what to do.
"""

from __future__ import annotations

import bisect
import json
import math

#: Upper bounds (in seconds, inclusive) of the latency buckets: about 4 per factor of 10 from 1 ms to 60 s. A last
#: bucket without an upper bound (``+Inf``) holds the longer ones.
BUCKET_BOUNDS = (
    0.001, 0.0018, 0.0032, 0.0056,
    0.01, 0.018, 0.032, 0.056,
    0.1, 0.18, 0.32, 0.56,
    1.0, 1.8, 3.2, 5.6,
    10.0, 18.0, 32.0, 60.0,
)
#: How the unbounded bucket is written in the summaries (JSON has no infinity).
INF = '+Inf'

#: The percentiles every summary carries.
SUMMARY_PERCENTILES = (50, 95, 99)

_SECONDS_DIGITS = 6


class LogError(Exception):
    """Bad input (an option, a summary, a result to merge); the message is one line naming it and what to do."""


# -- Lines and records ------------------------------------------------------------------------------------------

def _number(value, kind):
    """``value`` (a number, or text holding one) as ``kind`` (``int`` or ``float``); ``None`` when it is not one.

    nginx writes ``"-"`` for a variable without a value, and a comma-separated list (``"0.002, 0.003"``) for the
    upstream figures after a retry: neither is a number here.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = value
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    if isinstance(number, float) and not math.isfinite(number):
        return None
    if kind is int:
        if isinstance(number, float) and not number.is_integer():
            return None
        return int(number)
    return float(number)


def record_status(record):
    """The HTTP status of ``record`` as an int, ``0`` when it is missing or not a number."""
    status = _number(record.get('status'), int)
    return status if status is not None and status > 0 else 0


def record_latency(record):
    """The ``request_time`` of ``record`` in seconds, ``None`` when it is missing, negative or not a number."""
    latency = _number(record.get('request_time'), float)
    return latency if latency is not None and latency >= 0 else None


def parse_line(text):
    """The record of one access-log line (text or bytes), or ``None`` when the line is not a JSON object.

    The record is the JSON object, with ``status`` made an int (``0`` when missing or not a number), ``request_time``
    a float (``None`` likewise) and ``bytes`` an int (``None`` likewise); the other fields are left as they are
    (``upstream_*`` may hold ``"-"`` or a comma-separated list after retries).
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text.startswith('{') or not text.endswith('}'):
        return None
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    record['status'] = record_status(record)
    record['request_time'] = record_latency(record)
    record['bytes'] = _number(record.get('bytes'), int)
    return record


def _text(value):
    """A field value as the text used in group keys and filters (``''`` for a missing one)."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def skip_reason(record, app=None, match=None):
    """Why ``record`` is left out: ``'not_json'`` (it is ``None``), ``'other_app'`` (its ``app`` is not ``app``),
    ``'no_match'`` (a field differs from ``match``); ``None`` when it is kept.

    ``match`` maps field names to a value or to a list of values (any of them); values compare as text, so that
    ``3`` matches ``"3"``.
    """
    if record is None:
        return 'not_json'
    if app is not None and _text(record.get('app')) != _text(app):
        return 'other_app'
    for field, wanted in (match or {}).items():
        choices = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        if _text(record.get(field)) not in [_text(choice) for choice in choices]:
            return 'no_match'
    return None


# -- Latency histogram ------------------------------------------------------------------------------------------

def _round(value):
    return None if value is None else round(value, _SECONDS_DIGITS)


def _bound_index(bound, where):
    """The index of bucket bound ``bound`` (a number of :data:`BUCKET_BOUNDS`, or ``'+Inf'``)."""
    if isinstance(bound, str) and bound.strip().lower() in ('+inf', 'inf'):
        return len(BUCKET_BOUNDS)
    if isinstance(bound, float) and math.isinf(bound) and bound > 0:
        return len(BUCKET_BOUNDS)
    value = _number(bound, float)
    if value is not None:
        index = bisect.bisect_left(BUCKET_BOUNDS, value)
        for candidate in (index - 1, index):
            if 0 <= candidate < len(BUCKET_BOUNDS) and math.isclose(BUCKET_BOUNDS[candidate], value, rel_tol=1e-9):
                return candidate
    raise LogError('%s: bucket bound %s is not one of the fixed bounds (%s, %s): give the buckets of a summary of this '
                   'collection unchanged.' % (where, json.dumps(bound, default=str), ', '.join('%g' % b for b in BUCKET_BOUNDS), INF))


class Histogram(object):
    """Latencies in the buckets of :data:`BUCKET_BOUNDS`, with their count, sum and maximum.

    Two histograms add up (:meth:`merge`), whatever order the latencies came in.
    """

    def __init__(self):
        self.counts = [0] * (len(BUCKET_BOUNDS) + 1)
        self.count = 0
        self.sum = 0.0
        self.max = None

    def add(self, seconds):
        """Count one latency (seconds, 0 or more)."""
        self.counts[bisect.bisect_left(BUCKET_BOUNDS, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if self.max is None or seconds > self.max:
            self.max = seconds

    def merge(self, other):
        """Add the latencies of histogram ``other`` to this one."""
        for index, count in enumerate(other.counts):
            self.counts[index] += count
        self.count += other.count
        self.sum += other.sum
        if other.max is not None and (self.max is None or other.max > self.max):
            self.max = other.max
        return self

    def percentile(self, p):
        """The ``p``-th percentile (0 < ``p`` <= 100) in seconds, ``None`` without latencies.

        The bucket that holds the rank ``p / 100 * count`` is found, and the value interpolated linearly between its
        bounds (the first bucket starts at 0, the last one ends at the maximum, and no estimate exceeds the maximum).
        The estimate is therefore in the same bucket as the exact percentile.
        """
        if not self.count:
            return None
        rank = p / 100.0 * self.count
        cumulative = 0
        for index, count in enumerate(self.counts):
            if not count:
                continue
            if cumulative + count >= rank:
                lower = BUCKET_BOUNDS[index - 1] if index > 0 else 0.0
                upper = BUCKET_BOUNDS[index] if index < len(BUCKET_BOUNDS) else self.max
                upper = min(upper, self.max)
                lower = min(lower, upper)
                estimate = lower + (upper - lower) * max(rank - cumulative, 0.0) / count
                return min(estimate, self.max)
            cumulative += count
        return self.max

    def mean(self):
        """The mean latency in seconds, ``None`` without latencies."""
        return self.sum / self.count if self.count else None

    def to_dict(self):
        """The histogram as it appears in a summary (``latency``): only the buckets that hold latencies."""
        buckets = []
        for index, count in enumerate(self.counts):
            if count:
                buckets.append([BUCKET_BOUNDS[index] if index < len(BUCKET_BOUNDS) else INF, count])
        result = {'buckets': buckets, 'count': self.count, 'sum': _round(self.sum), 'max': _round(self.max)}
        for p in SUMMARY_PERCENTILES:
            result['p%d' % p] = _round(self.percentile(p))
        result['mean'] = _round(self.mean())
        return result

    @classmethod
    def from_dict(cls, data, where='latency'):
        """The histogram of the ``latency`` of a summary (as :meth:`to_dict` writes it); :class:`LogError` when it is not one."""
        if not isinstance(data, dict):
            raise LogError('%s is %s, not the latency dictionary of a summary (buckets, count, sum, max).' % (where, type(data).__name__))
        histogram = cls()
        buckets = data.get('buckets') or []
        if not isinstance(buckets, list):
            raise LogError('%s.buckets is %s, not a list of [bound, count] pairs.' % (where, type(buckets).__name__))
        for position, pair in enumerate(buckets):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise LogError('%s.buckets[%d] is %s, not a [bound, count] pair.' % (where, position, json.dumps(pair, default=str)))
            count = _number(pair[1], int)
            if count is None or count < 0:
                raise LogError('%s.buckets[%d] has the count %s: give a whole number, 0 or more.' % (where, position, json.dumps(pair[1], default=str)))
            histogram.counts[_bound_index(pair[0], '%s.buckets[%d]' % (where, position))] += count
        histogram.count = sum(histogram.counts)
        if _number(data.get('count', histogram.count), int) != histogram.count:
            raise LogError('%s.count is %s but its buckets hold %d latencies: give the summary unchanged.' % (
                where, json.dumps(data.get('count'), default=str), histogram.count))
        total = _number(data.get('sum', 0.0) or 0.0, float)
        if total is None or total < 0:
            raise LogError('%s.sum is %s, not a number of seconds.' % (where, json.dumps(data.get('sum'), default=str)))
        histogram.sum = total
        if histogram.count:
            highest = _number(data.get('max'), float)
            if highest is None:
                raise LogError('%s.max is %s, not a number of seconds, although it has %d latencies.' % (
                    where, json.dumps(data.get('max'), default=str), histogram.count))
            histogram.max = highest
        return histogram


def check_percentile(p, name='percentile'):
    """Return percentile ``p`` as a float if it is between 1 and 99.9; :class:`LogError` otherwise."""
    value = _number(p, float)
    if value is None or not 1 <= value <= 99.9:
        raise LogError('%s %s is not a percentile between 1 and 99.9 (for example 95 or 99.9).' % (name, json.dumps(p, default=str)))
    return value


def percentile(hist, p):
    """The ``p``-th percentile (1 to 99.9) in seconds of ``hist``: a :class:`Histogram`, or the ``latency`` of a summary.

    ``None`` when it holds no latency.
    """
    p = check_percentile(p)
    if not isinstance(hist, Histogram):
        hist = Histogram.from_dict(hist)
    value = hist.percentile(p)
    return _round(value)


# -- Summaries ----------------------------------------------------------------------------------------------------

class _Group(object):
    """The running totals of one group."""

    def __init__(self, key):
        self.key = key
        self.requests = 0
        self.errors = 0
        self.statuses = {}
        self.latency = Histogram()

    def to_dict(self, fields):
        return {
            'key': dict(zip(fields, self.key)),
            'requests': self.requests,
            'errors': self.errors,
            'error_rate': round(100.0 * self.errors / self.requests, 2) if self.requests else 0.0,
            'statuses': dict((status, self.statuses[status]) for status in sorted(self.statuses, key=_status_order)),
            'latency': self.latency.to_dict(),
        }


def _status_order(status):
    number = _number(status, int)
    return (0, number, '') if number is not None else (1, 0, status)


def check_fields(fields, name):
    """Return ``fields`` (a list of field names) as a tuple; :class:`LogError` unless they are distinct, non-empty texts."""
    if isinstance(fields, str) or not isinstance(fields, (list, tuple)):
        raise LogError('%s must be a list of field names, such as [variant] or [lb, variant], not %s.' % (
            name, json.dumps(fields, default=str)))
    result = []
    for field in fields:
        if not isinstance(field, str) or not field.strip():
            raise LogError('%s holds %s, which is not a field name: give names of the log fields such as variant.' % (
                name, json.dumps(field, default=str)))
        if field in result:
            raise LogError('%s names the field %s twice: give each field once.' % (name, field))
        result.append(field)
    return tuple(result)


def check_error_status(error_status):
    """Return ``error_status`` if it is an HTTP status (100 to 599); :class:`LogError` otherwise."""
    value = _number(error_status, int)
    if isinstance(error_status, bool) or value is None or not 100 <= value <= 599:
        raise LogError('error_status %s is not an HTTP status between 100 and 599 (500 counts the 5xx answers as errors).'
                       % json.dumps(error_status, default=str))
    return value


def summarise(records, group_by=('variant',), app=None, error_status=500):
    """Summarise ``records`` (an iterable of :func:`parse_line` records, read once) by the fields ``group_by``.

    Records whose ``app`` is not ``app`` (when given) and ``None`` records are left out. A request is an error when its
    status is ``error_status`` or higher, or missing (``0``). Return the groups sorted by key, each::

        {'key': {field: text, ...}, 'requests': n, 'errors': n, 'error_rate': percent (2 decimals),
         'statuses': {'200': n, ...},
         'latency': {'buckets': [[upper bound or '+Inf', n], ...], 'count': n, 'sum': s, 'max': s,
                     'p50': s, 'p95': s, 'p99': s, 'mean': s}}

    Key values are text (``''`` for a record without the field); latencies are seconds (``None`` without any).
    """
    fields = check_fields(group_by, 'group_by')
    error_status = check_error_status(error_status)
    groups = {}
    for record in records:
        if record is None or (app is not None and _text(record.get('app')) != _text(app)):
            continue
        key = tuple(_text(record.get(field)) for field in fields)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key)
        status = record_status(record)
        group.requests += 1
        if status == 0 or status >= error_status:
            group.errors += 1
        group.statuses[str(status)] = group.statuses.get(str(status), 0) + 1
        latency = record_latency(record)
        if latency is not None:
            group.latency.add(latency)
    return [groups[key].to_dict(fields) for key in sorted(groups)]


def _load_group(group, where):
    """A summary group (as :func:`summarise` returns it) as running totals; :class:`LogError` when it is not one."""
    if not isinstance(group, dict) or not isinstance(group.get('key'), dict):
        raise LogError('%s is not a group of a summary (a dictionary with key, requests, errors, statuses and latency): '
                       'give the groups of nginx_log_info.' % where)
    loaded = _Group(None)
    for name in ('requests', 'errors'):
        value = _number(group.get(name, 0), int)
        if value is None or value < 0:
            raise LogError('%s.%s is %s, not a whole number, 0 or more.' % (where, name, json.dumps(group.get(name), default=str)))
        setattr(loaded, name, value)
    if loaded.errors > loaded.requests:
        raise LogError('%s has %d errors in %d requests: give the summary unchanged.' % (where, loaded.errors, loaded.requests))
    statuses = group.get('statuses') or {}
    if not isinstance(statuses, dict):
        raise LogError('%s.statuses is %s, not a dictionary of counts by status.' % (where, type(statuses).__name__))
    for status, count in statuses.items():
        number = _number(count, int)
        if number is None or number < 0:
            raise LogError('%s.statuses.%s is %s, not a whole number, 0 or more.' % (where, status, json.dumps(count, default=str)))
        loaded.statuses[_text(status)] = number
    loaded.latency = Histogram.from_dict(group.get('latency') or {'buckets': [], 'count': 0}, '%s.latency' % where)
    return loaded


def _check_groups_list(groups, where):
    if isinstance(groups, (str, bytes, dict)) or not isinstance(groups, (list, tuple)):
        raise LogError('%s is %s, not a list of summary groups: give the groups of nginx_log_info.' % (where, type(groups).__name__))
    return groups


def merge(groups_lists, by=('variant',)):
    """Merge several summaries (lists of groups, for example one per load balancer) regrouped by the key fields ``by``.

    Every group's key must hold every field of ``by``; the other key fields are added up. Requests, errors, statuses
    and latency buckets add up; the error rates, percentiles and means are computed again. Return the groups as
    :func:`summarise` does, with keys of ``by`` only.
    """
    fields = check_fields(by, 'by')
    _check_groups_list(groups_lists, 'the summaries to merge')
    merged = {}
    for number, groups in enumerate(groups_lists):
        _check_groups_list(groups, 'summary %d' % number)
        for position, group in enumerate(groups):
            where = 'summary %d, group %d' % (number, position)
            loaded = _load_group(group, where)
            missing = [field for field in fields if field not in group['key']]
            if missing:
                raise LogError('%s has no %s in its key (%s): summarise with group_by holding %s.' % (
                    where, ', '.join(missing), json.dumps(group['key'], sort_keys=True, default=str), ', '.join(fields)))
            key = tuple(_text(group['key'][field]) for field in fields)
            total = merged.get(key)
            if total is None:
                total = merged[key] = _Group(key)
            total.requests += loaded.requests
            total.errors += loaded.errors
            for status, count in loaded.statuses.items():
                total.statuses[status] = total.statuses.get(status, 0) + count
            total.latency.merge(loaded.latency)
    return [merged[key].to_dict(fields) for key in sorted(merged)]


# -- Verdict --------------------------------------------------------------------------------------------------------

def _limit(value, name, minimum=0.0, strict=False):
    number = _number(value, float)
    if isinstance(value, bool) or number is None or number < minimum or (strict and number == minimum):
        raise LogError('%s %s must be a number %s %s.' % (name, json.dumps(value, default=str), 'above' if strict else 'of at least',
                                                          ('%g' % minimum)))
    return number


def _percent(value):
    """A rate for a message: two decimals at most, one at least (``10.3%``, ``0.0%``, ``0.04%``)."""
    text = '%.2f' % value
    return (text[:-1] if text.endswith('0') else text) + '%'


def _seconds(value):
    """A latency for a message: milliseconds below a second (``18.6 ms``), seconds above (``1.250 s``)."""
    if value is None:
        return 'none'
    return '%.1f ms' % (value * 1000) if value < 1 else '%.3f s' % value


def _label(p):
    return 'p%s' % ('%g' % p)


def empty_group(key):
    """A group without requests, for a variant that served none."""
    return _Group(tuple(key.values())).to_dict(tuple(key))


def verdict(groups, baseline='a', candidate='b', field='variant', max_error_rate_increase=1.0, max_error_rate=5.0,
            max_latency_ratio=1.5, latency_slack=0.05, percentile=95, min_requests=20):  # pylint: disable=redefined-outer-name
    """Compare the candidate variant with the baseline variant in ``groups`` (summary groups whose key holds ``field``;
    they are merged by ``field`` first, so groups of several load balancers may be given as they are).

    The checks, each ``{'name', 'ok', 'baseline', 'candidate', 'limit', 'message'}``:

    * ``traffic``: the candidate served at least ``min_requests`` requests;
    * ``error_rate``: its error rate (percent) is at most the baseline's plus ``max_error_rate_increase``, and at most
      ``max_error_rate``;
    * ``latency``: its ``percentile``-th percentile latency is at most ``max_latency_ratio`` times the baseline's, or
      the baseline's plus ``latency_slack`` seconds, whichever is higher (the slack keeps a few milliseconds of jitter on
      a fast baseline from failing the test).

    A baseline without requests counts as a perfect one (no errors, no latency): the candidate must then stay within
    ``max_error_rate_increase`` (and ``max_error_rate``) and answer within ``latency_slack`` seconds.

    The verdict is ``fail`` when the error-rate or latency check fails, else ``inconclusive`` when the candidate served
    too few requests (or none with a ``request_time``), else ``pass``. Return::

        {'verdict': 'pass'|'fail'|'inconclusive', 'checks': [...], 'failed_check': '<name>: <message>' or None,
         'baseline': group, 'candidate': group}
    """
    field = check_fields([field], 'field')[0]
    names = {}
    for name, value in (('baseline', baseline), ('candidate', candidate)):
        if value is None or isinstance(value, (bool, dict, list, tuple)) or not _text(value).strip():
            raise LogError('%s %s is not a value of the field %s: give the variant as the logs write it, for example a or b.'
                           % (name, json.dumps(value, default=str), field))
        names[name] = _text(value)
    if names['baseline'] == names['candidate']:
        raise LogError('baseline and candidate are both %s: give two different values of the field %s.' % (names['baseline'], field))
    increase = _limit(max_error_rate_increase, 'max_error_rate_increase')
    ceiling = _limit(max_error_rate, 'max_error_rate')
    ratio = _limit(max_latency_ratio, 'max_latency_ratio', strict=True)
    slack = _limit(latency_slack, 'latency_slack')
    p = check_percentile(percentile)
    needed = _number(min_requests, int)
    if isinstance(min_requests, bool) or needed is None or needed < 0:
        raise LogError('min_requests %s must be a whole number, 0 or more.' % json.dumps(min_requests, default=str))

    by_value = dict((group['key'][field], group) for group in merge([_check_groups_list(groups, 'groups')], by=(field,)))
    b_name, c_name = names['baseline'], names['candidate']
    base = by_value.get(b_name) or empty_group({field: b_name})
    cand = by_value.get(c_name) or empty_group({field: c_name})

    traffic = _traffic_check(base, cand, b_name, c_name, needed)
    errors = _error_rate_check(base, cand, b_name, c_name, increase, ceiling)
    latency, measured = _latency_check(base, cand, b_name, c_name, p, ratio, slack)
    checks = [traffic, errors, latency]

    failed = [check for check in (errors, latency) if not check['ok'] and (check is errors or measured)]
    unsure = [check for check in (traffic, latency) if not check['ok'] and (check is traffic or not measured)]
    if failed:
        result, deciding = 'fail', failed[0]
    elif unsure:
        result, deciding = 'inconclusive', unsure[0]
    else:
        result, deciding = 'pass', None
    return {
        'verdict': result,
        'checks': checks,
        'failed_check': '%s: %s' % (deciding['name'], deciding['message']) if deciding else None,
        'baseline': base,
        'candidate': cand,
    }


def _check(name, ok, baseline, candidate, limit, message):
    return {'name': name, 'ok': bool(ok), 'baseline': baseline, 'candidate': candidate, 'limit': limit, 'message': message}


def _traffic_check(base, cand, b_name, c_name, needed):
    ok = cand['requests'] >= needed
    return _check('traffic', ok, base['requests'], cand['requests'], needed,
                  '%s served %s%d requests (%s: %d), %s the %d needed for a verdict' % (
                      c_name, '' if ok else 'only ', cand['requests'], b_name, base['requests'], 'at least' if ok else 'fewer than',
                      needed))


def _error_rate_check(base, cand, b_name, c_name, increase, ceiling):
    base_rate = base['error_rate'] if base['requests'] else 0.0
    limit = round(min(base_rate + increase, ceiling), 2)
    if base['requests']:
        against = 'against %s for %s' % (_percent(base_rate), b_name)
    else:
        against = '(%s served no requests and counts as 0.0%%)' % b_name
    return _check('error_rate', cand['error_rate'] <= limit + 1e-9, base_rate, cand['error_rate'], limit,
                  '%s answered %s errors (%d of %d) %s; the limit is %s' % (
                      c_name, _percent(cand['error_rate']), cand['errors'], cand['requests'], against, _percent(limit)))


def _latency_check(base, cand, b_name, c_name, p, ratio, slack):
    """The latency check, and whether the candidate had latencies to judge."""
    base_p = _round(Histogram.from_dict(base['latency']).percentile(p))
    cand_p = _round(Histogram.from_dict(cand['latency']).percentile(p))
    reference = base_p if base_p is not None else 0.0
    limit = _round(max(reference * ratio, reference + slack))
    label = _label(p)
    if cand_p is None:
        return _check('latency', False, base_p, None, limit,
                      '%s has no latencies (no request with a request_time), so its %s cannot be compared; the limit is %s'
                      % (c_name, label, _seconds(limit))), False
    if base_p is not None:
        against = 'against %s for %s' % (_seconds(base_p), b_name)
    else:
        against = '(%s has no latencies and counts as 0 s)' % b_name
    return _check('latency', cand_p <= limit + 1e-9, base_p, cand_p, limit,
                  '%s\'s %s latency was %s %s; the limit is %s (%g times %s\'s, or %s\'s plus %s)' % (
                      c_name, label, _seconds(cand_p), against, _seconds(limit), ratio, b_name, b_name, _seconds(slack))), True


# -- Results of the module ------------------------------------------------------------------------------------------

def groups_of(results, where='results'):
    """The summaries in ``results``: a list whose items are results of ``nginx_log_info`` (their ``groups`` are taken)
    or lists of groups; a registered loop (a dictionary with ``results``) or a single result are taken too. Skipped
    results are left out; a failed one raises :class:`LogError`. Return a list of lists of groups, for :func:`merge`."""
    if isinstance(results, dict):
        if 'groups' in results:
            results = [results]
        elif isinstance(results.get('results'), list):
            results = results['results']
        else:
            raise LogError('%s is a dictionary without groups or results: give a list of nginx_log_info results.' % where)
    if isinstance(results, (str, bytes)) or not isinstance(results, (list, tuple)):
        raise LogError('%s is %s, not a list of nginx_log_info results or of their groups.' % (where, type(results).__name__))
    if results and all(isinstance(item, dict) and 'key' in item for item in results):
        # One list of groups, not a list of summaries.
        return [list(results)]
    summaries = []
    for position, item in enumerate(results):
        if isinstance(item, dict):
            if item.get('failed'):
                raise LogError('%s[%d] is a failed task (%s): read every load balancer before judging.' % (
                    where, position, ' '.join(str(item.get('msg') or 'no message').split())))
            if item.get('skipped') and 'groups' not in item:
                continue
            if 'groups' not in item:
                raise LogError('%s[%d] has no groups: give the results of nginx_log_info (or their groups).' % (where, position))
            item = item['groups']
        if isinstance(item, (str, bytes, dict)) or not isinstance(item, (list, tuple)):
            raise LogError('%s[%d] is %s, not a result of nginx_log_info or a list of its groups.' % (where, position, type(item).__name__))
        summaries.append(list(item))
    return summaries
