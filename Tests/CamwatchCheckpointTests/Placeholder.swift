// Tests for CamwatchCheckpoint live here.
