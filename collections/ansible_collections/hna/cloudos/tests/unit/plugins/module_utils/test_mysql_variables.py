# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the comparison of global variables (mysql_variables): the server's spelling against the task's."""

from __future__ import annotations

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_variables as mv
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import MySQLError


@pytest.mark.parametrize('current, wanted', [
    ('ON', True), ('ON', 'on'), ('ON', 1), ('ON', '1'), ('ON', 'yes'), ('OFF', False), ('OFF', 'OFF'), ('OFF', 0),
    ('151', 151), ('151', '151'), ('67108864', '64M'), ('67108864', '64m'), ('1073741824', '1G'), ('1024', '1K'),
    ('0.500000', 0.5), ('0.500000', '0.5'), ('ROW', 'row'), ('utf8mb4', 'utf8mb4'), ('', ''),
    ('2592000', 2592000), ('-1', -1),
])
def test_values_the_server_already_holds_are_the_same(current, wanted):
    assert mv.same_value(current, wanted)


@pytest.mark.parametrize('current, wanted', [
    ('ON', False), ('OFF', True), ('OFF', 'on'), ('151', 200), ('67108864', '32M'), ('0.500000', 0.25),
    ('ROW', 'MIXED'), ('DISABLED', 'ON'), ('151', 'lots'),
])
def test_values_that_differ_are_not_the_same(current, wanted):
    assert not mv.same_value(current, wanted)


def test_numeric_variables_are_bound_as_numbers_and_the_others_as_text():
    assert mv.bind_value('151', '300') == 300
    assert mv.bind_value('151', 300) == 300
    assert mv.bind_value('67108864', '128M') == 128 * 1024 ** 2
    assert mv.bind_value('0.500000', '0.25') == 0.25
    assert mv.bind_value('OFF', True) == 'ON'
    assert mv.bind_value('ROW', 'mixed') == 'mixed'


def test_the_plan_sets_only_what_differs_and_names_unknown_variables():
    current = {'read_only': 'OFF', 'max_connections': '151', 'event_scheduler': 'ON'}
    changes, unknown = mv.plan({'read-only': True, 'max_connections': 151, 'event_scheduler': 'ON', 'no_such': 1}, current)
    assert changes == [('read_only', 'OFF', 'ON')]
    assert unknown == ['no_such']
    assert mv.plan({'max_connections': '151'}, current) == ([], [])


def test_the_statement_binds_the_value_and_names_the_variable():
    assert mv.set_statement('max_connections', 300, 'global') == ('SET GLOBAL max_connections = %s', (300,))
    assert mv.set_statement('read_only', 'ON', 'persist') == ('SET PERSIST read_only = %s', ('ON',))


@pytest.mark.parametrize('name', ['', '1abc', 'a b', 'x;DROP', 'a`b', 5, None])
def test_bad_names_are_refused_before_anything_is_read(name):
    with pytest.raises(MySQLError, match='not a variable name'):
        mv.normalize_name(name)


@pytest.mark.parametrize('value', [None, [1], {'a': 1}])
def test_values_that_are_not_scalars_are_refused(value):
    with pytest.raises(MySQLError, match='string, a number or a boolean'):
        mv.plan({'max_connections': value}, {'max_connections': '151'})


def test_the_diff_is_one_sorted_line_per_variable():
    assert mv.diff_text({'b': '2', 'a': 'ON'}) == 'a = ON\nb = 2\n'


def test_a_numeric_variable_refuses_a_value_that_is_no_number_before_anything_is_set():
    with pytest.raises(MySQLError, match="max_connections takes a number .*151.*'lots'. Nothing was changed"):
        mv.plan({'read_only': True, 'max_connections': 'lots'}, {'read_only': 'OFF', 'max_connections': '151'})
