"""The day-1 and day-2 scenarios, one module per scenario, on a control plane of their own."""
