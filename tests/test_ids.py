"""New ids are version-7 UUIDs: unique, of the current time, in increasing order within a batch."""

from __future__ import annotations

import itertools
import time
import uuid

from project.ids import id_supply, new_ids


def test_ids_are_version_7_uuids_of_now_in_order() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_ids(5000)
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(value) for value in ids]
    assert {value.version for value in parsed} == {7}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    assert [str(value) for value in parsed] == ids  # the canonical form: lowercase, hyphenated
    assert all(before <= value.int >> 80 <= after for value in parsed)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_supply_never_repeats_an_id() -> None:
    drawn = list(itertools.islice(id_supply(batch=100), 1000))
    assert len(set(drawn)) == 1000
    assert new_ids(0) == []


def test_the_jobs_appctl_sends_get_version_7_ids(env: dict[str, str]) -> None:
    from tests.conftest import invoke_appctl

    assert invoke_appctl("db", "upgrade", env=env).returncode == 0
    sends = (
        ("task", "send", "divide", "1", "2"),
        ("task", "send", "divide", "1", "3", "--unique"),
        ("task", "send", "divide", "--from-file", "-"),
    )
    printed = [invoke_appctl(*send, env=env, input="[1, 4]\n[1, 5]\n") for send in sends]
    assert [done.returncode for done in printed] == [0, 0, 0]
    ids = [line for done in printed for line in done.stdout.split()]
    assert len(ids) == 4
    assert {uuid.UUID(task_id).version for task_id in ids} == {7}
