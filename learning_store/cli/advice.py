"""`learning-store recommend | evaluate`: which tier to run a task on, and how good that is."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from learning_store.cli.common import ModelOption, UrlOption, console, settings, user_errors

if TYPE_CHECKING:
    from learning_store.advice import Evaluation, FitReport
    from learning_store.advice.curve import CostCurve
    from learning_store.results import TierRecommendation


@user_errors
def recommend(
    task: Annotated[str, typer.Argument(help="The task's description, as the router sees it.")],
    repo: Annotated[str | None, typer.Option(help="Only this repo's history.")] = None,
    task_type: Annotated[
        str | None, typer.Option(help="The task's type (default: that of its nearest tasks).")
    ] = None,
    min_success: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Want the cheapest tier expected to reach this."),
    ] = None,
    complexity: Annotated[
        float | None, typer.Option(min=0.0, max=100.0, help="The router's complexity score.")
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(min=0.0, help="Only tiers known to cost at most this per execution."),
    ] = None,
    cost_weight: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Maximise expected success less this x cost (instead of --min-success)."
        ),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    url: UrlOption = None,
    model: ModelOption = None,
) -> None:
    """Recommend a model tier for a task, with each tier's expected success, cost and duration.

    Example: learning-store recommend "Speed up the slow orders query" --min-success 0.8
    """
    from learning_store.api import LearningDatabase

    if output not in ("table", "json"):
        raise ValueError(f"--format {output!r}: use table or json")

    async def ask() -> TierRecommendation:
        async with LearningDatabase(config=settings(url, model)) as db:
            return await db.recommend_tier(
                task,
                repo=repo,
                task_type=task_type,
                min_success=min_success,
                complexity_score=complexity,
                max_cost=max_cost,
                cost_weight=cost_weight,
            )

    advice = asyncio.run(ask())
    if output == "json":
        typer.echo(json.dumps(advice.to_dict(), indent=2))
    else:
        console.print(recommendation_table(task, advice))


def recommendation_table(task: str, advice: TierRecommendation) -> Table:
    """The estimates, the recommended tier highlighted, and the reason as the caption."""
    table = Table(
        title=Text(f"Which tier for: {task}"),
        title_justify="left",
        caption=Text(advice.reason),
        caption_justify="left",
    )
    table.add_column("tier", no_wrap=True)
    for heading in ("success", "95% range", "cost", "avg s", "quality", "evidence"):
        table.add_column(heading, justify="right", no_wrap=True)
    known_first = sorted(
        advice.estimates, key=lambda item: (item.avg_cost is None, item.avg_cost or 0.0)
    )
    for item in known_first:
        chosen = item.tier == advice.tier
        table.add_row(
            Text(("➜ " if chosen else "  ") + item.tier),
            f"{item.success_rate:.0%}",
            f"{item.success_low:.0%}-{item.success_high:.0%}",
            "unknown" if item.avg_cost is None else f"${item.avg_cost:.4f}",
            f"{item.avg_duration:.0f}",
            "-" if item.avg_quality is None else f"{item.avg_quality:.0f}",
            f"{item.evidence:,}",
            style="bold green" if chosen else None,
        )
    return table


@user_errors
def evaluate(
    days: Annotated[int, typer.Option(min=1, help="Replay the executions of this many days.")] = 30,
    fit: Annotated[
        bool,
        typer.Option(
            "--fit",
            help="First fit the prior strength and recency half-life to the last 90 days "
            "and keep them in the store (every process advising on it uses them).",
        ),
    ] = False,
    curve: Annotated[
        bool,
        typer.Option(
            "--curve", help="Also trace success against mean cost as the cost weight sweeps."
        ),
    ] = False,
    chart: Annotated[
        Path | None, typer.Option(help="With --curve: draw it to this PNG file.")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    url: UrlOption = None,
    model: ModelOption = None,
) -> None:
    """Replay the history in time order and score the tier estimates against two baselines.

    Each execution's success on the tier it ran on is predicted from earlier executions
    only. Lower Brier score and log loss are better. Example: learning-store evaluate --fit
    """
    from learning_store.api import LearningDatabase

    if output not in ("table", "json"):
        raise ValueError(f"--format {output!r}: use table or json")

    async def replay() -> tuple[FitReport | None, Evaluation]:
        async with LearningDatabase(config=settings(url, model)) as db:
            fitted = await db.fit_advice() if fit else None
            return fitted, await db.evaluate_advice(days, curve=curve or chart is not None)

    fitted, report = asyncio.run(replay())
    if chart is not None and report.curve is not None:
        from learning_store.cli.chart import draw_cost_curve

        draw_cost_curve(report.curve, chart)
    if output == "json":
        document = report.to_dict()
        if fit:
            document["fit"] = None if fitted is None else fitted.to_dict()
        typer.echo(json.dumps(document, indent=2))
        return
    if fit:
        console.print(fit_line(fitted), highlight=False)
    for table in evaluation_tables(report, days):
        console.print(table)
    if report.curve is not None:
        console.print(curve_table(report.curve))


def curve_table(curve: CostCurve) -> Table:
    """The policy's points as the cost weight sweeps, then each tier always."""
    table = Table(
        title="Success against mean cost: the tier with the best expected success less w x cost",
        title_justify="left",
    )
    truth = bool(curve.policy) and curve.policy[0].true_success is not None
    for heading in (
        "policy",
        "mean cost",
        "expected success",
        *(("true success",) if truth else ()),
    ):
        table.add_column(heading, justify="right" if heading != "policy" else "left")
    oracle = {point.label: point for point in curve.oracle}
    for point in [*curve.policy, *curve.tiers]:
        cells = [point.label, f"${point.mean_cost:.4f}", f"{point.expected_success:.1%}"]
        if truth:
            best = oracle.get(point.label)
            note = (
                f" (oracle {best.true_success:.1%})"
                if best and best.true_success is not None
                else ""
            )
            cells.append(f"{point.true_success:.1%}{note}")
        table.add_row(*cells)
    return table


def fit_line(fitted: FitReport | None) -> str:
    """What `--fit` chose, and what it bought on the sample it was fitted on."""
    if fitted is None:
        return "Not fitted: fewer than 50 executions in the last 90 days; the defaults stay."
    half_life = fitted.fit.half_life_days
    recency = "age does not matter" if half_life is None else f"half-life {half_life:g} days"
    return (
        f"Fitted on {fitted.executions} executions: prior strength {fitted.fit.prior_strength:g}, "
        f"{recency}; log loss {fitted.log_loss:.4f} (defaults: {fitted.default_log_loss:.4f})."
    )


def evaluation_tables(report: Evaluation, days: int) -> list[Table]:
    """Scores against the baselines, then calibration, agreement and regret."""
    scores = Table(
        title=f"Predicting success, {report.executions:,} executions of the last "
        f"{days} days, each from earlier ones only",
        title_justify="left",
    )
    scores.add_column("predictor")
    scores.add_column("Brier score", justify="right")
    scores.add_column("log loss", justify="right")
    for name, result in (
        ("learning_store estimates", report.ours),
        ("baseline: the tier's success rate", report.tier_baseline),
        ("baseline: the tier's rate for the task type", report.type_baseline),
    ):
        summary = result.summary()
        scores.add_row(name, f"{summary['brier']:.4f}", f"{summary['log_loss']:.4f}")
    calibration = Table(
        title="Calibration: predicted against observed success", title_justify="left"
    )
    for heading in ("predicted", "executions", "mean predicted", "observed", "gap"):
        calibration.add_column(heading, justify="right")
    for item in report.calibration:
        calibration.add_row(
            f"{item.low:.1f}-{item.high:.1f}",
            f"{item.count:,}",
            f"{item.predicted:.3f}",
            f"{item.observed:.3f}",
            f"{item.observed - item.predicted:+.3f}",
        )
    agreement = Table(show_header=False, box=None)
    agreement.add_row("the recommended tier is the one the router used", f"{report.agreement:.1%}")
    if report.regret is not None:
        agreement.add_row(
            "regret of the recommendation against the best tier (true chance)",
            f"{report.regret:.4f}",
        )
    return [scores, calibration, agreement]
