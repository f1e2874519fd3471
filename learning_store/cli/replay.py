"""`learning-store replay`: prove the advice on your own eval set (RouteLLM's format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from learning_store.cli.common import ModelOption, console, errors, settings, user_errors

if TYPE_CHECKING:
    from learning_store.replay.run import ReplayReport


@user_errors
def replay(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV files: a prompt column and a True/False column per model."),
    ],
    tiers: Annotated[
        str | None,
        typer.Option(
            help="weak=COLUMN,strong=COLUMN, e.g. small=mixtral,large=gpt-4 "
            "(default: RouteLLM's Mixtral and GPT-4 columns)."
        ),
    ] = None,
    cost: Annotated[
        str | None, typer.Option(help="Cost per call per tier, e.g. small=0.0006,large=0.03.")
    ] = None,
    group_column: Annotated[
        str | None,
        typer.Option(help="A subject column (default: each file is a group)."),
    ] = None,
    group_as_task_type: Annotated[
        bool, typer.Option("--group-as-task-type", help="Record the group as the task type.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Shuffle, tier draws and test sample.")] = 7,
    history: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of the questions that is history.")
    ] = 0.6,
    scored: Annotated[int, typer.Option(min=10, help="Test questions scored at most.")] = 1500,
    chart: Annotated[
        Path | None, typer.Option(help="Draw accuracy against the share of strong calls (PNG).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    model: ModelOption = None,
) -> None:
    """Replay an eval set through the advice and score it as RouteLLM does (APGR, CPT).

    The first --history of the shuffled questions is recorded once each, on a random tier,
    in a temporary store; each scored question is routed by the advice's expected gain of
    the strong tier, beside kNN-100, a logistic regression, random routing and (with
    groups) the group oracle. Example:
    learning-store replay mmlu/*.csv --cost small=0.0006,large=0.03 --chart replay.png
    """
    from learning_store.bootstrap import build_embedder
    from learning_store.replay.protocol import read_eval_set
    from learning_store.replay.run import replay as run_replay

    if output not in ("table", "json"):
        raise ValueError(f"--format {output!r}: use table or json")
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {str(path)!r}")
    questions = read_eval_set(files, tiers, group_column)
    costs = _costs(cost, questions.tiers)
    embedder = build_embedder(settings(None, model))
    if embedder is None:
        raise ValueError("replay compares task embeddings: enable embeddings")

    def progress(stage: str, done: int, total: int) -> None:
        if output == "table" and (done == 0 or done == total):
            errors.print(f"{stage}: {done:,} of {total:,}", highlight=False)

    report = run_replay(
        questions,
        embedder.embed,
        seed=seed,
        history_share=history,
        scored=scored,
        costs=costs,
        group_as_task_type=group_as_task_type,
        progress=progress,
    )
    if chart is not None:
        from learning_store.cli.chart import draw_replay_chart

        names = files[0].stem if len(files) == 1 else f"{len(files)} files"
        draw_replay_chart(report, chart, f"Replay of {names}: task type {report.task_type}")
    if output == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console.print(replay_table(report, costs))


def _costs(text: str | None, tiers: tuple[str, str]) -> dict[str, float]:
    if text is None:
        return {}
    costs = {}
    for item in text.split(","):
        tier, _, value = item.partition("=")
        try:
            costs[tier.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--cost: {item!r} is not tier=number") from None
        if costs[tier.strip()] < 0 or tier.strip() not in tiers:
            raise ValueError(
                f"--cost: {item!r}: give a cost of at least 0 for {' or '.join(tiers)}"
            )
    return costs


def replay_table(report: ReplayReport, costs: dict[str, float]) -> Table:
    """One row per router: APGR, CPT(50%), CPT(80%), accuracy at 25/50/75% strong calls."""
    weak, strong = report.tiers
    table = Table(
        title=f"{report.history:,} questions of history (one tier each), {report.scored:,} "
        f"scored, seed {report.seed}, task type {report.task_type}",
        title_justify="left",
        caption=f"always {weak}: {report.weak_accuracy:.1%} · always {strong}: "
        f"{report.strong_accuracy:.1%} · CPT: share of {strong} calls for that share of the gap"
        + (_cost_note(report, costs) if costs else ""),
        caption_justify="left",
    )
    table.add_column("router", no_wrap=True)
    for heading in ("APGR", "CPT(50%)", "CPT(80%)", "acc @25%", "acc @50%", "acc @75%"):
        table.add_column(heading, justify="right")
    for result in report.routers:
        table.add_row(
            result.name,
            f"{result.apgr:.3f}",
            _share(result.cpt_50),
            _share(result.cpt_80),
            *(f"{value:.1%}" for value in result.accuracy_at.values()),
        )
    return table


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _cost_note(report: ReplayReport, costs: dict[str, float]) -> str:
    weak, strong = report.tiers
    ours = report.routers[0]
    if ours.cpt_80 is None or weak not in costs or strong not in costs:
        return ""
    mixed = costs[strong] * ours.cpt_80 + costs[weak] * (1 - ours.cpt_80)
    return (
        f" · at CPT(80%) {ours.name} costs ${mixed:.4f} a question against "
        f"${costs[strong]:.4f} always {strong}"
    )
