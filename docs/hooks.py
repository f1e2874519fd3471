"""MkDocs hooks: the reference pages are generated from the code at build time.

A page holding `<!-- generated: NAME -->` gets that marker replaced: `cli` by the typer
command tree (every command, argument and option, with its help), `configuration` by
`LearningConfig`'s fields, `schema` by the `executions` table and the record's fields,
`api` by one mkdocstrings block per name in `learning_store.__all__`. Nothing is retyped,
so the reference cannot drift from the code.
"""

from __future__ import annotations

import re
from typing import Any

MARKER = re.compile(r"<!-- generated: (\w+) -->")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each generation marker on a page."""
    return MARKER.sub(lambda found: GENERATORS[found.group(1)](), markdown)


def cli_reference() -> str:
    """Every command of `learning-store`, from the click tree typer builds."""
    import typer.main

    from learning_store.cli import app

    lines: list[str] = []

    def document(command: Any, path: list[str]) -> None:
        name = " ".join(path)
        context = command.context_class(command, info_name=name)
        if hasattr(command, "list_commands"):  # a group: its commands, each documented
            for child in sorted(command.list_commands(context)):
                sub = command.get_command(context, child)
                if sub is not None and not sub.hidden:
                    document(sub, [*path, child])
            return
        lines.append(f"## `{name}`\n")
        lines.append(_plain(command.help or "") + "\n")
        usage = " ".join([name, *command.collect_usage_pieces(context)])
        lines.append(f"```\n{usage}\n```\n")
        rows = []
        for parameter in command.params:
            if parameter.param_type_name == "argument":
                help_text = _plain(getattr(parameter, "help", None) or "")
                rows.append((f"`{parameter.name.upper()}`", f"argument. {help_text}", ""))
                continue
            if parameter.param_type_name != "option" or parameter.hidden:
                continue
            flags = ", ".join(f"`{flag}`" for flag in [*parameter.opts, *parameter.secondary_opts])
            quiet = parameter.default in (None, False, ()) or parameter.is_flag
            default = "" if quiet else f"`{parameter.default}`"
            rows.append((flags, _plain(parameter.help or ""), default))
        if rows:
            lines.append("| option | meaning | default |\n|---|---|---|")
            lines.extend(f"| {flags} | {meaning} | {default} |" for flags, meaning, default in rows)
            lines.append("")

    document(typer.main.get_command(app), ["learning-store"])
    return "\n".join(lines)


def configuration_reference() -> str:
    """Every `LearningConfig` field as its environment variable, default and meaning."""
    from learning_store.config import LearningConfig

    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for name, field in LearningConfig.model_fields.items():
        bounds = []
        for rule in field.metadata:
            for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                value = getattr(rule, attribute, None)
                if value is not None:
                    bounds.append(f"{sign} {value}")
        default = field.default if field.default is not None else "unset"
        rows.append(
            f"| `LEARNING_STORE_{name.upper()}` | `{default}` | {', '.join(bounds)} | "
            f"{_plain(field.description or '')} |"
        )
    return "\n".join(rows)


def schema_reference() -> str:
    """The `executions` table's columns, each with the record field's description."""
    from learning_store.models import ExecutionRecord
    from learning_store.schema import executions

    rows = ["| column | type | null | meaning |", "|---|---|---|---|"]
    for column in executions.columns:
        field = ExecutionRecord.model_fields.get(column.name)
        meaning = _plain(field.description or "") if field is not None else "set by the store"
        null = "yes" if column.nullable else "no"
        rows.append(f"| `{column.name}` | `{column.type}` | {null} | {meaning} |")
    return "\n".join(rows)


def api_reference() -> str:
    """One mkdocstrings block per public name, from the module it lives in."""
    import learning_store

    blocks = []
    for name in sorted(learning_store.__all__, key=str.lower):
        home = learning_store._HOMES[name]  # the lazy import table: where each name lives
        blocks.append(f"## `{name}`\n\n::: {home}.{name}\n")
    return "\n".join(blocks)


def _plain(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


GENERATORS = {
    "cli": cli_reference,
    "configuration": configuration_reference,
    "schema": schema_reference,
    "api": api_reference,
}
