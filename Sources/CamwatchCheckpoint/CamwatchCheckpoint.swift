// `CamwatchCheckpoint`: see design.md §1.
