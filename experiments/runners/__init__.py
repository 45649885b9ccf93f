"""Running an experiment: the classification and detection runners and what they share."""
