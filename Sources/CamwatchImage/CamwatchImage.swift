// `CamwatchImage`: see design.md §1.
