// Tests for CamwatchHDF5 live here.
