"""mail-lab: the home-mail design on a virtual internet of network namespaces (see docs/design.md)."""
