"""Benchmarks of the home-mail design on the lab: what the tunnel costs, how fast the lab is.

Run as root from the repository: `sudo .venv/bin/python -m benchmarks [--runs 5] [--quick]`
(see benchmarks/README.md). Nothing here asserts a timing: the figures go to benchmarks/results/.
"""
