// Tests for CamwatchCLI live here.
