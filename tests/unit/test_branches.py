"""The versions rule (services/branches.py): fork, switch, nested versions, bad positions."""

from __future__ import annotations

import pytest

from services.branches import BranchError, editable, fork, regenerate_at, switch, versions


def q(text):
    return {"role": "user", "content": text}


def a(text, **more):
    return {"role": "assistant", "content": text, "status": "done", **more}


THREAD = [q("Q1"), a("A1"), q("Q2"), a("A2")]


def test_regenerate_keeps_both_answers_and_switches_between_them():
    history, branches = fork(THREAD, {}, 3)
    assert history == THREAD[:3]
    assert versions(branches) == {3: (2, 2)}
    history = [*history, a("A2 again")]

    first, kept = switch(history, branches, 3, 0)
    assert first == THREAD
    assert versions(kept) == {3: (1, 2)}
    back, kept = switch(first, kept, 3, 1)
    assert back == history
    assert versions(kept) == {3: (2, 2)}


def test_a_third_version_adds_to_the_same_place():
    history, branches = fork(THREAD, {}, 3)
    history, branches = fork([*history, a("A2b")], branches, 3)
    history = [*history, a("A2c")]
    assert versions(branches) == {3: (3, 3)}
    second, kept = switch(history, branches, 3, 1)
    assert second[-1]["content"] == "A2b"
    assert versions(kept) == {3: (2, 3)}


def test_an_edit_keeps_the_later_turns_with_their_own_versions():
    # A regenerated reply at 3, then the first question edited: the versions at 3 go with
    # the earlier path, and come back with it.
    history, branches = fork(THREAD, {}, 3)
    history = [*history, a("A2 again")]
    edited, branches = fork(history, branches, 0)
    assert edited == []
    assert versions(branches) == {0: (2, 2)}
    edited = [q("Q1 edited"), a("A1 edited")]

    old, kept = switch(edited, branches, 0, 0)
    assert old == history
    assert versions(kept) == {0: (1, 2), 3: (2, 2)}
    older, kept2 = switch(old, kept, 3, 0)
    assert older == THREAD
    new, kept3 = switch(older, kept2, 0, 1)
    assert new == edited
    assert versions(kept3) == {0: (2, 2)}
    # The earlier path kept its own choice at 3 (the first answer, picked last).
    again, _ = switch(new, kept3, 0, 0)
    assert again == THREAD


def test_inputs_are_not_changed():
    branches: dict = {}
    thread = [dict(entry) for entry in THREAD]
    fork(thread, branches, 1)
    assert thread == THREAD and branches == {}


@pytest.mark.parametrize("p", [-1, 4, 10])
def test_fork_outside_the_thread_is_refused(p):
    with pytest.raises(BranchError):
        fork(THREAD, {}, p)


def test_switch_to_an_unknown_version_is_refused():
    history, branches = fork(THREAD, {}, 3)
    for p, version in ((3, 2), (3, -1), (1, 0), (5, 0)):
        with pytest.raises(BranchError):
            switch(history, branches, p, version)
    assert switch(history, branches, 3, 1) == (history, branches)


def test_where_a_regenerate_forks():
    assert regenerate_at(THREAD, 3) == 3
    assert regenerate_at(THREAD, 1) is None  # not the newest question's
    assert regenerate_at(THREAD, 2) is None  # a question
    assert regenerate_at(THREAD[:3], 3) is None
    assert regenerate_at([], 0) is None
    assert regenerate_at([*THREAD[:3], {"role": "error", "kind": "timeout"}], 3) is None
    assert regenerate_at([*THREAD[:3], a("half", status="stopped")], 3) == 3
    assert regenerate_at([*THREAD[:3], a("...", status="streaming")], 3) is None
    # A retry's error the record kept before the answer goes with it.
    kept = [*THREAD[:3], {"role": "error", "kind": "timeout"}, a("A2")]
    assert regenerate_at(kept, 4) == 3
    assert editable(THREAD, 2) and not editable(THREAD, 3) and not editable(THREAD, 9)
