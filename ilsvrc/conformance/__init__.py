"""A conformance kit for other ILSVRC scorers: every rule of the official evaluation as a case.

``ilsvrc-classic conformance export DIR`` writes the cases (submission, ground truth in
the official formats, the expected numbers in the schema of ``evaluate --json``);
``conformance run DIR --command "SCORER {submission} {case_dir} {out_json}"`` runs a
scorer over them and ``conformance check DIR RESULTS`` prints, case by case, pass / fail
/ missing with the first differing number.  See :mod:`ilsvrc.conformance.cases` for the
cases, :mod:`ilsvrc.conformance.scoring` for the known mistakes and
:mod:`ilsvrc.conformance.kit` for the files.
"""
from .cases import RULES, Case, all_cases
from .kit import TOLERANCE, check, export, first_difference, report, run, score_case
from .scoring import MISTAKES

__all__ = ["RULES", "Case", "all_cases", "TOLERANCE", "check", "export", "first_difference", "report", "run",
           "score_case", "MISTAKES"]
