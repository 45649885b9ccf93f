"""Print the README's results table from finished runs: ``python -m experiments.reports.results_table runs/*/``."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _published(value: float, spread: float, setting: str, source: str) -> str:
    if not value:
        return "-"
    text = f"{value:.3f}" + (f" +- {spread:.3f}" if spread else "")
    return text + (f" ({setting}; {source})" if source else f" ({setting})")


def rows(run_dirs) -> list[str]:
    """One Markdown row per run (and per sweep value) with the published number and its source."""
    out = ["| experiment | splits | ours: mean per-class accuracy (std) | ILSVRC top-1 / top-5 error "
           "| published (setting; source) | run time |", "|---|---|---|---|---|---|"]
    for d in run_dirs:
        path = Path(d) / "metrics.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        pub = m["published"]
        for v in m.get("variants", ()):
            name = m["name"] if v["sweep_value"] is None else f"{m['name']} ({v.get('label') or v['sweep_value']})"
            errs = v["top_k_error_mean"]
            value = v.get("published", pub["value"])
            published = _published(value, pub["spread"] if value == pub["value"] else 0.0, pub["setting"],
                                   pub["source"])
            out.append(f"| `{name}` | {len(v['splits'])} | {v['accuracy_mean']:.4f} ({v['accuracy_std']:.4f}) "
                       f"| {errs[0]:.4f} / {errs[4]:.4f} | {published} | {m['seconds'] / 60:.1f} min |")
    return out


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print("\n".join(rows(sorted(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
