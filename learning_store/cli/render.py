"""Rich tables for the CLI: what an operator reads in a terminal.

Stored text (descriptions, repos, tiers, solutions) is untrusted: it goes into cells as
`Text`, never parsed as rich markup, so a task named "[link=...]" prints as written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from rich.table import Table
from rich.text import Text

from learning_store.results import PoolPerformance, SimilarExecution, StoreStats, TierPerformance


def tier_table(rows: list[TierPerformance], days: int) -> Table:
    """Per tier and task type over the window: daily rows folded together."""
    table = Table(
        title=f"Model tiers, last {days} days",
        title_justify="left",
        caption="p95 s: the worst day's 95th percentile duration",
        caption_justify="left",
    )
    table.add_column("tier", no_wrap=True)
    table.add_column("task type", no_wrap=True)
    for heading in ("runs", "success", "avg s", "p95 s", "cost", "quality"):
        table.add_column(heading, justify="right", no_wrap=True)
    groups: dict[tuple[str, str], list[TierPerformance]] = defaultdict(list)
    for row in rows:
        groups[(row.model_tier, row.task_type)].append(row)
    for (tier, task_type), group in sorted(groups.items()):
        total = sum(row.total for row in group)
        rated = [(row.avg_quality, row.total) for row in group if row.avg_quality is not None]
        table.add_row(
            Text(tier),
            Text(task_type),
            f"{total:,}",
            _percent(sum(row.successful for row in group) / total),
            f"{_weighted((row.avg_duration, row.total) for row in group):.1f}",
            f"{max(row.p95_duration for row in group):.1f}",
            f"${_weighted((row.avg_cost, row.total) for row in group):.4f}",
            f"{_weighted(rated):.1f}" if rated else "-",
        )
    return table


def pool_table(rows: list[PoolPerformance], days: int) -> Table:
    """Per pool and repo over the window: hourly rows folded together."""
    table = Table(title=f"Worker pools, last {days} days", title_justify="left")
    for heading in ("pool", "repo", "runs", "success", "avg s", "avg cost"):
        table.add_column(heading, justify="left" if heading in ("pool", "repo") else "right")
    groups: dict[tuple[str, str], list[PoolPerformance]] = defaultdict(list)
    for row in rows:
        groups[(row.pool_type, row.repo)].append(row)
    for (pool, repo), group in sorted(groups.items()):
        total = sum(row.total for row in group)
        table.add_row(
            Text(pool),
            Text(repo),
            f"{total:,}",
            _percent(sum(row.successful for row in group) / total),
            f"{_weighted((row.avg_duration, row.total) for row in group):.1f}",
            f"${_weighted((row.avg_cost, row.total) for row in group):.4f}",
        )
    return table


def similar_table(query: str, matches: list[SimilarExecution]) -> Table:
    """Nearest past executions with their outcome and solution."""
    table = Table(title=Text(f"Past executions like {query!r}"), title_justify="left")
    table.add_column("sim", justify="right", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("task", ratio=3)
    table.add_column("solution", ratio=2)
    for match in matches:
        record = match.record
        outcome = (
            Text("success", style="green")
            if record.success
            else Text(str(record.error_type or "failed"), style="red")
        )
        task = Text(record.task_description)
        task.append(f"\n{record.repo} · {record.model_tier} / {record.pool_type}", style="dim")
        table.add_row(
            f"{match.similarity:.3f}", outcome, task, Text(record.solution_summary or "-")
        )
    return table


def stats_table(stats: StoreStats, where: str) -> Table:
    """What a store holds."""
    table = Table(title=f"Store {where}", title_justify="left", show_header=False)
    table.add_row("executions", f"{stats.total:,}")
    table.add_row(
        "oldest / newest",
        f"{stats.oldest:%Y-%m-%d %H:%M} / {stats.newest:%Y-%m-%d %H:%M}"
        if stats.oldest and stats.newest
        else "-",
    )
    table.add_row(
        "per repo",
        Text(", ".join(f"{repo} {count:,}" for repo, count in stats.per_repo.items()) or "-"),
    )
    table.add_row("without embedding", f"{stats.without_embedding:,}")
    table.add_row(
        "size on disk", "-" if stats.size_bytes is None else f"{stats.size_bytes / 1e6:.1f} MB"
    )
    return table


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _weighted(pairs: Iterable[tuple[float, int]]) -> float:
    items = list(pairs)
    weight = sum(count for _, count in items)
    return sum(value * count for value, count in items) / weight if weight else 0.0
