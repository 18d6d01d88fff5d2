// `CamwatchSaliency`: see design.md §1.
