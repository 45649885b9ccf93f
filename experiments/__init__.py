"""Named experiments: configurations, the runners, reports, execution at scale and teaching."""
