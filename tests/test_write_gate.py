"""The write gate is left open whatever ends a wait or a block, interrupts included."""

from __future__ import annotations

import pytest

from learning_store.repository.write_gate import WriteGate


def interrupted_wait(gate: WriteGate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's next wait raises KeyboardInterrupt (a Ctrl-C while it waits)."""

    def wait(timeout: float | None = None) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(gate._changed, "wait", wait)


def test_an_interrupt_while_waiting_for_writers_leaves_the_gate_open(monkeypatch) -> None:
    gate = WriteGate()
    with gate.claim({b"a" * 16}):
        interrupted_wait(gate, monkeypatch)
        with pytest.raises(KeyboardInterrupt), gate.exclusive():
            pass  # never reached: the wait for the claim above is interrupted
        monkeypatch.undo()
    assert not gate.busy
    with gate.claim({b"b" * 16}):  # would wait for ever if the flag had stayed set
        assert gate.busy
    with gate.exclusive():
        assert gate.busy
    assert not gate.busy


def test_an_interrupt_while_waiting_for_a_claimed_id_claims_nothing(monkeypatch) -> None:
    gate = WriteGate()
    with gate.claim({b"a" * 16}):
        interrupted_wait(gate, monkeypatch)
        with pytest.raises(KeyboardInterrupt), gate.claim({b"a" * 16, b"c" * 16}):
            pass
        monkeypatch.undo()
    with gate.claim({b"c" * 16}), gate.claim({b"a" * 16}):
        assert gate.busy


def test_an_error_inside_an_exclusive_block_releases_it() -> None:
    gate = WriteGate()
    with pytest.raises(RuntimeError), gate.exclusive():
        raise RuntimeError("the delete failed")
    with gate.claim({b"a" * 16}):
        pass
    assert not gate.busy
