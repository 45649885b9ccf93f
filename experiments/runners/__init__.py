"""Running an experiment: the classification and detection runners and what they share."""
from __future__ import annotations


def run_experiment(cfg, data_dir=None, *, output=None, progress: bool = True) -> dict:
    """Run a configuration (its ``task``: classification or detection); write ``runs/<name>/``;
    return the summary."""
    if cfg.task == "detection":
        from .detection import run_detection_experiment

        return run_detection_experiment(cfg, data_dir, output=output, progress=progress)
    from .classification import run_classification_experiment

    return run_classification_experiment(cfg, data_dir, output=output, progress=progress)
