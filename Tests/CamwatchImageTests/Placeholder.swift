// Tests for CamwatchImage live here.
