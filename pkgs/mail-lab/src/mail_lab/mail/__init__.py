"""Mail as a test sees it: the agent run inside a machine, the driver-side calls, header parsing."""
