// `CamwatchHDF5`: see design.md §1.
