// Tests for CamwatchNN live here.
