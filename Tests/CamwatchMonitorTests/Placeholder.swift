// Tests for CamwatchMonitor live here.
