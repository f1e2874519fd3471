"""The eval set and its split, as `../routing-data/README.md`'s protocol words it.

Each row is one question and whether each of two models answered it correctly. The rows
are shuffled with a fixed seed; the first share is the history, each question recorded
once on a tier drawn at random; a fixed-seed sample of the rest is scored.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROMPT_COLUMN = "prompt"
ROUTELLM_TIERS = (
    ("small", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    ("large", "gpt-4-1106-preview"),
)
"""RouteLLM's responses files: the weak and the strong model's columns."""
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class EvalSet:
    """Questions, the group of each (a subject, or the file it came from) and both outcomes."""

    prompts: list[str]
    groups: list[str]
    weak: np.ndarray
    strong: np.ndarray
    tiers: tuple[str, str]
    """(weak, strong) tier names."""


@dataclass(frozen=True)
class Split:
    """History rows with the tier each ran on and its outcome; the scored test rows."""

    history: np.ndarray
    history_strong: np.ndarray
    """Whether each history question ran on the strong tier."""
    history_success: np.ndarray
    test: np.ndarray


def parse_tiers(text: str | None, columns: Sequence[str]) -> list[tuple[str, str]]:
    """`small=COLUMN,large=COLUMN` (weak first); RouteLLM's two columns when not given.

    Raises:
        ValueError: not two `tier=column` pairs, or a column the file lacks.
    """
    if text is None:
        if all(column in columns for _, column in ROUTELLM_TIERS):
            return list(ROUTELLM_TIERS)
        raise ValueError(
            "--tiers: name the weak and strong columns, e.g. small=modelA,large=modelB"
        )
    pairs = []
    for item in text.split(","):
        tier, _, column = item.partition("=")
        if not tier.strip() or not column.strip():
            raise ValueError(f"--tiers: {item!r} is not tier=column")
        pairs.append((tier.strip(), column.strip()))
    if len(pairs) != 2 or pairs[0][0] == pairs[1][0]:
        raise ValueError("--tiers: give exactly two tiers, the weak one first: small=A,large=B")
    missing = [column for _, column in pairs if column not in columns]
    if missing:
        raise ValueError(f"--tiers: no column {missing[0]!r}; the file has {', '.join(columns)}")
    return pairs


def read_eval_set(
    paths: Sequence[Path], tiers: str | None = None, group_column: str | None = None
) -> EvalSet:
    """The questions of every file; without `group_column`, each file is a group.

    Raises:
        ValueError: a missing column or a cell that is not True/False (with its line).
    """
    prompts: list[str] = []
    groups: list[str] = []
    weak: list[bool] = []
    strong: list[bool] = []
    chosen: list[tuple[str, str]] | None = None
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if PROMPT_COLUMN not in columns:
                raise ValueError(f"{path}: no {PROMPT_COLUMN!r} column (RouteLLM's format)")
            if group_column is not None and group_column not in columns:
                raise ValueError(f"{path}: no group column {group_column!r}")
            pairs = parse_tiers(tiers, columns)
            if chosen is not None and pairs != chosen:
                raise ValueError(f"{path}: its tier columns differ from the first file's")
            chosen = pairs
            for line, row in enumerate(reader, start=2):
                prompts.append(row[PROMPT_COLUMN])
                groups.append(row[group_column] if group_column else path.stem)
                weak.append(_outcome(row[pairs[0][1]], path, line, pairs[0][1]))
                strong.append(_outcome(row[pairs[1][1]], path, line, pairs[1][1]))
    if chosen is None or not prompts:
        raise ValueError("the eval set is empty")
    return EvalSet(prompts, groups, np.array(weak), np.array(strong), (chosen[0][0], chosen[1][0]))


def split(questions: EvalSet, seed: int, history_share: float, scored: int) -> Split:
    """Shuffle, take the history and draw each one's tier, sample the scored test rows."""
    if not 0 < history_share < 1:
        raise ValueError(f"--history must be between 0 and 1, got {history_share}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(questions.prompts))
    cut = int(len(questions.prompts) * history_share)
    history, test = order[:cut], order[cut:]
    on_strong = rng.integers(0, 2, len(history)).astype(bool)
    if len(test) > scored:
        test = rng.choice(test, scored, replace=False)
    success = np.where(on_strong, questions.strong[history], questions.weak[history])
    return Split(history, on_strong, success, test)


def _outcome(cell: str | None, path: Path, line: int, column: str) -> bool:
    value = (cell or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{path}:{line}: {column} is {cell!r}, not True or False")
