"""The PHI guard on its labelled corpus: precision and recall per kind, false alarms on clean updates, time.

    .venv/bin/python bench/phi_guard.py [--show-misses]

The anchor for the time is the same corpus scanned for e-mail addresses only (one regular expression), so the
ratio says what the full guard costs relative to the cheapest possible check on this machine, at this moment.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crisiscast.core import phi  # noqa: E402

# The corpus's comments record its history: two held-out rounds, each measured once before it was tuned on.
CORPORA = {"labelled": Path(__file__).resolve().parents[1] / "tests" / "core" / "phi_corpus.tsv"}
ALLOWED = phi.Allowed.parse(["(254) 724-2111", "1-800-792-3710", "@sw.org"])


def load(path: Path) -> list[tuple[set[str], str]]:
    """A corpus as (labels, text); `clean` means an empty label set."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            labels, text = line.split("\t", 1)
            rows.append((set() if labels == "clean" else set(labels.split(",")), text))
    return rows


def evaluate(rows) -> dict:
    """Per kind: true positives, false negatives, false positives (an example counts once per kind)."""
    stats = {kind: {"tp": 0, "fn": 0, "fp": 0} for kind in phi.KINDS}
    alarms, misses = 0, []
    for labels, text in rows:
        kinds = {f.kind for f in phi.scan({"text": text}, ALLOWED)}
        alarms += bool(kinds) and not labels
        for kind in phi.KINDS:
            key = "tp" if kind in labels and kind in kinds else "fn" if kind in labels else \
                "fp" if kind in kinds else None
            if key:
                stats[kind][key] += 1
            if key in ("fn", "fp"):
                misses.append((key, kind, text))
    return {"stats": stats, "alarms": alarms, "clean": sum(1 for labels, _ in rows if not labels), "misses": misses}


def main() -> None:
    for name, path in CORPORA.items():
        report(name, load(path))
    rows = [row for path in CORPORA.values() for row in load(path)]
    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    anchor, full = _time(lambda t: email.findall(t), rows), _time(lambda t: phi.scan({"text": t}, ALLOWED), rows)
    print(f"per update: guard {full * 1e3:.3f} ms, anchor (one regex) {anchor * 1e3:.4f} ms, "
          f"ratio {full / anchor:.0f}x; a 4,000-character update: {_long(rows) * 1e3:.1f} ms")


def report(name: str, rows) -> None:
    """Print one corpus's figures (and its misses with --show-misses)."""
    result = evaluate(rows)
    print(f"{name} corpus: {len(rows)} updates, {result['clean']} clean")
    print(f"{'kind':6} {'precision':>9} {'recall':>7}  tp fn fp")
    for kind, s in result["stats"].items():
        precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
        recall = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 1.0
        print(f"{kind:6} {precision:9.2f} {recall:7.2f}  {s['tp']:2} {s['fn']:2} {s['fp']:2}")
    print(f"false alarms on clean updates: {result['alarms']}/{result['clean']} "
          f"({result['alarms'] / result['clean']:.1%})")
    if "--show-misses" in sys.argv:
        for key, kind, text in result["misses"]:
            print(f"  {key} {kind:6} {text}")


def _time(check, rows, rounds: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for _, text in rows:
            check(text)
    return (time.perf_counter() - start) / (rounds * len(rows))


def _long(rows) -> float:
    text = " ".join(t for _, t in rows)[:4000]
    start = time.perf_counter()
    phi.scan({"headline": text[:120], "body": text}, ALLOWED)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
