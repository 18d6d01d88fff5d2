// Tests for CamwatchSaliency live here.
