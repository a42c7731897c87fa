"""Reports for leaders and inspectors: dashboard, overdue list, unit ranking, the three lists, breakdowns."""
