"""A hand-written top-k scorer with a classic bug, for the conformance kit's worked example.

It reads the submission as one stream of numbers and cuts it into rows of five (what
``np.loadtxt`` users often do by hand): a line with fewer or more than five guesses
shifts every later guess onto the wrong image.  With ``--per-line`` it reads the file
line by line, padding short lines with 'no guess' and keeping five guesses, as the
official code does, and passes every CLS case of the kit.

    python docs/conformance/topk_scorer.py [--per-line] SUBMISSION CASE_DIR OUT_JSON
"""
import json
import sys
from pathlib import Path

per_line = "--per-line" in sys.argv
submission, case_dir, out_json = [a for a in sys.argv[1:] if a != "--per-line"]
case = Path(case_dir)


def rows(path):
    lines = Path(path).read_text().replace(",", " ").splitlines()
    return [[int(float(t)) for t in line.split()] for line in lines if line.strip()]


truth = [[g for g in row if g] for row in rows(case / "ground_truth.txt")]
if per_line:
    guesses = [(row + [0] * 5)[:5] for row in rows(submission)]
else:  # the bug
    stream = [v for row in rows(submission) for v in row]
    guesses = [(stream[i:i + 5] + [0] * 5)[:5] for i in range(0, len(stream), 5)]
cost = rows(case / "cost_matrix.txt") if (case / "cost_matrix.txt").exists() else None

result = {"task": "cls", "n_images": len(truth), "top_k_error": [], "hierarchical_cost": []}
for k in range(1, 6):
    errors, costs = [], []
    for labels, top in zip(truth, guesses):
        top = top[:k]
        errors.append(sum(g not in top for g in labels) / len(labels))
        if cost:
            worst = max(max(r) for r in cost)
            costs.append(sum(min(cost[p - 1][g - 1] if p else worst for p in top) for g in labels) / len(labels))
    result["top_k_error"].append(sum(errors) / len(errors))
    result["hierarchical_cost"].append(sum(costs) / len(costs) if cost else None)
if not cost:
    del result["hierarchical_cost"]
Path(out_json).write_text(json.dumps(result))
