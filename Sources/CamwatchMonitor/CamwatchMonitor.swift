// `CamwatchMonitor`: drift, convergence and the report (design.md §5, §7).
