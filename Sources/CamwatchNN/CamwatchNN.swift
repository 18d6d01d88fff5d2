// `CamwatchNN`: see design.md §1.
