"""The lab as a whole: its paths and record, the topology it realizes, its safety rules, the
world it builds and tears down, and the scan of its daemons' logs."""
