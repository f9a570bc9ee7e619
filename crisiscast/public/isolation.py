"""One update that cannot be rendered never stops the public site: it is left out and named, the rest renders.

Renderers collect `problems`, a dict of update id -> why it could not be rendered; the feed channel fails that
update's delivery with the reason, a retraction tells staff, and every one is logged.
"""
from __future__ import annotations

import logging
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")


def describe(problems: dict[int, str]) -> list[str]:
    """Each update the public site left out, as staff read it."""
    return [f"Public site: update #{update_id} could not be rendered and is left out ({why})."
            for update_id, why in sorted(problems.items())]


def tolerant(render: Callable[[list[Item]], Result], items: list[Item], problems: dict[int, str],
             key: Callable[[Item], int]) -> tuple[Result, list[Item]]:
    """`render(items)` and the items it rendered. When that fails, the items that render on their own are
    rendered and the others named in `problems` (by `key(item)`, an update id); a fault of them all raises."""
    try:
        return render(items), items
    except Exception:  # noqa: BLE001 - look for the items at fault below
        good = [item for item in items if guarded(problems, key(item), lambda: render([item])) is not None]
        return render(good), good


def guarded(problems: dict[int, str], update_id: int, render: Callable[[], Result]) -> Result | None:
    """`render()`, or None when it fails, with the reason kept in `problems` under `update_id` and logged."""
    try:
        return render()
    except Exception as exc:  # noqa: BLE001 - one update that cannot be rendered must not stop the others
        problems[update_id] = f"{type(exc).__name__}: {exc}"
        log.warning("public site: update #%s could not be rendered and is left out: %s", update_id,
                    problems[update_id])
        return None
